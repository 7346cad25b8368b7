"""Who exists in a simulated economy: entities, their wallets and their fixed addresses.

Entity ids are laid out by kind (users, merchants, miners, OTC desks, the CoinJoin
coordinator, exchanges, the thieves, the bridge when there is one); wallet `w` is entity
`w`, and each exchange has a second wallet, its hot wallet, after all entities. Customers
(users, merchants, miners, OTC desks, the coordinator) each get a deposit address at one
home exchange, created the first time they deposit and owned by that exchange.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from chainsleuth.sim.config import SimConfig
from chainsleuth.sim.model import ENTITY_KIND, AddressBook, Kind

I32 = NDArray[np.int32]
I64 = NDArray[np.int64]


@dataclass
class World:
    """Entities and wallets (arrays indexed by wallet id) and the address book."""

    kind: NDArray[np.int8]  # wallet kind
    entity: I32  # owning entity of each wallet
    entity_count: int
    labels: list[str]  # per entity
    ranges: dict[Kind, tuple[int, int]]  # entity id range of each kind
    hot_of: I32  # for an exchange entity: its hot wallet (-1 elsewhere)
    home_exchange: I32  # for a customer wallet: its exchange's entity id (-1 elsewhere)
    deposit: I64  # a customer's deposit address id at its home exchange (-1: not yet)
    fixed: I64  # wallets that reuse one address (miners, hot wallets, coordinator, bridge)
    book: AddressBook

    @classmethod
    def create(cls, cfg: SimConfig, rng: np.random.Generator) -> World:
        """Lay out the population of `cfg` and give fixed-address wallets their address."""
        sizes = [
            (Kind.USER, cfg.user_count),
            (Kind.MERCHANT, cfg.merchant_count),
            (Kind.MINER, cfg.miners),
            (Kind.OTC, cfg.otc_desks),
            (Kind.COINJOIN, 1),
            (Kind.EXCHANGE_DEPOSITS, cfg.exchanges),
            (Kind.THIEF, 1 + cfg.bridge),
            (Kind.BRIDGE, int(cfg.bridge)),
        ]
        ranges: dict[Kind, tuple[int, int]] = {}
        kinds: list[NDArray[np.int8]] = []
        labels: list[str] = []
        start = 0
        for kind, count in sizes:
            ranges[kind] = (start, start + count)
            kinds.append(np.full(count, kind, np.int8))
            name = ENTITY_KIND[kind]
            labels += [f"{name}-{i}" for i in range(count)]
            start += count
        n_entities = start
        labels[ranges[Kind.COINJOIN][0]] = "coinjoin-coordinator"
        labels[ranges[Kind.THIEF][0]] = "dmm-like-thief"
        if cfg.bridge:
            labels[ranges[Kind.THIEF][0] + 1] = "bybit-like-thief"
            labels[ranges[Kind.BRIDGE][0]] = "ETH-BTC bridge"
        ex0, ex1 = ranges[Kind.EXCHANGE_DEPOSITS]
        kind_arr = np.concatenate([*kinds, np.full(ex1 - ex0, Kind.EXCHANGE_HOT, np.int8)])
        entity = np.concatenate(
            [np.arange(n_entities, dtype=np.int32), np.arange(ex0, ex1, dtype=np.int32)]
        )
        wallets = len(kind_arr)
        hot_of = np.full(wallets, -1, np.int32)
        hot_of[ex0:ex1] = np.arange(n_entities, wallets, dtype=np.int32)
        home = np.full(wallets, -1, np.int32)
        customers = ranges[Kind.EXCHANGE_DEPOSITS][0]  # every entity before the exchanges
        home[:customers] = rng.integers(ex0, ex1, customers).astype(np.int32)
        book = AddressBook(int(rng.integers(0, 2**62)), wallets)
        fixed = np.full(wallets, -1, np.int64)
        fixed_wallets = np.flatnonzero(
            np.isin(kind_arr, [Kind.MINER, Kind.COINJOIN, Kind.EXCHANGE_HOT, Kind.BRIDGE])
        ).astype(np.int32)
        fixed[fixed_wallets] = book.new(fixed_wallets)
        return cls(
            kind=kind_arr,
            entity=entity,
            entity_count=n_entities,
            labels=labels,
            ranges=ranges,
            hot_of=hot_of,
            home_exchange=home,
            deposit=np.full(wallets, -1, np.int64),
            fixed=fixed,
            book=book,
        )

    def wallets_of(self, kind: Kind) -> NDArray[np.int32]:
        """Wallet ids of one kind."""
        return np.flatnonzero(self.kind == kind).astype(np.int32)

    def deposit_addresses(self, customers: I32) -> I64:
        """Each customer's deposit address at its home exchange (created on first use)."""
        missing = np.unique(customers[self.deposit[customers] < 0])
        if len(missing):
            self.deposit[missing] = self.book.new(self.home_exchange[missing])
        return self.deposit[customers]

    def receive_addresses(self, wallets: I32, rng: np.random.Generator, reuse: float) -> I64:
        """Where each wallet is paid: its fixed address, else (users) its last address with
        probability `reuse`, else a fresh one-time address."""
        addr = self.fixed[wallets].copy()
        last = self.book.last[wallets]
        again = (addr < 0) & (self.kind[wallets] == Kind.USER) & (last >= 0)
        again &= rng.random(len(wallets)) < reuse
        addr[again] = last[again]
        fresh = addr < 0
        addr[fresh] = self.book.new(wallets[fresh])
        return addr
