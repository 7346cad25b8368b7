"""Screening: one code path for the CLI (`chainsleuth screen`) and the API.

At start the screener loads into memory what a request needs — the score of every risky or
exposed address under the policy (computed once: the policy is fixed for a screener's life),
and a sorted array of 64-bit address fingerprints to tell a known clean address from one
the store has never seen — so a lookup is a few dict and binary-search operations, not a
query and not a scoring. The `explain` path (which hops and tags
produced a score) runs the tracing engine backward on demand.
"""

from __future__ import annotations

import hashlib
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import duckdb
import numpy as np
from numpy.typing import NDArray

from chainsleuth.analytics.scoring.score import Exposure, Policy, score
from chainsleuth.analytics.tracing.coins import CoinSeed, seed_coins
from chainsleuth.analytics.tracing.hop_fetch import HopFetch
from chainsleuth.analytics.tracing.result import Endpoint
from chainsleuth.analytics.tracing.taint import Model
from chainsleuth.analytics.tracing.utxo import TraceParams, trace_utxo
from chainsleuth.errors import InputError, NotFoundError
from chainsleuth.store.db import transaction

CHAINS = ("bitcoin", "ethereum")


def stored_prints(con: duckdb.DuckDBPyConnection, chain: str) -> NDArray[np.uint64]:
    """The fingerprints of every stored address of `chain`, in no particular order.

    Kept in `address_prints` (migration 008) and topped up with the addresses stored since
    the last call, so a restart reads 8 bytes per address instead of hashing them all; the
    table is rebuilt for the chain if its rows no longer match the addresses below its
    highest id. A read-only store is hashed afresh.
    """
    # md5_number_upper = the low 8 bytes of the digest, little-endian (= `fingerprint`),
    # 5x cheaper than md5_number(...) % 2^64
    sql = "SELECT md5_number_upper(address) AS f FROM addresses WHERE chain = $chain"
    p = {"chain": chain}
    if con.execute("SELECT current_setting('access_mode')").fetchall()[0][0] != "read_only":
        with transaction(con):
            last, kept = con.execute(
                "SELECT coalesce(max(address_id), 0), count(*) FROM address_prints"
                " WHERE chain = $chain",
                p,
            ).fetchall()[0]
            below = con.execute(
                "SELECT count(*) FROM addresses WHERE chain = $chain AND address_id <= $last",
                {**p, "last": last},
            ).fetchall()[0][0]
            if below != kept:
                con.execute("DELETE FROM address_prints WHERE chain = $chain", p)
                last = 0
            con.execute(
                "INSERT INTO address_prints SELECT chain, address_id, md5_number_upper(address)"
                " FROM addresses WHERE chain = $chain AND address_id > $last",
                {**p, "last": last},
            )
        sql = "SELECT print AS f FROM address_prints WHERE chain = $chain"
    return con.sql(sql, params=p).to_arrow_table().column("f").to_numpy()  # type: ignore[no-any-return]


def fingerprint(address: str) -> int:
    """64-bit fingerprint of an address string (the low half of its MD5, as DuckDB's)."""
    return int.from_bytes(hashlib.md5(address.encode("utf-8")).digest()[:8], "little")


@lru_cache(maxsize=1 << 16)
def normalize_address(chain: str, address: str, network: str = "mainnet") -> str:
    """The stored form of a user-given address, or InputError naming the problem.

    Pure and deterministic, so the answers for recently seen addresses are kept (an
    exchange screens the same deposit addresses again and again; bech32 and Base58Check
    checksums in Python cost more than the rest of a screening). Errors are not cached.
    """
    if chain == "ethereum":
        from chainsleuth.chains.ethereum.address import normalize

        return normalize(address)
    if chain == "bitcoin":
        from chainsleuth.chains.bitcoin.address import validate

        return validate(address, network)
    raise InputError(f"unknown chain {chain!r}; chains: {', '.join(CHAINS)}")


@dataclass
class _ChainIndex:
    ids: dict[str, int] = field(default_factory=dict)  # exposed or risky address -> id
    scored: dict[int, dict[str, Any]] = field(default_factory=dict)  # id -> score(...)
    known: NDArray[np.uint64] = field(default_factory=lambda: np.zeros(0, dtype=np.uint64))
    risky_stops: dict[int, Endpoint] = field(default_factory=dict)


class Screener:
    """Scores addresses and transactions against a policy from an in-memory index.

    The known-address fingerprints (one MD5 per stored address: seconds on a large store)
    are computed in a background thread, so a service starts at once; until they are
    ready, `known` is answered by an exact query on its own cursor (same answer, slower).
    Without `fingerprints` they are never loaded: a command screening a few addresses asks
    the store about each (30 ms at 16M addresses) instead of waiting for all of them
    (9 s there).
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        policy: Policy,
        *,
        background: bool = True,
        fingerprints: bool = True,
    ) -> None:
        self.con = con
        self.policy = policy
        self._fingerprints = fingerprints
        self.index: dict[str, _ChainIndex] = {}
        self._clean = score([], [], policy)  # an address with no risk
        self._background = background
        self._known_ready = threading.Event()
        self._local = threading.local()
        self.reload()

    def reload(self) -> None:
        """Re-read risky tags and exposures, score them, and reload the fingerprints."""
        index: dict[str, _ChainIndex] = {c: _ChainIndex() for c in CHAINS}
        direct: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
        exposures: dict[tuple[str, int], list[Exposure]] = defaultdict(list)
        con = self.con
        for chain, aid, address, concept, entity, label, source, conf, level, tagged in con.execute(
            "SELECT r.chain, r.address_id, a.address, r.concept, r.entity, r.label,"
            " r.source, r.confidence, r.confidence_level, r.tagged_address"
            " FROM risky_addresses r JOIN addresses a USING (address_id)"
        ).fetchall():
            ix = index.setdefault(chain, _ChainIndex())
            ix.ids[address] = aid
            direct[(chain, aid)].append(
                {
                    "concept": concept,
                    "entity": entity,
                    "label": label,
                    "source": source,
                    "confidence": conf,
                    "confidence_level": level,
                    "tagged_address": tagged,
                }
            )
            ix.risky_stops[aid] = Endpoint(entity, label, concept)
        for chain, aid, address, concept, hop, tainted, received in con.execute(
            "SELECT e.chain, e.address_id, a.address, e.concept, e.hop, e.tainted,"
            " e.received FROM exposures e JOIN addresses a USING (address_id)"
        ).fetchall():
            index.setdefault(chain, _ChainIndex()).ids[address] = aid
            exposures[(chain, aid)].append(Exposure(concept, hop, tainted, int(received)))
        for chain, ix in index.items():
            ix.scored = {
                aid: score(
                    direct.get((chain, aid), []), exposures.get((chain, aid), []), self.policy
                )
                for aid in ix.ids.values()
            }
        ready = threading.Event()
        self._known_ready, self.index = ready, index
        if not self._fingerprints:  # a few addresses: each asked of the store instead
            return
        if self._background:
            cursor = con.cursor()
            threading.Thread(
                # not a daemon: a short-lived command waits for it at exit rather than
                # leaving a query running while the interpreter shuts down
                target=self._load_known,
                args=(cursor, index, ready),
                name="chainsleuth-known-addresses",
                daemon=False,
            ).start()
        else:
            self._load_known(con, index, ready)

    @staticmethod
    def _load_known(
        con: duckdb.DuckDBPyConnection, index: dict[str, _ChainIndex], ready: threading.Event
    ) -> None:
        """Sorted fingerprints of every stored address, per chain; then `ready` is set."""
        try:
            for chain, ix in index.items():
                ix.known = np.sort(np.asarray(stored_prints(con, chain), dtype=np.uint64))
            ready.set()
        except Exception:  # the store was closed (service stopping): stay on the fallback
            pass

    def wait_known(self, timeout: float | None = None) -> bool:
        """Wait until the known-address fingerprints are loaded; whether they are."""
        return self._known_ready.wait(timeout)

    def _known(self, chain: str, address: str) -> bool:
        if not self._known_ready.is_set():
            cursor = getattr(self._local, "cursor", None)
            if cursor is None:
                cursor = self._local.cursor = self.con.cursor()
            found = cursor.execute(
                "SELECT count(*) FROM addresses WHERE chain = ? AND address = ?",
                [chain, address],
            ).fetchall()
            return bool(found[0][0])
        known = self.index[chain].known
        f = np.uint64(fingerprint(address))
        i = int(known.searchsorted(f))
        return bool(i < len(known) and known[i] == f)

    def screen_address(
        self, chain: str, address: str, *, network: str = "mainnet", explain: bool = False
    ) -> dict[str, Any]:
        """Risk of one address: score, level, direct tags, indirect exposure (and path).

        A string the store holds as given (in the index, or its fingerprint among the
        stored addresses', as for `known`) is a stored form already: ingestion encoded it
        from a script. Its checksum is not verified again (bech32 and Base58Check in Python
        cost more than all the rest: a batch of new addresses would take seconds). Any
        other string is validated and normalised first.

        The score part is shared with other results for the same address: read it, do not
        change it in place."""
        ix = self.index.get(chain)
        stored, aid, known = address, None, False
        if ix is not None and not address.startswith("nonstandard"):  # a pseudo-address
            aid = ix.ids.get(address)
            known = aid is not None or self._known(chain, address)
        if ix is None or not known:
            stored = normalize_address(chain, address, network)  # raises on a bad one
            ix = self.index[chain]
            if stored != address:
                aid = ix.ids.get(stored)
                known = aid is not None or self._known(chain, stored)
        result = {
            "chain": chain,
            "address": stored,
            "known": known,
            **(ix.scored[aid] if aid is not None else self._clean),
        }
        if explain:
            result["paths"] = self.explain(chain, stored)
        return result

    def guard_screen(self, chain: str, address: str) -> tuple[int, str] | None:
        """The withdrawal guard's hook: (score, explanation with the exposure path), or
        None when nothing is known of the address."""
        r = self.screen_address(chain, address)
        if not r["known"] and not r["direct"] and not r["indirect"]:
            return None
        parts = [f"{r['level']} risk ({r['score']}/100, policy {r['policy_version']})"]
        parts += [
            f"entity tagged {d['label']} [{d['concept']}] by {d['source']} ({d['confidence']})"
            for d in r["direct"]
        ]
        parts += [
            f"{100 * i['share']:.1f}% of funds received {i['hop']} hop(s) from {i['concept']}"
            for i in r["indirect"]
        ]
        return int(r["score"]), "; ".join(parts)

    def explain(self, chain: str, address: str) -> list[dict[str, Any]]:
        """Backward haircut trace from what the address received to the risky sources."""
        if chain != "bitcoin" or not self._known(chain, address):
            return []
        from chainsleuth.store.addresses import address_id

        aid = address_id(self.con, chain, address)
        if aid is None:
            return []
        fetch = HopFetch.current(self.con, chain)
        coins = seed_coins(fetch, [CoinSeed(address_id=aid)])
        if len(coins) == 0:
            return []
        result = trace_utxo(
            fetch,
            coins,
            [{"kind": "address", "address": address}],
            TraceParams(
                model=Model.haircut,
                direction="backward",
                max_hops=self.policy.hops,
                stops=self.index[chain].risky_stops,
            ),
        )
        data = result.to_dict()
        reached = {a["address"] for e in data["endpoints"] for a in e["addresses"]}
        return [
            {
                "source": e["entity"],
                "label": e["label"],
                "concept": e["category"],
                "amount": e["amount"],
                "share": e["share"],
                "hops": [h for h in data["edges"] if h["to"] in reached],
            }
            for e in data["endpoints"]
        ]

    def screen_tx(self, chain: str, tx_hash: str, role: str = "deposit") -> dict[str, Any]:
        """A deposit is scored by the exposure of its funds' sources (the input addresses,
        weighted by value); a withdrawal by its destinations (the output addresses)."""
        if chain != "bitcoin":
            raise InputError(f"transaction screening is available for bitcoin, not {chain!r}")
        if role not in ("deposit", "withdrawal"):
            raise InputError(f"role {role!r}: use deposit or withdrawal")
        h = tx_hash.strip().lower().removeprefix("0x")
        table = "inputs" if role == "deposit" else "outputs"
        found = self.con.execute(
            f"SELECT a.address, sum(x.value) FROM {table} x JOIN addresses a USING (address_id)"
            " WHERE x.chain = ? AND x.tx_hash = ? GROUP BY a.address ORDER BY 2 DESC",
            [chain, h],
        ).fetchall()
        if not found:
            raise NotFoundError(f"{chain} transaction {h} is not in the store")
        total = sum(int(v or 0) for _, v in found) or 1
        parts = []
        for address, value in found:
            r = self.screen_address(chain, address)
            parts.append(
                {
                    "address": address,
                    "value": int(value or 0),
                    "weight": int(value or 0) / total,
                    "score": r["score"],
                    "level": r["level"],
                    "direct": r["direct"],
                    "indirect": r["indirect"],
                }
            )
        worst = max(parts, key=lambda p: p["score"])
        return {
            "chain": chain,
            "tx_hash": h,
            "role": role,
            "score": worst["score"],
            "level": worst["level"],
            "policy_version": self.policy.version,
            "counterparties": parts,
        }
