"""A 'dmm-like' exchange theft and its laundering, with the fate of every stolen satoshi.

Modelled on the DMM Bitcoin theft (May 2024, 4,502.9 BTC taken from the exchange's wallet
in one transaction, then split and moved through peel chains, a mixer and cash-out
services). Within one round of blocks, starting at its first block `h`:

    h      theft: coins of the victim's hot wallet -> one thief address (+ change back)
    h+1    split into 8 thief addresses
    h+2..  five peel chains: each hop peels 5-20% to a cash-out endpoint (the thief's deposit
           address at an exchange other than the victim, or an OTC desk) and moves the rest
           to a fresh thief address; the last hop cashes out everything
    h+2    one branch straight to an OTC desk
    h+3    one branch enters a CoinJoin (30 equal outputs among other users' coins);
    h+4..  the mixed outputs are deposited at exchanges in groups of 1-3; the CoinJoin
           change stays with the thief
           one branch stays dormant with the thief

From the split on, the moves are `Laundering.launder`, which the bybit-like thief of the
cross-chain scenario (`sim.crosschain`) also follows with the coins a bridge released to
it. The thief's transactions are a short Python script (a few dozen); everything they pay
to exchanges and OTC desks joins the bulk economy's pool and is swept like any deposit.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from chainsleuth.sim.coinjoin import coinjoin_tx, coordinator_fee, miner_fee
from chainsleuth.sim.config import DUST
from chainsleuth.sim.economy import round2, vsize
from chainsleuth.sim.model import Coins, Kind, TxBatch, one_tx

if TYPE_CHECKING:
    from chainsleuth.sim.economy import Economy

DMM_STOLEN = 450_290_000_000  # 4,502.9 BTC in satoshi
PEEL_CHAINS = 5
MIXED_OUTPUTS = 30
FEE_RATE = 10  # sat/vB the thief pays
THEFT_FEE_RATE = 20  # sat/vB of the theft transaction (paid by the victim's wallet)
CJ_DENOMINATIONS = (100_000_000, 10_000_000, 1_000_000, 100_000)


@dataclass
class Endpoint:
    """What one cash-out entity received from the thief."""

    amount: int = 0
    addresses: list[int] = field(default_factory=list)
    tx_ids: list[int] = field(default_factory=list)


@dataclass
class TheftOutcome:
    """The ground truth of one theft on Bitcoin, with integer ids (named by `truth`).

    `stolen` is what the thief received: the theft's output (`theft_tx`, at `stolen_addr`),
    or for loot bridged in from another chain, the releases it was paid (no theft tx)."""

    thief: int  # entity
    height: int
    stolen: int = 0
    victim: int = -1  # entity (-1: not on this chain)
    theft_tx: int = -1
    stolen_addr: int = -1
    endpoints: dict[int, Endpoint] = field(default_factory=lambda: defaultdict(Endpoint))
    held: list[tuple[int, int, int, int]] = field(default_factory=list)  # tx, n, addr, value
    fees: int = 0
    coinjoin_fees: int = 0
    coinjoin_tx: int | None = None
    tx_ids: list[int] = field(default_factory=list)

    def balance(self) -> int:
        """Stolen minus everything accounted for: zero when no satoshi is unexplained."""
        cashed = sum(e.amount for e in self.endpoints.values())
        held = sum(v for *_, v in self.held)
        return self.stolen - cashed - held - self.fees - self.coinjoin_fees


class Laundering:
    """A thief's moves once it holds stolen coins: split, peel chains to cash-out services,
    one branch to an OTC desk, one through a CoinJoin, one dormant (`launder`)."""

    def __init__(self, econ: Economy, thief: int, cashout_exchanges: list[int]) -> None:
        self.thief = thief
        self.cashout_exchanges = cashout_exchanges
        self.otc = list(econ.world.wallets_of(Kind.OTC))
        self.deposit: dict[int, int] = {}  # the thief's deposit address at each exchange
        self.outcome: TheftOutcome | None = None
        self._txs: list[TxBatch] = []
        self._seq = 0

    # ---- helpers -------------------------------------------------------------------
    def _thief_addresses(self, econ: Economy, count: int) -> NDArray[np.int64]:
        return econ.world.book.new(np.full(count, self.thief, np.int32))

    def _tx(
        self, econ: Economy, height: int, spend: Coins, addr: list[int], values: list[int]
    ) -> int:
        tx_id = int(econ.tx_ids(1)[0])
        self._seq += 1
        batch = one_tx(
            tx_id, height, 2.0 + self._seq, spend, np.array(addr, np.int64), np.array(values)
        )
        self._txs.append(batch)
        assert self.outcome is not None
        self.outcome.tx_ids.append(tx_id)
        return tx_id

    def _endpoint(self, econ: Economy) -> tuple[int, int]:
        """(entity, address) of a random cash-out: an exchange account or an OTC desk."""
        rng = econ.rng
        if rng.random() < 0.8:
            ex = int(rng.choice(self.cashout_exchanges))
            if ex not in self.deposit:
                self.deposit[ex] = int(econ.world.book.new(np.array([ex], np.int32))[0])
            return ex, self.deposit[ex]
        desk = int(rng.choice(self.otc))
        return int(econ.world.entity[desk]), int(econ.world.book.new(np.array([desk], np.int32))[0])

    def _cash_out(self, econ: Economy, height: int, coin: Coins, keep_share: float) -> Coins:
        """Pay (1 - keep_share) of `coin` to an endpoint; return the thief's change coin
        (empty when everything went out)."""
        assert self.outcome is not None
        out = self.outcome
        entity, addr = self._endpoint(econ)
        value = int(coin.value.sum())
        fee = FEE_RATE * int(vsize(np.array(len(coin)), np.array(2 if keep_share else 1)))
        paid = (
            value - fee
            if not keep_share
            else int(round2(np.array([int(value * (1 - keep_share))]))[0])
        )
        rest = value - fee - paid
        addrs, values = [addr], [paid]
        if keep_share:
            change_addr = int(self._thief_addresses(econ, 1)[0])
            addrs.append(change_addr)
            values.append(rest)
        tx = self._tx(econ, height, coin, addrs, values)
        out.fees += fee
        end = out.endpoints[entity]
        end.amount += paid
        end.addresses.append(addr)
        end.tx_ids.append(tx)
        if not keep_share:
            return Coins.empty()
        return _coin(tx, 1, addrs[1], rest)

    def launder(self, econ: Economy, h: int, coins: Coins, used: NDArray[np.bool_]) -> None:
        """From height `h`: split the thief's `coins` into 8 branches (0..4 peel chains from
        h+1, 5 to an OTC desk at h+1, 6 into a CoinJoin at h+2, 7 dormant)."""
        assert self.outcome is not None
        out, rng = self.outcome, econ.rng
        total = int(coins.value.sum())
        denomination = self._denomination(econ, used)
        k = np.array([MIXED_OUTPUTS])
        cj_value = int(
            MIXED_OUTPUTS * denomination
            + coordinator_fee(k, denomination)[0]
            + miner_fee(k)[0]
            + denomination // 2
        )
        split_fee = FEE_RATE * int(vsize(np.array(len(coins)), np.array(8)))
        rest = total - split_fee - cj_value
        weights = rng.dirichlet(np.ones(7))
        parts = (weights * rest).astype(np.int64)
        parts[0] += rest - parts.sum()
        values = [*map(int, parts[:6]), cj_value, int(parts[6])]
        branch_addr = list(map(int, self._thief_addresses(econ, 8)))
        split = self._tx(econ, h, coins, branch_addr, values)
        out.fees += split_fee
        branches = [_coin(split, i, branch_addr[i], values[i]) for i in range(8)]
        for chain in range(PEEL_CHAINS):
            coin = branches[chain]
            hops = int(rng.integers(4, 10))
            for hop in range(hops):
                last = hop == hops - 1
                coin = self._cash_out(
                    econ, h + 1 + hop, coin, 0.0 if last else float(rng.uniform(0.8, 0.95))
                )
        self._cash_out(econ, h + 1, branches[5], 0.0)
        self._mix(econ, h + 2, branches[6], denomination, used)
        out.held.append((split, 7, branch_addr[7], values[7]))

    def _denomination(self, econ: Economy, used: NDArray[np.bool_]) -> int:
        """The largest pool denomination enough other users can join (at least 8)."""
        for d in CJ_DENOMINATIONS:
            if len(econ.pick_mixers(8, d, used)) >= 8:
                return d
        return CJ_DENOMINATIONS[-1]

    def _mix(self, econ: Economy, h: int, coin: Coins, d: int, used: NDArray[np.bool_]) -> None:
        """The CoinJoin branch: mix, then deposit the mixed coins at exchanges."""
        assert self.outcome is not None
        out, rng = self.outcome, econ.rng
        others = econ.pick_mixers(int(rng.integers(8, 25)), d, used)
        used[others] = True
        coins = Coins(
            np.r_[coin.tx, econ.pool.tx[others]],
            np.r_[coin.n, econ.pool.n[others]],
            np.r_[coin.addr, econ.pool.addr[others]],
            np.r_[coin.value, econ.pool.value[others]],
        )
        wallets = np.r_[np.int32(self.thief), econ.pool_wallet[others]].astype(np.int32)
        k = np.r_[MIXED_OUTPUTS, np.ones(len(others), np.int64)].astype(np.int64)
        self._seq += 1
        cj = coinjoin_tx(econ, coins, wallets, k, d, height=h, order=2.0 + self._seq)
        self._txs.append(cj)
        out.tx_ids.append(int(cj.tx_id[0]))
        out.coinjoin_tx = int(cj.tx_id[0])
        kk = np.array([MIXED_OUTPUTS])
        out.coinjoin_fees += int(coordinator_fee(kk, d)[0])
        theirs = econ.owner(cj.out_addr) == self.thief
        mixed = theirs & (cj.out_value == d)
        change = theirs & ~mixed
        got = int(cj.out_value[theirs].sum())
        out.fees += int(coin.value[0]) - got - int(coordinator_fee(kk, d)[0])
        for i in np.flatnonzero(change):
            out.held.append(
                (int(cj.tx_id[0]), int(cj.out_n[i]), int(cj.out_addr[i]), int(cj.out_value[i]))
            )
        pos = np.flatnonzero(mixed)
        pos = pos[np.argsort(cj.out_n[pos])]
        start = 0
        while start < len(pos):
            size = int(rng.integers(1, 4))
            group = pos[start : start + size]
            start += size
            spend = Coins(
                np.full(len(group), cj.tx_id[0]),
                cj.out_n[group],
                cj.out_addr[group],
                cj.out_value[group],
            )
            self._cash_out(econ, h + 1 + (start // 3) % 4, spend, 0.0)

    def flush(self) -> TxBatch:
        """The transactions scripted since the last flush."""
        batch = TxBatch.concat(self._txs)
        self._txs = []
        return batch


class DmmTheft(Laundering):
    """The dmm-like theft: one transaction from the victim's hot wallet, then `launder`;
    called by `Economy.run_round` for its round."""

    def __init__(self, econ: Economy) -> None:
        ex0, ex1 = econ.world.ranges[Kind.EXCHANGE_DEPOSITS]
        super().__init__(econ, econ.world.ranges[Kind.THIEF][0], list(range(ex0 + 1, ex1)))
        self.victim = ex0

    def __call__(self, econ: Economy, h: int, n_blocks: int, used: NDArray[np.bool_]) -> TxBatch:
        """The theft and its laundering, from the first block `h` of its round."""
        hot = econ.world.hot_of[self.victim]
        mine = np.flatnonzero(~used & (econ.pool_wallet == hot))
        mine = mine[np.argsort(-econ.pool.value[mine], kind="stable")]
        balance = int(econ.pool.value[mine].sum())
        stolen = (
            DMM_STOLEN if balance > 2 * DMM_STOLEN else int(round2(np.array([balance // 2]))[0])
        )
        count = np.arange(1, len(mine) + 1)
        need = stolen + THEFT_FEE_RATE * vsize(count, np.full(len(mine), 2)) + DUST
        enough = int(np.argmax(np.cumsum(econ.pool.value[mine]) >= need))
        take = mine[: enough + 1]
        used[take] = True
        spend = econ.pool.take(take)
        thief_addr = int(self._thief_addresses(econ, 1)[0])
        fee = THEFT_FEE_RATE * int(vsize(np.array(len(take)), np.array(2)))
        back = int(spend.value.sum()) - stolen - fee
        self.outcome = TheftOutcome(
            self.thief, h, stolen, victim=self.victim, stolen_addr=thief_addr
        )
        out = self.outcome
        theft = self._tx(econ, h, spend, [thief_addr, int(econ.world.fixed[hot])], [stolen, back])
        out.theft_tx = theft
        self.launder(econ, h + 1, _coin(theft, 0, thief_addr, stolen), used)
        return self.flush()


def _coin(tx: int, n: int, addr: int, value: int) -> Coins:
    """A single coin."""
    return Coins(
        np.array([tx], np.int64),
        np.array([n], np.int32),
        np.array([addr], np.int64),
        np.array([value], np.int64),
    )
