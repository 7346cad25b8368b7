"""Parameters of a simulated Bitcoin chain (everything follows from `txs` and `seed`)."""

from __future__ import annotations

from dataclasses import dataclass

DUST = 546  # smallest output value the simulator creates (Bitcoin Core's P2PKH dust limit)
SUBSIDY = 312_500_000  # block subsidy after the 2024 halving, satoshi
BOOTSTRAP_BLOCKS = 10  # blocks 0..9: coinbases that seed every wallet
MATURITY = 100  # a coinbase output is spendable 100 blocks later
START_TIME = 1_704_067_200  # 2024-01-01T00:00:00Z, time of block 0
BLOCK_SECONDS = 600


@dataclass(frozen=True)
class SimConfig:
    """Size and shape of the simulated economy.

    `txs` counts every transaction written, coinbases included. Population sizes default
    to values that scale with `txs`; see docs/simulator.md.
    """

    txs: int = 20_000
    seed: int = 1
    txs_per_block: int = 0  # 0: txs // 400, clamped to [20, 3000]
    blocks_per_round: int = 20  # a round's outputs are spendable from the next round on
    users: int = 0  # 0: max(60, txs // 20)
    merchants: int = 0  # 0: max(5, users // 100)
    exchanges: int = 6
    otc_desks: int = 3
    miners: int = 4
    coinjoin_every: int = 8  # one CoinJoin per this many blocks on average
    theft: bool = True
    bridge: bool = False  # a bridge wallet and the bybit-like thief (`sim.crosschain`)

    @property
    def block_txs(self) -> int:
        """Transactions per block (coinbase included)."""
        return self.txs_per_block or min(3000, max(20, self.txs // 400))

    @property
    def user_count(self) -> int:
        """Number of users."""
        return self.users or max(60, self.txs // 20)

    @property
    def merchant_count(self) -> int:
        """Number of merchants."""
        return self.merchants or max(5, self.user_count // 100)

    def validate(self) -> None:
        """Reject sizes the simulator cannot honour."""
        from chainsleuth.errors import InputError

        floor = BOOTSTRAP_BLOCKS + MATURITY + self.blocks_per_round * 2
        if self.txs < floor:
            raise InputError(f"--txs {self.txs}: the simulator needs at least {floor}")
        if self.blocks_per_round < 16:
            raise InputError("blocks_per_round must be at least 16 (the theft spans 16 blocks)")
        if self.exchanges < 3:
            raise InputError("at least 3 exchanges are needed (a victim and two cash-outs)")
