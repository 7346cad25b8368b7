"""Two simulated chains joined by a bridge: the 'bybit-like' theft across Ethereum and Bitcoin.

    simulate_crosschain(Path("out"), SimConfig(txs=20_000, seed=7), EthSimConfig(seed=7))

writes

- `out/ethereum/`: the Ethereum chain (ethereum-etl CSVs, `sim.ethereum`);
- `out/bitcoin/`: the Bitcoin chain (bitcoin-etl enriched JSON, `sim.bitcoin`), with the
  dmm-like theft of `SimConfig.theft` and the bridge's releases;
- `out/prices.csv`: the daily closes of BTC and ETH over both chains' days
  (`chainsleuth prices import`), the rate at which the bridge converts;
- `out/truth.json`: one ground truth for both chains (docs/simulator.md).

The Ethereum economy runs first: each deposit at its bridge names a Bitcoin address of the
Bitcoin world (the bybit-like thief's for stolen ETH, a user's otherwise). The Ethereum
chain is then placed in time so that the theft's first bridge deposit comes a few minutes
before a Bitcoin round a quarter into the chain; every deposit is released on Bitcoin by
the bridge's wallet 7–20 minutes later (`sim.bridge`), and in the first full round after
the last stolen release the thief launders the released coins along the dmm-like path to
exchanges, OTC desks and a CoinJoin. With `EthSimConfig.bridged_in`, bridge traffic also goes
the other way: in the last Ethereum round the bridge pays ETH to users' fresh addresses, and
Bitcoin users deposit the satoshi it converts at the bridge's Bitcoin address 7-20 minutes
before (`sim.bridge.BridgeDeposits`; truth `bridge_deposits`).
"""

from __future__ import annotations

import csv
import datetime as dt
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rich.progress import Progress

from chainsleuth.errors import InputError
from chainsleuth.sim.bitcoin import round_starts, run_bitcoin
from chainsleuth.sim.bridge import BridgeDeposits, BridgedLoot, BridgeWallet, Release
from chainsleuth.sim.config import BLOCK_SECONDS, START_TIME, SimConfig
from chainsleuth.sim.economy import Economy, Script
from chainsleuth.sim.eth_config import BLOCK_SECONDS as ETH_BLOCK_SECONDS
from chainsleuth.sim.eth_config import BTC_USD, ETH_USD, EthSimConfig
from chainsleuth.sim.eth_theft import theft_json as eth_theft_json
from chainsleuth.sim.ethereum import chain_header, run_ethereum, tokens_json, write_ethereum
from chainsleuth.sim.theft import TheftOutcome
from chainsleuth.sim.truth import (
    FORMAT,
    Namer,
    coinjoins_json,
    entities_json,
    theft_json,
    write_truth,
)

LEAD = 400  # seconds from the theft's first bridge deposit to the release round's start


@dataclass
class CrossChainSummary:
    """What a cross-chain simulation wrote."""

    out_dir: str
    seed: int
    btc_txs: int
    btc_blocks: int
    eth_txs: int
    eth_blocks: int
    releases: int
    stolen_wei: int
    bridged_wei: int
    released_to_thief_sat: int
    seconds: float


def simulate_crosschain(
    out_dir: Path, btc: SimConfig, eth: EthSimConfig, progress: Progress | None = None
) -> CrossChainSummary:
    """Simulate both chains and the bridge between them (see the module docstring)."""
    began = time.perf_counter()
    btc = replace(btc, bridge=True)
    btc.validate()
    if not eth.theft:
        raise InputError("the cross-chain scenario needs the Ethereum theft (theft=True)")
    starts = round_starts(btc)
    if len(starts) < 4:
        raise InputError(f"--txs {btc.txs}: the cross-chain scenario needs at least 4 rounds")
    out_dir.mkdir(parents=True, exist_ok=True)
    econ = Economy(btc)
    bridge = BridgeWallet(econ)
    eth_run = run_ethereum(eth, bridge.address_for, first_entity=econ.world.entity_count)
    (eth_theft,) = eth_run.thefts
    releases = eth_run.econ.releases
    heights = eth_run.econ.release_heights

    # Time: the theft's first bridge deposit LEAD seconds before the release round.
    release_round = starts[max(1, len(starts) // 4)]
    first_deposit = min(heights[i] for i in eth_theft.bridged)
    eth_start = START_TIME + BLOCK_SECONDS * release_round - LEAD
    eth_start -= ETH_BLOCK_SECONDS * first_deposit
    deposit_times = [eth_start + ETH_BLOCK_SECONDS * h for h in heights]
    bridge.schedule(
        [r["btc_amount"] for r in releases], [r["stolen"] for r in releases], deposit_times
    )
    early = [r for r in bridge.releases if r.height < starts[0]]
    if early:
        raise InputError(
            f"the Ethereum chain ({eth.rounds} rounds) starts before the Bitcoin chain's first"
            f" round (height {starts[0]}): simulate more Bitcoin transactions or fewer rounds"
        )

    inbound = eth_run.econ.bridged_in
    deposits = BridgeDeposits(
        econ,
        [r["btc_amount"] for r in inbound],
        [eth_start + ETH_BLOCK_SECONDS * r["height"] for r in inbound],
        btc.seed,
    )
    loot = BridgedLoot(econ, bridge)
    scripts: list[Script] = [bridge, loot, deposits] if inbound else [bridge, loot]
    btc_run = run_bitcoin(out_dir / "bitcoin", econ, progress, scripts, bridge.funds())
    unpaid = [r for r in bridge.releases if r.tx < 0] + [d for d in deposits.deposits if d.tx < 0]
    if unpaid or loot.outcome is None:
        raise InputError(
            f"--txs {btc.txs}: the Bitcoin chain ends before the bridge's releases are paid"
            " and laundered; simulate more Bitcoin transactions"
        )
    if loot.outcome.balance() != 0:
        raise AssertionError(f"bridged loot accounting is off by {loot.outcome.balance()} sat")
    write_ethereum(out_dir / "ethereum", eth_run.econ, eth_start)

    names = Namer(econ.world, btc.seed)
    block_time = econ.block_time.view
    by_index = {r.index: r for r in bridge.releases}
    for i, r in enumerate(releases):
        paid = by_index[i]
        r.update(
            eth_time=_iso(deposit_times[i]),
            btc_value=paid.value,
            btc_txid=names.txid(paid.tx),
            btc_n=0,
            btc_height=paid.height,
        )
    for r, d in zip(inbound, deposits.deposits, strict=True):
        r.update(
            eth_time=_iso(eth_start + ETH_BLOCK_SECONDS * r.pop("height")),
            btc_txid=names.txid(d.tx),
            btc_n=0,
            btc_height=d.height,
            btc_payer=int(econ.world.entity[d.payer]),
        )
    bybit = eth_theft_json(eth_run.econ, eth_theft, crossing=True)
    bybit["time"] = _iso(eth_start + ETH_BLOCK_SECONDS * eth_theft.height)
    _add_bitcoin_part(bybit, [by_index[i] for i in eth_theft.bridged], loot.outcome, names)
    thefts = [theft_json(o, names, int(block_time[o.height])) for o in btc_run.thefts]
    eth_last = eth_start + ETH_BLOCK_SECONDS * (eth_run.econ.c.height - 1)
    days = _days(min(eth_start, int(block_time[0])), max(eth_last, int(block_time[-1])))
    _write_prices(out_dir / "prices.csv", days)
    eth_entities = [{**e, "chain": "ethereum"} for e in eth_run.econ.c.entities]
    head: dict[str, Any] = {
        "format": FORMAT,
        "chains": {
            "bitcoin": {"dir": "bitcoin", **btc_run.header()},
            "ethereum": {"dir": "ethereum", **chain_header(eth_run.econ)},
        },
        "seed": btc.seed,
        "prices": {"BTC": BTC_USD, "ETH": ETH_USD},
        "entities": [{**e, "chain": "bitcoin"} for e in entities_json(econ.world)] + eth_entities,
        "coinjoins": coinjoins_json(econ.coinjoin_ids.view, btc.seed),
        "tokens": tokens_json(eth_run.econ),
        "thefts": [*thefts, bybit],
        "bridge_releases": releases,
        "bridge_deposits": inbound,
    }
    write_truth(
        out_dir / "truth.json", head, econ.world, dict(sorted(eth_run.econ.c.owner.items()))
    )
    return CrossChainSummary(
        out_dir=str(out_dir),
        seed=btc.seed,
        btc_txs=btc_run.txs,
        btc_blocks=btc_run.blocks,
        eth_txs=eth_run.econ.c.tx_count,
        eth_blocks=eth_run.econ.c.height,
        releases=len(releases),
        stolen_wei=eth_theft.stolen,
        bridged_wei=bybit["bridged"]["amount"],
        released_to_thief_sat=loot.outcome.stolen,
        seconds=round(time.perf_counter() - began, 3),
    )


def _add_bitcoin_part(
    record: dict[str, Any], releases: list[Release], out: TheftOutcome, names: Namer
) -> None:
    """Complete the bybit-like record with what the bridge released and where it went on
    Bitcoin: endpoints with `"chain": "bitcoin"`, and the `bitcoin` remainder."""
    gross = sum(r.gross for r in releases)
    record["bridged"].update(btc_amount=gross, released=out.stolen, bridge_fees=gross - out.stolen)
    for entity, end in sorted(out.endpoints.items(), key=lambda kv: -kv[1].amount):
        record["endpoints"].append(
            {
                **names.entity(entity),
                "chain": "bitcoin",
                "amount": end.amount,
                "addresses": sorted({names.address(a) for a in end.addresses}),
                "txids": [names.txid(t) for t in end.tx_ids],
            }
        )
    record["bitcoin"] = {
        "thief": names.entity(out.thief),
        "height": out.height,
        "received": out.stolen,
        "release_txids": [names.txid(r.tx) for r in releases],
        "held_by_thief": sum(v for *_, v in out.held),
        "held": [names.coin(*h) for h in out.held],
        "fees": out.fees,
        "coinjoin_fees": out.coinjoin_fees,
        "coinjoin_txid": names.txid(out.coinjoin_tx) if out.coinjoin_tx is not None else None,
        "txids": [names.txid(t) for t in out.tx_ids],
    }


def _iso(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat().replace("+00:00", "Z")


def _days(first: int, last: int) -> list[dt.date]:
    """Every UTC day from the one of `first` to the one of `last` (Unix seconds)."""
    day = dt.datetime.fromtimestamp(first, dt.UTC).date()
    end = dt.datetime.fromtimestamp(last, dt.UTC).date()
    days = []
    while day <= end:
        days.append(day)
        day += dt.timedelta(days=1)
    return days


def _write_prices(path: Path, days: list[dt.date]) -> None:
    """prices.csv in the `daily` shape of `chainsleuth prices import`."""
    with path.open("w", newline="", encoding="ascii") as fh:
        w = csv.writer(fh)
        w.writerow(["date", "asset", "close"])
        for day in days:
            w.writerow([day.isoformat(), "BTC", BTC_USD])
            w.writerow([day.isoformat(), "ETH", ETH_USD])
