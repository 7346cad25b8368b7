"""The bulk economy: rounds of blocks whose transactions are generated as whole arrays.

A round is `blocks_per_round` blocks. Its transactions spend only outputs created before
the round (so their order inside the round is free) and are spread over its blocks:

1. each wallet kind is active with its own probability; an active wallet spends a random
   subset of its coins, grouped into transactions of at most `cap` inputs (all inputs of
   one transaction share an owner, as the multi-input heuristic assumes);
2. the spender's kind decides what it pays: users pay users, merchants, OTC desks or their
   exchange deposit address, with a change output (fresh address, sometimes reused) unless
   the payment empties the inputs; exchange deposit wallets sweep into the hot wallet;
   hot wallets pay batched withdrawals with change back to the hot address; merchants,
   miners and OTC desks cash out to their exchange;
3. CoinJoins gather one coin of each of many users into equal-value outputs (`coinjoin`);
4. every block gets a coinbase paying its miner the subsidy plus the block's fees.

Fees are fee rate x an estimated P2WPKH virtual size; payments are rounded to two
significant digits (the round-payment pattern change heuristics look for).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from chainsleuth.sim.coinjoin import coinjoin_tx
from chainsleuth.sim.config import (
    BLOCK_SECONDS,
    BOOTSTRAP_BLOCKS,
    DUST,
    MATURITY,
    START_TIME,
    SUBSIDY,
    SimConfig,
)
from chainsleuth.sim.model import Coins, Grow, Kind, TxBatch
from chainsleuth.sim.world import World

I32 = NDArray[np.int32]
I64 = NDArray[np.int64]
#: A scripted actor of a round: (economy, first height, blocks, used-coin mask) -> its txs.
Script = Callable[["Economy", int, int, NDArray[np.bool_]], TxBatch]

# Per wallet kind (index = Kind): chance to be active in a round, chance each coin of an
# active wallet is spent, inputs per transaction (low, high), chance of no change output,
# the paid share of the inputs (low, high) when there is change.
# Thieves and the bridge never spend in the bulk economy (their moves are scripted).
ACTIVITY = np.array([0.35, 0.8, 0.6, 0.7, 0.2, 1.0, 1.0, 0.0, 0.0])
SELECT = np.array([0.6, 0.9, 0.8, 0.5, 1.0, 1.0, 0.4, 0.0, 0.0])
CAP_LO = np.array([1, 3, 1, 1, 1, 20, 1, 1, 1])
CAP_HI = np.array([3, 15, 3, 2, 5, 100, 2, 1, 1])
SWEEP = np.array([0.15, 0.5, 0.3, 0.2, 1.0, 1.0, 0.0, 0.0, 0.0])
SHARE_LO = np.array([0.05, 0.5, 0.3, 0.2, 1.0, 1.0, 0.0, 0.0, 0.0])
SHARE_HI = np.array([0.95, 1.0, 0.9, 0.9, 1.0, 1.0, 0.0, 0.0, 0.0])
# Whom each kind pays: columns USER, MERCHANT, OTC, own DEPOSIT address, own HOT wallet.
TO_USER, TO_MERCHANT, TO_OTC, TO_DEPOSIT, TO_HOT = range(5)
PAYEES = np.array(
    [
        [0.30, 0.35, 0.05, 0.30, 0.0],  # user
        [0.30, 0.00, 0.00, 0.70, 0.0],  # merchant
        [0.10, 0.00, 0.30, 0.60, 0.0],  # miner
        [0.60, 0.00, 0.00, 0.40, 0.0],  # otc
        [0.00, 0.00, 0.00, 1.00, 0.0],  # coinjoin coordinator
        [0.00, 0.00, 0.00, 0.00, 1.0],  # exchange deposits: sweep
        [0.90, 0.10, 0.00, 0.00, 0.0],  # exchange hot wallet: withdrawals
        [1.00, 0.00, 0.00, 0.00, 0.0],  # thief (never spends in the bulk economy)
        [1.00, 0.00, 0.00, 0.00, 0.0],  # bridge (idem)
    ]
).cumsum(axis=1)
BRIDGE_COINS = 40  # bootstrap coins of the bridge's wallet
ADDRESS_REUSE = 0.1  # chance a user is paid at (or takes change to) an address it used before
DENOMINATIONS = np.array([100_000, 1_000_000, 5_000_000, 10_000_000], np.int64)
_POW10 = 10 ** np.arange(19, dtype=np.int64)


def round2(values: I64) -> I64:
    """Round down to two significant digits (values below 100 stay as they are)."""
    digits = np.floor(np.log10(np.maximum(values, 1))).astype(np.int64)
    unit = _POW10[np.maximum(digits - 1, 0)]
    return values - values % unit


def vsize(n_in: I64, n_out: I64) -> I64:
    """Estimated virtual size of a P2WPKH transaction."""
    return 11 + 68 * n_in + 31 * n_out


class Economy:
    """The state of a simulated UTXO economy and the generator of its rounds."""

    def __init__(self, cfg: SimConfig) -> None:
        self.cfg = cfg
        self.rng = np.random.default_rng(cfg.seed)
        self.world = World.create(cfg, self.rng)
        self.next_tx = 0
        self.user_scale = 1.0
        # The pool of spendable coins (thief coins are tracked by the theft scenario).
        self.pool = Coins.empty()
        self.pool_wallet = np.zeros(0, np.int32)
        self.pool_ready = np.zeros(0, np.int64)
        self.block_time = Grow(np.int64)
        self.coinjoin_ids = Grow(np.int64)

    # ---- ids -----------------------------------------------------------------------
    def tx_ids(self, count: int) -> I64:
        """Reserve `count` transaction ids."""
        ids = np.arange(self.next_tx, self.next_tx + count, dtype=np.int64)
        self.next_tx += count
        return ids

    def owner(self, addr: I64) -> I32:
        """The wallet owning each address."""
        return self.world.book.owner.view[addr].astype(np.int32)

    # ---- bootstrap -----------------------------------------------------------------
    def bootstrap(self, bridge_funds: int = 0) -> TxBatch:
        """Blocks 0..9: coinbases paying every funded wallet its starting coins (the bridge,
        if any, `bridge_funds` in `BRIDGE_COINS` equal coins), then coinbase-only blocks
        until the first of them matures."""
        w, rng = self.world, self.rng
        users, merchants = w.wallets_of(Kind.USER), w.wallets_of(Kind.MERCHANT)
        otc, miners = w.wallets_of(Kind.OTC), w.wallets_of(Kind.MINER)
        hot = w.wallets_of(Kind.EXCHANGE_HOT)
        payees = np.concatenate([users, users, merchants, otc, miners, np.repeat(hot, 40)])
        median = np.concatenate(
            [
                np.full(2 * len(users), 5e6),
                np.full(len(merchants), 2e7),
                np.full(len(otc), 2e10),
                np.full(len(miners), 2e9),
                np.full(40 * len(hot), 2.5e10),
            ]
        )
        values = np.maximum(DUST, rng.lognormal(np.log(median), 0.8)).astype(np.int64)
        if bridge_funds:
            bridge = w.wallets_of(Kind.BRIDGE)
            payees = np.concatenate([payees, np.repeat(bridge, BRIDGE_COINS)])
            values = np.r_[values, np.full(BRIDGE_COINS, -(-bridge_funds // BRIDGE_COINS))]
        addr = w.receive_addresses(payees, rng, 0.0)
        block = rng.integers(0, BOOTSTRAP_BLOCKS, len(payees))
        parts = []
        for h in range(BOOTSTRAP_BLOCKS + MATURITY):
            mine = block == h
            parts.append(self._coinbase(h, addr[mine], values[mine]))
            self.block_time.append(np.array([START_TIME + h * BLOCK_SECONDS], np.int64))
        batch = TxBatch.concat(parts)
        self._add_to_pool(batch)
        return batch

    def _coinbase(self, height: int, addr: I64, values: I64) -> TxBatch:
        if not len(addr):  # a regular block: the miner takes the subsidy
            miner = self.world.wallets_of(Kind.MINER)[self.rng.integers(self.cfg.miners)]
            addr = self.world.fixed[[miner]]
            values = np.array([SUBSIDY], np.int64)
        return _coinbase_batch(self.tx_ids(1), np.array([height], np.int64), addr, values)

    # ---- rounds --------------------------------------------------------------------
    def run_round(
        self,
        start: int,
        n_blocks: int,
        target: int,
        scripted: Sequence[Script] = (),
    ) -> TxBatch:
        """Generate blocks start..start+n_blocks-1 with about `target` transactions.

        Each of `scripted` (a theft, a bridge) may take coins from the pool (marking them in
        the mask it gets) and return its own transactions with explicit heights.
        """
        used = np.zeros(len(self.pool), np.bool_)
        used[self.pool_ready > start] = True  # not spendable yet
        not_ready = used.copy()
        parts = [script(self, start, n_blocks, used) for script in scripted]
        parts += self._coinjoins(n_blocks, used)
        wanted = max(0, target - n_blocks - sum(p.size for p in parts))
        bulk = self._bulk(used, wanted)
        parts.append(bulk)
        if wanted:
            ratio = bulk.size / wanted
            self.user_scale = float(np.clip(self.user_scale / max(ratio, 0.2), 0.2, 3.0))
        batch = TxBatch.concat(parts)
        free = batch.height < 0
        batch.height[free] = start + (self.rng.permutation(int(free.sum())) * n_blocks) // max(
            1, int(free.sum())
        )
        batch = TxBatch.concat([batch, self._block_coinbases(batch, start, n_blocks)])
        spent = used & ~not_ready
        self._drop_from_pool(spent)
        self._add_to_pool(batch)
        times = START_TIME + np.arange(start, start + n_blocks) * BLOCK_SECONDS
        self.block_time.append(times + self.rng.integers(0, BLOCK_SECONDS // 2, n_blocks))
        self.coinjoin_ids.append(batch.tx_id[batch.coinjoin])
        return batch

    def _block_coinbases(self, batch: TxBatch, start: int, n_blocks: int) -> TxBatch:
        fees = np.zeros(n_blocks, np.int64)
        np.add.at(fees, batch.height - start, batch.fee)
        miners = self.world.wallets_of(Kind.MINER)[self.rng.integers(0, self.cfg.miners, n_blocks)]
        heights = np.arange(start, start + n_blocks, dtype=np.int64)
        return _coinbase_batch(
            self.tx_ids(n_blocks), heights, self.world.fixed[miners], SUBSIDY + fees
        )

    def _drop_from_pool(self, spent: NDArray[np.bool_]) -> None:
        keep = ~spent
        self.pool = self.pool.take(keep)
        self.pool_wallet = self.pool_wallet[keep]
        self.pool_ready = self.pool_ready[keep]

    def _add_to_pool(self, batch: TxBatch) -> None:
        wallet = self.owner(batch.out_addr)
        keep = self.world.kind[wallet] != Kind.THIEF
        first = batch.tx_id[0] if batch.size else 0
        index = batch.out_tx - first  # tx ids of a batch are consecutive from its first
        height = batch.height[index]
        ready = height + np.where(batch.coinbase[index], MATURITY, 1)
        self.pool = Coins(
            np.concatenate([self.pool.tx, batch.out_tx[keep]]),
            np.concatenate([self.pool.n, batch.out_n[keep]]),
            np.concatenate([self.pool.addr, batch.out_addr[keep]]),
            np.concatenate([self.pool.value, batch.out_value[keep]]),
        )
        self.pool_wallet = np.concatenate([self.pool_wallet, wallet[keep]])
        self.pool_ready = np.concatenate([self.pool_ready, ready[keep]])

    # ---- coinjoins -----------------------------------------------------------------
    def pick_mixers(
        self, count: int, denomination: int, used: NDArray[np.bool_]
    ) -> NDArray[np.intp]:
        """Pool positions of up to `count` coins of distinct users worth a CoinJoin entry."""
        need = denomination + denomination // 100 + 20_000
        ok = ~used & (self.world.kind[self.pool_wallet] == Kind.USER)
        cand = np.flatnonzero(ok & (self.pool.value >= need))
        # Draw a few times more coins than needed (not the whole candidate set: it can be
        # millions) and keep one coin per wallet.
        if len(cand) > 4 * count:
            cand = cand[self.rng.integers(0, len(cand), 4 * count)]
        else:
            cand = cand[self.rng.permutation(len(cand))]
        _, first = np.unique(self.pool_wallet[cand], return_index=True)
        chosen = cand[np.sort(first)][:count]
        return chosen[self.rng.permutation(len(chosen))]

    def _coinjoins(self, n_blocks: int, used: NDArray[np.bool_]) -> list[TxBatch]:
        count = int(self.rng.poisson(n_blocks / self.cfg.coinjoin_every))
        parts = []
        for _ in range(count):
            d = int(self.rng.choice(DENOMINATIONS))
            picked = self.pick_mixers(int(self.rng.integers(5, 40)), d, used)
            if len(picked) < 3:
                continue
            used[picked] = True
            coins = self.pool.take(picked)
            parts.append(
                coinjoin_tx(
                    self, coins, self.pool_wallet[picked], np.ones(len(picked), np.int64), d
                )
            )
        return parts

    # ---- the bulk ------------------------------------------------------------------
    def _bulk(self, used: NDArray[np.bool_], wanted: int) -> TxBatch:
        rng, world = self.rng, self.world
        if not wanted:
            return TxBatch.empty()
        pw = self.pool_wallet
        free = ~used
        has = np.zeros(len(world.kind), np.bool_)
        has[pw[free]] = True
        prob = ACTIVITY[world.kind] * np.where(world.kind == Kind.USER, self.user_scale, 1.0)
        active = has & (rng.random(len(world.kind)) < prob)
        pick = free & active[pw] & (rng.random(len(pw)) < SELECT[world.kind[pw]])
        idx = np.flatnonzero(pick)
        idx = idx[np.lexsort((rng.random(len(idx)), pw[idx]))]
        if not len(idx):
            return TxBatch.empty()
        tx_of = _group_inputs(pw[idx], world.kind[pw[idx]], rng)
        n_tx = int(tx_of[-1]) + 1
        if n_tx > wanted:  # keep a random `wanted` of them; the others' coins stay unspent
            keep = np.zeros(n_tx, np.bool_)
            keep[rng.choice(n_tx, wanted, replace=False)] = True
            mask = keep[tx_of]
            idx, tx_of = idx[mask], (np.cumsum(keep) - 1)[tx_of[mask]]
            n_tx = wanted
        used[idx] = True
        coins = self.pool.take(idx)
        starts = np.flatnonzero(np.r_[True, tx_of[1:] != tx_of[:-1]])
        n_in = np.diff(np.r_[starts, len(idx)])
        spender = pw[idx[starts]]
        total = np.add.reduceat(coins.value, starts)
        ids = self.tx_ids(n_tx)
        plan = _plan_payments(world.kind[spender], n_in, total, rng)
        pay_addr = self._payees(spender, plan)
        change_addr = self._change_addresses(spender[plan.change], coins.addr[starts][plan.change])
        return _assemble(ids, coins, tx_of, starts, plan, pay_addr, change_addr, rng)

    def _payees(self, spender: I32, plan: Plan) -> I64:
        """The address of every payment of `plan` (flattened, tx by tx)."""
        rng, world = self.rng, self.world
        payer = spender[plan.pay_tx]
        kind = world.kind[payer]
        cls = (rng.random(len(payer))[:, None] > PAYEES[kind]).sum(axis=1)
        addr = np.zeros(len(payer), np.int64)
        for target, kind_to in (
            (TO_USER, Kind.USER),
            (TO_MERCHANT, Kind.MERCHANT),
            (TO_OTC, Kind.OTC),
        ):
            sel = cls == target
            pool = world.wallets_of(kind_to)
            addr[sel] = world.receive_addresses(
                pool[rng.integers(0, len(pool), int(sel.sum()))], rng, ADDRESS_REUSE
            )
        sel = cls == TO_DEPOSIT
        addr[sel] = world.deposit_addresses(payer[sel])
        sel = cls == TO_HOT
        addr[sel] = world.fixed[world.hot_of[payer[sel]]]
        return addr

    def _change_addresses(self, wallets: I32, first_input: I64) -> I64:
        """Change goes to the fixed address, else (users, sometimes) back to an input's
        address, else to a fresh address of the spender."""
        world = self.world
        addr = world.fixed[wallets].copy()
        back = (addr < 0) & (world.kind[wallets] == Kind.USER)
        back &= self.rng.random(len(wallets)) < ADDRESS_REUSE
        addr[back] = first_input[back]
        fresh = addr < 0
        addr[fresh] = world.book.new(wallets[fresh])
        return addr


@dataclass
class Plan:
    """Values of a batch of transactions: payments (flattened, tx by tx) and change."""

    pay_tx: I64  # transaction index of each payment
    pay_value: I64
    change: NDArray[np.bool_]  # per tx: has a change output
    change_value: I64  # per tx with change, in tx order
    fee: I64


def _sum_by(index: I64, values: I64, n: int) -> I64:
    """Per-group sums of integer values (exact: totals stay far below 2**53)."""
    return np.bincount(index, values, n).astype(np.int64)


def _group_inputs(wallet: I32, kind: NDArray[np.int8], rng: np.random.Generator) -> I64:
    """Transaction index of each selected coin (coins sorted by wallet): a wallet's coins
    are cut into transactions of at most `cap` inputs, `cap` drawn per wallet."""
    n = len(wallet)
    new_wallet = np.r_[True, wallet[1:] != wallet[:-1]]
    group_start = np.flatnonzero(new_wallet)
    sizes = np.diff(np.r_[group_start, n])
    gk = kind[group_start]
    cap = rng.integers(CAP_LO[gk], CAP_HI[gk] + 1)
    rank = np.arange(n) - np.repeat(group_start, sizes)
    sub = rank // np.repeat(cap, sizes)
    new_tx = new_wallet | np.r_[True, sub[1:] != sub[:-1]]
    return np.cumsum(new_tx) - 1


def _plan_payments(kind: NDArray[np.int8], n_in: I64, total: I64, rng: np.random.Generator) -> Plan:
    """How much each transaction pays, to how many payees, with what change and fee."""
    n = len(kind)
    hot = kind == Kind.EXCHANGE_HOT
    n_pay = np.where(hot, rng.integers(1, 21, n), 1)
    change = hot | (rng.random(n) >= SWEEP[kind])
    rate = np.where(kind == Kind.EXCHANGE_DEPOSITS, rng.integers(1, 5, n), rng.integers(2, 30, n))
    fee = np.minimum(rate * vsize(n_in, n_pay + change), total - DUST)
    avail = total - fee
    pay_tx = np.repeat(np.arange(n), n_pay)
    # Hot wallets: batched withdrawals (log-normal amounts) scaled to a share of the input.
    draws = np.maximum(DUST, round2(rng.lognormal(np.log(2e6), 1.3, len(pay_tx)).astype(np.int64)))
    budget = avail * rng.uniform(0.2, 0.6, n)
    scale = np.minimum(1.0, budget / np.maximum(1, np.bincount(pay_tx, draws, n)))
    batched = np.maximum(DUST, round2((draws * scale[pay_tx]).astype(np.int64)))
    # Everyone else: one payment, a share of the inputs.
    share = rng.uniform(SHARE_LO[kind], SHARE_HI[kind])
    single = np.maximum(DUST, round2((avail * share).astype(np.int64)))
    pays = np.where(hot[pay_tx], batched, single[pay_tx])
    # Too little left for change: pay everything to the first payee instead.
    change &= avail - _sum_by(pay_tx, pays, n) >= DUST
    first = np.r_[0, np.cumsum(n_pay)[:-1]]
    n_pay = np.where(change, n_pay, 1)
    keep = np.arange(len(pay_tx)) - first[pay_tx] < n_pay[pay_tx]
    pay_tx, pays = pay_tx[keep], pays[keep]
    pays = np.where(change[pay_tx], pays, avail[pay_tx])
    change_value = (avail - _sum_by(pay_tx, pays, n))[change]
    return Plan(pay_tx, pays, change, change_value, fee)


def _assemble(
    ids: I64,
    coins: Coins,
    tx_of: I64,
    starts: I64,
    plan: Plan,
    pay_addr: I64,
    change_addr: I64,
    rng: np.random.Generator,
) -> TxBatch:
    """The TxBatch of planned transactions; change sits first or last at random."""
    n = len(ids)
    n_pay = np.bincount(plan.pay_tx, minlength=n)
    first = np.r_[0, np.cumsum(n_pay)[:-1]]
    change_first = plan.change & (rng.random(n) < 0.5)
    pay_n = np.arange(len(plan.pay_tx)) - first[plan.pay_tx] + change_first[plan.pay_tx]
    with_change = np.flatnonzero(plan.change)
    change_n = np.where(change_first[with_change], 0, n_pay[with_change])
    return TxBatch(
        tx_id=ids,
        height=np.full(n, -1, np.int64),
        order=rng.random(n),
        fee=plan.fee.astype(np.int64),
        coinbase=np.zeros(n, np.bool_),
        coinjoin=np.zeros(n, np.bool_),
        out_tx=np.concatenate([ids[plan.pay_tx], ids[with_change]]),
        out_n=np.concatenate([pay_n, change_n]).astype(np.int32),
        out_addr=np.concatenate([pay_addr, change_addr]),
        out_value=np.concatenate([plan.pay_value, plan.change_value]),
        in_tx=ids[tx_of],
        in_n=(np.arange(len(tx_of)) - starts[tx_of]).astype(np.int32),
        in_prev_tx=coins.tx,
        in_prev_n=coins.n,
        in_addr=coins.addr,
        in_value=coins.value,
    )


def _coinbase_batch(ids: I64, heights: I64, addr: I64, values: I64) -> TxBatch:
    """Coinbases: one per height; a bootstrap coinbase (one id) may pay many outputs."""
    n = len(ids)
    out_tx = ids if len(addr) == n else np.full(len(addr), ids[0], np.int64)
    out_n = np.zeros(n, np.int32) if len(addr) == n else np.arange(len(addr), dtype=np.int32)
    none = np.zeros(0, np.int64)
    return TxBatch(
        tx_id=ids,
        height=heights,
        order=np.full(n, -1.0),
        fee=np.zeros(n, np.int64),
        coinbase=np.ones(n, np.bool_),
        coinjoin=np.zeros(n, np.bool_),
        out_tx=out_tx,
        out_n=out_n,
        out_addr=addr,
        out_value=values,
        in_tx=none,
        in_n=none.astype(np.int32),
        in_prev_tx=none,
        in_prev_n=none.astype(np.int32),
        in_addr=none,
        in_value=none,
    )
