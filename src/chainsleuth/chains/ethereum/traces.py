"""Internal transfers: trace frames from Parity `trace_block` or Geth `callTracer`.

Both shapes become rows of `raw_eth_traces` (the Parity/ethereum-etl flat shape, one row
per frame with its trace address), then `resolve_traces` marks, in SQL, which frames moved
value: a frame counts when neither it nor any ancestor failed (a reverted sub-call undoes
its whole subtree, and a failed transaction undoes everything), and when it is a plain
call, a create or a selfdestruct. `delegatecall`, `callcode` and `staticcall` frames move
nothing (a delegatecall shows its parent's value). The root frame is the transaction's own
value and is not repeated as an internal transfer.

Block and uncle rewards, genesis allocations and the DAO fork (ethereum-etl's `reward`,
`genesis`, `daofork` types) have no transaction: they are not stored as transfers.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import duckdb

from chainsleuth.errors import ParseError

TRACE_TYPES = ("call", "create", "suicide", "reward", "genesis", "daofork")
CALL_TYPES = ("call", "callcode", "delegatecall", "staticcall", "create", "create2")
NO_VALUE_CALLS = ("delegatecall", "callcode", "staticcall")
GETH_TYPES: dict[str, tuple[str, str | None]] = {
    "CALL": ("call", "call"),
    "CALLCODE": ("call", "callcode"),
    "DELEGATECALL": ("call", "delegatecall"),
    "STATICCALL": ("call", "staticcall"),
    "CREATE": ("create", None),
    "CREATE2": ("create", None),
    "SELFDESTRUCT": ("suicide", None),
}

Row = dict[str, Any]


def check_traces(con: duckdb.DuckDBPyConnection) -> None:
    """Raise ParseError naming block/tx/trace for an unknown trace or call type."""
    bad = con.execute(
        f"""
        SELECT block_height, coalesce(tx_hash, '#' || tx_position), trace_address,
               trace_type, call_type
        FROM raw_eth_traces
        WHERE trace_type IS NULL OR trace_type NOT IN {TRACE_TYPES}
           OR (call_type IS NOT NULL AND call_type <> '' AND call_type NOT IN {CALL_TYPES})
        ORDER BY block_height LIMIT 1
        """
    ).fetchall()
    if bad:
        h, tx, addr, ttype, ctype = bad[0]
        what = f"trace type {ttype!r}" if ttype not in TRACE_TYPES else f"call type {ctype!r}"
        raise ParseError(f"block {h} tx {tx} trace [{addr}]: unknown {what}")


def resolve_traces(con: duckdb.DuckDBPyConnection) -> None:
    """`_traces`: the transaction frames of `raw_eth_traces` with tx hash and `ok` flag."""
    check_traces(con)
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _traces AS
        WITH t AS (
            SELECT r.block_height, coalesce(nullif(r.tx_hash, ''), x.tx_hash) AS tx_hash,
                   coalesce(r.trace_address, '') AS trace_address, r.trace_type,
                   nullif(r.call_type, '') AS call_type, r.from_address, r.to_address,
                   r.value, nullif(r.error, '') AS error
            FROM raw_eth_traces r
            LEFT JOIN raw_eth_txs x
              ON nullif(r.tx_hash, '') IS NULL AND x.block_height = r.block_height
             AND x.position = r.tx_position
            WHERE r.trace_type IN ('call', 'create', 'suicide')
        ), failed AS (SELECT tx_hash, trace_address FROM t WHERE error IS NOT NULL)
        SELECT t.*, NOT EXISTS (
            SELECT 1 FROM failed f
            WHERE f.tx_hash = t.tx_hash
              AND (f.trace_address = '' OR f.trace_address = t.trace_address
                   OR starts_with(t.trace_address, f.trace_address || ','))
        ) AS ok
        FROM t
        """
    )
    missing = con.execute(
        "SELECT block_height FROM _traces WHERE tx_hash IS NULL LIMIT 1"
    ).fetchall()
    if missing:
        raise ParseError(
            f"block {missing[0][0]}: a trace names a transaction position the block lacks"
        )


INTERNAL_SQL = f"""
SELECT tr.block_height, tr.tx_hash, 'trace:' || tr.trace_address AS position,
       'internal' AS kind, 'ETH' AS asset, tr.from_address, tr.to_address,
       tr.value AS amount_dec, NULL AS token_id, tr.ok AND tx.success AS success
FROM _traces tr JOIN stg_eth_txs tx ON tx.tx_hash = tr.tx_hash
WHERE tr.trace_address <> '' AND coalesce(tr.call_type, 'call') NOT IN {NO_VALUE_CALLS}
  AND tr.value IS NOT NULL AND tr.value NOT IN ('', '0')
"""

CREATED_SQL = """
SELECT block_height, tx_hash, to_address AS address, from_address AS creator
FROM _traces WHERE trace_type = 'create' AND ok AND to_address IS NOT NULL
"""


# -- RPC answers to raw rows -------------------------------------------------------------


def _quantity(value: Any, where: str) -> str | None:
    """A hex quantity as decimal text (None when absent)."""
    if value is None:
        return None
    try:
        return str(int(value, 16))
    except (TypeError, ValueError) as exc:
        raise ParseError(f"{where}: {value!r} is not a hex quantity") from exc


def _lower(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) else None


def parity_rows(height: int, traces: Sequence[Mapping[str, Any]]) -> list[Row]:
    """Raw trace rows of one block's `trace_block` answer."""
    rows = []
    for trace in traces:
        if not isinstance(trace, Mapping):
            raise ParseError(f"block {height}: trace_block item is not an object")
        tx = trace.get("transactionHash")
        addr = ",".join(str(i) for i in trace.get("traceAddress") or [])
        where = f"block {height} tx {tx} trace [{addr}]"
        ttype = trace.get("type")
        action = trace.get("action") or {}
        result = trace.get("result") or {}
        if ttype == "call":
            frm, to = action.get("from"), action.get("to")
            value, call_type = action.get("value"), action.get("callType")
        elif ttype == "create":
            frm, to = action.get("from"), result.get("address")
            value, call_type = action.get("value"), None
        elif ttype == "suicide":
            frm, to = action.get("address"), action.get("refundAddress")
            value, call_type = action.get("balance"), None
        elif ttype == "reward":
            frm, to = None, action.get("author")
            value, call_type = action.get("value"), None
        else:
            raise ParseError(f"{where}: unknown trace type {ttype!r}")
        rows.append(
            {
                "block_height": height,
                "tx_hash": _lower(tx),
                "tx_position": trace.get("transactionPosition"),
                "trace_address": addr,
                "trace_type": ttype,
                "call_type": call_type,
                "from_address": _lower(frm),
                "to_address": _lower(to),
                "value": _quantity(value, where),
                "error": trace.get("error"),
            }
        )
    return rows


def geth_rows(
    height: int, answers: Sequence[Mapping[str, Any]], tx_hashes: Sequence[str]
) -> list[Row]:
    """Raw trace rows of one block's `debug_traceBlockByNumber` callTracer answer."""
    if len(answers) != len(tx_hashes):
        raise ParseError(
            f"block {height}: debug_traceBlockByNumber gave {len(answers)} traces for"
            f" {len(tx_hashes)} transactions"
        )
    rows: list[Row] = []
    for position, (answer, tx) in enumerate(zip(answers, tx_hashes, strict=True)):
        frame = answer.get("result") if isinstance(answer, Mapping) else None
        if not isinstance(frame, Mapping):
            error = answer.get("error") if isinstance(answer, Mapping) else answer
            raise ParseError(f"block {height} tx {tx}: no callTracer result ({error!r})")
        for addr, node in _walk(frame, ()):
            where = f"block {height} tx {tx} trace [{','.join(map(str, addr))}]"
            kind = GETH_TYPES.get(str(node.get("type")).upper())
            if kind is None:
                raise ParseError(f"{where}: unknown call frame type {node.get('type')!r}")
            rows.append(
                {
                    "block_height": height,
                    "tx_hash": tx,
                    "tx_position": position,
                    "trace_address": ",".join(map(str, addr)),
                    "trace_type": kind[0],
                    "call_type": kind[1],
                    "from_address": _lower(node.get("from")),
                    "to_address": _lower(node.get("to")),
                    "value": _quantity(node.get("value"), where),
                    "error": node.get("error"),
                }
            )
    return rows


def _walk(
    frame: Mapping[str, Any], addr: tuple[int, ...]
) -> Iterator[tuple[tuple[int, ...], Mapping[str, Any]]]:
    """Depth-first frames with their trace addresses (the order Parity lists them in)."""
    yield addr, frame
    for i, child in enumerate(frame.get("calls") or []):
        yield from _walk(child, (*addr, i))
