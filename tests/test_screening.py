"""Exposure and risk scores against hand-worked figures.

Chain: S (sanctioned) mints 100 and pays X 40 and keeps 59 (fee 1); clean C mints 60;
X spends its 40 with C's 60 to Y 50 and Z 49 (fee 1): Y and Z each hold 40% tainted value
at hop 2. An exchange E receives 10 of Y's coins (hop 3) but passes nothing on.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from chainsleuth.analytics.scoring.exposure import compute_exposures
from chainsleuth.analytics.scoring.score import Exposure, Policy, score
from chainsleuth.errors import InputError
from chainsleuth.services.screening.engine import Screener, fingerprint
from chainsleuth.services.screening.policy import load_policy
from chainsleuth.store.addresses import map_addresses
from tests.chainbuilder import addr, chain, ingest, tag

A = {n: addr(n) for n in "SCXYZEW"}
BLOCKS = chain(
    [
        {"id": "s0", "ins": [], "outs": [(A["S"], 100)]},
        {"id": "c0", "ins": [], "outs": [(A["C"], 60)]},
    ],
    [{"id": "s1", "ins": [("s0", 0)], "outs": [(A["X"], 40), (A["S"], 59)]}],
    [{"id": "x1", "ins": [("s1", 0), ("c0", 0)], "outs": [(A["Y"], 50), (A["Z"], 49)]}],
    [{"id": "y1", "ins": [("x1", 0)], "outs": [(A["E"], 10), (A["Y"], 39)]}],
    [{"id": "e1", "ins": [("y1", 0)], "outs": [(A["W"], 9)]}],
)


@pytest.fixture
def store(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    ingest(con, BLOCKS)
    tag(con, "bitcoin", A["S"], "Sanctioned S", "perpetrator", "sanction")
    tag(con, "bitcoin", A["E"], "Exchange E", "exchange")
    compute_exposures(con, "bitcoin", hops=3)
    return con


def exposures(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str, int], float]:
    rows = con.execute(
        "SELECT a.address, e.concept, e.hop, e.tainted FROM exposures e"
        " JOIN addresses a USING (address_id)"
    ).fetchall()
    names = {v: k for k, v in A.items()}
    return {(names[a], c, h): t for a, c, h, t in rows}


def test_exposure_by_hop_and_custodial_absorption(store: duckdb.DuckDBPyConnection) -> None:
    got = exposures(store)
    # s1 takes 100 tainted in, pays X 40 (hop 1); x1's inputs are 40 tainted of 100.
    assert got[("X", "sanction", 1)] == pytest.approx(40)
    assert got[("Y", "sanction", 2)] == pytest.approx(50 * 0.4)
    assert got[("Z", "sanction", 2)] == pytest.approx(49 * 0.4)
    # y1 spends Y's 50 (20 tainted): E gets 10 * 0.4 = 4 at hop 3 and stops it there.
    assert got[("E", "sanction", 3)] == pytest.approx(4)
    assert not any(a == "W" for a, _, _ in got)
    assert not any(a == "S" for a, _, _ in got)  # own change is not exposure


def test_screener_scores(store: duckdb.DuckDBPyConnection) -> None:
    screener = Screener(store, load_policy())
    s = screener.screen_address("bitcoin", A["S"])
    assert (s["score"], s["level"], s["direct"][0]["label"]) == (100, "severe", "Sanctioned S")
    assert s["direct"][0]["source"] == "https://example.org/list"
    # X: 40 of its 40 received straight from S (share 1 at hop 1) -> weight 100.
    assert screener.screen_address("bitcoin", A["X"])["score"] == 100
    # Y: received 50 + 39 = 89, of which 20 at hop 2 and 15.6 at hop 3 from its own change.
    y = screener.screen_address("bitcoin", A["Y"], explain=True)
    assert y["level"] in ("high", "severe") and y["known"]
    assert {(i["concept"], i["hop"]) for i in y["indirect"]} >= {("sanction", 2)}
    assert y["paths"] and y["paths"][0]["label"] == "Sanctioned S"
    w = screener.screen_address("bitcoin", A["W"])
    assert (w["score"], w["level"], w["known"]) == (0, "low", True)
    unknown = screener.screen_address("bitcoin", addr("never seen"))
    assert (unknown["score"], unknown["known"]) == (0, False)
    with pytest.raises(InputError):
        screener.screen_address("bitcoin", "bc1qnotanaddress")
    deposit = screener.screen_tx("bitcoin", "x1", "deposit")  # funded by X (100) and C (0)
    assert deposit["score"] == 100 and deposit["counterparties"][0]["address"] in (A["X"], A["C"])


def test_policy_change_rescores_without_recompute(tmp_path: Path) -> None:
    # Indirect hop 2, share 0.4 over saturation 0.1 -> full weight x decay 0.5 = 50.
    y = score([], [Exposure("sanction", 2, 20.0, 50)], load_policy())
    assert (y["score"], y["level"]) == (50, "high")
    strict = tmp_path / "strict.yaml"
    strict.write_text("version: strict\ndecay: 1.0\nweights: {sanction: 100}\n")
    assert score([], [Exposure("sanction", 2, 20.0, 50)], load_policy(strict))["score"] == 100


def test_bad_policy_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("weights: {sanction: 300}\n")
    with pytest.raises(InputError, match=r"weights.sanction"):
        load_policy(bad)


def test_policy_levels() -> None:
    p = Policy(version="t", weights={})
    assert [p.level(s) for s in (0, 25, 49.9, 50, 80)] == [
        "low",
        "medium",
        "medium",
        "high",
        "severe",
    ]


def test_stored_forms_are_taken_as_given_and_other_spellings_validated(
    store: duckdb.DuckDBPyConnection,
) -> None:
    pseudo = "nonstandard" + "ab" * 20  # what a non-standard output's "address" is stored as
    map_addresses(store, "bitcoin", f"SELECT '{pseudo}' AS address, 0 AS seen", "_new")
    screener = Screener(store, load_policy(), background=False)
    # bech32 in upper case is valid but not the stored form: validated, then found.
    shouted = screener.screen_address("bitcoin", A["X"].upper())
    assert (shouted["address"], shouted["known"], shouted["score"]) == (A["X"], True, 100)
    assert screener.screen_address("bitcoin", A["X"]) == shouted
    # A stored pseudo-address is still not an address one may screen.
    with pytest.raises(InputError):
        screener.screen_address("bitcoin", pseudo)
    # One wrong character: not stored, so its checksum is checked and fails.
    typo = A["X"][:-1] + ("q" if A["X"][-1] != "q" else "p")
    with pytest.raises(InputError):
        screener.screen_address("bitcoin", typo)
    with pytest.raises(InputError):
        screener.screen_address("dogecoin", A["X"])


def test_address_fingerprints_are_kept_topped_up_and_rebuilt_when_stale(
    store: duckdb.DuckDBPyConnection,
) -> None:
    def kept() -> dict[int, int]:
        return dict(
            store.execute(
                "SELECT address_id, print FROM address_prints WHERE chain = 'bitcoin'"
            ).fetchall()
        )

    def expected() -> dict[int, int]:
        rows = store.execute(
            "SELECT address_id, address FROM addresses WHERE chain = 'bitcoin'"
        ).fetchall()
        return {aid: fingerprint(address) for aid, address in rows}  # Python's own MD5

    Screener(store, load_policy(), background=False)
    assert kept() == expected() and len(kept()) >= len(A)
    newcomer = addr("newcomer")
    map_addresses(store, "bitcoin", f"SELECT '{newcomer}' AS address, 0 AS seen", "_new")
    screener = Screener(store, load_policy(), background=False)  # tops the table up
    assert kept() == expected() and screener.screen_address("bitcoin", newcomer)["known"]
    store.execute(
        "DELETE FROM address_prints WHERE address_id = (SELECT min(address_id) FROM addresses)"
    )
    Screener(store, load_policy(), background=False)  # a missing row: rebuilt whole
    assert kept() == expected()


def test_without_fingerprints_each_address_is_asked_of_the_store(
    store: duckdb.DuckDBPyConnection,
) -> None:
    loaded = Screener(store, load_policy(), background=False)
    asking = Screener(store, load_policy(), fingerprints=False)
    assert loaded.wait_known(0) and not asking.wait_known(0)  # never loaded
    unknown = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"  # valid, not stored
    for address in [*A.values(), unknown]:
        assert asking.screen_address("bitcoin", address) == loaded.screen_address(
            "bitcoin", address
        )
    assert not asking.screen_address("bitcoin", unknown)["known"]
