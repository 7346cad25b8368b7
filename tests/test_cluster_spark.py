"""The Spark job (local[2]) gives the embedded engine's partition, ids and links (Bitcoin and
Ethereum)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chainsleuth.analytics.clustering.engine import run
from chainsleuth.analytics.clustering.export import export_parquet
from chainsleuth.analytics.clustering.heuristics import available
from chainsleuth.store.db import connect
from tests.chainbuilder import chain, ingest
from tests.test_cluster_engine import EVERY, clusters, random_chain
from tests.test_cluster_ethereum import World

pytestmark = [pytest.mark.slow, pytest.mark.spark]


def test_spark_partition_equals_embedded(tmp_path: Path) -> None:
    pytest.importorskip("pyspark")
    from chainsleuth.analytics.clustering.spark import run_spark

    con = connect(tmp_path / "store.duckdb")
    ingest(con, chain(*random_chain(seed=7, n_blocks=12)))
    run(con, "bitcoin", EVERY)
    embedded = clusters(con)
    links = sorted(con.execute("SELECT * FROM cluster_links").fetchall())
    coinjoins = sorted(con.execute("SELECT * FROM coinjoin_txs").fetchall())
    assert len(set(embedded.values())) < len(embedded)  # something was merged
    export_parquet(con, tmp_path / "parquet")
    summary = run_spark(con, "bitcoin", EVERY, tmp_path / "parquet", master="local[2]")
    assert summary.mode == "full"
    assert clusters(con) == embedded
    assert sorted(con.execute("SELECT * FROM cluster_links").fetchall()) == links
    assert sorted(con.execute("SELECT * FROM coinjoin_txs").fetchall()) == coinjoins
    con.close()


def test_spark_ethereum_clusters_equal_embedded(tmp_path: Path) -> None:
    pytest.importorskip("pyspark")
    from chainsleuth.analytics.clustering.spark import run_spark

    con = connect(tmp_path / "store.duckdb")
    world = World(seed=2, users=16)  # small: Spark plans every CTE of the SQL anew
    world.build()
    world.write(con)
    names = available("ethereum")
    run(con, "ethereum", names)
    embedded = con.execute("SELECT * FROM clusters ORDER BY address_id").fetchall()
    links = sorted(con.execute("SELECT * FROM cluster_links").fetchall())
    assert {row[3] for row in links} == set(names)  # every heuristic made links
    export_parquet(con, tmp_path / "parquet")
    run_spark(con, "ethereum", names, tmp_path / "parquet", master="local[2]")
    assert con.execute("SELECT * FROM clusters ORDER BY address_id").fetchall() == embedded
    assert sorted(con.execute("SELECT * FROM cluster_links").fetchall()) == links
    con.close()
