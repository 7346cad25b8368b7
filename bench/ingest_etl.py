"""Benchmark: ingest simulated bitcoin-etl JSON into the DuckDB store.

    python -m bench.ingest_etl [--txs 1000000] [--repeats 3] [--dir DIR] [--profile]
                               [--batch N] [--batch-txs N] [--memory-limit SIZE] [--plain]
                               [--keyed]

Goals (issue 2): at least 100,000 tx/s, peak memory under 2 GB, and at most 2x the time
DuckDB alone takes to read the same files (the practical floor: `read_json` of both files
with every nested input and output parsed, `SELECT count(*), sum(...)`). Both are measured
in the same run, alternating, each repeat in a fresh child process (its own peak RSS) and,
for ingestion, a fresh store file. Reports medians, the ratio, and where ingestion spends
its time (reading + flattening in `chains.bitcoin.etl.load` versus the store writer).

The goal's "time DuckDB alone takes to read the same files" has a second reading, also
measured, alternated: DuckDB alone *loading* the files into a fresh database file, each
into a table with every field `read_json` finds, and closing it (`duckdb_load_s`,
`ratio_to_duckdb_load`).

A further side shows what the schema itself costs: DuckDB alone copying
the same rows into the store's `txs`, `outputs` and `inputs` (hash columns and values;
no address ids, spends, sums or checks) and closing the store (`duckdb_write_s`).
`--keyed` adds one more: the least any store of these files must write, DuckDB alone with
integer transaction keys instead of the hash columns (`duckdb_keyed_s`, see KEYED_FLOOR_SQL).

`--plain` benchmarks bitcoin-etl's plain shape of the same export instead (inputs without
address, type or value, as its export job writes them before enrichment; a copy made next
to DIR), so the writer resolves every input from the outputs it spends.

`--profile` adds one ingestion timed per SQL statement (wall and process CPU, DuckDB's
threads included), summed by stage and by statement over the batches, closing included.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import peak_mb, run_module
from chainsleuth.ingest.common import ETL_BATCH_TXS, INGEST_MEMORY_LIMIT, IngestOptions

# Stage of a statement, by the first pattern its SQL matches (else "other").
STAGES = (
    ("read", re.compile(r"read_json")),
    ("check", re.compile(r"bool_or|count\(DISTINCT|ANTI JOIN|GROUP BY ALL HAVING|time IS NULL")),
    ("flatten", re.compile(r"TEMP TABLE etl_")),
    ("staging", re.compile(r"TEMP TABLE stg_|DELETE FROM stg_")),
    ("addresses", re.compile(r"_batch_addresses AS|_new_addresses|INTO addresses")),
    ("inserts", re.compile(r"INSERT (OR REPLACE )?INTO (blocks|txs|outputs|inputs|ingest_state)")),
    ("spends", re.compile(r"_spends|_stored_hits|_later_hits|UPDATE")),
    ("commit+close", re.compile(r"^(COMMIT|CLOSE)")),
)

FLOOR_SQL = """
SELECT (SELECT count(*) FROM read_json('{d}/blocks.json')) AS blocks, count(*) AS txs,
       sum(output_value), sum(len(inputs)),
       sum(list_sum(list_transform(outputs, lambda o: o.value)))
FROM read_json('{d}/transactions.json')
"""


def _timed(work: Callable[[], int]) -> dict[str, Any]:
    """Run `work` (it returns the transactions it handled): wall and process CPU seconds,
    transactions, the process's peak RSS so far."""
    began, cpu = time.perf_counter(), time.process_time()
    txs = work()
    wall, cpu_s = time.perf_counter() - began, time.process_time() - cpu
    return {"wall_s": wall, "cpu_s": cpu_s, "txs": txs, "peak_mb": peak_mb()}


def run_floor(directory: Path) -> dict[str, Any]:
    """DuckDB alone reads the files."""
    import duckdb

    def scan() -> int:
        row = duckdb.connect().execute(FLOOR_SQL.format(d=directory)).fetchone()
        assert row is not None
        return int(row[1])

    return _timed(scan)


def run_load(directory: Path, memory_limit: str) -> dict[str, Any]:
    """DuckDB alone loads the files into a fresh database file: each file into a table as
    `read_json` finds it (every field kept), then the file closed. What "reading the files
    into DuckDB" costs when that means storing them."""
    import duckdb

    folder = Path(tempfile.mkdtemp(prefix="chainsleuth-bench-"))

    def load() -> int:
        con = duckdb.connect(str(folder / "load.duckdb"))
        con.execute(f"SET memory_limit = '{memory_limit}'")
        con.execute("SET enable_progress_bar = false")
        for name in ("blocks", "transactions"):
            con.execute(
                f"CREATE TABLE {name} AS SELECT * FROM read_json('{directory}/{name}.json',"
                " format = 'newline_delimited', maximum_object_size = 67108864)"
            )
        txs = int(con.execute("SELECT count(*) FROM transactions").fetchall()[0][0])
        con.close()
        return txs

    result = _timed(load)
    shutil.rmtree(folder)
    return result


WRITE_FLOOR_SQL = (
    """INSERT INTO txs (chain, block_height, tx_hash, position, time, version, locktime, size,
                        is_coinbase, input_count, output_count)
    SELECT 'bitcoin', block_number, hash, "index", TIMESTAMP '2009-01-03', version, lock_time,
           size, is_coinbase, len(inputs), len(outputs) FROM etl_raw_txs""",
    """INSERT INTO outputs (chain, block_height, tx_hash, n, value, script_type)
    SELECT 'bitcoin', block_number, hash, o."index", o."value", o."type"
    FROM (SELECT block_number, hash, unnest(outputs) AS o FROM etl_raw_txs)""",
    """INSERT INTO inputs (chain, block_height, tx_hash, n, prev_tx_hash, prev_n, value,
                           sequence)
    SELECT 'bitcoin', block_number, hash, i."index", i.spent_transaction_hash,
           i.spent_output_index, i."value", i."sequence"
    FROM (SELECT block_number, hash, unnest(inputs) AS i FROM etl_raw_txs)""",
)


# The least any store of these files must write, with integer transaction keys instead of
# the hash columns: each hash written once (in `keyed_txs`), addresses
# dictionary-encoded, every input given its spent output's transaction key, address and
# value, outputs their spender's key. No checks, spends of stored outputs, sums or staging.
KEYED_TABLES = (
    """CREATE TABLE keyed_txs (tx_id BIGINT, block_height BIGINT, tx_hash VARCHAR,
        position INTEGER, version BIGINT, locktime BIGINT, size INTEGER, is_coinbase BOOLEAN)""",
    """CREATE TABLE keyed_outputs (tx_id BIGINT, n INTEGER, address_id BIGINT, value BIGINT,
        script_type VARCHAR, spent_by BIGINT)""",
    """CREATE TABLE keyed_inputs (tx_id BIGINT, n INTEGER, prev_tx_id BIGINT, prev_n BIGINT,
        address_id BIGINT, value BIGINT, sequence BIGINT)""",
    "CREATE TABLE keyed_addresses (address VARCHAR, address_id BIGINT)",
)
KEYED_FLOOR_SQL = (
    "CREATE TEMP VIEW t AS SELECT rowid AS tx_id, * FROM etl_raw_txs",
    """INSERT INTO keyed_txs SELECT tx_id, block_number, hash, "index", version, lock_time,
        size, is_coinbase FROM t""",
    """CREATE TEMP TABLE o AS SELECT tx_id, o."index" AS n, o.addresses[1] AS address,
        o."value", o."type" FROM (SELECT tx_id, unnest(outputs) AS o FROM t)""",
    """CREATE TEMP TABLE a AS SELECT address, row_number() OVER () AS address_id
        FROM (SELECT DISTINCT address FROM o WHERE address IS NOT NULL)""",
    "INSERT INTO keyed_addresses SELECT * FROM a",
    """CREATE TEMP TABLE i AS SELECT i.tx_id, i.n, p.tx_id AS prev_tx_id, i.prev_n, i.sequence
        FROM (SELECT tx_id, i."index" AS n, i.spent_transaction_hash AS prev_hash,
                     i.spent_output_index AS prev_n, i."sequence" AS sequence
              FROM (SELECT tx_id, unnest(inputs) AS i FROM t)) i
        LEFT JOIN (SELECT tx_id, hash FROM t) p ON p.hash = i.prev_hash""",
    """CREATE TEMP TABLE oa AS SELECT o.tx_id, o.n, a.address_id, o."value", o."type",
        i.tx_id AS spent_by
        FROM o LEFT JOIN a USING (address)
        LEFT JOIN i ON i.prev_tx_id = o.tx_id AND i.prev_n = o.n""",
    "INSERT INTO keyed_outputs SELECT * FROM oa",
    """INSERT INTO keyed_inputs SELECT i.tx_id, i.n, i.prev_tx_id, i.prev_n, oa.address_id,
        oa."value", i.sequence
        FROM i LEFT JOIN oa ON oa.tx_id = i.prev_tx_id AND oa.n = i.prev_n""",
)


def run_write_floor(directory: Path, memory_limit: str, keyed: bool = False) -> dict[str, Any]:
    """DuckDB alone writes the files' rows into a fresh store: read into a temp table as
    ingestion reads them, written in one transaction, the store closed.

    Default: the store's own `txs`, `outputs` and `inputs` with their hash columns and
    nothing else (no address ids, spends, sums or checks): what the schema itself costs.
    `keyed`: the `keyed_` tables above, the least any store of these files must write."""
    from chainsleuth.chains.bitcoin import etl
    from chainsleuth.store.db import connect, limit_memory

    store = Path(tempfile.mkdtemp(prefix="chainsleuth-bench-")) / "store.duckdb"
    con = connect(store)
    limit_memory(con, memory_limit)
    for ddl in KEYED_TABLES if keyed else ():
        con.execute(ddl)

    def write() -> int:
        _, tx_files = etl.find_exports(directory)
        etl._read(con, "etl_raw_txs", tx_files, etl.TX_COLUMNS)
        con.execute("BEGIN")
        for sql in KEYED_FLOOR_SQL if keyed else WRITE_FLOOR_SQL:
            con.execute(sql)
        con.execute("COMMIT")
        table = "keyed_txs" if keyed else "txs"
        txs = int(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])
        con.close()
        return txs

    result = _timed(write)
    shutil.rmtree(store.parent)
    return result


PLAIN_INPUTS = """list_transform(inputs, lambda i: struct_pack("index" := i."index",
    spent_transaction_hash := i.spent_transaction_hash, spent_output_index := i.spent_output_index,
    script_asm := i.script_asm, script_hex := i.script_hex, "sequence" := i."sequence",
    required_signatures := i.required_signatures, "type" := NULL::VARCHAR,
    addresses := []::VARCHAR[], "value" := NULL::BIGINT))"""


def plain_copy(directory: Path) -> Path:
    """A copy of the enriched export at `directory` in bitcoin-etl's plain shape (made once,
    beside it, as `<name>-plain`)."""
    import duckdb

    out = directory.with_name(directory.name + "-plain")
    if (out / "transactions.json").exists():
        return out
    out.mkdir()
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    for name, replace in (("blocks", ""), ("transactions", f" REPLACE ({PLAIN_INPUTS} AS inputs)")):
        con.execute(
            f"COPY (SELECT *{replace} FROM read_json('{directory}/{name}.json',"
            " format = 'newline_delimited', maximum_object_size = 67108864))"
            f" TO '{out}/{name}.json' (FORMAT json)"
        )
    return out


def run_ingest(directory: Path, opts: IngestOptions, profile: bool = False) -> dict[str, Any]:
    """chainsleuth ingests the files into a fresh store (timing each statement if `profile`)."""
    from bench.ingest_eth_etl import StatementTimer
    from chainsleuth.chains.bitcoin import etl
    from chainsleuth.ingest.bitcoin_etl import ingest_etl
    from chainsleuth.store.db import connect, limit_memory

    load_s: list[float] = []
    original = etl.load

    def timed_load(*args: Any) -> tuple[int, int]:
        began = time.perf_counter()
        result = original(*args)
        load_s.append(time.perf_counter() - began)
        return result

    etl.load = timed_load  # type: ignore[assignment]
    store = Path(tempfile.mkdtemp(prefix="chainsleuth-bench-")) / "store.duckdb"
    con = connect(store)
    limit_memory(con, opts.memory_limit)
    timer = StatementTimer(con) if profile else None
    began, cpu_began = time.perf_counter(), time.process_time()
    summary = ingest_etl(timer or con, str(directory), opts)  # type: ignore[arg-type]
    closing, cpu_closing = time.perf_counter(), time.process_time()
    con.close()  # checkpoints the store
    ended, cpu_ended = time.perf_counter(), time.process_time()
    wall, cpu = ended - began, cpu_ended - cpu_began
    size = store.stat().st_size
    shutil.rmtree(store.parent)
    result: dict[str, Any] = {
        "wall_s": wall,
        "cpu_s": cpu,
        "load_s": load_s[0],
        "txs": summary.txs,
        "peak_mb": peak_mb(),
        "store_mb": round(size / 2**20),
    }
    if timer is not None:
        timer.log.append((ended - closing, cpu_ended - cpu_closing, "CLOSE (checkpoint)"))
        result["statements"] = _by_statement(timer.log)
    return result


def _by_statement(log: list[tuple[float, float, str]]) -> list[tuple[str, str, int, float, float]]:
    """(stage, statement, runs, wall s, CPU s) summed over the batches, costliest CPU first."""
    sums: dict[str, list[Any]] = {}
    for wall, cpu, query in log:
        stage = next((name for name, rx in STAGES if rx.search(query)), "other")
        entry = sums.setdefault(query[:100], [stage, 0, 0.0, 0.0])
        entry[1] += 1
        entry[2] += wall
        entry[3] += cpu
    rows = [(v[0], k, v[1], v[2], v[3]) for k, v in sums.items()]
    return sorted(rows, key=lambda r: -r[4])


def _report_profile(run: dict[str, Any]) -> None:
    print(f"profile (one run): wall {run['wall_s']:.2f} s, CPU {run['cpu_s']:.2f} s")
    stages: dict[str, list[float]] = {}
    for stage, _, _, wall, cpu in run["statements"]:
        total = stages.setdefault(stage, [0.0, 0.0])
        total[0] += wall
        total[1] += cpu
    for stage, (wall, cpu) in sorted(stages.items(), key=lambda kv: -kv[1][1]):
        print(f"  {stage:13} wall {wall:6.2f} s  CPU {cpu:6.2f} s ({cpu / run['cpu_s']:4.0%})")
    print("  costliest statements (runs, wall s, CPU s):")
    for _, query, runs, wall, cpu in run["statements"][:16]:
        print(f"    {runs:3d} {wall:6.2f} {cpu:6.2f}  {query}")


def _child(phase: str, directory: Path, options: list[str]) -> dict[str, Any]:
    """Run `phase` (a `--child` choice) in a fresh process; its JSON result."""
    return run_module("bench.ingest_etl", "--child", phase, "--dir", str(directory), *options)


def main() -> None:
    """Run the benchmark (see module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--txs", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="Reuse a simulated chain.")
    parser.add_argument("--batch", type=int, default=None, help="As `ingest --batch`.")
    parser.add_argument("--batch-txs", type=int, default=ETL_BATCH_TXS, help="As `--batch-txs`.")
    parser.add_argument("--memory-limit", default=INGEST_MEMORY_LIMIT, help="As `--memory-limit`.")
    parser.add_argument("--profile", action="store_true", help="Also time each statement.")
    parser.add_argument("--plain", action="store_true", help="Inputs without address/value.")
    parser.add_argument(
        "--keyed", action="store_true", help="Also time the integer-key lower bound."
    )
    parser.add_argument(
        "--child",
        choices=["floor", "load", "write-floor", "keyed-floor", "ingest", "profile"],
        help=argparse.SUPPRESS,
    )
    args = parser.parse_args(sys.argv[1:] if __name__ == "__main__" else [])
    opts = IngestOptions(
        batch_blocks=args.batch, batch_txs=args.batch_txs, memory_limit=args.memory_limit
    )
    options = [
        *(["--batch", str(args.batch)] if args.batch else []),
        *("--batch-txs", str(args.batch_txs), "--memory-limit", args.memory_limit),
    ]
    if args.child:
        if args.child == "floor":
            phase = run_floor(args.dir)
        elif args.child == "load":
            phase = run_load(args.dir, args.memory_limit)
        elif args.child in ("write-floor", "keyed-floor"):
            phase = run_write_floor(args.dir, args.memory_limit, args.child == "keyed-floor")
        else:
            phase = run_ingest(args.dir, opts, profile=args.child == "profile")
        print(json.dumps(phase))
        return
    directory = args.dir
    if directory is None:
        from chainsleuth.sim import SimConfig, simulate_bitcoin

        directory = Path(tempfile.mkdtemp(prefix="chainsleuth-etl-"))
        simulate_bitcoin(directory, SimConfig(txs=args.txs, seed=args.seed))
    if args.plain:
        directory = plain_copy(directory)
    if args.profile:
        _report_profile(_child("profile", directory, options))
    load = [os.getloadavg()[0]]
    if not args.repeats:
        return
    floors, loads, writes, keyed, ingests = [], [], [], [], []
    for _ in range(args.repeats):
        floors.append(_child("floor", directory, options))
        loads.append(_child("load", directory, options))
        writes.append(_child("write-floor", directory, options))
        if args.keyed:
            keyed.append(_child("keyed-floor", directory, options))
        ingests.append(_child("ingest", directory, options))
        load.append(os.getloadavg()[0])
    txs = ingests[0]["txs"]
    floor_s = statistics.median(f["wall_s"] for f in floors)
    ingest_s = statistics.median(i["wall_s"] for i in ingests)
    write_s = statistics.median(w["wall_s"] for w in writes)
    load_s = statistics.median(x["wall_s"] for x in loads)
    keyed_s = statistics.median(k["wall_s"] for k in keyed) if keyed else None
    print(
        json.dumps(
            {
                "txs": txs,
                "json_mb": round((directory / "transactions.json").stat().st_size / 2**20),
                "duckdb_read_s": round(floor_s, 2),
                "ingest_s": round(ingest_s, 2),
                "ingest_tx_per_s": round(txs / ingest_s),
                "ratio_to_duckdb_read": round(ingest_s / floor_s, 2),
                "duckdb_load_s": round(load_s, 2),
                "ratio_to_duckdb_load": round(ingest_s / load_s, 2),
                "duckdb_write_s": round(write_s, 2),
                "duckdb_write_ratio_to_read": round(write_s / floor_s, 2),
                "ratio_to_duckdb_write": round(ingest_s / write_s, 2),
                **(
                    {
                        "duckdb_keyed_s": round(keyed_s, 2),
                        "duckdb_keyed_ratio_to_read": round(keyed_s / floor_s, 2),
                    }
                    if keyed_s is not None
                    else {}
                ),
                "duckdb_read_cpu_s": round(statistics.median(f["cpu_s"] for f in floors), 2),
                "ingest_cpu_s": round(statistics.median(i["cpu_s"] for i in ingests), 2),
                "load_and_flatten_s": round(statistics.median(i["load_s"] for i in ingests), 2),
                "store_writer_s": round(
                    statistics.median(i["wall_s"] - i["load_s"] for i in ingests), 2
                ),
                "ingest_peak_mb": max(i["peak_mb"] for i in ingests),
                "duckdb_read_peak_mb": max(f["peak_mb"] for f in floors),
                "store_mb": ingests[0]["store_mb"],
                "load_avg": [round(x, 1) for x in load],
                "repeats": args.repeats,
                "batch_blocks": args.batch,
                "batch_txs": args.batch_txs,
                "memory_limit": args.memory_limit,
                "plain": args.plain,
            },
            indent=2,
        )
    )
    if args.dir is None:
        shutil.rmtree(directory)


if __name__ == "__main__":
    main()
