"""Bitcoin Core over JSON-RPC: the calls ingestion needs, and `getblock` JSON as staging tables.

`getblock HASH 3` (Core 23+) gives every input its `prevout` (value and scriptPubKey), so
inputs arrive with address and value. Older nodes refuse verbosity 3 with error -8
(invalid parameter), or silently answer as verbosity 2; either way inputs then come
without address and value and `store.utxo.apply_staged` resolves them from stored outputs.

Amounts: Core prints BTC as decimals (`50.00000000`); the JSON client parses them as
`Decimal`, and `btc_to_sat` converts exactly, rejecting anything that is not a whole
number of satoshi. Script type and address come from the script bytes (the block
parser's classifier, `rawblock.script_address`), never from Core's own `type`/`address`/
`addresses` fields, which differ between Core versions (old: `addresses` list and P2PK
shown as its P2PKH address; new: one `address`, none for P2PK), so every source gives the
same (script_type, address).
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa

from chainsleuth.chains.bitcoin.rawblock import script_address
from chainsleuth.chains.jsonrpc import JsonRpcClient
from chainsleuth.errors import SourceError
from chainsleuth.store.utxo import STAGING_SCHEMAS

# Core's getblockchaininfo `chain` values for each network name chainsleuth uses.
CORE_CHAINS: dict[str, tuple[str, ...]] = {
    "mainnet": ("main",),
    "testnet": ("test", "testnet4"),
    "signet": ("signet",),
    "regtest": ("regtest",),
}
SAT_PER_BTC = decimal.Decimal(100_000_000)
MAX_MONEY = 21_000_000 * 100_000_000
NULL_HASH = "0" * 64  # the parent of the genesis block, as its header stores it
# RPC_INVALID_PARAMETER (Core) and JSON-RPC "invalid params": verbosity 3 not understood.
VERBOSITY_REFUSED = (-8, -32602)
# What a missing field or a value of the wrong JSON type raises while mapping.
MALFORMED = (KeyError, TypeError, ValueError, AttributeError)


def btc_to_sat(value: Any, where: str) -> int:
    """Exact satoshi of a BTC amount parsed as Decimal (or int); SourceError otherwise."""
    if isinstance(value, bool) or not isinstance(value, decimal.Decimal | int):
        raise SourceError(f"{where}: amount {value!r} is not a decimal number")
    sat = decimal.Decimal(value) * SAT_PER_BTC
    if sat != sat.to_integral_value() or not 0 <= sat <= MAX_MONEY:
        raise SourceError(f"{where}: amount {value:f} BTC is not a valid number of satoshi")
    return int(sat)


def check_network(info: Mapping[str, Any], network: str, where: str) -> None:
    """Raise SourceError unless `getblockchaininfo` says the node serves `network`."""
    chain = info.get("chain")
    if chain in CORE_CHAINS.get(network, ()):
        return
    served = next((name for name, core in CORE_CHAINS.items() if chain in core), None)
    hint = f"; pass --network {served}" if served else ""
    raise SourceError(f"{where} serves Bitcoin chain {chain!r}, not {network}{hint}")


class BitcoinNode:
    """The Bitcoin Core calls ingestion makes, batched, with the verbosity-3 fallback."""

    def __init__(self, client: JsonRpcClient) -> None:
        self.client = client
        self.verbosity = 3  # drops to 2 once the node refuses 3

    def chain_info(self) -> dict[str, Any]:
        """`getblockchaininfo`."""
        info = self.client.call("getblockchaininfo")
        if not isinstance(info, dict):
            raise SourceError(f"getblockchaininfo at {self.client.where}: not an object")
        return info

    def block_count(self) -> int:
        """Height of the node's tip (`getblockcount`)."""
        count = self.client.call("getblockcount")
        if not isinstance(count, int):
            raise SourceError(f"getblockcount at {self.client.where}: {count!r} is not a height")
        return count

    def block_hashes(self, heights: Iterable[int]) -> list[str]:
        """Hashes of the node's active chain at `heights` (one batch of `getblockhash`)."""
        return [str(h) for h in self.client.batch([("getblockhash", [h]) for h in heights])]

    def blocks(self, hashes: Sequence[str]) -> list[dict[str, Any]]:
        """`getblock` with transactions for `hashes` in one batch (verbosity 3, else 2)."""
        outcomes = self.client.batch_outcomes([("getblock", [h, self.verbosity]) for h in hashes])
        if self.verbosity == 3 and any(
            o.error is not None and o.error.code in VERBOSITY_REFUSED for o in outcomes
        ):
            self.verbosity = 2
            return self.blocks(hashes)
        blocks = [o.value() for o in outcomes]
        for h, block in zip(hashes, blocks, strict=True):
            if not isinstance(block, dict) or block.get("hash") != h:
                raise SourceError(f"getblock {h} at {self.client.where}: answer is not that block")
        return blocks


class _Columns:
    """Column lists of the four staging tables, filled block by block."""

    def __init__(self) -> None:
        self.data: dict[str, dict[str, list[Any]]] = {
            name: {col: [] for col in schema.names} for name, schema in STAGING_SCHEMAS.items()
        }

    def add(self, table: str, **row: Any) -> None:
        cols = self.data[table]
        for name, value in row.items():
            cols[name].append(value)

    def tables(self) -> dict[str, pa.Table]:
        return {
            name: pa.Table.from_pydict(cols, schema=STAGING_SCHEMAS[name])
            for name, cols in self.data.items()
        }


def blocks_to_staging(blocks: Iterable[Mapping[str, Any]], network: str) -> dict[str, pa.Table]:
    """Staging tables (`store.utxo.STAGING_SCHEMAS`) for `getblock` verbosity 2/3 answers.

    Coinbase inputs are not staged (they spend nothing). An input with a `prevout`
    (verbosity 3) carries its address and value; without one they are left NULL.
    """
    cols = _Columns()
    for block in blocks:
        where = f"block {block.get('height')} {block.get('hash')}"
        try:
            _add_block(cols, block, network, where)
        except MALFORMED as exc:
            raise SourceError(f"{where}: malformed getblock answer ({exc!r})") from exc
    return cols.tables()


def _add_block(cols: _Columns, block: Mapping[str, Any], network: str, where: str) -> None:
    height = int(block["height"])
    txs = block["tx"]
    if any(not isinstance(tx, dict) for tx in txs):
        raise SourceError(f"{where}: getblock gave txids only; verbosity 2 or 3 is needed")
    cols.add(
        "stg_blocks",
        height=height,
        hash=block["hash"],
        parent_hash=block.get("previousblockhash", NULL_HASH),
        time=int(block["time"]),
        tx_count=len(txs),
    )
    for position, tx in enumerate(txs):
        tx_where = f"{where} tx {tx.get('txid')}"
        try:
            _add_tx(cols, height, position, tx, network, tx_where)
        except MALFORMED as exc:
            raise SourceError(f"{tx_where}: malformed getblock answer ({exc!r})") from exc


def _add_tx(
    cols: _Columns, height: int, position: int, tx: Mapping[str, Any], network: str, where: str
) -> None:
    txid = tx["txid"]
    vin = tx["vin"]
    is_coinbase = bool(vin) and "coinbase" in vin[0]
    size = int(tx["size"])
    weight = tx.get("weight")
    if weight is None and tx.get("vsize") == size:
        weight = 4 * size  # no witness: weight is exactly 4 x size (BIP-141)
    cols.add(
        "stg_txs",
        block_height=height,
        tx_hash=txid,
        position=position,
        version=int(tx["version"]),
        locktime=int(tx["locktime"]),
        size=size,
        weight=weight,
        is_coinbase=is_coinbase,
    )
    for n, txin in enumerate(() if is_coinbase else vin):
        prevout = txin.get("prevout")
        address, value = None, None
        if prevout is not None:
            value = btc_to_sat(prevout["value"], f"{where} input {n}")
            address = _script(prevout["scriptPubKey"], network)[1]
        cols.add(
            "stg_inputs",
            block_height=height,
            tx_hash=txid,
            position=position,
            n=n,
            prev_tx_hash=txin["txid"],
            prev_n=int(txin["vout"]),
            address=address,
            value=value,
            sequence=int(txin["sequence"]),
        )
    for vout in tx["vout"]:
        n = int(vout["n"])
        script_type, address = _script(vout["scriptPubKey"], network)
        cols.add(
            "stg_outputs",
            block_height=height,
            tx_hash=txid,
            position=position,
            n=n,
            address=address,
            value=btc_to_sat(vout["value"], f"{where} output {n}"),
            script_type=script_type,
        )


def _script(script_pub_key: Mapping[str, Any], network: str) -> tuple[str, str | None]:
    """(script_type, address) of a Core `scriptPubKey` object, from its script bytes."""
    return script_address(bytes.fromhex(script_pub_key["hex"]), network)
