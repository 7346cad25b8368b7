"""The ETH→BTC bridge on the simulated Bitcoin chain, and the loot it releases to a thief.

`BridgeWallet` is the bridge's Bitcoin side. While the Ethereum economy runs, it names the
Bitcoin address each deposit is released to (`address_for`: a fresh address of the
bybit-like thief for stolen ETH, else of the Bitcoin user who stands for the depositing
Ethereum user). Once the deposits are placed in time (`schedule`), it pays each release in
the first block at least `delay` after its deposit: one transaction from the bridge's fixed
address paying `SATS_PER_ETH` per ether less the bridge's fee (`BRIDGE_FEE_PPM`), with
change back to the bridge. The releases of a round are chained, each spending the previous
one's change, so the wallet needs coins before the round only for the first.

`BridgeDeposits` is the other way, Bitcoin to Ethereum: Bitcoin users pay the bridge's
fixed address the satoshi the bridge's Ethereum side releases as ETH (`EthEconomy.bridge_in`),
each in a block a random `DELAY` before that release.

`BridgedLoot` is the bybit-like thief on Bitcoin: in the first full round after the last
stolen release it launders all the released coins along the dmm-like path (`Laundering`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from chainsleuth.sim.config import BLOCK_SECONDS, DUST, START_TIME
from chainsleuth.sim.economy import vsize
from chainsleuth.sim.model import Coins, Kind, TxBatch, one_tx
from chainsleuth.sim.theft import Laundering, TheftOutcome

if TYPE_CHECKING:
    from chainsleuth.sim.economy import Economy

BRIDGE_FEE_PPM = 2_000  # the bridge keeps 0.2 % of each release (parts per million)
RELEASE_FEE_RATE = 15  # sat/vB the bridge pays miners
DELAY = (400, 1200)  # seconds from a deposit to the earliest block that may release it


@dataclass
class Release:
    """One deposit at the Ethereum bridge, as the Bitcoin side pays it."""

    index: int  # position in the truth's `bridge_releases`
    address: int  # the recipient's address id
    gross: int  # the deposit at the bridge rate, satoshi
    stolen: bool
    height: int = -1  # the block that pays it
    tx: int = -1  # the paying transaction (output 0), once generated

    @property
    def value(self) -> int:
        """What the recipient gets: the gross amount less the bridge's fee."""
        return self.gross - self.gross * BRIDGE_FEE_PPM // 1_000_000


def _vsize(n_in: int, n_out: int) -> int:
    """`vsize` of one transaction."""
    return int(vsize(np.array(n_in), np.array(n_out)))


class BridgeWallet:
    """The bridge's Bitcoin wallet: a `Script` paying each release in its block."""

    def __init__(self, econ: Economy) -> None:
        w = econ.world
        self.econ = econ
        self.wallet = int(w.wallets_of(Kind.BRIDGE)[0])
        self.thief = int(w.ranges[Kind.THIEF][0]) + 1  # the bybit-like thief's wallet
        self.users = w.wallets_of(Kind.USER)
        self.customer: dict[str, int] = {}  # Ethereum depositor -> Bitcoin user wallet
        self.addresses: list[int] = []  # recipient of each deposit, in deposit order
        self.releases: list[Release] = []
        self.miner_fees = 0
        self._seq = 0

    def address_for(self, sender: str, stolen: bool) -> str:
        """A fresh Bitcoin address for a deposit by `sender` (a `BtcAddress`)."""
        if stolen:
            wallet = self.thief
        else:
            wallet = self.customer.setdefault(
                sender, int(self.users[len(self.customer) % len(self.users)])
            )
        address = int(self.econ.world.book.new(np.array([wallet], np.int32))[0])
        self.addresses.append(address)
        return bytes(self.econ.world.book.text.view[address]).decode("ascii")

    def schedule(self, gross: list[int], stolen: list[bool], deposit_times: list[int]) -> None:
        """Place each deposit's release (satoshi `gross`) in the first block whose earliest
        possible time (block times are `BLOCK_SECONDS` apart plus jitter) is a random
        `DELAY` after the deposit."""
        delays = self.econ.rng.integers(DELAY[0], DELAY[1] + 1, len(gross))
        for i, (amount, theirs, time, delay) in enumerate(
            zip(gross, stolen, deposit_times, delays, strict=True)
        ):
            height = -(-(time + int(delay) - START_TIME) // BLOCK_SECONDS)
            self.releases.append(Release(i, self.addresses[i], amount, theirs, height))
        self.releases.sort(key=lambda r: (r.height, r.index))

    def funds(self) -> int:
        """What the wallet needs at the start: every release plus a margin for fees."""
        total = sum(r.value for r in self.releases)
        return total + total // 10 + 10**8

    def __call__(self, econ: Economy, h: int, n_blocks: int, used: NDArray[np.bool_]) -> TxBatch:
        """The releases due in blocks h..h+n_blocks-1, chained through the change."""
        due = [r for r in self.releases if h <= r.height < h + n_blocks]
        if not due:
            return TxBatch.empty()
        mine = np.flatnonzero(~used & (econ.pool_wallet == self.wallet))
        mine = mine[np.argsort(-econ.pool.value[mine], kind="stable")]
        need = sum(r.value for r in due) + RELEASE_FEE_RATE * _vsize(len(mine), 2) * len(due)
        enough = np.cumsum(econ.pool.value[mine]) >= need + DUST
        if not enough.any():
            raise AssertionError(f"the simulated bridge cannot pay its releases at height {h}")
        take = mine[: int(np.argmax(enough)) + 1]
        used[take] = True
        coins = econ.pool.take(take)
        home = int(econ.world.fixed[self.wallet])
        txs = []
        for r in due:
            fee = RELEASE_FEE_RATE * _vsize(len(coins), 2)
            change = int(coins.value.sum()) - r.value - fee
            r.tx = int(econ.tx_ids(1)[0])
            self._seq += 1
            txs.append(
                one_tx(
                    r.tx,
                    r.height,
                    2.0 + self._seq,
                    coins,
                    np.array([r.address, home], np.int64),
                    np.array([r.value, change], np.int64),
                )
            )
            self.miner_fees += fee
            coins = Coins(
                np.array([r.tx], np.int64),
                np.array([1], np.int32),
                np.array([home], np.int64),
                np.array([change], np.int64),
            )
        return TxBatch.concat(txs)


@dataclass
class Deposit:
    """A Bitcoin deposit at the bridge, paid out as ETH on the Ethereum side."""

    index: int  # position in the truth's `bridge_deposits`
    value: int  # satoshi paid to the bridge
    height: int
    tx: int = -1  # the paying transaction (output 0 to the bridge), once generated
    payer: int = -1  # the paying user's wallet


class BridgeDeposits:
    """Bitcoin users depositing at the bridge: a `Script` paying each deposit in its block
    from one user coin large enough, change back to the user."""

    def __init__(self, econ: Economy, sats: list[int], release_times: list[int], seed: int) -> None:
        self.bridge = int(econ.world.fixed[econ.world.wallets_of(Kind.BRIDGE)[0]])
        rng = np.random.default_rng(seed + 1)  # its own stream: the economy's is untouched
        delays = rng.integers(DELAY[0], DELAY[1] + 1, len(sats))
        # the latest block whose time (start plus up to half a block of jitter) is `delay`
        # or more before the release
        self.deposits = [
            Deposit(i, sat, (time - int(delay) - START_TIME - BLOCK_SECONDS // 2) // BLOCK_SECONDS)
            for i, (sat, time, delay) in enumerate(zip(sats, release_times, delays, strict=True))
        ]

    def __call__(self, econ: Economy, h: int, n_blocks: int, used: NDArray[np.bool_]) -> TxBatch:
        """The deposits due in blocks h..h+n_blocks-1."""
        txs = []
        for d in (d for d in self.deposits if h <= d.height < h + n_blocks):
            fee = RELEASE_FEE_RATE * _vsize(1, 2)
            users = econ.world.kind[econ.pool_wallet] == Kind.USER
            ok = np.flatnonzero(~used & users & (econ.pool.value >= d.value + fee + DUST))
            if not len(ok):
                raise AssertionError(f"no Bitcoin user can pay a bridge deposit at height {h}")
            coin = int(ok[np.argmax(econ.pool.value[ok])])
            used[coin] = True
            d.payer = int(econ.pool_wallet[coin])
            change = int(econ.world.book.new(np.array([d.payer], np.int32))[0])
            d.tx = int(econ.tx_ids(1)[0])
            coins = econ.pool.take(np.array([coin]))
            rest = int(coins.value.sum()) - d.value - fee
            txs.append(
                one_tx(
                    d.tx,
                    d.height,
                    1.5,
                    coins,
                    np.array([self.bridge, change], np.int64),
                    np.array([d.value, rest], np.int64),
                )
            )
        return TxBatch.concat(txs) if txs else TxBatch.empty()


class BridgedLoot(Laundering):
    """The bybit-like thief on Bitcoin: launders what the bridge released to it."""

    def __init__(self, econ: Economy, bridge: BridgeWallet) -> None:
        ex0, ex1 = econ.world.ranges[Kind.EXCHANGE_DEPOSITS]
        super().__init__(econ, bridge.thief, list(range(ex0, ex1)))
        self.bridge = bridge

    def __call__(self, econ: Economy, h: int, n_blocks: int, used: NDArray[np.bool_]) -> TxBatch:
        """In the first full round after every stolen release is paid: `launder` them all."""
        stolen = [r for r in self.bridge.releases if r.stolen]
        waiting = any(r.tx < 0 or r.height >= h for r in stolen)
        if (
            self.outcome is not None
            or not stolen
            or waiting
            or n_blocks < econ.cfg.blocks_per_round
        ):
            return TxBatch.empty()
        coins = Coins(
            np.array([r.tx for r in stolen], np.int64),
            np.zeros(len(stolen), np.int32),
            np.array([r.address for r in stolen], np.int64),
            np.array([r.value for r in stolen], np.int64),
        )
        self.outcome = TheftOutcome(self.thief, h, int(coins.value.sum()))
        self.launder(econ, h, coins, used)
        return self.flush()
