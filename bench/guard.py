"""Benchmark: latency of one guard check (decode + policy evaluation, no screening).

    python -m bench.guard [--iterations N]

Cases: the real Bybit malicious Safe transaction (Safe Transaction Service JSON, from
../shared/data when present), a legitimate Bitcoin PSBT with change proven by a ranged
`wpkh(xpub/<0;1>/*)` descriptor (wallet scripts derived once and cached, as a signing
service keeps them; the one-off derivation is reported separately), a DMM-like PSBT, and
an EIP-1559 transfer. Reports wall-clock p50 and p99 and thread-CPU p99 per case over N
checks; the goal is p99 < 5 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import base58

from bench.common import SHARED_DATA
from chainsleuth.chains.bitcoin import address, psbt
from chainsleuth.chains.bitcoin.serial import compact_size
from chainsleuth.chains.ethereum.transaction import DYNAMIC_FEE, Transaction
from chainsleuth.services.guard import bitcoin as guard_bitcoin
from chainsleuth.services.guard import check, default_policy, parse_request

BYBIT = SHARED_DATA / "ethereum/bybit-safe-tx/bybit-safe-tx-71.json"
_ZPUB = (
    "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgD"
    "Kf31mGDtKsAYz2oz2AGutZYs"
)
XPUB = base58.b58encode_check(bytes.fromhex("0488b21e") + base58.b58decode_check(_ZPUB)[4:])
WALLET = f"wpkh({XPUB.decode()}/<0;1>/*)"
RECEIVE_0 = "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
CHANGE_0 = "bc1q8c6fshw2dlwun7ekn9qwf37cu2rn755upcp6el"
DEST_BTC = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
ATTACKER = "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"


def _kv(key: bytes, value: bytes) -> bytes:
    return compact_size(len(key)) + key + compact_size(len(value)) + value


def build_psbt(outputs: list[tuple[str, int]]) -> bytes:
    """A version-0 PSBT spending 5 BTC from the wallet's first receive address."""
    spk = address.to_script(RECEIVE_0, "mainnet")
    tx = psbt.Tx(
        2,
        (psbt.TxIn("75ddabb27b8845f5247975c8a5ba7c6f336c4570708ebe230caf6db5217ae858", 0),),
        tuple(psbt.TxOut(v, address.to_script(a, "mainnet")) for a, v in outputs),
        0,
    )
    utxo = (5 * 10**8).to_bytes(8, "little") + compact_size(len(spk)) + spk
    parts = [psbt.MAGIC, _kv(b"\x00", tx.encode()), b"\x00", _kv(b"\x01", utxo), b"\x00"]
    return b"".join(parts + [b"\x00"] * len(outputs))


def cases() -> dict[str, tuple[dict[str, object], bytes]]:
    """name -> (request, transaction bytes)."""
    btc_request: dict[str, object] = {
        "id": "b1",
        "chain": "bitcoin",
        "chain_id": "mainnet",
        "asset": "BTC",
        "amount": str(10**8),
        "destination": DEST_BTC,
        "approvers": ["a", "b"],
        "time": "2024-05-31T00:00:00Z",
        "wallet": {"type": "bitcoin", "descriptors": [WALLET]},
    }
    eth_request: dict[str, object] = {
        "id": "e1",
        "chain": "ethereum",
        "chain_id": 1,
        "asset": "ETH",
        "amount": str(10**18),
        "destination": "0x" + "be" * 20,
        "approvers": ["a", "b"],
        "time": "2026-01-01T00:00:00Z",
        "wallet": {"type": "account", "address": "0x" + "a1" * 20},
    }
    eip1559 = Transaction(
        tx_type=DYNAMIC_FEE,
        chain_id=1,
        nonce=1,
        gas_limit=21000,
        to="0x" + "be" * 20,
        value=10**18,
        data=b"",
        max_priority_fee_per_gas=10**9,
        max_fee_per_gas=3 * 10**10,
    ).encode()
    out = {
        "btc_legit_psbt": (
            btc_request,
            build_psbt([(DEST_BTC, 10**8), (CHANGE_0, 4 * 10**8 - 14_100)]),
        ),
        "btc_dmm_like_psbt": (btc_request, build_psbt([(ATTACKER, 5 * 10**8 - 14_100)])),
        "eth_eip1559_transfer": (eth_request, eip1559.hex().encode()),
    }
    if BYBIT.is_file():
        malicious = next(r for r in json.loads(BYBIT.read_text())["results"] if r["operation"])
        safe_request = dict(
            eth_request,
            amount="30000000000000000000000",
            destination="0x88a1493366D48225fc3cEFbdae9eBb23E323Ade3",
            wallet={"type": "safe", "address": malicious["safe"], "version": "1.1.1"},
        )
        out["eth_bybit_safe_json"] = (safe_request, json.dumps(malicious).encode())
    return out


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed(fn: Callable[[], object], iterations: int) -> tuple[list[float], list[float]]:
    """Wall-clock and thread-CPU seconds of each call (CPU time excludes the waits of a
    shared, oversubscribed machine; wall time includes them)."""
    fn()  # warm-up
    wall, cpu = [], []
    for _ in range(iterations):
        start, start_cpu = time.perf_counter(), time.thread_time()
        fn()
        cpu.append(time.thread_time() - start_cpu)
        wall.append(time.perf_counter() - start)
    return wall, cpu


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2000)
    args = parser.parse_args(argv)
    policy = default_policy()
    start = time.perf_counter()
    guard_bitcoin.wallet_scripts((WALLET,), (), "mainnet")
    derive_ms = (time.perf_counter() - start) * 1000
    print(f"one-off wallet derivation (2 x 1000 keys): {derive_ms:.1f} ms")
    print(f"{'case':22} {'p50 ms':>7} {'p99 ms':>7} {'p99 cpu ms':>10} {'decision':>9}")
    for name, (request_data, raw) in cases().items():
        request = parse_request(request_data)

        def run(request: object = request, raw: bytes = raw) -> object:
            return check(request, raw, policy)  # type: ignore[arg-type]

        wall, cpu = timed(run, args.iterations)
        decision = check(request, raw, policy).decision
        p50 = statistics.median(wall) * 1000
        p99, p99_cpu = percentile(wall, 0.99) * 1000, percentile(cpu, 0.99) * 1000
        print(f"{name:22} {p50:7.3f} {p99:7.3f} {p99_cpu:10.3f} {decision:>9}")


if __name__ == "__main__":
    main()
