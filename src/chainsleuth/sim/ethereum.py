"""Simulate an Ethereum account chain: ethereum-etl CSV exports plus their ground truth.

    simulate_ethereum(Path("out"), EthSimConfig(rounds=40, seed=7))

writes `blocks.csv`, `transactions.csv`, `receipts.csv`, `logs.csv`, `traces.csv`,
`contracts.csv`, `tokens.csv` (ethereum-etl's columns, CRLF, quoted lists) and
`truth.json`, which `chainsleuth ingest ethereum --from etl out` reads. Same seed and
config, byte-identical files.

The economy: users trade among themselves; exchanges give each customer a deposit address
that forwards to the exchange's hot wallet (ETH and tokens); a DEX pool swaps in one
transaction a token for ETH (token in by a log, ETH out by an internal call) or for another
token (two logs); a bridge takes
ETH with a Bitcoin address in its calldata and releases BTC on the Bitcoin side (recorded
in the truth as `bridge_releases`); a fixed-denomination mixer (10 ETH, Tornado-like)
pays withdrawals to fresh addresses by internal calls; some transactions fail.

The 'bybit-like' theft: a multisig cold wallet is drained in one transaction whose call
tree holds a delegatecall to the attacker's contract (moving nothing itself) and the
transfers of all its ETH and tokens to the thief; the thief splits the funds over
`intermediaries` addresses, swaps the tokens for ETH at the DEX, and sends the ETH to the
bridge (to Bitcoin), the mixer and exchange deposit addresses, keeping a remainder. The
truth's theft record says where every stolen wei went:
`stolen + sum(swaps.eth_out) == sum(endpoints.amount) + held_by_thief + fees`.

Truth format: as the Bitcoin simulator's `truth.json` (`format`, `chain`, `seed`, `txs`,
`blocks`, `first_height`, `last_height`, `entities`, `thefts`, `addresses` mapping each
address to its entity id), plus `tokens`, `bridge_releases` and `balances` (every
address's final balance per asset, in base units, counting transfers and fees paid; the
fee recipient's income is not a transfer).
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chainsleuth.chains.ethereum.address import keccak256
from chainsleuth.chains.ethereum.events import TRANSFER, WETH
from chainsleuth.errors import InputError

FORMAT = "chainsleuth-sim-truth/1"
ETHER = 10**18
GWEI = 10**9
GAS_PRICE = 2 * GWEI
START_TIME = 1_738_368_000  # 2025-02-01T00:00:00Z
BLOCK_SECONDS = 12
MIXER_DENOMINATION = 10 * ETHER
SATS_PER_ETH = 3_000_000  # bridge rate: 0.03 BTC per ETH
STETH_PER_ETH = 1  # DEX prices: token units per wei
USDT_PER_ETH = 3000 * 10**6  # 6-decimal units per ether
ZERO = "0x" + "0" * 40

COLUMNS = {
    "blocks": "number,hash,parent_hash,nonce,sha3_uncles,logs_bloom,transactions_root,"
    "state_root,receipts_root,miner,difficulty,total_difficulty,size,extra_data,gas_limit,"
    "gas_used,timestamp,transaction_count,base_fee_per_gas",
    "transactions": "hash,nonce,block_hash,block_number,transaction_index,from_address,"
    "to_address,value,gas,gas_price,input,block_timestamp,max_fee_per_gas,"
    "max_priority_fee_per_gas,transaction_type",
    "receipts": "transaction_hash,transaction_index,block_hash,block_number,"
    "cumulative_gas_used,gas_used,contract_address,root,status,effective_gas_price",
    "logs": "log_index,transaction_hash,transaction_index,block_hash,block_number,address,"
    "data,topics",
    "traces": "block_number,transaction_hash,transaction_index,from_address,to_address,value,"
    "input,output,trace_type,call_type,reward_type,gas,gas_used,subtraces,trace_address,"
    "error,status,trace_id",
    "contracts": "address,bytecode,function_sighashes,is_erc20,is_erc721,block_number",
    "tokens": "address,symbol,name,decimals,total_supply,block_number",
}


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

    def validate(self) -> None:
        """Reject sizes the simulator cannot honour."""
        if self.rounds < 4 or self.users < 10 or self.exchanges < 2:
            raise InputError("the Ethereum simulator needs rounds>=4, users>=10, exchanges>=2")
        if self.intermediaries < 4:
            raise InputError("the theft needs at least 4 intermediaries")


@dataclass
class Frame:
    """A call frame below the transaction's root: an internal transfer or a no-value call."""

    trace_address: str
    from_address: str
    to_address: str
    value: int
    call_type: str = "call"
    error: str | None = None


@dataclass
class Log:
    """A token event: ERC-20 Transfer, or WETH Deposit/Withdrawal (topics given)."""

    address: str
    topics: list[str]
    data: str


@dataclass
class EthSimSummary:
    """What a simulation wrote."""

    out_dir: str
    seed: int
    txs: int
    blocks: int
    addresses: int
    stolen: int | None


def _topic(address: str) -> str:
    return "0x" + "0" * 24 + address[2:]


def _word(value: int) -> str:
    return f"{value:064x}"


def transfer_log(token: str, frm: str, to: str, amount: int) -> Log:
    """An ERC-20 Transfer log."""
    return Log(token, [TRANSFER, _topic(frm), _topic(to)], "0x" + _word(amount))


@dataclass
class _Theft:
    victim: int
    thief: int
    height: int = 0
    theft_tx: str = ""
    stolen: int = 0
    stolen_tokens: dict[str, int] = field(default_factory=dict)
    swaps: list[dict[str, Any]] = field(default_factory=list)
    endpoints: dict[int, dict[str, Any]] = field(default_factory=dict)
    fees: int = 0
    txids: list[str] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)

    def reach(self, entity: int, amount: int, address: str, txid: str) -> None:
        end = self.endpoints.setdefault(entity, {"amount": 0, "addresses": set(), "txids": []})
        end["amount"] += amount
        end["addresses"].add(address)
        end["txids"].append(txid)


class _Chain:
    """Blocks under construction, balances, and the rows of every export file."""

    def __init__(self, cfg: EthSimConfig) -> None:
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        self.rows: dict[str, list[list[Any]]] = {name: [] for name in COLUMNS}
        self.balance: dict[tuple[str, str], int] = {}
        self.owner: dict[str, int] = {}
        self.entities: list[dict[str, Any]] = []
        self.nonces: dict[str, int] = {}
        self.block: list[str] = []
        self.height = 0
        self.tx_count = 0
        self.miner = ""

    # -- names --------------------------------------------------------------------

    def _hash(self, *parts: object) -> str:
        text = ":".join(str(p) for p in (self.cfg.seed, *parts))
        return "0x" + keccak256(text.encode()).hex()

    def entity(self, kind: str, label: str) -> int:
        self.entities.append({"id": len(self.entities), "kind": kind, "label": label})
        return len(self.entities) - 1

    def address(self, entity: int, tag: str) -> str:
        addr = "0x" + self._hash("address", entity, tag)[-40:]
        self.owner[addr] = entity
        return addr

    # -- transactions ---------------------------------------------------------------

    def credit(self, address: str, asset: str, amount: int) -> None:
        key = (address, asset)
        self.balance[key] = self.balance.get(key, 0) + amount
        if self.balance[key] < 0:
            raise AssertionError(f"simulator overdrew {address} in {asset}")

    def tx(
        self,
        sender: str,
        to: str | None,
        value: int = 0,
        *,
        frames: list[Frame] | None = None,
        logs: list[Log] | None = None,
        data: str = "0x",
        ok: bool = True,
        created: str | None = None,
        gas_used: int = 21_000,
    ) -> str:
        """Add one transaction to the current block; apply it to the balances."""
        frames = frames or []
        logs = (logs or []) if ok else []
        h = self._hash("tx", self.tx_count)
        position = len(self.block)
        self.tx_count += 1
        nonce = self.nonces.get(sender, 0)
        self.nonces[sender] = nonce + 1
        fee = gas_used * GAS_PRICE
        self.credit(sender, "ETH", -fee)
        target = to if to is not None else created
        assert target is not None
        if ok:
            self.credit(sender, "ETH", -value)
            self.credit(target, "ETH", value)
            for f in frames:
                if f.error is None and f.call_type == "call":
                    self.credit(f.from_address, "ETH", -f.value)
                    self.credit(f.to_address, "ETH", f.value)
            for lg in logs:
                if lg.topics[0] == TRANSFER:
                    amount = int(lg.data, 16)
                    frm, dst = "0x" + lg.topics[1][26:], "0x" + lg.topics[2][26:]
                    if frm != ZERO:
                        self.credit(frm, lg.address, -amount)
                    self.credit(dst, lg.address, amount)
        self.block.append(h)
        bh = self._hash("block", self.height)
        self.rows["transactions"].append(
            [
                h,
                nonce,
                bh,
                self.height,
                position,
                sender,
                to or "",
                value,
                gas_used * 2,
                GAS_PRICE,
                data,
                self._time(),
                GAS_PRICE,
                0,
                2,
            ]
        )
        self.rows["receipts"].append(
            [
                h,
                position,
                bh,
                self.height,
                0,
                gas_used,
                created if ok and created else "",
                "",
                1 if ok else 0,
                GAS_PRICE,
            ]
        )
        root_type = "create" if to is None else "call"
        self.rows["traces"].append(
            [
                self.height,
                h,
                position,
                sender,
                target,
                value,
                data,
                "0x",
                root_type,
                "call" if to else "",
                "",
                gas_used * 2,
                gas_used,
                len(frames),
                "",
                None if ok else "Reverted",
                1 if ok else 0,
                "",
            ]
        )
        for f in frames:
            self.rows["traces"].append(
                [
                    self.height,
                    h,
                    position,
                    f.from_address,
                    f.to_address,
                    f.value,
                    "0x",
                    "0x",
                    "call",
                    f.call_type,
                    "",
                    0,
                    0,
                    0,
                    f.trace_address,
                    f.error,
                    1 if ok and f.error is None else 0,
                    "",
                ]
            )
        for lg in logs:
            self.rows["logs"].append(
                [
                    len(self.rows["logs"]),
                    h,
                    position,
                    bh,
                    self.height,
                    lg.address,
                    lg.data,
                    ",".join(lg.topics),
                ]
            )
        if created is not None and ok:
            self.rows["contracts"].append([created, "0x", "", False, False, self.height])
        if len(self.block) >= self.cfg.txs_per_block:
            self.seal()
        return h

    def _time(self) -> int:
        return START_TIME + BLOCK_SECONDS * self.height

    def seal(self) -> None:
        """Close the current block (empty blocks are sealed too when asked)."""
        self.rows["blocks"].append(
            [
                self.height,
                self._hash("block", self.height),
                self._hash("block", self.height - 1) if self.height else "0x" + "0" * 64,
                "0x0000000000000000",
                "",
                "",
                "",
                "",
                "",
                self.miner,
                0,
                0,
                0,
                "0x",
                30_000_000,
                0,
                self._time(),
                len(self.block),
                0,
            ]
        )
        self.block = []
        self.height += 1

    def fix_log_indexes(self) -> None:
        """ethereum-etl's log_index counts from 0 in each block."""
        first: dict[int, int] = {}
        for row in self.rows["logs"]:
            first.setdefault(row[4], row[0])
            row[0] -= first[row[4]]

    def write(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.fix_log_indexes()
        for name, header in COLUMNS.items():
            with (out / f"{name}.csv").open("w", newline="", encoding="ascii") as fh:
                w = csv.writer(fh, lineterminator="\r\n")
                w.writerow(header.split(","))
                w.writerows(["" if v is None else v for v in row] for row in self.rows[name])


class _Economy:
    """The actors and their moves."""

    def __init__(self, cfg: EthSimConfig) -> None:
        self.c = c = _Chain(cfg)
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
        log = Log(WETH, [deposit, _topic(user)], "0x" + _word(amount))
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

    def bridge_out(self, sender: str, amount: int, theft: _Theft | None) -> str:
        """ETH into the bridge with a Bitcoin address in calldata; the release is recorded."""
        btc = "bc1q" + self.c._hash("btc", sender, self.c.tx_count)[2:40]
        memo = "0x" + ("=:BTC.BTC:" + btc).encode().hex()
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
            theft.reach(self.bridge_entity, amount, self.bridge, h)
        return h

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

    # -- the theft ----------------------------------------------------------------------

    def theft(self) -> _Theft:
        """The bybit-like theft and its laundering (see the module docstring)."""
        c = self.c
        victim = self.exchanges[0]
        cold = c.address(victim["entity"], "cold multisig")
        c.tx(self.issuer, None, created=cold, gas_used=300_000)
        c.tx(self.issuer, cold, 400_000 * ETHER)
        self.mint(self.steth, cold, 90_000 * ETHER)
        self.mint(self.usdt, cold, 3 * 10**13)
        c.seal()
        thief_entity = c.entity("thief", "bybit-like thief")
        t = _Theft(victim["entity"], thief_entity, height=c.height)
        signer = c.address(thief_entity, "signer")
        malicious = c.address(thief_entity, "malicious implementation")
        drain = c.address(thief_entity, "drain")
        c.tx(self.issuer, signer, ETHER)
        stolen = self.eth_of(cold)
        tokens = {tok: self.token_of(cold, tok) for tok in (self.steth, self.usdt)}
        t.theft_tx = c.tx(
            signer,
            cold,
            frames=[
                Frame("0", cold, malicious, 0, call_type="delegatecall"),
                Frame("1", cold, drain, stolen),
            ],
            logs=[transfer_log(tok, cold, drain, amount) for tok, amount in tokens.items()],
            data="0x6a761202",
            gas_used=200_000,
        )
        t.stolen, t.stolen_tokens = stolen, tokens
        t.addresses.append(drain)
        hops = [c.address(thief_entity, f"hop {i}") for i in range(self.c.cfg.intermediaries)]
        t.addresses.extend(hops)
        fee_before = self._fees_paid(t.addresses)
        share = (stolen - 10 * ETHER) // len(hops)
        for i, hop in enumerate(hops):
            t.txids.append(c.tx(drain, hop, share))
            if i < len(tokens):
                tok = list(tokens)[i]
                t.txids.append(
                    c.tx(
                        drain,
                        tok,
                        logs=[transfer_log(tok, drain, hop, tokens[tok])],
                        data="0xa9059cbb",
                        gas_used=52_000,
                    )
                )
        c.seal()
        for hop in hops:
            for tok in (self.steth, self.usdt):
                amount = self.token_of(hop, tok)
                if amount:
                    h, eth_out = self.swap_token_for_eth(hop, tok, amount)
                    t.swaps.append(
                        {"txid": h, "token": tok, "amount_in": amount, "eth_out": eth_out}
                    )
                    t.txids.append(h)
        c.seal()
        for i, hop in enumerate(hops):
            spare = self.eth_of(hop) - ETHER // 10
            route = i % 10
            if route < 5:
                t.txids.append(self.bridge_out(hop, spare, t))
            elif route < 7:
                for _ in range(spare // MIXER_DENOMINATION):
                    h = c.tx(
                        hop, self.mixer, MIXER_DENOMINATION, data="0xb214faa5", gas_used=900_000
                    )
                    t.reach(self.mixer_entity, MIXER_DENOMINATION, self.mixer, h)
                    t.txids.append(h)
            elif route < 9:
                ex = self.exchanges[1 + i % (len(self.exchanges) - 1)]
                dep = self.deposit_address(ex, hop)
                h = c.tx(hop, dep, spare // 2)
                t.reach(ex["entity"], spare // 2, dep, h)
                t.txids.append(h)
        c.seal()
        t.fees = self._fees_paid(t.addresses) - fee_before
        return t

    def _fees_paid(self, addresses: list[str]) -> int:
        """Fees paid so far by transactions sent from `addresses`."""
        wanted = set(addresses)
        gas_used = {r[0]: r[5] for r in self.c.rows["receipts"]}
        rows = self.c.rows["transactions"]
        return sum(r[9] * gas_used[r[0]] for r in rows if r[5] in wanted)


def _entity_ref(c: _Chain, entity: int) -> dict[str, Any]:
    """An entity reference as the Bitcoin simulator writes it: entity, kind, label."""
    return {
        "entity": entity,
        "kind": c.entities[entity]["kind"],
        "label": c.entities[entity]["label"],
    }


def _theft_json(econ: _Economy, t: _Theft) -> dict[str, Any]:
    c = econ.c
    held = sum(econ.eth_of(a) for a in t.addresses)
    endpoints = [
        {
            **_entity_ref(c, e),
            "amount": end["amount"],
            "addresses": sorted(end["addresses"]),
            "txids": end["txids"],
        }
        for e, end in sorted(t.endpoints.items(), key=lambda kv: -kv[1]["amount"])
    ]
    record = {
        "id": "bybit-like-eth",
        "name": "Bybit-like cold-wallet drain (delegatecall, ~40 hops, DEX swaps, bridge to BTC)",
        "chain": "ethereum",
        "victim": _entity_ref(c, t.victim),
        "thief": _entity_ref(c, t.thief),
        "height": t.height,
        "seed": {"txid": t.theft_tx, "addresses": [t.addresses[0]]},
        "stolen": t.stolen,
        "stolen_tokens": t.stolen_tokens,
        "swaps": t.swaps,
        "endpoints": endpoints,
        "held_by_thief": held,
        "held": {a: econ.eth_of(a) for a in t.addresses if econ.eth_of(a)},
        "fees": t.fees,
        "txids": t.txids,
    }
    inflow = t.stolen + sum(s["eth_out"] for s in t.swaps)
    outflow = sum(e["amount"] for e in endpoints) + held + t.fees
    if inflow != outflow:
        raise AssertionError(f"theft accounting is off by {inflow - outflow} wei")
    return record


def simulate_ethereum(out_dir: Path, cfg: EthSimConfig) -> EthSimSummary:
    """Run the economy of `cfg`; write the ethereum-etl CSVs and truth.json to `out_dir`."""
    cfg.validate()
    econ = _Economy(cfg)
    c = econ.c
    econ.genesis()
    c.seal()
    thefts = []
    for r in range(cfg.rounds):
        econ.round()
        if cfg.theft and r == cfg.rounds // 2:
            thefts.append(_theft_json(econ, econ.theft()))
    if c.block:
        c.seal()
    c.write(out_dir)
    with (out_dir / "tokens.csv").open("w", newline="", encoding="ascii") as fh:
        w = csv.writer(fh, lineterminator="\r\n")
        w.writerow(COLUMNS["tokens"].split(","))
        for token, (symbol, decimals) in sorted(econ.tokens.items()):
            w.writerow([token, symbol, symbol, decimals, "", ""])
    balances: dict[str, dict[str, int]] = {}
    for (address, asset), amount in sorted(c.balance.items()):
        if address != econ.issuer:
            balances.setdefault(address, {})[asset] = amount
    truth = {
        "format": FORMAT,
        "chain": "ethereum",
        "seed": cfg.seed,
        "txs": c.tx_count,
        "blocks": c.height,
        "first_height": 0,
        "last_height": c.height - 1,
        "entities": c.entities,
        "tokens": {t: {"symbol": s, "decimals": d} for t, (s, d) in sorted(econ.tokens.items())},
        "thefts": thefts,
        "bridge_releases": econ.releases,
        "balances": balances,
        "addresses": dict(sorted(c.owner.items())),
    }
    (out_dir / "truth.json").write_text(json.dumps(truth, indent=1) + "\n", encoding="utf-8")
    return EthSimSummary(
        str(out_dir),
        cfg.seed,
        c.tx_count,
        c.height,
        len(c.owner),
        thefts[0]["stolen"] if thefts else None,
    )
