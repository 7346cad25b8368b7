"""The output formats: a record's long sub-tables are cut in table form, never in JSON/CSV."""

from __future__ import annotations

import io
import json

from chainsleuth.interfaces.output import SUBTABLE_ROWS, TABLE_ROWS, emit


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


def test_a_long_list_shows_its_first_rows_in_table_form_and_all_in_csv() -> None:
    rows = [{"address": f"a{i:05d}"} for i in range(TABLE_ROWS + 1)]
    table = io.StringIO()
    emit(rows, "table", title="tags", out=table)
    assert f"tags: {TABLE_ROWS} of {TABLE_ROWS + 1} rows shown" in table.getvalue()
    assert f"a{TABLE_ROWS - 1:05d}" in table.getvalue()
    assert f"a{TABLE_ROWS:05d}" not in table.getvalue()
    csv_out = io.StringIO()
    emit(rows, "csv", out=csv_out)
    assert csv_out.getvalue().count("\n") == TABLE_ROWS + 2  # header + every row


def test_the_first_rows_of_a_longer_list_say_how_long_it_is() -> None:
    table = io.StringIO()
    emit([{"address": "a1"}, {"address": "a2"}], "table", title="tags", out=table, total=5000)
    assert "tags: 2 of 5000 rows shown" in table.getvalue()
