"""The packed forms of the tracing index against what they pack.

A hop reads paged transactions from `trace_pages` (`analytics/tracing/pages.py`) and later
ones from `trace_coins`; both must give the same rows, and a trace must come out the same
whether the pages cover all, part or none of the chain, after new blocks were indexed but
not paged, and after a reorg. Custodial addresses are told by `trace_endpoint_bits` and
named at the end of a trace: the same endpoints as the tags read directly.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from chainsleuth.analytics.tracing import hop_fetch, index, pages
from chainsleuth.analytics.tracing.coins import Coins
from chainsleuth.analytics.tracing.endpoints import CUSTODIAL, CustodialStops
from chainsleuth.analytics.tracing.hop_fetch import HopFetch
from chainsleuth.analytics.tracing.run import trace
from chainsleuth.analytics.tracing.taint import Model
from chainsleuth.analytics.tracing.utxo import TraceParams
from chainsleuth.interfaces.cli.main import app
from chainsleuth.sim import SimConfig, simulate_bitcoin
from chainsleuth.sim.tagpack import write_tagpack
from chainsleuth.store.db import connect
from chainsleuth.store.utxo import rollback


@pytest.fixture(autouse=True)
def read_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read pages however many a hop needs (on these small chains any hop spans more than
    1/SCAN_SHARE of the pages and would be read by a scan of `trace_coins` instead), a few
    per query so that reads in several batches are compared too."""
    monkeypatch.setattr(hop_fetch, "SCAN_SHARE", 1)
    monkeypatch.setattr(pages, "READ_PAGES", 5)


def cli(db: Path, *args: str) -> None:
    r = CliRunner().invoke(app, ["--db", str(db), "--quiet", *args])
    assert r.exit_code == 0, r.output


@pytest.fixture(scope="module")
def chain_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pages") / "chain"
    simulate_bitcoin(out, SimConfig(txs=4000, seed=7))
    write_tagpack(out / "truth.json", out / "tags.yaml")
    return out


def load(db: Path, chain_dir: Path, end: int | None = None) -> None:
    cli(
        db,
        "ingest",
        "bitcoin",
        "--from",
        "etl",
        str(chain_dir),
        *(["--end", str(end)] if end is not None else []),
    )
    cli(db, "tags", "import", str(chain_dir / "tags.yaml"))


def loaded(chain_dir: Path, db: Path) -> duckdb.DuckDBPyConnection:
    """A store at `db` holding the whole simulated chain and its tags, opened."""
    load(db, chain_dir)
    return connect(db)


def seed_of(chain_dir: Path) -> str:
    return str(json.loads((chain_dir / "truth.json").read_text())["thefts"][0]["seed"]["txid"])


def canon(value: object) -> object:
    """A result with every list in one order (stores ingested in other batches number their
    addresses differently, and results list equal items by address id)."""
    if isinstance(value, dict):
        return {k: canon(v) for k, v in value.items()}
    if isinstance(value, list):
        return sorted((canon(v) for v in value), key=repr)
    return value


def traces(con: duckdb.DuckDBPyConnection, seed: str) -> list[object]:
    """Every model forward and backward from the theft (backward from where it arrived)."""
    out: list[object] = []
    for model in Model:
        fwd = trace(con, "bitcoin", [seed], TraceParams(model=model, max_hops=12)).to_dict()
        out.append(canon(fwd))
        edges = fwd["edges"]
        assert isinstance(edges, list) and edges
        last = edges[-1]["tx_hash"]
        back = TraceParams(model=model, max_hops=6, direction="backward")
        out.append(canon(trace(con, "bitcoin", [last], back).to_dict()))
    return out


def test_a_hop_reads_the_same_rows_from_pages_and_from_the_index(
    chain_dir: Path, tmp_path: Path
) -> None:
    con = loaded(chain_dir, tmp_path / "s.duckdb")
    index.ensure(con, "bitcoin")
    total = pages.upto(con, "bitcoin")
    assert total == con.execute("SELECT count(*) FROM txs").fetchall()[0][0]
    rng = np.random.default_rng(3)
    asked = [np.unique(rng.choice(total, size=k, replace=False)) for k in (1, 7, 150, total)]
    empty = Coins(*(np.zeros(0, np.int64),) * 8, intervals=None)  # type: ignore[arg-type]

    def rows(forward: bool) -> list[dict[str, pa.Table]]:
        fetch = HopFetch(con, "bitcoin")
        return [fetch.fetch(txs, empty, forward) for txs in asked]

    paged = rows(True) + rows(False)
    pages.rebuild(con, "bitcoin", until=0)  # nothing paged: every row from trace_coins
    assert pages.upto(con, "bitcoin") == 0
    unpaged = rows(True) + rows(False)
    pages.rebuild(con, "bitcoin", until=total // 2 + 5)  # half (the last page part-full)
    half = rows(True) + rows(False)
    for a, b, c in zip(paged, unpaged, half, strict=True):
        for name in ("ins", "outs", "meta"):
            assert a[name].equals(b[name]), name
            assert c[name].equals(b[name]), name
        assert len(b["ins"]) and len(b["outs"]) and len(b["meta"]) == len(b["txs"])
    con.close()


def keys(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """How many transactions `trace_hash_keys` holds, and the highest id."""
    found = con.execute("SELECT count(*), coalesce(max(tx_id), -1) FROM trace_hash_keys")
    return tuple(found.fetchall()[0])  # type: ignore[return-value]


def test_a_trace_is_the_same_on_all_part_or_no_pages(chain_dir: Path, tmp_path: Path) -> None:
    con = loaded(chain_dir, tmp_path / "s.duckdb")
    seed = seed_of(chain_dir)
    full = traces(con, seed)
    total = pages.upto(con, "bitcoin")
    for until in (0, 64, total // 3 + 1, total - 1):
        pages.rebuild(con, "bitcoin", until=until)
        assert keys(con) == (until, until - 1)  # seeds below `until` found by their key
        assert traces(con, seed) == full, until
    con.close()


def test_blocks_indexed_after_the_pages_are_read_from_the_index(
    chain_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    con = loaded(chain_dir, tmp_path / "whole.duckdb")
    seed = seed_of(chain_dir)
    want = traces(con, seed)
    tip = con.execute("SELECT max(height) FROM blocks").fetchall()[0][0]
    con.close()
    # pages written on part of the chain; the rest indexed later, not paged: spends of
    # paged outputs by later transactions must be found
    grown = tmp_path / "grown.duckdb"
    theft = json.loads((chain_dir / "truth.json").read_text())["thefts"][0]["height"]
    load(grown, chain_dir, end=theft + 2)
    con = connect(grown)
    index.ensure(con, "bitcoin")
    paged = pages.upto(con, "bitcoin")
    con.close()
    monkeypatch.setattr(pages, "REBUILD", 1)  # never: more than all unpaged
    load(grown, chain_dir)
    con = connect(grown)
    assert traces(con, seed) == want
    assert (
        pages.upto(con, "bitcoin")
        == paged
        < con.execute("SELECT count(*) FROM trace_txs").fetchall()[0][0]
    )
    # a reorg below the paged transactions drops the pages from the fork on
    first = con.execute(
        "SELECT first_tx FROM trace_blocks WHERE height = ?", [theft - 1]
    ).fetchall()[0][0]
    rollback(con, "bitcoin", theft - 1)
    index.ensure(con, "bitcoin")
    upto = pages.upto(con, "bitcoin")
    assert 0 < upto <= first
    last = con.execute("SELECT max(page) FROM trace_pages").fetchall()[0][0]
    assert (last + 1) * pages.PAGE_TXS <= upto
    assert keys(con) == (upto, upto - 1)
    con.close()
    load(grown, chain_dir)
    con = connect(grown)
    assert traces(con, seed) == want
    assert tip == con.execute("SELECT max(height) FROM blocks").fetchall()[0][0]
    con.close()


def test_endpoint_bits_and_names_match_the_tags(chain_dir: Path, tmp_path: Path) -> None:
    con = loaded(chain_dir, tmp_path / "s.duckdb")
    seed = seed_of(chain_dir)
    indexed = CustodialStops(con, "bitcoin")
    assert indexed.indexed
    every = np.arange(con.execute("SELECT max(address_id) + 1 FROM addresses").fetchall()[0][0])
    custodial = {r[0] for r in con.execute("SELECT address_id FROM trace_endpoints").fetchall()}
    assert len(custodial) > 10
    assert indexed._bits.test(every).tolist() == [int(i) in custodial for i in every]
    by_tags = tuple(reversed(CUSTODIAL))  # not the indexed categories: tags read per hop
    assert not CustodialStops(con, "bitcoin", by_tags).indexed
    for model in Model:
        got = [
            canon(trace(con, "bitcoin", [seed], TraceParams(model=model, stops=stops)).to_dict())
            for stops in (CustodialStops(con, "bitcoin"), CustodialStops(con, "bitcoin", by_tags))
        ]
        assert got[0] == got[1]
        assert "(pending)" not in json.dumps(got[0], default=str)
    con.close()


def test_pages_name_the_outputs_and_a_forward_trace_needs_no_other_names(
    chain_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    con = loaded(chain_dir, tmp_path / "s.duckdb")
    index.ensure(con, "bitcoin")
    fetch = HopFetch(con, "bitcoin")
    for half in np.array_split(np.arange(pages.upto(con, "bitcoin"), dtype=np.int64), 2):
        fetch.rows(half)  # (all at once would be read by a scan of trace_coins)
    from_pages = pa.concat_tables(fetch.names)
    dictionary = dict(con.execute("SELECT address_id, address FROM addresses").fetchall())
    outputs = con.execute("SELECT count(*) FROM outputs").fetchall()[0][0]
    assert from_pages.num_rows == outputs
    ids = from_pages.column("address_id").to_pylist()
    assert from_pages.column("address").to_pylist() == [dictionary.get(i, "") for i in ids]
    # a forward trace reads every output it names: the dictionary is asked for none
    asked: list[set[int]] = []
    real = hop_fetch.address_names

    def spy(con: duckdb.DuckDBPyConnection, chain: str, ids: set[int]) -> dict[int, str]:
        asked.append(set(ids))
        return real(con, chain, ids)

    monkeypatch.setattr(hop_fetch, "address_names", spy)
    for model in Model:
        result = trace(con, "bitcoin", [seed_of(chain_dir)], TraceParams(model=model)).to_dict()
        edges = result["edges"]
        assert isinstance(edges, list) and len(edges) > 20
        named = {e["from"] for e in edges} | {e["to"] for e in edges}
        assert named <= set(dictionary.values()) | {"(no address)"}
    assert asked and all(i < 0 for ids in asked for i in ids)
    con.close()
