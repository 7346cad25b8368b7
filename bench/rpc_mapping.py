"""Benchmark: map a real block's `getblock` answer to the staging tables, same run as peers.

    python -m bench.rpc_mapping [--repeats N]

The answer is block 413567 (1,557 transactions, from ../shared/data) as Bitcoin Core's
`getblock HASH 2` prints it, built from the raw block with python-bitcoinlib: txids, sizes,
weights, inputs' outpoints and sequences, outputs' values as BTC decimals and scripts as
hex. Ours: `rpc.blocks_to_staging` of the parsed answer (every output's type and address
by the block parser's C classifier). Peers in the same run: the same mapping with the
reference classifier (`script.classify`, pure Python, which it used before), and
`json.loads` of the answer's text with `Decimal` amounts, as the JSON-RPC client decodes
every answer (the work a node's answer costs before any mapping). Medians of N repeats.
"""

from __future__ import annotations

import decimal
import json
import os
from typing import Any
from unittest import mock

from bench.parse_block import block_and_repeats, median_seconds


def core_answer(raw: bytes) -> dict[str, Any]:
    """Block `raw` as Core's `getblock` verbosity 2 JSON object (amounts as Decimal)."""
    from bitcoin.core import CBlock, b2lx

    block = CBlock.deserialize(raw)
    btc = decimal.Decimal(100_000_000)

    def tx(t: Any) -> dict[str, Any]:
        vin: list[dict[str, Any]] = (
            [{"coinbase": bytes(t.vin[0].scriptSig).hex(), "sequence": t.vin[0].nSequence}]
            if t.is_coinbase()
            else [
                {"txid": b2lx(i.prevout.hash), "vout": i.prevout.n, "sequence": i.nSequence}
                for i in t.vin
            ]
        )
        return {
            "txid": b2lx(t.GetTxid()),
            "version": t.nVersion,
            "locktime": t.nLockTime,
            "size": len(t.serialize()),
            "weight": t.calc_weight(),
            "vin": vin,
            "vout": [
                {
                    "n": n,
                    "value": decimal.Decimal(o.nValue) / btc,
                    "scriptPubKey": {"hex": bytes(o.scriptPubKey).hex()},
                }
                for n, o in enumerate(t.vout)
            ],
        }

    return {
        "hash": b2lx(block.GetHash()),
        "height": 413567,
        "time": block.nTime,
        "previousblockhash": b2lx(block.hashPrevBlock),
        "tx": [tx(t) for t in block.vtx],
    }


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its figures."""
    from chainsleuth.chains.bitcoin import rpc
    from chainsleuth.chains.bitcoin.script import classify

    given = block_and_repeats(argv, __doc__)
    if given is None:
        return
    raw, repeats = given
    answer = core_answer(raw)
    text = json.dumps(answer, default=str)
    n_tx = len(answer["tx"])
    rows = sum(len(t["vin"]) + len(t["vout"]) for t in answer["tx"])
    load = os.getloadavg()[0]
    ours = median_seconds(lambda: rpc.blocks_to_staging([answer], "mainnet"), repeats)
    # The reference classifier in its place (same signature), as the mapping was before.
    with mock.patch.object(rpc, "script_address", classify):
        reference = median_seconds(lambda: rpc.blocks_to_staging([answer], "mainnet"), repeats)
    decode = median_seconds(lambda: json.loads(text, parse_float=decimal.Decimal), repeats)
    print(f"getblock 413567 (verbosity 2): {n_tx} txs, {rows:,} inputs and outputs,")
    print(f"  {len(text):,} bytes of JSON; median of {repeats} runs, load {load:.2f}")
    print(f"  {'':<44} {'wall ms':>8} {'CPU ms':>8} {'CPU tx/s':>10}")
    for name, (wall, cpu) in (
        ("blocks_to_staging (C classifier)", ours),
        ("blocks_to_staging (reference classifier)", reference),
        ("json.loads of the answer (Decimal amounts)", decode),
    ):
        print(f"  {name:<44} {wall * 1e3:8.2f} {cpu * 1e3:8.2f} {n_tx / cpu:>10,.0f}")
    print(
        f"  ours vs reference classifier: {reference[1] / ours[1]:.2f}x faster (CPU);"
        f" mapping / decoding: {ours[1] / decode[1]:.2f}x"
    )


if __name__ == "__main__":
    main()
