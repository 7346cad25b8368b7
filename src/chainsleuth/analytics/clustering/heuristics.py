"""The registry of clustering heuristics: names, chains, defaults and their link SQL.

Heuristics come in families that share their SQL (the change rules read the same candidate
transactions): a family's builder takes the window and the chosen names of the family and
returns portable SQL with links `(address_id_a, address_id_b, tx_hash, block_height,
heuristic)`; the link keeps the heuristic's name as its reason.
Which ones are on by default is decided by measurement (`bench/RESULTS.md`): a heuristic
joins the default set only if pairwise precision stays at least 0.99 on a simulated chain
with CoinJoins.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chainsleuth.analytics.clustering.change import RULES, change_sql
from chainsleuth.analytics.clustering.ethereum import ethereum_sql
from chainsleuth.analytics.clustering.multiinput import multi_input_sql
from chainsleuth.analytics.clustering.window import Window
from chainsleuth.errors import InputError


@dataclass(frozen=True)
class Heuristic:
    """A named link-making rule for one chain family."""

    name: str
    chain: str
    default: bool
    sql: Callable[[Window, list[str]], str]  # the family's builder
    incremental: bool = True  # links depend only on the past, so new blocks suffice


# Measured on simulated chains with CoinJoins (bench/RESULTS.md, "Clustering accuracy"):
# change-fresh and change-round keep pairwise precision at 1.0 and add recall, so they are
# on; change-optimal drops precision to about 0.3-0.5; change-type and change-fingerprint
# add nothing where every wallet uses one script type and one fingerprint, so they stay off
# until measured on a chain where they can.
DEFAULT_ON = frozenset({"multi-input", "change-fresh", "change-round"})
# Ethereum (tests/test_cluster_ethereum.py's generated economy, bench/RESULTS.md): the
# deposit rules and airdrop-participation keep precision 1.0; self-authorization is off
# because one victim approving one phishing address is indistinguishable from it.

HEURISTICS: dict[str, Heuristic] = {
    h.name: h
    for h in (
        Heuristic("multi-input", "bitcoin", True, multi_input_sql),
        *(
            Heuristic(r.name, "bitcoin", r.name in DEFAULT_ON, change_sql, not r.needs_spenders)
            for r in RULES
        ),
        Heuristic("deposit-address", "ethereum", True, ethereum_sql, incremental=False),
        Heuristic("deposit-reuse", "ethereum", True, ethereum_sql, incremental=False),
        Heuristic("airdrop-participation", "ethereum", True, ethereum_sql, incremental=False),
        Heuristic("self-authorization", "ethereum", False, ethereum_sql, incremental=False),
    )
}


def defaults(chain: str) -> list[str]:
    """The default heuristic names of `chain`, sorted."""
    return sorted(h.name for h in HEURISTICS.values() if h.chain == chain and h.default)


def available(chain: str) -> list[str]:
    """Every heuristic name of `chain`, sorted."""
    return sorted(h.name for h in HEURISTICS.values() if h.chain == chain)


def families(names: list[str]) -> list[tuple[Callable[[Window, list[str]], str], list[str]]]:
    """The chosen names grouped by their family's SQL builder, in registry order."""
    grouped: dict[Callable[[Window, list[str]], str], list[str]] = {}
    for h in HEURISTICS.values():
        if h.name in names:
            grouped.setdefault(h.sql, []).append(h.name)
    return list(grouped.items())


def incremental(names: list[str]) -> bool:
    """Whether new blocks alone can extend a partition made with `names`."""
    return all(HEURISTICS[n].incremental for n in names)


def resolve(chain: str, names: str | None) -> list[str]:
    """Validate a comma-separated `--heuristics` list (None: the defaults) for `chain`."""
    if names is None or not names.strip():
        chosen = defaults(chain)
    else:
        chosen = sorted({n.strip() for n in names.split(",") if n.strip()})
    known = available(chain)
    unknown = [n for n in chosen if n not in known]
    if unknown:
        raise InputError(
            f"--heuristics: {', '.join(unknown)} not available for {chain}"
            f" (choose from {', '.join(known) or 'none'})"
        )
    if not chosen:
        raise InputError(f"--heuristics: no heuristic chosen for {chain}")
    return chosen
