"""The simulated world's columnar state: entities, wallets, addresses and transaction batches.

Entities are the ground-truth owners (a user, an exchange, a CoinJoin coordinator, the
thief …). A wallet is what spends: every entity has one, an exchange has two (customer
deposit addresses, swept into its hot wallet). Addresses belong to wallets; their names
(bech32 strings) are computed once when created and kept as byte matrices, so writing a
transaction batch only gathers rows.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import IntEnum
from typing import Any

import numpy as np
from numpy.typing import NDArray

from chainsleuth.sim.encode import p2wpkh

I64 = NDArray[np.int64]
I32 = NDArray[np.int32]


class Kind(IntEnum):
    """Wallet kinds; each spends in its own way (see `economy`)."""

    USER = 0
    MERCHANT = 1
    MINER = 2
    OTC = 3
    COINJOIN = 4
    EXCHANGE_DEPOSITS = 5
    EXCHANGE_HOT = 6
    THIEF = 7
    BRIDGE = 8


# The entity kind written in truth.json for each wallet kind.
ENTITY_KIND = {
    Kind.USER: "user",
    Kind.MERCHANT: "merchant",
    Kind.MINER: "miner",
    Kind.OTC: "otc",
    Kind.COINJOIN: "coinjoin",
    Kind.EXCHANGE_DEPOSITS: "exchange",
    Kind.EXCHANGE_HOT: "exchange",
    Kind.THIEF: "thief",
    Kind.BRIDGE: "bridge",
}


class Grow:
    """An append-only NumPy array (amortised doubling) of rows of a fixed shape."""

    def __init__(self, dtype: type | np.dtype[np.generic], width: int | None = None) -> None:
        shape = (1024,) if width is None else (1024, width)
        self._data: NDArray[Any] = np.zeros(shape, dtype=dtype)
        self.size = 0

    def append(self, rows: NDArray[Any]) -> int:
        """Append rows; return the index of the first one."""
        start, end = self.size, self.size + len(rows)
        if end > len(self._data):
            cap = max(end, 2 * len(self._data))
            grown = np.zeros((cap, *self._data.shape[1:]), dtype=self._data.dtype)
            grown[: self.size] = self._data[: self.size]
            self._data = grown
        self._data[start:end] = rows
        self.size = end
        return start

    @property
    def view(self) -> NDArray[Any]:
        """The filled part (a view: do not keep it across appends)."""
        return self._data[: self.size]


class AddressBook:
    """Address ids, their owning wallet, their bech32 names and witness programs."""

    def __init__(self, seed: int, wallet_count: int) -> None:
        self.seed = seed
        self.owner = Grow(np.int32)
        self.text = Grow(np.uint8, 42)
        self.program = Grow(np.uint8, 20)
        self.last = np.full(wallet_count, -1, dtype=np.int64)  # last address of each wallet

    def new(self, wallets: I32) -> I64:
        """A fresh address for each wallet in `wallets` (which becomes its last address)."""
        start = self.owner.append(wallets)
        ids = np.arange(start, start + len(wallets), dtype=np.int64)
        text, program = p2wpkh(ids, self.seed)
        self.text.append(text)
        self.program.append(program)
        self.last[wallets] = ids
        return ids

    @property
    def count(self) -> int:
        """Addresses created so far."""
        return self.owner.size

    def texts(self, ids: I64) -> NDArray[np.uint8]:
        """The bech32 strings of `ids` as a (n, 42) byte matrix (one gather of 42-byte rows)."""
        return _rows(self.text.view, ids)

    def programs(self, ids: I64) -> NDArray[np.uint8]:
        """The 20-byte witness programs of `ids`, shape (n, 20)."""
        return _rows(self.program.view, ids)


def _rows(matrix: NDArray[np.uint8], ids: I64) -> NDArray[np.uint8]:
    """Rows of a byte matrix, gathered as fixed-size items (much faster than 2-D indexing)."""
    width = matrix.shape[1]
    items = np.ascontiguousarray(matrix).view(f"V{width}")[:, 0]
    return items[ids].view(np.uint8).reshape(len(ids), width)


@dataclass
class TxBatch:
    """Transactions as columns: one row per tx, per output and per input.

    `tx_id` values are global and unique; outputs/inputs refer to them. `height` is -1
    until the batch is placed into blocks; `order` sorts txs inside a block.
    """

    tx_id: I64
    height: I64
    order: NDArray[np.float64]
    fee: I64
    coinbase: NDArray[np.bool_]
    coinjoin: NDArray[np.bool_]
    out_tx: I64
    out_n: I32
    out_addr: I64
    out_value: I64
    in_tx: I64
    in_n: I32
    in_prev_tx: I64
    in_prev_n: I32
    in_addr: I64
    in_value: I64

    @classmethod
    def empty(cls) -> TxBatch:
        """A batch with no transactions."""
        return cls(**{f.name: _EMPTY[f.name] for f in fields(cls)})

    @classmethod
    def concat(cls, parts: list[TxBatch]) -> TxBatch:
        """All transactions of `parts`, in order."""
        if not parts:
            return cls.empty()
        return cls(
            **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)}
        )

    @property
    def size(self) -> int:
        """Number of transactions."""
        return len(self.tx_id)


_EMPTY: dict[str, Any] = {
    "tx_id": np.zeros(0, np.int64),
    "height": np.zeros(0, np.int64),
    "order": np.zeros(0, np.float64),
    "fee": np.zeros(0, np.int64),
    "coinbase": np.zeros(0, np.bool_),
    "coinjoin": np.zeros(0, np.bool_),
    "out_tx": np.zeros(0, np.int64),
    "out_n": np.zeros(0, np.int32),
    "out_addr": np.zeros(0, np.int64),
    "out_value": np.zeros(0, np.int64),
    "in_tx": np.zeros(0, np.int64),
    "in_n": np.zeros(0, np.int32),
    "in_prev_tx": np.zeros(0, np.int64),
    "in_prev_n": np.zeros(0, np.int32),
    "in_addr": np.zeros(0, np.int64),
    "in_value": np.zeros(0, np.int64),
}


@dataclass
class Coins:
    """A set of unspent outputs as columns (the pool, or a selection of it)."""

    tx: I64
    n: I32
    addr: I64
    value: I64

    @classmethod
    def empty(cls) -> Coins:
        """No coins."""
        return cls(
            np.zeros(0, np.int64),
            np.zeros(0, np.int32),
            np.zeros(0, np.int64),
            np.zeros(0, np.int64),
        )

    def take(self, index: NDArray[np.intp] | NDArray[np.bool_]) -> Coins:
        """The coins at `index` (positions or a mask)."""
        return Coins(self.tx[index], self.n[index], self.addr[index], self.value[index])

    def __len__(self) -> int:
        return len(self.tx)


def one_tx(
    tx_id: int,
    height: int,
    order: float,
    spend: Coins,
    out_addr: I64,
    out_value: I64,
    *,
    coinjoin: bool = False,
) -> TxBatch:
    """A batch of one transaction spending `spend` into the given outputs (fee = the rest)."""
    fee = int(spend.value.sum()) - int(out_value.sum())
    if fee < 0:
        raise ValueError(f"simulated tx {tx_id} spends more than its inputs")
    k, m = len(out_addr), len(spend)
    return TxBatch(
        tx_id=np.array([tx_id], np.int64),
        height=np.array([height], np.int64),
        order=np.array([order]),
        fee=np.array([fee], np.int64),
        coinbase=np.zeros(1, np.bool_),
        coinjoin=np.array([coinjoin]),
        out_tx=np.full(k, tx_id, np.int64),
        out_n=np.arange(k, dtype=np.int32),
        out_addr=out_addr.astype(np.int64),
        out_value=out_value.astype(np.int64),
        in_tx=np.full(m, tx_id, np.int64),
        in_n=np.arange(m, dtype=np.int32),
        in_prev_tx=spend.tx,
        in_prev_n=spend.n,
        in_addr=spend.addr,
        in_value=spend.value,
    )
