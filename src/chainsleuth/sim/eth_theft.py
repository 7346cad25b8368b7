"""The 'bybit-like' theft of the Ethereum simulator and its ground-truth record.

A multisig cold wallet is drained in one transaction whose call tree holds a delegatecall
to the attacker's contract (moving nothing itself) and the transfers of all its ETH and
tokens to the thief; the thief splits the funds over `intermediaries` addresses, swaps the
tokens for ETH at the DEX, and sends the ETH to the bridge (to Bitcoin), the mixer and
exchange deposit addresses, keeping a remainder. The record says where every stolen wei
went: `stolen + sum(swaps.eth_out) == sum(endpoints.amount) + held_by_thief + fees`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chainsleuth.sim.eth_chain import Frame, transfer_log
from chainsleuth.sim.eth_config import ETHER, MIXER_DENOMINATION
from chainsleuth.sim.eth_economy import EthEconomy


@dataclass
class EthTheft:
    """What the bybit-like theft did, as it happens (see `theft_json` for the record)."""

    victim: int
    thief: int
    height: int = 0
    theft_tx: str = ""
    stolen: int = 0
    stolen_tokens: dict[str, int] = field(default_factory=dict)
    swaps: list[dict[str, Any]] = field(default_factory=list)
    endpoints: dict[int, dict[str, Any]] = field(default_factory=dict)
    fees: int = 0
    txids: list[str] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)
    bridged: list[int] = field(default_factory=list)  # its deposits among `releases`

    def reach(self, entity: int, amount: int, address: str, txid: str) -> None:
        """Stolen value `amount` reached cash-out `entity` at `address` in `txid`."""
        end = self.endpoints.setdefault(entity, {"amount": 0, "addresses": set(), "txids": []})
        end["amount"] += amount
        end["addresses"].add(address)
        end["txids"].append(txid)


def bybit_theft(econ: EthEconomy) -> EthTheft:
    """The bybit-like theft and its laundering (see the module docstring)."""
    c = econ.c
    victim = econ.exchanges[0]
    cold = c.address(victim["entity"], "cold multisig")
    c.tx(econ.issuer, None, created=cold, gas_used=300_000)
    c.tx(econ.issuer, cold, 400_000 * ETHER)
    econ.mint(econ.steth, cold, 90_000 * ETHER)
    econ.mint(econ.usdt, cold, 3 * 10**13)
    c.seal()
    thief_entity = c.entity("thief", "bybit-like thief")
    t = EthTheft(victim["entity"], thief_entity, height=c.height)
    signer = c.address(thief_entity, "signer")
    malicious = c.address(thief_entity, "malicious implementation")
    drain = c.address(thief_entity, "drain")
    c.tx(econ.issuer, signer, ETHER)
    stolen = econ.eth_of(cold)
    tokens = {tok: econ.token_of(cold, tok) for tok in (econ.steth, econ.usdt)}
    t.theft_tx = c.tx(
        signer,
        cold,
        frames=[
            Frame("0", cold, malicious, 0, call_type="delegatecall"),
            Frame("1", cold, drain, stolen),
        ],
        logs=[transfer_log(tok, cold, drain, amount) for tok, amount in tokens.items()],
        data="0x6a761202",
        gas_used=200_000,
    )
    t.stolen, t.stolen_tokens = stolen, tokens
    t.addresses.append(drain)
    hops = [c.address(thief_entity, f"hop {i}") for i in range(c.cfg.intermediaries)]
    t.addresses.extend(hops)
    fee_before = _fees_paid(econ, t.addresses)
    share = (stolen - 10 * ETHER) // len(hops)
    for i, hop in enumerate(hops):
        t.txids.append(c.tx(drain, hop, share))
        if i < len(tokens):
            tok = list(tokens)[i]
            t.txids.append(
                c.tx(
                    drain,
                    tok,
                    logs=[transfer_log(tok, drain, hop, tokens[tok])],
                    data="0xa9059cbb",
                    gas_used=52_000,
                )
            )
    c.seal()
    for hop in hops:
        for tok in (econ.steth, econ.usdt):
            amount = econ.token_of(hop, tok)
            if amount:
                h, eth_out = econ.swap_token_for_eth(hop, tok, amount)
                t.swaps.append({"txid": h, "token": tok, "amount_in": amount, "eth_out": eth_out})
                t.txids.append(h)
    c.seal()
    for i, hop in enumerate(hops):
        spare = econ.eth_of(hop) - ETHER // 10
        route = i % 10
        if route < 5:
            t.txids.append(econ.bridge_out(hop, spare, t))
        elif route < 7:
            for _ in range(spare // MIXER_DENOMINATION):
                h = c.tx(hop, econ.mixer, MIXER_DENOMINATION, data="0xb214faa5", gas_used=900_000)
                t.reach(econ.mixer_entity, MIXER_DENOMINATION, econ.mixer, h)
                t.txids.append(h)
        elif route < 9:
            ex = econ.exchanges[1 + i % (len(econ.exchanges) - 1)]
            dep = econ.deposit_address(ex, hop)
            h = c.tx(hop, dep, spare // 2)
            t.reach(ex["entity"], spare // 2, dep, h)
            t.txids.append(h)
    c.seal()
    t.fees = _fees_paid(econ, t.addresses) - fee_before
    return t


def _fees_paid(econ: EthEconomy, addresses: list[str]) -> int:
    """Fees paid so far by transactions sent from `addresses`."""
    wanted = set(addresses)
    gas_used = {r[0]: r[5] for r in econ.c.rows["receipts"]}
    rows = econ.c.rows["transactions"]
    return sum(r[9] * gas_used[r[0]] for r in rows if r[5] in wanted)


def theft_json(econ: EthEconomy, t: EthTheft, *, crossing: bool = False) -> dict[str, Any]:
    """The theft's truth record. Alone (`crossing` False) the bridge is where the bridged
    ETH ends, an endpoint; in the cross-chain scenario it is `bridged` (wei, and the
    indices of the deposits in `bridge_releases`), followed on Bitcoin by `sim.crosschain`.
    """
    c = econ.c
    ends = {e: {**end, "txids": list(end["txids"])} for e, end in t.endpoints.items()}
    bridged = [econ.releases[i] for i in t.bridged]
    if not crossing:
        for r in bridged:
            end = ends.setdefault(
                econ.bridge_entity, {"amount": 0, "addresses": {econ.bridge}, "txids": []}
            )
            end["amount"] += r["amount_wei"]
            end["txids"].append(r["eth_txid"])
    held = sum(econ.eth_of(a) for a in t.addresses)
    endpoints = [
        {
            **c.entity_ref(e),
            "amount": end["amount"],
            "addresses": sorted(end["addresses"]),
            "txids": end["txids"],
        }
        for e, end in sorted(ends.items(), key=lambda kv: -kv[1]["amount"])
    ]
    record: dict[str, Any] = {
        "id": "bybit-like" if crossing else "bybit-like-eth",
        "name": "Bybit-like cold-wallet drain (delegatecall, ~40 hops, DEX swaps, bridge to BTC"
        + (", laundering on Bitcoin)" if crossing else ")"),
        "chain": "ethereum",
        "victim": c.entity_ref(t.victim),
        "thief": c.entity_ref(t.thief),
        "height": t.height,
        "seed": {"txid": t.theft_tx, "addresses": [t.addresses[0]]},
        "stolen": t.stolen,
        "stolen_tokens": t.stolen_tokens,
        "swaps": t.swaps,
        "endpoints": endpoints,
        "held_by_thief": held,
        "held": {a: econ.eth_of(a) for a in t.addresses if econ.eth_of(a)},
        "fees": t.fees,
        "txids": t.txids,
    }
    outflow = sum(e["amount"] for e in endpoints) + held + t.fees
    if crossing:
        amount = sum(r["amount_wei"] for r in bridged)
        record["bridged"] = {"amount": amount, "releases": list(t.bridged)}
        outflow += amount
    inflow = t.stolen + sum(s["eth_out"] for s in t.swaps)
    if inflow != outflow:
        raise AssertionError(f"theft accounting is off by {inflow - outflow} wei")
    return record
