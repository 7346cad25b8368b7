"""`chainsleuth actors list|show`."""

from __future__ import annotations

import typer

from chainsleuth.analytics.attribution.actors import ensure_curated, resolve_actor
from chainsleuth.analytics.attribution.propagation import actor_profile
from chainsleuth.interfaces.cli.context import FORMAT_OPTION, output, store
from chainsleuth.interfaces.output import Format
from chainsleuth.store.queries import rows


def register(app: typer.Typer) -> None:
    """Add the `actors` command group."""
    actors_app = typer.Typer(help="Actors behind tags: aliases, countries, addresses.")
    app.add_typer(actors_app, name="actors")

    @actors_app.command("list")
    def list_cmd(
        ctx: typer.Context,
        query: str = typer.Option(None, "--search", help="Substring of id, label or alias."),
        fmt: Format = FORMAT_OPTION,
    ) -> None:
        """Actors with their aliases, country and number of tagged addresses."""
        con = store(ctx)
        ensure_curated(con)
        found = rows(
            con,
            """SELECT a.id, a.label, a.aliases, a.country, a.categories,
                      count(DISTINCT t.chain || t.address) AS tagged_addresses
               FROM actors a LEFT JOIN tags t ON t.actor = a.id
               WHERE $q IS NULL OR contains(lower(a.id || ' ' || a.label || ' '
                     || array_to_string(a.aliases, ' ')), lower($q))
               GROUP BY ALL ORDER BY tagged_addresses DESC, a.id""",
            {"q": query},
        )
        output(ctx, found, fmt, title="actors")

    @actors_app.command("show")
    def show_cmd(
        ctx: typer.Context,
        name: str = typer.Argument(..., help="Actor id, label or alias (e.g. lazarus)."),
        fmt: Format = FORMAT_OPTION,
    ) -> None:
        """An actor: aliases, sources, tagged addresses and entities, totals received."""
        con = store(ctx)
        ensure_curated(con)
        output(ctx, actor_profile(con, resolve_actor(con, name)), fmt, title=name)
