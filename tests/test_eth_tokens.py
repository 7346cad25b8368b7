"""Token metadata: recorded eth_call answers (string, bytes32, overstated length), token lists,
and ethereum-etl tokens.csv, checked against ethereum-etl's expected tokens exports."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from chainsleuth.chains.ethereum.tokens import fetch_metadata, token_list_rows
from chainsleuth.chains.jsonrpc import JsonRpcClient, RetryPolicy
from chainsleuth.errors import AddressError
from chainsleuth.store.account import upsert_token_rows
from tests import rpcserver
from tests.rpcserver import RpcServer

rpc_server = rpcserver.rpc_server  # fixture
JOBS = ("token_with_alternative_return_type", "token_with_invalid_data")


@pytest.mark.parametrize("job", JOBS)
def test_eth_call_metadata_matches_ethereum_etl(
    rpc_server: RpcServer, shared_data: Path, job: str
) -> None:
    folder = shared_data / "ethereum/etl-fixtures/test_export_tokens_job" / job
    with (folder / "expected_tokens.csv").open(newline="") as fh:
        expected = next(csv.DictReader(fh))
    contract = expected["address"]
    for selector in ("0x95d89b41", "0x06fdde03", "0x313ce567"):
        path = folder / f"web3_response.eth_call_data_{selector}_to_{contract}_latest.json"
        result = json.loads(path.read_text())["result"]
        rpc_server.add("eth_call", [{"to": contract, "data": selector}, "latest"], result)
    reverting = "0x" + "9" * 40  # no recording: the server answers an error, as a revert
    with JsonRpcClient(rpc_server.url, policy=RetryPolicy(timeout=5, attempts=1)) as client:
        rows = fetch_metadata(client, [contract, reverting])
    assert (rows[0]["symbol"], rows[0]["name"], rows[0]["decimals"]) == (
        expected["symbol"] or None,
        expected["name"] or None,
        int(expected["decimals"]),
    )
    assert (rows[1]["symbol"], rows[1]["name"], rows[1]["decimals"]) == (None, None, None)


def test_token_list_and_upsert_keep_known_values(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    weth = "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"
    doc: dict[str, Any] = {
        "name": "t",
        "tokens": [
            {
                "chainId": 1,
                "address": weth,
                "symbol": "WETH",
                "name": "Wrapped Ether",
                "decimals": 18,
            },
            {"chainId": 10, "address": "0x" + "4" * 40, "symbol": "OP", "decimals": 18},
        ],
    }
    path = tmp_path / "list.json"
    path.write_text(json.dumps(doc))
    rows = token_list_rows(path)
    assert [r["contract"] for r in rows] == [weth.lower()]
    con.execute(
        "INSERT INTO tokens VALUES ('ethereum', ?, NULL, NULL, NULL, 'erc20', 'events')",
        [weth.lower()],
    )
    upsert_token_rows(con, "ethereum", rows)
    upsert_token_rows(con, "ethereum", [{**rows[0], "symbol": None, "source": "eth_call"}])
    got = con.execute("SELECT symbol, name, decimals, standard FROM tokens").fetchall()
    assert got == [("WETH", "Wrapped Ether", 18, "erc20")]
    doc["tokens"][0]["address"] = weth.replace("C02aaA", "C02AAA")
    path.write_text(json.dumps(doc))
    with pytest.raises(AddressError, match=r"token 0: .*EIP-55"):
        token_list_rows(path)
