"""Transcriptions of FBI-published DPRK addresses (kind `fbi-csv`).

Columns address, chain,
publisher, publication, and optionally incident, published_date, note, format_check).
Every FBI notice in these files attributes the theft to the DPRK (Lazarus Group /
TraderTraitor), so each address is tagged category `perpetrator`, abuse `service_hack`,
actor `lazarusgroup`, confidence `authority_data`; source = the URL in `publication`, else
the publication as written; `published` (and `lastmod`) = `published_date`, else the
date written in the publication.
"""

from __future__ import annotations

import re
from pathlib import Path

from chainsleuth.analytics.attribution.csvlists.rows import (
    LAZARUS,
    Collector,
    context_json,
    find_date,
    listed_address,
    midnight,
    read_rows,
)
from chainsleuth.analytics.attribution.model import Dataset, Tag
from chainsleuth.analytics.attribution.taxonomy import confidence_levels
from chainsleuth.errors import InputError

KIND_FBI = "fbi-csv"
FBI_COLUMNS = frozenset({"address", "chain", "publisher", "publication"})
_URL = re.compile(r"https?://\S+")


def parse_fbi(text: str, file: str, *, skip_invalid: bool = False) -> Dataset:
    """A transcribed FBI list of DPRK addresses (address, chain, publisher, publication...)."""
    rows = read_rows(text, file, FBI_COLUMNS)
    ds = Dataset(Path(file).stem, KIND_FBI, file, [], creator="FBI")
    out = Collector(ds, skip_invalid)
    level = confidence_levels()["authority_data"]
    for row in out.rows(rows):
        c = row.cells
        try:
            chain, address = listed_address(c["chain"], c["address"], "address")
            if not c["publication"]:
                raise InputError("column publication: empty (the FBI notice is the source)")
            given = c.get("published_date", "")
            published = find_date(given) if given else find_date(c["publication"])
            if given and published is None:
                raise InputError(f"column published_date: {given!r} is not a date (YYYY-MM-DD)")
        except InputError as exc:
            out.bad(row.line, str(exc))
            continue
        url = _URL.search(c["publication"])
        incident = c.get("incident", "")
        ds.title = ds.title or c["publication"]
        ds.published = max(filter(None, (ds.published, published)), default=None)
        out.add(
            Tag(
                chain=chain,
                address=address,
                tx_hash=None,
                currency=c["chain"].upper(),
                label=f"Lazarus Group ({incident})" if incident else "Lazarus Group",
                source=url.group(0) if url else c["publication"],
                confidence="authority_data",
                confidence_level=level,
                category="perpetrator",
                abuse="service_hack",
                actor=LAZARUS,
                lastmod=midnight(published),
                context=context_json(
                    incident=incident,
                    publisher=c["publisher"],
                    publication=c["publication"],
                    note=c.get("note"),
                ),
                tag_type="actor",
                published=published,
                line=row.line,
            )
        )
    return out.finish()


# --- Forta -----------------------------------------------------------------------------
