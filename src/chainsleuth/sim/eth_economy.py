"""The actors of the Ethereum simulator and their ordinary moves.

Users trade among themselves; exchanges give each customer a deposit address that forwards
to the exchange's hot wallet (ETH and tokens); a DEX pool swaps in one transaction a token
for ETH (token in by a log, ETH out by an internal call) or for another token (two logs);
a bridge takes ETH with a Bitcoin address in its calldata (the release on the Bitcoin side
is recorded in `releases`) and pays ETH for Bitcoin deposited at its other side
(`bridge_in`, recorded in `bridged_in`); a fixed-denomination mixer (10 ETH, Tornado-like) pays
withdrawals to fresh addresses by internal calls; some transactions fail.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chainsleuth.chains.ethereum.events import WETH
from chainsleuth.sim.bridge import BRIDGE_FEE_PPM
from chainsleuth.sim.eth_chain import ZERO, EthChain, Frame, Log, address_topic, transfer_log, word
from chainsleuth.sim.eth_config import (
    ETHER,
    GAS_PRICE,
    MIXER_DENOMINATION,
    SATS_PER_ETH,
    STETH_PER_ETH,
    USDT_PER_ETH,
    EthSimConfig,
)

if TYPE_CHECKING:
    from chainsleuth.sim.eth_theft import EthTheft

#: Where the bridge releases a deposit on Bitcoin: (depositor, is stolen) -> a BTC address.
BtcAddress = Callable[[str, bool], str]


class EthEconomy:
    """The actors and their moves."""

    def __init__(
        self, cfg: EthSimConfig, btc_address: BtcAddress | None = None, first_entity: int = 0
    ) -> None:
        self.c = c = EthChain(cfg, first_entity)
        self.rng = c.rng
        issuer = c.entity("issuer", "genesis issuer")
        self.issuer = c.address(issuer, "main")
        c.credit(self.issuer, "ETH", 10**9 * ETHER)
        c.miner = c.address(c.entity("miner", "block builder"), "fee recipient")
        self.users = [c.address(c.entity("user", f"user {i}"), "main") for i in range(cfg.users)]
        self.exchanges: list[dict[str, Any]] = []
        for i in range(cfg.exchanges):
            e = c.entity("exchange", f"exchange {i}")
            self.exchanges.append({"entity": e, "hot": c.address(e, "hot"), "deposits": {}})
        self.dex = c.entity("dex", "DEX pool")
        self.pool = c.address(self.dex, "pool")
        self.bridge_entity = c.entity("bridge", "ETH-BTC bridge")
        self.bridge = c.address(self.bridge_entity, "vault")
        self.mixer_entity = c.entity("mixer", "10 ETH mixer")
        self.mixer = c.address(self.mixer_entity, "pool")
        self.relayer = c.address(self.mixer_entity, "relayer")
        self.mixer_notes: list[str] = []
        tokens = c.entity("token", "token contracts")
        self.steth = c.address(tokens, "STETH")
        self.usdt = c.address(tokens, "USDT")
        c.owner[WETH] = tokens
        self.tokens = {self.steth: ("STETH", 18), self.usdt: ("USDT", 6), WETH: ("WETH", 18)}
        self.releases: list[dict[str, Any]] = []
        self.release_heights: list[int] = []  # the block of each release's deposit
        self.bridged_in: list[dict[str, Any]] = []  # ETH paid for Bitcoin deposits
        self.btc_address = btc_address or self._placeholder_btc_address

    # -- setup ----------------------------------------------------------------------

    def genesis(self) -> None:
        """Fund everyone, create the contracts, seed the DEX pool."""
        c = self.c
        for token in (self.steth, self.usdt, WETH, self.pool, self.bridge, self.mixer):
            c.tx(self.issuer, None, created=token, gas_used=500_000)
        for addr in self.users:
            c.tx(self.issuer, addr, self.rng.randint(5, 200) * ETHER)
            self.mint(self.steth, addr, 50 * ETHER)
            self.mint(self.usdt, addr, 10**11)
        for ex in self.exchanges:
            c.tx(self.issuer, ex["hot"], 5000 * ETHER)
        c.tx(self.issuer, self.relayer, 100 * ETHER)
        c.tx(self.issuer, self.pool, 200_000 * ETHER)
        self.mint(self.steth, self.pool, 10**6 * ETHER)
        self.mint(self.usdt, self.pool, 10**14)

    def mint(self, token: str, to: str, amount: int) -> None:
        """The issuer has `amount` of `token` minted to `to` (a Transfer from 0x0)."""
        self.c.tx(self.issuer, token, logs=[transfer_log(token, ZERO, to, amount)], gas_used=50_000)

    def deposit_address(self, ex: dict[str, Any], customer: str) -> str:
        """The exchange's deposit address for one customer (created on first use)."""
        if customer not in ex["deposits"]:
            ex["deposits"][customer] = self.c.address(ex["entity"], f"deposit {customer}")
        address: str = ex["deposits"][customer]
        return address

    # -- moves ------------------------------------------------------------------------

    def eth_of(self, address: str) -> int:
        return self.c.balance.get((address, "ETH"), 0)

    def token_of(self, address: str, token: str) -> int:
        return self.c.balance.get((address, token), 0)

    def round(self) -> None:
        """One round of ordinary activity."""
        c, rng = self.c, self.rng
        for _ in range(len(self.users)):
            user = rng.choice(self.users)
            spare = self.eth_of(user) - ETHER
            move = rng.random()
            if spare <= ETHER:
                continue
            if move < 0.25:
                ex = rng.choice(self.exchanges)
                c.tx(
                    user,
                    self.deposit_address(ex, user),
                    rng.randint(1, spare // ETHER) * ETHER // 2,
                )
            elif move < 0.35:
                ex = rng.choice(self.exchanges)
                amount = self.token_of(user, self.usdt) // 4
                dep = self.deposit_address(ex, user)
                c.tx(
                    user,
                    self.usdt,
                    logs=[transfer_log(self.usdt, user, dep, amount)],
                    data="0xa9059cbb",
                    gas_used=52_000,
                )
            elif move < 0.5:
                ex = rng.choice(self.exchanges)
                c.tx(ex["hot"], user, rng.randint(1, 5) * ETHER)
            elif move < 0.55:
                self.swap_token_for_eth(user, self.steth, self.token_of(user, self.steth) // 3)
            elif move < 0.6:
                self.swap_tokens(user, self.usdt, self.token_of(user, self.usdt) // 5, self.steth)
            elif move < 0.65 and spare > ETHER:
                self.wrap(user, ETHER)
            elif move < 0.75 and spare > MIXER_DENOMINATION:
                c.tx(user, self.mixer, MIXER_DENOMINATION, data="0xb214faa5", gas_used=900_000)
                self.mixer_notes.append(user)
            elif move < 0.8 and self.mixer_notes:
                self.mixer_notes.pop(0)
                fresh = c.address(c.owner[user], f"fresh {c.tx_count}")
                self.mixer_withdraw(fresh)
            elif move < 0.85 and spare > 3 * ETHER:
                self.bridge_out(user, rng.randint(1, 3) * ETHER, None)
            elif move < 0.9:
                # A failed call: value and fee attempted, only the fee paid.
                c.tx(user, self.pool, ETHER, ok=False, data="0x7ff36ab5", gas_used=40_000)
            else:
                c.tx(user, rng.choice(self.users), rng.randint(1, spare // ETHER) * ETHER // 3)
        self.sweep()
        c.seal()

    def swap_token_for_eth(self, trader: str, token: str, amount: int) -> tuple[str, int]:
        """Token in by a Transfer log, ETH out by an internal call, in one transaction."""
        rate = STETH_PER_ETH if token == self.steth else USDT_PER_ETH
        eth_out = amount // rate if token == self.steth else amount * ETHER // rate
        h = self.c.tx(
            trader,
            self.pool,
            logs=[transfer_log(token, trader, self.pool, amount)],
            frames=[Frame("0", self.pool, trader, eth_out)],
            data="0x18cbafe5",
            gas_used=120_000,
        )
        return h, eth_out

    def swap_tokens(self, trader: str, token_in: str, amount: int, token_out: str) -> str:
        """One token in, the other out, both by Transfer logs of one transaction."""
        out = amount * ETHER // USDT_PER_ETH * STETH_PER_ETH
        return self.c.tx(
            trader,
            self.pool,
            logs=[
                transfer_log(token_in, trader, self.pool, amount),
                transfer_log(token_out, self.pool, trader, out),
            ],
            data="0x38ed1739",
            gas_used=150_000,
        )

    def wrap(self, user: str, amount: int) -> None:
        """WETH Deposit: ETH in, WETH minted (a Deposit log)."""
        deposit = "0xe1fffcc4923d04b559f4d29a8bfc6cda04eb5b0d3c460751c2402c5c5cc9109c"
        log = Log(WETH, [deposit, address_topic(user)], "0x" + word(amount))
        self.c.tx(user, WETH, amount, logs=[log], data="0xd0e30db0", gas_used=45_000)
        self.c.credit(user, WETH, amount)

    def mixer_withdraw(self, recipient: str) -> None:
        """A relayer calls the mixer; it pays the note to `recipient` (and the relayer fee)."""
        fee = MIXER_DENOMINATION // 100
        self.c.tx(
            self.relayer,
            self.mixer,
            frames=[
                Frame("0", self.mixer, recipient, MIXER_DENOMINATION - fee),
                Frame("1", self.mixer, self.relayer, fee),
            ],
            data="0x21a0adb6",
            gas_used=350_000,
        )

    def _placeholder_btc_address(self, sender: str, stolen: bool) -> str:
        """A Bitcoin-looking address for a chain simulated alone (no Bitcoin side)."""
        return "bc1q" + self.c._hash("btc", sender, self.c.tx_count)[2:40]

    def bridge_out(self, sender: str, amount: int, theft: EthTheft | None) -> str:
        """ETH into the bridge with a Bitcoin address in calldata; the release is recorded."""
        btc = self.btc_address(sender, theft is not None)
        memo = "0x" + ("=:BTC.BTC:" + btc).encode().hex()
        self.release_heights.append(self.c.height)  # before `tx` may seal the block
        h = self.c.tx(sender, self.bridge, amount, data=memo, gas_used=60_000)
        self.releases.append(
            {
                "eth_txid": h,
                "eth_from": sender,
                "amount_wei": amount,
                "btc_address": btc,
                "btc_amount": amount * SATS_PER_ETH // ETHER,
                "stolen": theft is not None,
            }
        )
        if theft is not None:
            theft.bridged.append(len(self.releases) - 1)
        return h

    def bridge_in(self, count: int) -> None:
        """The bridge pays ETH to `count` users' fresh addresses for Bitcoin they deposited
        at its other side (0.01-0.2 BTC each, at the bridge rate less its fee); the Bitcoin
        deposits are placed before them by `sim.crosschain`. Its own random stream, so the
        rest of the economy is the same with or without them."""
        rng = random.Random(self.c.cfg.seed + 1)
        for i in range(count):
            sat = rng.randint(1, 20) * 1_000_000
            gross = sat * ETHER // SATS_PER_ETH
            wei = gross - gross * BRIDGE_FEE_PPM // 1_000_000
            user = rng.choice(self.users)
            to = self.c.address(self.c.owner[user], f"bridged in {i}")
            height = self.c.height  # before `tx` may seal the block
            h = self.c.tx(self.bridge, to, wei, data="0x", gas_used=60_000)
            self.bridged_in.append(
                {
                    "eth_txid": h,
                    "eth_to": to,
                    "amount_wei": wei,
                    "btc_amount": sat,
                    "height": height,
                }
            )

    def sweep(self) -> None:
        """Deposit addresses forward everything to their exchange's hot wallet."""
        for ex in self.exchanges:
            for dep in ex["deposits"].values():
                tokens = self.token_of(dep, self.usdt)
                if tokens:
                    self.c.tx(self.issuer, dep, 10**15)  # the exchange tops up gas
                    self.c.tx(
                        dep,
                        self.usdt,
                        logs=[transfer_log(self.usdt, dep, ex["hot"], tokens)],
                        data="0xa9059cbb",
                        gas_used=52_000,
                    )
                amount = self.eth_of(dep) - 21_000 * GAS_PRICE
                if amount > 0:
                    self.c.tx(dep, ex["hot"], amount)
