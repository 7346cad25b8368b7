"""export -> import -> export gives the same tags, in every export format (Hypothesis)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainsleuth.analytics.attribution.formats import to_csv, to_json
from chainsleuth.analytics.attribution.importer import import_file
from chainsleuth.analytics.attribution.model import Dataset, Tag
from chainsleuth.analytics.attribution.store import list_tags, save_dataset
from chainsleuth.analytics.attribution.tagpack import dump_tagpack
from chainsleuth.analytics.attribution.taxonomy import concepts, confidence_levels
from chainsleuth.chains.bitcoin.address import base58check_encode
from chainsleuth.store.db import connect

LABEL = st.text("abcdefghijklmnopqrstuvwxyzABCXYZ0123456789 .:-()_éü", min_size=1, max_size=30)
WORD = st.text("abcdefghij/:.", min_size=1, max_size=20)


@st.composite
def tags(draw: st.DrawFn, n: int) -> Tag:
    raw = draw(st.binary(min_size=20, max_size=20))
    if draw(st.booleans()):
        chain, currency, address = "ethereum", "ETH", "0x" + raw.hex()
    else:
        version = draw(st.sampled_from([0x00, 0x05]))
        chain, currency, address = "bitcoin", "BTC", base58check_encode(version, raw)
    confidence = draw(st.sampled_from(sorted(confidence_levels())))
    optional = st.none() | st.sampled_from(sorted(concepts()))
    lastmod = draw(st.none() | st.datetimes(dt.datetime(2010, 1, 1), dt.datetime(2030, 1, 1)))
    return Tag(
        chain=chain,
        address=address,
        tx_hash=None,
        currency=currency,
        label=draw(LABEL.map(str.strip).filter(bool)),
        source=draw(WORD.map(str.strip).filter(bool)),
        confidence=confidence,
        confidence_level=confidence_levels()[confidence],
        category=draw(optional),
        abuse=draw(optional),
        actor=draw(st.none() | st.sampled_from(["lazarusgroup", "binance"])),
        is_cluster_definer=draw(st.booleans()),
        lastmod=lastmod.replace(microsecond=0) if lastmod else None,
        context=draw(st.none() | st.just('{"note": "x"}')),
        concepts=draw(st.lists(st.sampled_from(["exchange", "scam"]), max_size=2, unique=True)),
        tag_type=draw(st.none() | st.sampled_from(["actor", "event"])),
        line=n,
    )


@st.composite
def datasets(draw: st.DrawFn, extras: bool) -> list[Tag]:
    found = draw(st.lists(tags(0), min_size=1, max_size=8, unique_by=lambda t: t.key()))
    if extras:
        for t in found:
            t.programs = draw(st.none() | st.just("CYBER2, DPRK3"))
            t.published = draw(st.none() | st.dates(dt.date(2015, 1, 1), dt.date(2030, 1, 1)))
    return found


@cache
def _store(n: int) -> duckdb.DuckDBPyConnection:
    return connect(":memory:")


@contextmanager
def fresh(n: int) -> Iterator[duckdb.DuckDBPyConnection]:
    """An empty in-memory store, reused across examples (migrating one costs ~0.2 s)."""
    con = _store(n)
    con.execute("DELETE FROM tags; DELETE FROM tag_imports")
    yield con


def _comparable(rows: list[dict[str, Any]], *, keep_pack: bool) -> list[dict[str, Any]]:
    drop = {"line"} | (set() if keep_pack else {"tagpack"})
    return sorted(
        ({k: v for k, v in r.items() if k not in drop} for r in rows),
        key=lambda r: (r["chain"], r["address"], r["label"]),
    )


def _round_trip(tmp: Path, found: list[Tag], name: str, render: Any, keep_pack: bool) -> None:
    with fresh(1) as first, fresh(2) as second:
        save_dataset(first, Dataset("pack", "tagpack", "mem", found))
        before = list_tags(first)
        path = tmp / name
        path.write_text(render(before), encoding="utf-8")
        import_file(second, path)
        after = list_tags(second)
        assert _comparable(after, keep_pack=keep_pack) == _comparable(before, keep_pack=keep_pack)


SETTINGS = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.mark.slow
@SETTINGS
@given(found=datasets(extras=True))
def test_csv_round_trip(tmp_path: Path, found: list[Tag]) -> None:
    _round_trip(tmp_path, found, "tags.csv", to_csv, keep_pack=True)


@pytest.mark.slow
@SETTINGS
@given(found=datasets(extras=True))
def test_json_round_trip(tmp_path: Path, found: list[Tag]) -> None:
    _round_trip(tmp_path, found, "tags.json", to_json, keep_pack=True)


@pytest.mark.slow
@SETTINGS
@given(found=datasets(extras=False))
def test_tagpack_round_trip(tmp_path: Path, found: list[Tag]) -> None:
    def render(rows: list[dict[str, Any]]) -> str:
        return dump_tagpack(rows, title="export", creator="tests")

    _round_trip(tmp_path, found, "pack.yaml", render, keep_pack=False)
