"""Ethereum JSON-RPC: what a node is asked, and its answers mapped to the raw relations.

Per batch of heights, one batched POST each for `eth_getBlockByNumber` (full
transactions), `eth_getBlockReceipts` (falling back, when the node lacks it, to one batch
of `eth_getTransactionReceipt`), and traces. Traces come from `trace_block` (Erigon,
Nethermind, Reth, OpenEthereum) or `debug_traceBlockByNumber` with `callTracer` (Geth),
detected once per run; a node with neither gets its blocks stored with internal transfers
marked unavailable. Answers are checked: a missing block, a field that is not a hex
quantity, receipts that do not match the block's transactions are errors naming the block
and transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from chainsleuth.chains.ethereum.raw import RAW_SCHEMAS
from chainsleuth.chains.ethereum.traces import geth_rows, parity_rows
from chainsleuth.chains.jsonrpc import JsonRpcClient, RpcCallError
from chainsleuth.errors import ParseError, SourceError

TRACE_BLOCK = "trace_block"
DEBUG_TRACE = "debug_traceBlockByNumber"
CALL_TRACER = {"tracer": "callTracer"}
# JSON-RPC "method not found", and the messages nodes use for a disabled namespace.
MISSING_METHOD_CODES = (-32601, -32600)
MISSING_METHOD_WORDS = ("not found", "does not exist", "not available", "not supported")

Json = Mapping[str, Any]


def missing_method(error: RpcCallError) -> bool:
    """Whether a call failed because the node does not offer the method."""
    text = error.rpc_message.lower()
    return error.code in MISSING_METHOD_CODES or any(w in text for w in MISSING_METHOD_WORDS)


def quantity(obj: Json, key: str, where: str, *, required: bool = True) -> int | None:
    """An `0x` hex quantity field as an int (None when absent and not required)."""
    value = obj.get(key)
    if value is None:
        if required:
            raise ParseError(f"{where}: field {key!r} is missing")
        return None
    try:
        return int(value, 16)
    except (TypeError, ValueError) as exc:
        raise ParseError(f"{where}: field {key!r} = {value!r} is not a hex quantity") from exc


def _dec(obj: Json, key: str, where: str, *, required: bool = False) -> str | None:
    number = quantity(obj, key, where, required=required)
    return None if number is None else str(number)


def _addr(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) else None


@dataclass
class EthereumNode:
    """An Ethereum node behind a JsonRpcClient, with the methods it turned out to offer."""

    client: JsonRpcClient
    trace_method: str | None = None
    traces_detected: bool = False
    block_receipts: bool = True
    notes: list[str] = field(default_factory=list)

    def block_number(self) -> int:
        """The node's tip height."""
        tip = self.client.call("eth_blockNumber")
        return int(tip, 16) if isinstance(tip, str) else int(tip)

    def block_hashes(self, heights: Sequence[int]) -> list[str]:
        """Hashes of blocks by height (header-only requests)."""
        answers = self.client.batch([("eth_getBlockByNumber", [hex(h), False]) for h in heights])
        return [
            _block(a, h, full=False)["hash"].lower() for a, h in zip(answers, heights, strict=True)
        ]

    def blocks(self, heights: Sequence[int]) -> list[Json]:
        """Blocks with full transaction objects, checked to be the heights asked for."""
        answers = self.client.batch([("eth_getBlockByNumber", [hex(h), True]) for h in heights])
        blocks = [_block(a, h, full=True) for a, h in zip(answers, heights, strict=True)]
        for block, h in zip(blocks, heights, strict=True):
            if quantity(block, "number", f"block {h}") != h:
                raise SourceError(f"block {h}: the node answered block {block.get('number')}")
        return blocks

    def receipts(self, blocks: Sequence[Json]) -> list[list[Json]]:
        """Each block's receipts, in transaction order, checked against its transactions."""
        found: list[list[Json]] | None = None
        if self.block_receipts:
            outcomes = self.client.batch_outcomes(
                [("eth_getBlockReceipts", [b["number"]]) for b in blocks]
            )
            errors = [o.error for o in outcomes if o.error is not None]
            if errors and missing_method(errors[0]):
                self.block_receipts = False
                self.notes.append(
                    "node lacks eth_getBlockReceipts: receipts fetched per transaction"
                )
            else:
                found = [o.value() or [] for o in outcomes]
        if found is None:
            hashes = [tx["hash"] for b in blocks for tx in b["transactions"]]
            flat = self.client.batch([("eth_getTransactionReceipt", [h]) for h in hashes])
            found, i = [], 0
            for b in blocks:
                found.append(flat[i : i + len(b["transactions"])])
                i += len(b["transactions"])
        for block, receipts in zip(blocks, found, strict=True):
            _check_receipts(block, receipts)
        return found

    def detect_traces(self, height: int) -> None:
        """Choose trace_block or debug_traceBlockByNumber (or none), once per run."""
        if self.traces_detected:
            return
        self.traces_detected = True
        refused = []
        for method, params in (
            (TRACE_BLOCK, [hex(height)]),
            (DEBUG_TRACE, [hex(height), CALL_TRACER]),
        ):
            try:
                self.client.call(method, params)
            except RpcCallError as exc:
                refused.append(f"{method}: {exc.rpc_message}")
                continue
            self.trace_method = method
            return
        self.notes.append(
            "node has neither trace_block nor debug_traceBlockByNumber ("
            + "; ".join(refused)
            + "): internal transfers are marked unavailable for the blocks ingested"
        )

    def trace_rows(self, blocks: Sequence[Json]) -> list[dict[str, Any]]:
        """Raw trace rows of the blocks with the detected method ([] without one)."""
        if self.trace_method is None:
            return []
        if self.trace_method == TRACE_BLOCK:
            calls = [(TRACE_BLOCK, [b["number"]]) for b in blocks]
        else:
            calls = [(DEBUG_TRACE, [b["number"], CALL_TRACER]) for b in blocks]
        rows: list[dict[str, Any]] = []
        for block, answer in zip(blocks, self.client.batch(calls), strict=True):
            height = int(block["number"], 16)
            if not isinstance(answer, list):
                raise ParseError(f"block {height}: {self.trace_method} answer is not a list")
            if self.trace_method == TRACE_BLOCK:
                rows.extend(parity_rows(height, answer))
            else:
                hashes = [tx["hash"].lower() for tx in block["transactions"]]
                rows.extend(geth_rows(height, answer, hashes))
        return rows


def _block(answer: Any, height: int, *, full: bool) -> Json:
    """A checked eth_getBlockByNumber answer (`full`: with transaction objects)."""
    if answer is None:
        raise SourceError(f"block {height}: the node has no such block")
    if not isinstance(answer, Mapping):
        raise ParseError(f"block {height}: eth_getBlockByNumber answer is not an object")
    for key in ("hash", "parentHash", "number", "timestamp", "transactions"):
        if key not in answer:
            raise ParseError(f"block {height}: field {key!r} is missing")
    txs = answer["transactions"]
    if not isinstance(txs, list) or (
        full and any(not isinstance(tx, Mapping) or "hash" not in tx for tx in txs)
    ):
        raise ParseError(f"block {height}: transactions are not full transaction objects")
    return answer


def _check_receipts(block: Json, receipts: Sequence[Any]) -> None:
    height = int(block["number"], 16)
    txs = block["transactions"]
    if len(receipts) != len(txs):
        raise ParseError(f"block {height}: {len(receipts)} receipts for {len(txs)} transactions")
    for tx, receipt in zip(txs, receipts, strict=True):
        got = receipt.get("transactionHash") if isinstance(receipt, Mapping) else None
        if got is None or got.lower() != tx["hash"].lower():
            raise ParseError(f"block {height} tx {tx['hash']}: receipt is for {got}")


def to_raw(
    blocks: Sequence[Json], receipts: Sequence[Sequence[Json]], trace_rows: list[dict[str, Any]]
) -> dict[str, pa.Table]:
    """The raw relations (`chains.ethereum.raw`) of checked blocks, receipts and traces."""
    b_rows, tx_rows, log_rows = [], [], []
    for block, block_receipts in zip(blocks, receipts, strict=True):
        height = int(block["number"], 16)
        where = f"block {height}"
        b_rows.append(
            {
                "height": height,
                "hash": block["hash"].lower(),
                "parent_hash": block["parentHash"].lower(),
                "timestamp": quantity(block, "timestamp", where),
                "tx_count": len(block["transactions"]),
                "miner": _addr(block.get("miner")),
                "base_fee_per_gas": _dec(block, "baseFeePerGas", where),
                "gas_used": quantity(block, "gasUsed", where, required=False),
                "gas_limit": quantity(block, "gasLimit", where, required=False),
            }
        )
        for position, (tx, receipt) in enumerate(
            zip(block["transactions"], block_receipts, strict=True)
        ):
            tx_rows.append(_tx_row(height, position, tx, receipt))
            for lg in receipt.get("logs") or []:
                if not lg.get("removed"):
                    log_rows.append(_log_row(height, tx["hash"].lower(), lg))
    return {
        "raw_eth_blocks": _table("raw_eth_blocks", b_rows),
        "raw_eth_txs": _table("raw_eth_txs", tx_rows),
        "raw_eth_logs": _table("raw_eth_logs", log_rows),
        "raw_eth_traces": _table("raw_eth_traces", trace_rows),
    }


def _table(name: str, rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=RAW_SCHEMAS[name])


def _tx_row(height: int, position: int, tx: Json, receipt: Json) -> dict[str, Any]:
    h = tx["hash"].lower()
    where = f"block {height} tx {h}"
    data = tx.get("input") or "0x"
    if not isinstance(tx.get("from"), str):
        raise ParseError(f"{where}: field 'from' is missing")
    return {
        "block_height": height,
        "tx_hash": h,
        "position": position,
        "from_address": tx["from"].lower(),
        "to_address": _addr(tx.get("to")),
        "value": _dec(tx, "value", where, required=True),
        "nonce": quantity(tx, "nonce", where, required=False),
        "gas": quantity(tx, "gas", where, required=False),
        "gas_price": _dec(tx, "gasPrice", where),
        "max_fee_per_gas": _dec(tx, "maxFeePerGas", where),
        "max_priority_fee_per_gas": _dec(tx, "maxPriorityFeePerGas", where),
        "tx_type": quantity(tx, "type", where, required=False),
        "method_id": data[:10].lower() if len(data) >= 10 else None,
        "gas_used": quantity(receipt, "gasUsed", where, required=False),
        "effective_gas_price": _dec(receipt, "effectiveGasPrice", where),
        "status": quantity(receipt, "status", where, required=False),
        "contract_address": _addr(receipt.get("contractAddress")),
    }


def _log_row(height: int, tx_hash: str, lg: Json) -> dict[str, Any]:
    where = f"block {height} tx {tx_hash}"
    index = quantity(lg, "logIndex", f"{where} log")
    topics = lg.get("topics")
    if not isinstance(topics, list):
        raise ParseError(f"{where} log {index} has no topics field")
    return {
        "block_height": height,
        "tx_hash": tx_hash,
        "log_index": index,
        "address": _addr(lg.get("address")),
        "data": (lg.get("data") or "0x").lower(),
        "topics": [str(t).lower() for t in topics],
    }
