"""The clustering job on Apache Spark, over the store's Parquet export (`export parquet`).

The links come from the portable SQL of `coinjoin`, `multiinput`, `change` and
`ethereum`, run by Spark SQL on views of the Parquet tables; the embedded engine computes
the Bitcoin ones on integer arrays (`arrays`), link for link the same
(`tests/test_cluster_arrays.py`). Connected
components use the alternating large-star / small-star algorithm of Kiveris et al. 2014,
"Connected Components in MapReduce and Beyond" (SoCC '14): O(log n) rounds of joins and
group-bys, each node finally pointing at its component's smallest address id, which is the
embedded engine's cluster id too. The result (links, CoinJoins, partition) is written as
Parquet and loaded back into the store with the same stable-id bookkeeping.

PySpark is optional: `pip install 'chainsleuth[spark]'`.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from chainsleuth.analytics.clustering import engine, partition
from chainsleuth.analytics.clustering.coinjoin import TX0, detection_sql
from chainsleuth.analytics.clustering.heuristics import families
from chainsleuth.analytics.clustering.links import insert_sql_links, uses_utxo
from chainsleuth.analytics.clustering.unionfind import DisjointSets
from chainsleuth.analytics.clustering.window import Window
from chainsleuth.errors import InputError
from chainsleuth.store.db import transaction

INSTALL_HINT = "pip install 'chainsleuth[spark]'"


def require_pyspark() -> None:
    """Fail with the install line when PySpark is missing."""
    try:
        import pyspark  # noqa: F401
    except ImportError as exc:
        raise InputError(f"--engine spark needs PySpark; install it with: {INSTALL_HINT}") from exc


def session(master: str) -> Any:
    """A Spark session on `master` (`local[*]`, `local[2]`, `spark://host:7077`, ...)."""
    require_pyspark()
    from pyspark.sql import SparkSession

    return (
        SparkSession.builder.master(master)
        .appName("chainsleuth-cluster")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2" if master.startswith("local") else "200")
        .getOrCreate()
    )


def _large_star(edges: Any, f: Any) -> Any:
    """Each node links its larger neighbours to the smallest of its neighbourhood."""
    both = edges.unionByName(edges.selectExpr("dst AS src", "src AS dst")).distinct()
    low = both.groupBy("src").agg(f.least(f.min("dst"), f.col("src")).alias("m"))
    return (
        both.join(low, "src")
        .where(f.col("dst") > f.col("src"))
        .selectExpr("dst AS src", "m AS dst")
        .distinct()
    )


def _small_star(edges: Any, f: Any) -> Any:
    """Each node links itself and its smaller neighbours to the smallest of them."""
    down = edges.selectExpr("greatest(src, dst) AS src", "least(src, dst) AS dst").distinct()
    down = down.where(f.col("src") != f.col("dst"))
    low = down.groupBy("src").agg(f.min("dst").alias("m"))
    neighbours = down.join(low, "src").selectExpr("dst AS src", "m AS dst")
    return (
        neighbours.unionByName(low.selectExpr("src", "m AS dst"))
        .where(f.col("src") != f.col("dst"))
        .distinct()
    )


def components(edges: Any) -> Any:
    """(address_id, cluster_id) for every linked address: its component's smallest id."""
    from pyspark.sql import functions as f

    current = edges.selectExpr("address_id_a AS src", "address_id_b AS dst").localCheckpoint()
    while True:
        nxt = _small_star(_large_star(current, f), f).localCheckpoint()
        stable = nxt.count() == current.count() and nxt.exceptAll(current).isEmpty()
        current = nxt
        if stable:
            break
    pointers = current.unionByName(current.selectExpr("dst AS src", "dst"))
    return (
        pointers.groupBy("src")
        .agg(f.min("dst").alias("cluster_id"))
        .selectExpr("src AS address_id", "cluster_id")
    )


def spark_job(spark: Any, parquet: Path, w: Window, names: list[str], out: Path) -> None:
    """Read the export, make links and components, write them under `out` as Parquet."""
    from pyspark.sql import functions as f

    for table in sorted(p for p in parquet.iterdir() if p.is_dir()):
        spark.read.parquet(str(table)).createOrReplaceTempView(table.name)
    if uses_utxo(names):
        found = spark.sql(detection_sql(w)).withColumn("chain", f.lit(w.chain)).localCheckpoint()
        found.where(f.col("kind") != TX0).createOrReplaceTempView(w.coinjoins)
        found.where(f.col("kind") == TX0).createOrReplaceTempView(w.premixes)
        found.write.mode("overwrite").parquet(str(out / "detected"))
    links = None
    for build, chosen in families(names):
        made = spark.sql(build(w, chosen))
        links = made if links is None else links.unionByName(made)
    assert links is not None
    links = links.localCheckpoint()
    links.write.mode("overwrite").parquet(str(out / "links"))
    components(links).write.mode("overwrite").parquet(str(out / "clusters"))


def _load(con: duckdb.DuckDBPyConnection, chain: str, out: Path) -> int:
    """Put the job's links and CoinJoins in the store; return the CoinJoin count."""
    insert_sql_links(con, "cluster_links", chain, f"read_parquet('{out / 'links'}/*.parquet')")
    detected = list((out / "detected").glob("*.parquet"))
    if not detected:
        return 0
    source = f"read_parquet('{out / 'detected'}/*.parquet')"
    con.execute(
        f"INSERT INTO coinjoin_txs SELECT ?, block_height, tx_hash, kind FROM {source}"
        f" WHERE kind <> '{TX0}'",
        [chain],
    )
    con.execute(
        f"INSERT INTO premix_txs SELECT ?, block_height, tx_hash FROM {source}"
        f" WHERE kind = '{TX0}'",
        [chain],
    )
    rows = con.execute(f"SELECT count(*) FROM {source} WHERE kind <> '{TX0}'").fetchall()
    return int(rows[0][0])


def run_spark(
    con: duckdb.DuckDBPyConnection,
    chain: str,
    names: list[str],
    parquet: Path,
    *,
    master: str = "local[*]",
) -> engine.RunSummary:
    """Cluster `chain` on Spark from the Parquet export at `parquet`; store the result."""
    started = time.perf_counter()
    spark = session(master)
    first, tip, tip_hash = engine.chain_span(con, chain)
    summary = engine.RunSummary(chain, "full", sorted(names), first, tip)
    summary.notes.append(f"engine: spark ({master})")
    with tempfile.TemporaryDirectory(prefix="chainsleuth-spark-") as tmp:
        out = Path(tmp)
        spark_job(spark, parquet, Window(chain, first, tip), names, out)
        with transaction(con):
            engine.forget(con, chain, first)
            summary.coinjoins = _load(con, chain, out)
            summary.links = int(
                con.execute(
                    "SELECT count(*) FROM cluster_links WHERE chain = ?", [chain]
                ).fetchall()[0][0]
            )
            stored = partition.load(con, chain)
            found = con.sql(
                f"SELECT address_id, cluster_id FROM read_parquet('{out / 'clusters'}/*.parquet')"
            ).to_arrow_table()
            labels = DisjointSets.singletons(len(stored.index)).labels
            nodes = stored.index.nodes(found.column(0).to_numpy().astype(np.int64))
            labels[nodes] = stored.index.nodes(found.column(1).to_numpy().astype(np.int64))
            engine.commit(con, summary, stored, DisjointSets(labels), tip_hash)
    summary.seconds = round(time.perf_counter() - started, 3)
    return summary
