"""Parameters and fixed prices of a simulated Ethereum chain (see `ethereum`)."""

from __future__ import annotations

from dataclasses import dataclass

from chainsleuth.errors import InputError

ETHER = 10**18
GWEI = 10**9
GAS_PRICE = 2 * GWEI
START_TIME = 1_738_368_000  # 2025-02-01T00:00:00Z, time of block 0
BLOCK_SECONDS = 12
MIXER_DENOMINATION = 10 * ETHER
BTC_USD, ETH_USD = 100_000, 3_000  # every simulated day's closes (prices.csv)
SATS_PER_ETH = ETH_USD * 10**8 // BTC_USD  # bridge rate: 0.03 BTC per ETH
STETH_PER_ETH = 1  # DEX prices: token units per wei
USDT_PER_ETH = 3000 * 10**6  # 6-decimal units per ether


@dataclass(frozen=True)
class EthSimConfig:
    """Size and shape of the simulated account chain."""

    rounds: int = 40  # rounds of economic activity (the theft happens half-way)
    seed: int = 1
    users: int = 40
    exchanges: int = 3
    txs_per_block: int = 25
    intermediaries: int = 40
    theft: bool = True
    bridged_in: int = 0  # releases of Bitcoin deposits (`sim.crosschain`), in the last round

    def validate(self) -> None:
        """Reject sizes the simulator cannot honour."""
        if self.rounds < 4 or self.users < 10 or self.exchanges < 2:
            raise InputError("the Ethereum simulator needs rounds>=4, users>=10, exchanges>=2")
        if self.bridged_in < 0:
            raise InputError("the number of releases of Bitcoin deposits cannot be negative")
        if self.intermediaries < 4:
            raise InputError("the theft needs at least 4 intermediaries")
