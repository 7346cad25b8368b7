"""Victor's deposit-address heuristic on a hand-built Ethereum store."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

import duckdb

from chainsleuth.analytics.clustering.ablation import evaluate_store, load_truth, standard_sets
from chainsleuth.analytics.clustering.engine import run
from chainsleuth.analytics.clustering.explain import entity_view
from chainsleuth.analytics.clustering.heuristics import defaults
from chainsleuth.store.db import connect

T0 = dt.datetime(2024, 1, 1)
NAMES = ["S1", "S2", "S3", "D1", "D2", "D3", "H", "X", "C", "DC", "W", "F"]
IDS = {name: 1000 + k for k, name in enumerate(NAMES)}

# (height, sender, receiver)
TRANSFERS = [
    (1, "S1", "D1"),
    (2, "D1", "H"),  # D1 forwards to the hot wallet H
    (3, "S2", "D1"),  # S2 reuses S1's deposit address: same customer
    (3, "D1", "H"),
    (4, "S3", "D2"),
    (5, "D2", "H"),  # D2: another deposit address of H
    (4, "C", "D1"),  # a contract paying into D1 joins no customer
    (6, "S3", "D3"),
    (6, "D3", "H"),
    (7, "D3", "X"),  # D3 also pays X: not a deposit address
    (8, "W", "DC"),
    (8, "DC", "H"),  # DC is a contract: never a deposit address
    (9, "H", "D2"),  # the hot wallet itself paying a deposit address joins no customer
    (1, "F", "D1"),  # F pays two deposit addresses of H (a funder, not a customer)
    (4, "F", "D2"),
]


def eth_store(con: duckdb.DuckDBPyConnection) -> None:
    for name, aid in IDS.items():
        con.execute("INSERT INTO addresses VALUES ('ethereum', ?, ?)", ["0x" + name.lower(), aid])
    for h in range(10):
        con.execute(
            "INSERT INTO blocks VALUES ('ethereum', ?, ?, ?, ?, 1)",
            [h, f"e{h}", f"e{h - 1}", T0 + dt.timedelta(seconds=12 * h)],
        )
    for k, (h, a, b) in enumerate(TRANSFERS):
        con.execute(
            "INSERT INTO transfers (chain, block_height, time, tx_hash, position, kind, asset,"
            " from_id, to_id, amount, success) VALUES ('ethereum', ?, ?, ?, 'tx', 'native',"
            " 'ETH', ?, ?, 1000, true)",
            [h, T0, f"0x{k:064x}", IDS[a], IDS[b]],
        )
        con.execute(  # the transaction at its position in the block (k orders the block)
            "INSERT INTO txs (chain, block_height, tx_hash, position, time) VALUES"
            " ('ethereum', ?, ?, (SELECT count(*) FROM txs WHERE chain = 'ethereum'"
            " AND block_height = ?), ?)",
            [h, f"0x{k:064x}", h, T0],
        )
    for c in ("C", "DC"):
        con.execute("INSERT INTO contracts VALUES ('ethereum', ?, 0, NULL, NULL)", [IDS[c]])


def test_deposit_addresses_join_the_exchange_and_their_senders_one_customer(con) -> None:
    eth_store(con)
    summary = run(con, "ethereum", defaults("ethereum"))
    assert summary.mode == "full"
    found = dict(
        con.execute(
            "SELECT address_id, cluster_id FROM clusters WHERE chain = 'ethereum'"
        ).fetchall()
    )
    cluster = {name: found[aid] for name, aid in IDS.items()}
    assert cluster["D1"] == cluster["D2"] == cluster["H"]
    assert cluster["S1"] == cluster["S2"] != cluster["H"]
    for alone in ("S3", "D3", "X", "C", "DC", "W", "F"):
        members = [n for n in NAMES if cluster[n] == cluster[alone]]
        assert members == [alone]
    heuristics = {
        (h, a, b)
        for h, a, b in con.execute(
            "SELECT heuristic, address_id_a, address_id_b FROM cluster_links"
        ).fetchall()
    }
    assert heuristics == {
        ("deposit-address", IDS["H"], IDS["D1"]),
        ("deposit-address", IDS["H"], IDS["D2"]),
        ("deposit-reuse", IDS["S1"], IDS["S2"]),
    }
    # Each link's evidence, named by (height, position), is a stored transfer touching it.
    evidence = con.execute(
        "SELECT DISTINCT l.heuristic, l.address_id_a, l.address_id_b, f.from_id, f.to_id"
        " FROM cluster_links l JOIN txs t ON t.chain = l.chain"
        " AND t.block_height = l.block_height AND t.position = l.tx_position"
        " JOIN transfers f ON f.chain = t.chain AND f.tx_hash = t.tx_hash"
    ).fetchall()
    assert {(h, a, b) for h, a, b, _, _ in evidence} == heuristics
    assert all({a, b} & {src, dst} for _, a, b, src, dst in evidence)
    again = run(con, "ethereum", defaults("ethereum"))
    assert again.mode == "full"
    assert (
        dict(
            con.execute(
                "SELECT address_id, cluster_id FROM clusters WHERE chain = 'ethereum'"
            ).fetchall()
        )
        == found
    )


def test_an_ethereum_entity_counts_only_flows_across_its_boundary(con) -> None:
    eth_store(con)
    run(con, "ethereum", defaults("ethereum"))
    view = entity_view(con, "ethereum", "0xh")
    members = {"D1", "D2", "H"}
    assert view["size"] == len(members)
    inflow = [(a, b) for _, a, b in TRANSFERS if b in members and a not in members]
    outflow = [(a, b) for _, a, b in TRANSFERS if a in members and b not in members]
    touching = [t for t in TRANSFERS if t[1] in members or t[2] in members]
    eth = next(b for b in view["balances"] if b["asset"] == "ETH")
    assert (eth["received"], eth["transfers_in"]) == (1000 * len(inflow), len(inflow))
    assert (eth["sent"], eth["transfers_out"]) == (1000 * len(outflow), len(outflow))
    assert eth["balance"] == 1000 * (len(inflow) - len(outflow))
    assert view["tx_count"] == len(touching)
    assert view["first_seen"] == view["last_seen"] == T0


class World:
    """A small Ethereum economy with its ground truth, written straight into the store: users
    with several addresses, an exchange (hot wallet, deposit addresses), a token, an airdrop
    farmed with several addresses, holders authorizing their own second address, and the
    look-alikes that must not merge (a drainer of approving victims, a DEX router, an OTC
    buyer of airdropped tokens, farmers paying into their exchange deposit address, one
    victim approving one phisher)."""

    TOKEN = "0x" + "70" * 20

    def __init__(self, seed: int, users: int = 40) -> None:
        self.rnd = random.Random(seed)
        self.owner: dict[str, str] = {}
        self.contracts: set[str] = set()
        self.txs: list[
            tuple[int, str, str, str | None, str | None]
        ] = []  # h, hash, from, to, method
        self.moves: list[
            tuple[int, str, str, str, str, int]
        ] = []  # h, hash, kind, from, to, amount
        self.height = 1
        self.token = self.address("token", contract=True)
        self.router = self.address("dex", contract=True)
        self.hot = self.address("exchange")
        self.deposit: dict[str, str] = {}
        self.users = {
            f"user{k}": [self.address(f"user{k}") for _ in range(self.rnd.randint(1, 4))]
            for k in range(users)
        }
        self.distributor = self.address("issuer")

    def address(self, owner: str, *, contract: bool = False) -> str:
        found = "0x" + f"{len(self.owner) + 1:040x}"
        self.owner[found] = owner
        if contract:
            self.contracts.add(found)
        return found

    def tx(self, sender: str, to: str | None, method: str | None = None) -> str:
        self.height += 1
        found = "0x" + f"{len(self.txs) + 1:064x}"
        self.txs.append((self.height, found, sender, to, method))
        return found

    def pay(self, sender: str, to: str, amount: int = 10**18) -> None:
        tx = self.tx(sender, to)
        self.moves.append((self.height, tx, "native", sender, to, amount))

    def token_move(self, tx: str, sender: str, to: str, amount: int) -> None:
        self.moves.append((self.height, tx, "token", sender, to, amount))

    def send_token(self, sender: str, to: str, amount: int) -> None:
        self.token_move(self.tx(sender, self.token, "0xa9059cbb"), sender, to, amount)

    def deposit_of(self, user: str) -> str:
        if user not in self.deposit:
            self.deposit[user] = self.address("exchange")
        return self.deposit[user]

    def exchange_deposit(self, sender: str, user: str) -> None:
        d = self.deposit_of(user)
        self.pay(sender, d)
        self.pay(d, self.hot)

    def build(self) -> None:
        rnd, users = self.rnd, self.users
        names = sorted(users)
        for user in names:  # background: payments to several others, exchange deposits
            for a in users[user]:
                for other in rnd.sample([n for n in names if n != user], 3):
                    self.pay(a, rnd.choice(users[other]))
            if rnd.random() < 0.5:
                self.exchange_deposit(rnd.choice(users[user]), user)
        # The airdrop: farmers take part with every address, others with one.
        farmers = [u for u in names if len(users[u]) >= 3][:8]
        recipients = [a for u in farmers for a in users[u][1:]]
        recipients += [users[u][0] for u in names if u not in farmers][:12]
        drop = self.tx(self.distributor, self.token, "0x67243482")
        for r in recipients:
            self.token_move(drop, self.distributor, r, 500)
        for k, u in enumerate(farmers):  # gather at the main address, or at the exchange
            gather = users[u][0] if k % 4 else self.deposit_of(u)
            for a in users[u][1:]:
                self.send_token(a, gather, 500)
            if gather in self.deposit.values():
                self.token_move(self.tx(gather, self.token, "0xa9059cbb"), gather, self.hot, 500)
        otc = self.address("otc")  # an OTC buyer paid by two unrelated participants, and others
        singles = [users[u][0] for u in names if u not in farmers][:2]
        for a in singles:
            self.send_token(a, otc, 500)
        self.send_token(self.distributor, otc, 7)
        pool = self.router  # participants selling at the DEX (a contract)
        for a in [users[u][0] for u in names if u not in farmers][2:6]:
            self.send_token(a, pool, 500)
        # Self-authorization: a holder approves its own second address, which then pulls.
        holders = [u for u in names if len(users[u]) == 2][:6]
        for u in holders:
            holder, spender = users[u]
            self.send_token(self.distributor, holder, 1000)
            self.tx(holder, self.token, "0x095ea7b3")
            pull = self.tx(spender, self.token, "0x23b872dd")
            self.token_move(pull, holder, spender, 400)
        drainer = self.address("drainer")  # approval phishing: one drainer, many victims
        for u in names[-5:-2]:
            victim = users[u][-1]
            self.send_token(self.distributor, victim, 1000)
            self.tx(victim, self.token, "0x095ea7b3")
            self.token_move(self.tx(drainer, self.token, "0x23b872dd"), victim, drainer, 1000)
        phisher = self.address("phisher")  # one victim, one phisher: reads as one owner
        victim = users[names[-1]][0]
        self.send_token(self.distributor, victim, 1000)
        self.tx(victim, self.token, "0x095ea7b3")
        self.token_move(self.tx(phisher, self.token, "0x23b872dd"), victim, phisher, 1000)
        for u in names[:5]:  # trading through the router: approve it, the router pulls
            a = users[u][0]
            self.send_token(self.distributor, a, 1000)
            self.tx(a, self.token, "0x095ea7b3")
            swap = self.tx(a, self.router, "0x38ed1739")
            self.token_move(swap, a, self.router, 300)

    def write(self, con: duckdb.DuckDBPyConnection) -> None:
        ids = {a: 5000 + k for k, a in enumerate(self.owner)}
        con.executemany(
            "INSERT INTO addresses VALUES ('ethereum', ?, ?)", [[a, i] for a, i in ids.items()]
        )
        con.executemany(
            "INSERT INTO blocks VALUES ('ethereum', ?, ?, ?, ?, 1)",
            [
                [h, f"e{h}", f"e{h - 1}", T0 + dt.timedelta(seconds=12 * h)]
                for h in range(self.height + 1)
            ],
        )
        con.executemany(
            "INSERT INTO eth_txs (chain, block_height, tx_hash, from_id, to_id, value,"
            " method_id, success) VALUES ('ethereum', ?, ?, ?, ?, 0, ?, true)",
            [[h, t, ids[f], ids[to] if to else None, m] for h, t, f, to, m in self.txs],
        )
        con.executemany(
            "INSERT INTO transfers (chain, block_height, time, tx_hash, position, kind, asset,"
            " from_id, to_id, amount, success)"
            " VALUES ('ethereum', ?, ?, ?, ?, ?, ?, ?, ?, ?, true)",
            [
                [
                    h,
                    T0,
                    t,
                    f"log:{k}" if kind == "token" else "tx",
                    kind,
                    self.token if kind == "token" else "ETH",
                    ids[f],
                    ids[to],
                    amount,
                ]
                for k, (h, t, kind, f, to, amount) in enumerate(self.moves)
            ],
        )
        con.executemany(
            "INSERT INTO contracts VALUES ('ethereum', ?, 0, NULL, NULL)",
            [[ids[c]] for c in sorted(self.contracts)],
        )

    def truth(self, path: Path) -> Path:
        path.write_text(json.dumps({"addresses": self.owner, "coinjoins": []}))
        return path


def scored(tmp_path: Path, seed: int = 1) -> dict[str, dict[str, Any]]:
    """`eval clustering`'s figures per heuristic set on a World."""
    con = connect(tmp_path / "eth.duckdb")
    world = World(seed)
    world.build()
    world.write(con)
    report = evaluate_store(
        con,
        "ethereum",
        load_truth(world.truth(tmp_path / "truth.json")),
        [*standard_sets("ethereum"), ["deposit-address", "deposit-reuse"]],
    )
    con.close()
    return {s["heuristics"]: s for s in report["sets"]}


def test_airdrop_and_self_authorization_against_ground_truth(tmp_path: Path) -> None:
    sets = scored(tmp_path)
    airdrop = sets["airdrop-participation"]
    assert airdrop["links"] > 0 and airdrop["precision"] == 1.0 and airdrop["false_merges"] == 0
    default = sets[",".join(defaults("ethereum"))]
    assert default["precision"] == 1.0 and default["false_merges"] == 0
    assert default["recall"] > sets["deposit-address,deposit-reuse"]["recall"]
    auth = sets["self-authorization"]
    assert auth["links"] == 7  # six holders and the one-victim phisher; not the drainer
    assert auth["false_merges"] == 1 and auth["largest_false_merge"] == 2
    assert "self-authorization" not in defaults("ethereum")
