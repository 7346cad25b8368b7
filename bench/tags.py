"""Benchmark: import the real tag sets of ../shared/data, then single-address lookups.

    python -m bench.tags [--data ../shared/data] [--lookups 2000]

Imports the GraphSense ActorPack (timed apart: actors, not tags), then every GraphSense
TagPack, every explorer-labels JSON and the OFAC lists into a fresh store, with full
validation and `skip_invalid` (the invalid tags of third-party files are left out and
listed, as `tags import --skip-invalid` does); reports wall time and tags imported.
Then times `address_tags` and `entity_label` for random tagged addresses, each tagged
address put in a 10-address cluster: through the in-memory `TagIndex` (load once, then
dict lookups) and through one store query per lookup. Prints medians and p99.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import SHARED_DATA, shared_missing
from chainsleuth.analytics.attribution import address_tags, entity_label
from chainsleuth.analytics.attribution.importer import import_file
from chainsleuth.analytics.attribution.index import TagIndex
from chainsleuth.store.db import connect


def sources(data: Path) -> list[Path]:
    """The real tag files, in import order (actors first, so OFAC names map to actors)."""
    tags = data / "tags"
    return [
        tags / "graphsense-tagpacks/actors/graphsense.actorpack.yaml",
        *sorted((tags / "graphsense-tagpacks/packs").glob("*.yaml")),
        *sorted((tags / "etherscan-labels/data").glob("*/combined/combinedAccountLabels.json")),
        *sorted((tags / "ofac/0xb10c-lists").glob("*.txt")),
        tags / "ofac/eth-ultrasound/data.csv",
        tags / "ofac/sdn-entities/sanctioned-addresses.json",
    ]


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[int(len(ordered) * 0.99) - 1]
    return f"median {statistics.median(ordered) * 1e3:.3f} ms, p99 {p99 * 1e3:.3f} ms"


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED_DATA)
    parser.add_argument("--lookups", type=int, default=2000)
    args = parser.parse_args()
    if shared_missing(args.data / "tags"):
        return
    with tempfile.TemporaryDirectory() as tmp:
        con = connect(Path(tmp) / "bench.duckdb")
        files = sources(args.data)
        start = time.perf_counter()
        (actors,) = import_file(con, files[0])
        actor_time = time.perf_counter() - start
        print(f"actors: {actors.tags} from {files[0].name} in {actor_time:.2f} s")
        imported = skipped = 0
        start, cpu = time.perf_counter(), time.process_time()
        for path in files[1:]:
            for result in import_file(con, path, skip_invalid=True):
                imported += result.tags
                skipped += sum("skipped" in w for w in result.warnings)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        print(
            f"tags: {len(files) - 1} files, {imported} tags in {elapsed:.2f} s"
            f" (process CPU {cpu:.2f} s)"
            f" ({imported / elapsed:,.0f} tags/s), every tag validated; {skipped} invalid"
            " tags skipped and listed"
        )
        tagged = con.execute(
            "SELECT DISTINCT chain, address FROM tags WHERE address IS NOT NULL ORDER BY ALL"
        ).fetchall()
        con.execute(
            "INSERT INTO addresses SELECT chain, address,"
            " row_number() OVER (ORDER BY chain, address)"
            " FROM (SELECT DISTINCT chain, address FROM tags WHERE address IS NOT NULL)"
        )
        con.execute(
            "INSERT INTO clusters SELECT chain, address_id, (address_id - 1) // 10 * 10 + 1"
            " FROM addresses"
        )
        start = time.perf_counter()
        index = TagIndex.load(con)
        print(f"TagIndex.load: {time.perf_counter() - start:.2f} s")
        rng = random.Random(5)
        sample = [rng.choice(tagged) for _ in range(args.lookups)]
        timings: dict[str, list[float]] = {}
        lookups: dict[str, Callable[[str, str], object]] = {
            "index.address_tags": index.address_tags,
            "index.label_of (address -> cluster -> best label)": index.label_of,
            "store query address_tags": lambda c, a: address_tags(con, c, a),
            "store query entity_label": lambda c, a: entity_label(con, c, index.cluster_of[(c, a)]),
        }
        for name, lookup in lookups.items():
            timings[name] = []
            for chain, address in sample:
                t0 = time.perf_counter()
                found = lookup(chain, address)
                timings[name].append(time.perf_counter() - t0)
                assert found
        for name, samples in timings.items():
            print(f"{name} ({len(tagged)} tagged addresses): {_percentiles(samples)}")
        con.close()


if __name__ == "__main__":
    main()
