"""`chainsleuth address CHAIN ADDR` and `chainsleuth tx CHAIN TXID`: look into the store."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

import duckdb
import typer

from chainsleuth.errors import InputError
from chainsleuth.interfaces.cli.context import FORMAT_OPTION, output, store
from chainsleuth.interfaces.output import Format

_TXID = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


class Chain(StrEnum):
    """Chains chainsleuth ingests."""

    bitcoin = "bitcoin"
    ethereum = "ethereum"


def address_view(
    con: duckdb.DuckDBPyConnection, chain: str, address: str, network: str = "mainnet"
) -> dict[str, Any]:
    """Validate a user-typed address and return its view for `chain`."""
    if chain == Chain.ethereum:
        from chainsleuth.analytics.attribution.propagation import address_tags
        from chainsleuth.chains.ethereum.address import normalize
        from chainsleuth.store.account_queries import eth_address_view

        stored = normalize(address, where="ADDR")
        return {**eth_address_view(con, stored), "tags": address_tags(con, chain, stored)}
    from chainsleuth.analytics.attribution.propagation import address_tags
    from chainsleuth.chains.bitcoin.address import validate
    from chainsleuth.store.queries import utxo_address_view

    stored = validate(address, network, where="ADDR")
    return {**utxo_address_view(con, chain, stored), "tags": address_tags(con, chain, stored)}


def tx_view(con: duckdb.DuckDBPyConnection, chain: str, txid: str) -> dict[str, Any]:
    """Validate a user-typed transaction hash and return its view for `chain`."""
    if not _TXID.match(txid.strip()):
        raise InputError(f"TXID: {txid!r} is not a transaction hash (64 hex digits)")
    if chain == Chain.ethereum:
        from chainsleuth.store.account_queries import eth_tx_view

        return eth_tx_view(con, "0x" + txid.strip().lower().removeprefix("0x"))
    from chainsleuth.store.queries import utxo_tx_view

    return utxo_tx_view(con, chain, txid.strip().lower().removeprefix("0x"))


def register(app: typer.Typer) -> None:
    """Add `address` and `tx`."""

    @app.command("address")
    def address_cmd(
        ctx: typer.Context,
        chain: Chain = typer.Argument(..., help="bitcoin or ethereum"),
        address: str = typer.Argument(..., help="The address (checksums are verified)."),
        network: str = typer.Option("mainnet", "--network", help="Bitcoin network."),
        fmt: Format = FORMAT_OPTION,
    ) -> None:
        """Balance, received, sent, tx count, first/last seen and transactions of an address."""
        output(ctx, address_view(store(ctx), chain.value, address, network), fmt, title=address)

    @app.command("tx")
    def tx_cmd(
        ctx: typer.Context,
        chain: Chain = typer.Argument(..., help="bitcoin or ethereum"),
        txid: str = typer.Argument(..., help="Transaction hash."),
        fmt: Format = FORMAT_OPTION,
    ) -> None:
        """A transaction's inputs and outputs (Bitcoin) or value flows (Ethereum)."""
        output(ctx, tx_view(store(ctx), chain.value, txid), fmt, title=txid)
