"""The output formats: a record's long sub-tables are cut in table form, never in JSON/CSV."""

from __future__ import annotations

import io
import json

from chainsleuth.interfaces.output import SUBTABLE_ROWS, emit


def test_a_long_sub_table_shows_its_first_rows_and_says_how_many() -> None:
    rows = [{"address": f"addr{i:03d}", "n": i} for i in range(SUBTABLE_ROWS + 10)]
    record = {"entity": 7, "tags": rows}
    table = io.StringIO()
    emit(record, "table", out=table)
    text = table.getvalue()
    assert f"tags: {SUBTABLE_ROWS} of {SUBTABLE_ROWS + 10} rows shown" in text
    assert f"addr{SUBTABLE_ROWS - 1:03d}" in text and f"addr{SUBTABLE_ROWS:03d}" not in text
    full = io.StringIO()
    emit(record, "json", out=full)
    assert len(json.loads(full.getvalue())["tags"]) == SUBTABLE_ROWS + 10
    short = io.StringIO()
    emit({"entity": 7, "tags": rows[:3]}, "table", out=short)
    assert "rows shown" not in short.getvalue() and "addr002" in short.getvalue()
