"""The block builder of the Ethereum simulator: transactions, balances and export rows.

`EthChain.tx` adds one transaction (its call frames and token logs) to the current block,
applies it to every balance, and appends its rows to the ethereum-etl files (`blocks`,
`transactions`, `receipts`, `logs`, `traces`, `contracts`; CRLF, quoted lists) that
`EthChain.write` produces.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chainsleuth.chains.ethereum.address import keccak256
from chainsleuth.chains.ethereum.events import TRANSFER
from chainsleuth.sim.eth_config import BLOCK_SECONDS, GAS_PRICE, START_TIME, EthSimConfig

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


def address_topic(address: str) -> str:
    return "0x" + "0" * 24 + address[2:]


def word(value: int) -> str:
    return f"{value:064x}"


def transfer_log(token: str, frm: str, to: str, amount: int) -> Log:
    """An ERC-20 Transfer log."""
    return Log(token, [TRANSFER, address_topic(frm), address_topic(to)], "0x" + word(amount))


class EthChain:
    """Blocks under construction, balances, and the rows of every export file."""

    def __init__(self, cfg: EthSimConfig, first_entity: int = 0) -> None:
        self.cfg = cfg
        self.first_entity = first_entity  # id of the first entity (after another chain's)
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
        """A new owner; its id."""
        entity = self.first_entity + len(self.entities)
        self.entities.append({"id": entity, "kind": kind, "label": label})
        return entity

    def entity_ref(self, entity: int) -> dict[str, Any]:
        """An entity reference as the Bitcoin simulator writes it: entity, kind, label."""
        e = self.entities[entity - self.first_entity]
        return {"entity": entity, "kind": e["kind"], "label": e["label"]}

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
                None,  # block_timestamp: set by `write`
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
                None,  # timestamp: set by `write`
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

    def write(self, out: Path, start_time: int = START_TIME) -> None:
        """Write the export files; block `h` is stamped `start_time + 12 s * h` (the time
        base is chosen after the simulation, so that another chain can be aligned to it)."""
        out.mkdir(parents=True, exist_ok=True)
        self.fix_log_indexes()
        for row in self.rows["blocks"]:
            row[16] = start_time + BLOCK_SECONDS * row[0]
        for row in self.rows["transactions"]:
            row[11] = start_time + BLOCK_SECONDS * row[3]
        for name, header in COLUMNS.items():
            with (out / f"{name}.csv").open("w", newline="", encoding="ascii") as fh:
                w = csv.writer(fh, lineterminator="\r\n")
                w.writerow(header.split(","))
                w.writerows(["" if v is None else v for v in row] for row in self.rows[name])
