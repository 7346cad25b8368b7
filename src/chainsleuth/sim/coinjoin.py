"""CoinJoin transactions in the style of Wasabi and Whirlpool.

Participants (distinct owners) each bring one coin and get `k` outputs of the round's
denomination (users 1, a large participant more) at fresh addresses, plus their change at
another fresh address; the coordinator takes 0.3% of each participant's mixed amount in
one output to its fixed address; each participant pays the miner fee of its own input and
outputs. Outputs are shuffled, so position says nothing about ownership.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from chainsleuth.sim.config import DUST
from chainsleuth.sim.model import Coins, Kind, TxBatch

if TYPE_CHECKING:
    from chainsleuth.sim.economy import Economy

COORDINATOR_PER_MILLE = 3
FEE_RATE = 5  # sat/vB


def coordinator_fee(k: NDArray[np.int64], denomination: int) -> NDArray[np.int64]:
    """What the coordinator charges a participant mixing `k` outputs."""
    return (k * denomination * COORDINATOR_PER_MILLE) // 1000


def miner_fee(k: NDArray[np.int64]) -> NDArray[np.int64]:
    """A participant's share of the miner fee: its input and its k + 1 outputs."""
    return FEE_RATE * (68 + 31 * (k + 1))


def coinjoin_tx(
    econ: Economy,
    coins: Coins,
    wallets: NDArray[np.int32],
    k: NDArray[np.int64],
    denomination: int,
    height: int = -1,
    order: float | None = None,
) -> TxBatch:
    """One CoinJoin of `coins` (one per participant wallet); every coin must cover
    k x denomination plus the coordinator's and the miner's fees."""
    world, rng = econ.world, econ.rng
    coord = coordinator_fee(k, denomination)
    change = coins.value - k * denomination - coord - miner_fee(k)
    if (change < 0).any():
        raise ValueError("a CoinJoin participant cannot pay its share")
    has_change = change >= DUST  # dust change is left to the miner
    mixed_owner = np.repeat(wallets, k)
    addr = np.concatenate(
        [
            world.book.new(mixed_owner),
            world.book.new(wallets[has_change]),
            world.fixed[world.wallets_of(Kind.COINJOIN)],
        ]
    )
    values = np.concatenate(
        [
            np.full(len(mixed_owner), denomination, np.int64),
            change[has_change],
            np.array([coord.sum()], np.int64),
        ]
    )
    perm = rng.permutation(len(addr))
    tx_id = int(econ.tx_ids(1)[0])
    fee = int(coins.value.sum() - values.sum())
    m = len(coins)
    return TxBatch(
        tx_id=np.array([tx_id], np.int64),
        height=np.array([height], np.int64),
        order=np.array([rng.random() if order is None else order]),
        fee=np.array([fee], np.int64),
        coinbase=np.zeros(1, np.bool_),
        coinjoin=np.ones(1, np.bool_),
        out_tx=np.full(len(addr), tx_id, np.int64),
        out_n=np.argsort(perm).astype(np.int32),
        out_addr=addr,
        out_value=values,
        in_tx=np.full(m, tx_id, np.int64),
        in_n=np.arange(m, dtype=np.int32),
        in_prev_tx=coins.tx,
        in_prev_n=coins.n,
        in_addr=coins.addr,
        in_value=coins.value,
    )
