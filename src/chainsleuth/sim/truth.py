"""The ground-truth file `truth.json` of a simulated chain (format in docs/simulator.md).

Small parts (entities, CoinJoin txids, theft scenarios) are built as Python objects; the
address -> owner map, one entry per address ever used (millions at scale), is streamed
as JSON text by DuckDB, like the chain itself.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chainsleuth.sim.encode import DOMAIN_TX, hex_ids, strings
from chainsleuth.sim.etl_writer import json_lines, write_strings
from chainsleuth.sim.model import ENTITY_KIND, Kind
from chainsleuth.sim.theft import TheftOutcome
from chainsleuth.sim.world import World

FORMAT = "chainsleuth-sim-truth/1"
ADDRESS_CHUNK = 1_000_000  # addresses per joined string (Arrow strings stay under 2 GB)


def _txids(ids: list[int] | np.ndarray[Any, Any], seed: int) -> list[str]:
    return [str(x) for x in hex_ids(np.asarray(ids, np.int64), seed, DOMAIN_TX).to_pylist()]


class Namer:
    """Turns simulator ids (tx, address, entity) into on-chain names and labels."""

    def __init__(self, world: World, seed: int) -> None:
        self.world = world
        self.seed = seed

    def txid(self, tx: int) -> str:
        """The hex txid of a transaction id."""
        return _txids([tx], self.seed)[0]

    def address(self, addr: int) -> str:
        """The bech32 string of an address id."""
        return bytes(self.world.book.text.view[addr]).decode("ascii")

    def entity(self, entity: int) -> dict[str, Any]:
        """An entity reference: id, kind and label."""
        kind = ENTITY_KIND[Kind(int(self.world.kind[entity]))]
        return {"entity": entity, "kind": kind, "label": self.world.labels[entity]}

    def coin(self, tx: int, n: int, addr: int, value: int) -> dict[str, Any]:
        """An output reference."""
        return {"txid": self.txid(tx), "n": n, "address": self.address(addr), "value": value}


def theft_json(out: TheftOutcome, names: Namer, time: int) -> dict[str, Any]:
    """One scenario: seed, stolen total and where every stolen satoshi ended."""
    endpoints = [
        {
            **names.entity(entity),
            "amount": end.amount,
            "addresses": sorted({names.address(a) for a in end.addresses}),
            "txids": [names.txid(t) for t in end.tx_ids],
        }
        for entity, end in sorted(out.endpoints.items(), key=lambda kv: -kv[1].amount)
    ]
    return {
        "id": "dmm-like-btc",
        "name": "DMM-like exchange hot-wallet theft (split, peel chains, CoinJoin, cash-outs)",
        "chain": "bitcoin",
        "victim": names.entity(out.victim),
        "thief": names.entity(out.thief),
        "height": out.height,
        "time": dt.datetime.fromtimestamp(time, dt.UTC).isoformat().replace("+00:00", "Z"),
        "seed": {
            "txid": names.txid(out.theft_tx),
            "outputs": [names.coin(out.theft_tx, 0, out.stolen_addr, out.stolen)],
            "addresses": [names.address(out.stolen_addr)],
        },
        "stolen": out.stolen,
        "endpoints": endpoints,
        "held_by_thief": sum(v for *_, v in out.held),
        "held": [names.coin(*h) for h in out.held],
        "fees": out.fees,
        "coinjoin_fees": out.coinjoin_fees,
        "coinjoin_txid": names.txid(out.coinjoin_tx) if out.coinjoin_tx is not None else None,
        "txids": [names.txid(t) for t in out.tx_ids],
    }


def entities_json(world: World) -> list[dict[str, Any]]:
    """Every entity of `world`: id, kind and label."""
    return [
        {"id": e, "kind": ENTITY_KIND[Kind(int(world.kind[e]))], "label": world.labels[e]}
        for e in range(world.entity_count)
    ]


def coinjoins_json(coinjoins: np.ndarray[Any, Any], seed: int) -> list[str]:
    """The txids of the CoinJoin transaction ids `coinjoins`."""
    return _txids(coinjoins, seed)


def write_truth(
    path: Path, head: dict[str, Any], world: World, first: dict[str, int] | None = None
) -> None:
    """Write truth.json: `head`'s keys, then the address map: `first` (another chain's
    addresses) followed by every address of `world`, streamed."""
    owners = world.entity[world.book.owner.view]
    with path.open("wb") as f:
        f.write(json.dumps(head)[:-1].encode() + b', "addresses": {\n')
        if first:
            f.write(json.dumps(first)[1:-1].encode() + (b",\n" if len(owners) else b""))
        for start in range(0, len(owners), ADDRESS_CHUNK):
            rows = slice(start, start + ADDRESS_CHUNK)
            entries = json_lines(
                ('"', "address", '":', "entity", ""),
                {"address": strings(world.book.text.view[rows]), "entity": owners[rows]},
            )
            if start:
                f.write(b",\n")
            offsets = pa.array([0, len(entries)], pa.int32())
            write_strings(pc.binary_join(pa.ListArray.from_arrays(offsets, entries), ",\n"), f)
        f.write(b"\n}}\n")
