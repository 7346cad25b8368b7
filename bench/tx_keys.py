"""Benchmark: what keying `inputs`/`outputs` by 64-character transaction hashes costs.

    python -m bench.tx_keys [--store STORE] [--txs 1000000] [--repeats 3]

Not a goal of its own: the measurement behind the next schema step named in
`bench/RESULTS.md` (issues 2, 3, 4 and 6 all find the hash columns on their hot path).
It takes the first `--txs` transactions' inputs and outputs of a store (by default the
cached simulated store of that many transactions, `bench/common.py`) and, in a fresh
database file each time, alternating:

- **hash keys** (the store as it is): writes them as stored (`tx_hash`, `prev_tx_hash`,
  `spent_by` as text), then reads them the way clustering does (a 64-bit key per row from
  the hash, grouped per transaction);
- **integer keys**: the same rows with each hash replaced by an integer transaction id
  (`block_height * 2^20 + position`; unknown prevouts NULL), written and read the same way.

Both write in one transaction and checkpoint (what ingestion pays at commit and close).
Reports medians of wall and process CPU time, the file sizes and the ratios.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

from bench.common import build_store, load

TX_ID = "block_height * 1048576 + position"


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _extract(store: Path, txs: int) -> dict[str, Any]:
    """The first `txs` transactions' inputs, outputs and ids, as Arrow tables."""
    con = duckdb.connect(str(store), read_only=True)
    last = con.execute(
        "SELECT max(block_height) FROM (SELECT block_height FROM txs WHERE chain = 'bitcoin'"
        " ORDER BY block_height, position LIMIT ?)",
        [txs],
    ).fetchall()[0][0]
    rows = f"chain = 'bitcoin' AND block_height <= {int(last)}"
    found = {
        "inputs": con.sql(f"SELECT * FROM inputs WHERE {rows}").to_arrow_table(),
        "outputs": con.sql(f"SELECT * FROM outputs WHERE {rows}").to_arrow_table(),
        "ids": con.sql(f"SELECT tx_hash, {TX_ID} AS tx_id FROM txs WHERE {rows}").to_arrow_table(),
    }
    con.close()
    return found


def _one(data: dict[str, Any], kind: str, folder: Path) -> dict[str, float]:
    """Write then read the rows keyed by `kind` in a fresh file; seconds and size."""
    path = folder / f"{kind}.duckdb"
    path.unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    for name, table in data.items():
        con.register(name, table)
    if kind == "int":
        con.execute(
            "CREATE TEMP TABLE stg_inputs AS SELECT i.* EXCLUDE (tx_hash, prev_tx_hash),"
            " a.tx_id, b.tx_id AS prev_tx_id FROM inputs i JOIN ids a ON a.tx_hash = i.tx_hash"
            " LEFT JOIN ids b ON b.tx_hash = i.prev_tx_hash"
        )
        con.execute(
            "CREATE TEMP TABLE stg_outputs AS SELECT o.* EXCLUDE (tx_hash, spent_by),"
            " a.tx_id, b.tx_id AS spent_by_id FROM outputs o JOIN ids a ON a.tx_hash = o.tx_hash"
            " LEFT JOIN ids b ON b.tx_hash = o.spent_by"
        )
        key = "tx_id"
    else:
        con.execute("CREATE TEMP TABLE stg_inputs AS SELECT * FROM inputs")
        con.execute("CREATE TEMP TABLE stg_outputs AS SELECT * FROM outputs")
        key = "hash(tx_hash)"
    wall, cpu = time.perf_counter(), _cpu()
    con.execute("BEGIN")
    con.execute("CREATE TABLE s_inputs AS SELECT * FROM stg_inputs")
    con.execute("CREATE TABLE s_outputs AS SELECT * FROM stg_outputs")
    con.execute("COMMIT")
    con.execute("CHECKPOINT")
    write = (time.perf_counter() - wall, _cpu() - cpu)
    wall, cpu = time.perf_counter(), _cpu()
    for table in ("s_inputs", "s_outputs"):
        con.sql(
            f"SELECT {key} AS k, count(*) AS rows, sum(value) AS v FROM {table} GROUP BY k"
        ).to_arrow_table()
    read = (time.perf_counter() - wall, _cpu() - cpu)
    con.close()
    return {
        "write_wall_s": write[0],
        "write_cpu_s": write[1],
        "read_wall_s": read[0],
        "read_cpu_s": read[1],
        "file_mb": path.stat().st_size / 1e6,
    }


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: round(statistics.median(r[k] for r in runs), 3) for k in runs[0]}


def main() -> None:
    """Measure both keyings, alternating, and print the medians and ratios as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", type=Path, help="an ingested store (default: simulated)")
    parser.add_argument("--txs", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(sys.argv[1:] if __name__ == "__main__" else [])
    store = args.store or build_store(args.txs)["store"]
    data = _extract(store, args.txs)
    runs: dict[str, list[dict[str, float]]] = {"hash": [], "int": []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            for kind in runs:
                runs[kind].append(_one(data, kind, Path(tmp)))
    med = {kind: _median(r) for kind, r in runs.items()}
    report = {
        "transactions": int(data["ids"].num_rows),
        "inputs": int(data["inputs"].num_rows),
        "outputs": int(data["outputs"].num_rows),
        "load_average": load(),
        **med,
        "hash_over_int": {
            k: round(med["hash"][k] / med["int"][k], 2) for k in med["hash"] if med["int"][k]
        },
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
