"""What the published address lists share: reading their CSV rows with line numbers,
collecting tags with every bad row reported by file and line (or skipped with a warning),
and the small field parsers (addresses per chain, dates, the JSON context of a tag)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

from chainsleuth.analytics.attribution.currency import resolve
from chainsleuth.analytics.attribution.marked import Problems
from chainsleuth.analytics.attribution.model import Dataset, Tag
from chainsleuth.errors import InputError, ParseError

LAZARUS = "lazarusgroup"
_DATE = re.compile(r"\b(\d{4}-\d{2}-\d{2})\b")


@dataclass
class Row:
    """A data row of a list and the line it ends on; `error` for a row of the wrong width."""

    line: int
    cells: dict[str, str]
    error: str | None = None  # a row of the wrong width


def read_rows(text: str, file: str, required: frozenset[str]) -> Iterator[Row]:
    """The data rows (with the line each ends on) of a CSV file with `required` columns."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = [c.strip().lower() for c in next(reader)]
    except StopIteration:
        raise ParseError(f"{file}: empty file; nothing imported") from None
    except csv.Error as exc:
        raise ParseError(f"{file}:1: malformed CSV: {exc}; nothing imported") from None
    missing = sorted(required - set(header))
    if missing:
        raise ParseError(f"{file}:1: missing column(s) {', '.join(missing)}; nothing imported")

    def rows() -> Iterator[Row]:
        try:
            for cells in reader:
                if not any(c.strip() for c in cells):
                    continue
                if len(cells) != len(header):
                    width = f"expected {len(header)} columns, found {len(cells)}"
                    yield Row(reader.line_num, {}, width)
                    continue
                cells = [c.strip() for c in cells]
                yield Row(reader.line_num, dict(zip(header, cells, strict=True)))
        except csv.Error as exc:
            raise ParseError(
                f"{file}:{reader.line_num}: malformed CSV: {exc}; nothing imported"
            ) from None

    return rows()


class Collector:
    """Tags of one file: errors by line (or warnings with `skip_invalid`), repeats once."""

    def __init__(self, ds: Dataset, skip_invalid: bool) -> None:
        self.ds, self.skip_invalid = ds, skip_invalid
        self.problems = Problems(ds.file)
        self.seen: dict[tuple[str, str, str, str], int] = {}
        self.repeats: list[tuple[int, int]] = []

    def bad(self, line: int, message: str) -> None:
        if self.skip_invalid:
            self.ds.warnings.append(f"{self.ds.file}:{line}: {message}; skipped")
        else:
            self.problems.add(line, message)

    def add(self, tag: Tag) -> None:
        key = (tag.chain, tag.address or "", tag.label, tag.source)
        if key in self.seen:
            self.repeats.append((tag.line or 0, self.seen[key]))
            return
        self.seen[key] = tag.line or 0
        self.ds.tags.append(tag)

    def rows(self, rows: Iterator[Row]) -> Iterator[Row]:
        """The well-formed rows; a row of the wrong width is reported (the rest still read)."""
        for row in rows:
            if row.error:
                self.bad(row.line, row.error)
            else:
                yield row

    def finish(self) -> Dataset:
        self.problems.raise_if_any()
        if self.repeats:
            line, first = self.repeats[0]
            self.ds.warnings.append(
                f"{self.ds.file}: {len(self.repeats)} tag(s) repeat an earlier tag (same"
                f" address and label, e.g. line {line} repeats line {first}); stored once"
            )
        return self.ds


def listed_address(code: str, address: str, column: str) -> tuple[str, str]:
    """(chain, stored address) of `address` listed under currency/chain `code`."""
    if not address:
        raise InputError(f"column {column}: empty address")
    return resolve(code, None, address, f"column {column}")


def find_date(text: str) -> dt.date | None:
    """The first YYYY-MM-DD date written in `text`, if any and valid."""
    match = _DATE.search(text)
    if not match:
        return None
    try:
        return dt.date.fromisoformat(match.group(1))
    except ValueError:
        return None


def midnight(day: dt.date | None) -> dt.datetime | None:
    """The start of `day` (None stays None)."""
    return dt.datetime(day.year, day.month, day.day) if day else None


def context_json(**fields: str | None) -> str | None:
    """A tag's context: the given non-empty fields as JSON (None when there are none)."""
    kept = {k: v for k, v in fields.items() if v}
    return json.dumps(kept, ensure_ascii=False) if kept else None


# --- FBI -------------------------------------------------------------------------------
