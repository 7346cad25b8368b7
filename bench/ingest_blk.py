"""Benchmark: ingest a simulated chain from Bitcoin Core block files, against its ETL export.

    python -m bench.ingest_blk [--txs 1000000] [--txs-per-block N] [--dir DIR] [--repeats 3]
                               [--batch N]

The simulator writes bitcoin-etl JSON (`--dir` reuses one; `--txs-per-block` makes the
blocks small like the early chain's; a chain made here is removed after the run). This
serialises the same chain as raw blocks once, beside it (`<DIR>-blk/blocks/blk*.dat`,
mainnet framing, files of at most 128 MiB as Core writes them): legacy transactions with
the simulated output scripts and values, empty input scripts, coinbases committing to
their height (BIP-34), txids, merkle roots and block hashes computed, every spend
re-pointed at the computed txid. Then, alternating, each repeat in a fresh process and
store: `chainsleuth ingest bitcoin --from blk` of those files and, as the peer, `--from
etl DIR` of the same chain. Block files carry no prevouts, so every input is resolved from
the output it spends, in the batch or stored by an earlier one (each side in its default
batches: up to 200,000 transactions for block files, 1,000,000 for ETL; `--batch N` caps
both at N blocks). Reports medians, tx/s, the ratio blk/ETL and peak RSS, and checks both
stores hold the same totals.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.common import peak_mb, run_module
from chainsleuth.chains.bitcoin.address import sha256d
from chainsleuth.chains.bitcoin.network import get
from chainsleuth.chains.bitcoin.psbt import Tx, TxIn, TxOut
from chainsleuth.chains.bitcoin.serial import compact_size

FILE_BYTES = 128 * 2**20
TOTALS_SQL = (
    "SELECT (SELECT count(*) FROM txs), (SELECT sum(output_value) FROM txs),"
    " (SELECT sum(fee) FROM txs), (SELECT count(*) FROM inputs WHERE value IS NOT NULL),"
    " (SELECT count(spent_by) FROM outputs), (SELECT count(*) FROM addresses)"
)


def height_push(height: int) -> bytes:
    """The coinbase script start committing to `height` as Core writes it (BIP-34)."""
    if height == 0:
        return b"\x00"
    if height <= 16:
        return bytes([0x50 + height])
    size = (height.bit_length() + 8) // 8  # room for the sign bit
    return bytes([size]) + height.to_bytes(size, "little")


def merkle_root(txids: list[bytes]) -> bytes:
    """Merkle root over internal-order txids (the last one paired with itself when odd)."""
    level = txids
    while len(level) > 1:
        if len(level) % 2:
            level = [*level, level[-1]]
        level = [sha256d(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def _blocks_of(transactions: Path) -> Iterator[list[dict[str, Any]]]:
    """The export's transactions grouped by block, in block order (as the simulator writes)."""
    current: list[dict[str, Any]] = []
    done: set[int] = set()
    with transactions.open() as f:
        for line in f:
            row = json.loads(line)
            if current and row["block_number"] != current[0]["block_number"]:
                done.add(current[0]["block_number"])
                yield current
                current = []
            if row["block_number"] in done:
                raise SystemExit(f"{transactions}: block {row['block_number']} is not contiguous")
            current.append(row)
    if current:
        yield current


def write_blk(export: Path) -> Path:
    """Serialise the chain of `export` into block files beside it (once); their directory."""
    out = export.with_name(export.name + "-blk") / "blocks"
    if (out / "blk00000.dat").exists():
        return out
    out.mkdir(parents=True)
    headers = {
        b["number"]: b for b in map(json.loads, (export / "blocks.json").read_text().splitlines())
    }
    magic, parent = get("mainnet").magic, bytes(32)
    txid_of: dict[str, str] = {}  # simulated txid -> the serialisation's
    file_no, written = 0, 0
    f = (out / "blk00000.dat").open("wb")
    for rows in _blocks_of(export / "transactions.json"):
        height = rows[0]["block_number"]
        raw, ids = [], []
        for t in sorted(rows, key=lambda r: r["index"]):
            inputs = tuple(
                TxIn(txid_of[i["spent_transaction_hash"]], i["spent_output_index"])
                for i in t["inputs"]
            ) or (TxIn("00" * 32, 0xFFFFFFFF, height_push(height) + b"\x00" * 4),)
            outputs = tuple(TxOut(o["value"], bytes.fromhex(o["script_hex"])) for o in t["outputs"])
            data = Tx(t["version"], inputs, outputs, t["lock_time"]).encode()
            txid = sha256d(data)
            txid_of[t["hash"]] = txid[::-1].hex()
            raw.append(data)
            ids.append(txid)
        h = headers[height]
        header = b"".join(
            (
                h["version"].to_bytes(4, "little"),
                parent,
                merkle_root(ids),
                h["timestamp"].to_bytes(4, "little"),
                int(h["bits"], 16).to_bytes(4, "little"),
                int(h["nonce"], 16).to_bytes(4, "little"),
            )
        )
        block = header + compact_size(len(raw)) + b"".join(raw)
        if written + len(block) + 8 > FILE_BYTES and written:
            f.close()
            file_no, written = file_no + 1, 0
            f = (out / f"blk{file_no:05d}.dat").open("wb")
        f.write(magic + len(block).to_bytes(4, "little") + block)
        written += len(block) + 8
        parent = sha256d(header)
    f.close()
    return out


def run_child(source: str, location: Path, batch: int | None) -> dict[str, Any]:
    """Ingest `location` from `source` into a fresh store; wall/CPU seconds, peak, totals."""
    from chainsleuth.ingest.bitcoin_etl import ingest_etl
    from chainsleuth.ingest.bitcoin_files import ingest_blk
    from chainsleuth.ingest.common import INGEST_MEMORY_LIMIT, IngestOptions
    from chainsleuth.store.db import connect, limit_memory

    store = Path(tempfile.mkdtemp(prefix="chainsleuth-bench-")) / "store.duckdb"
    con = connect(store)
    limit_memory(con, INGEST_MEMORY_LIMIT)
    began, cpu = time.perf_counter(), time.process_time()
    ingest = ingest_blk if source == "blk" else ingest_etl
    summary = ingest(con, str(location), IngestOptions(batch_blocks=batch))
    con.close()
    wall, cpu_s = time.perf_counter() - began, time.process_time() - cpu
    with connect(store, read_only=True) as ro:
        totals = [int(v or 0) for v in ro.execute(TOTALS_SQL).fetchall()[0]]
    shutil.rmtree(store.parent)
    return {
        "wall_s": wall,
        "cpu_s": cpu_s,
        "txs": summary.txs,
        "peak_mb": peak_mb(),
        "totals": totals,
    }


def _child(source: str, location: Path, batch: int | None) -> dict[str, Any]:
    batch_args = ["--batch", str(batch)] if batch else []
    return run_module("bench.ingest_blk", "--child", source, "--dir", str(location), *batch_args)


def main() -> None:
    """Run the benchmark (see module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--txs", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--txs-per-block", type=int, default=0, help="0: the simulator's.")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="Reuse a simulated chain.")
    parser.add_argument("--batch", type=int, default=None, help="As `ingest --batch`.")
    parser.add_argument("--child", choices=["blk", "etl"], help=argparse.SUPPRESS)
    args = parser.parse_args(sys.argv[1:] if __name__ == "__main__" else [])
    if args.child:
        print(json.dumps(run_child(args.child, args.dir, args.batch)))
        return
    export = args.dir
    if export is None:
        from chainsleuth.sim import SimConfig, simulate_bitcoin

        export = Path(tempfile.mkdtemp(prefix="chainsleuth-etl-"))
        config = SimConfig(txs=args.txs, seed=args.seed, txs_per_block=args.txs_per_block)
        simulate_bitcoin(export, config)
    began = time.perf_counter()
    blocks = write_blk(export)
    print(f"block files: {blocks} ({time.perf_counter() - began:.0f} s)", file=sys.stderr)
    blk, etl = [], []
    for _ in range(args.repeats):
        blk.append(_child("blk", blocks, args.batch))
        etl.append(_child("etl", export, args.batch))
    if blk and blk[0]["totals"] != etl[0]["totals"]:
        raise SystemExit(f"stores differ: blk {blk[0]['totals']} etl {etl[0]['totals']}")
    blk_s = statistics.median(r["wall_s"] for r in blk)
    etl_s = statistics.median(r["wall_s"] for r in etl)
    print(
        json.dumps(
            {
                "txs": blk[0]["txs"],
                "blk_mb": round(sum(p.stat().st_size for p in blocks.glob("blk*.dat")) / 2**20),
                "blk_s": round(blk_s, 2),
                "blk_tx_per_s": round(blk[0]["txs"] / blk_s),
                "etl_s": round(etl_s, 2),
                "ratio_blk_to_etl": round(blk_s / etl_s, 2),
                "blk_cpu_s": round(statistics.median(r["cpu_s"] for r in blk), 2),
                "etl_cpu_s": round(statistics.median(r["cpu_s"] for r in etl), 2),
                "blk_peak_mb": max(r["peak_mb"] for r in blk),
                "etl_peak_mb": max(r["peak_mb"] for r in etl),
                "repeats": args.repeats,
                "batch_blocks": args.batch,
            },
            indent=2,
        )
    )
    if args.dir is None:
        shutil.rmtree(export)
        shutil.rmtree(blocks.parent)


if __name__ == "__main__":
    main()
