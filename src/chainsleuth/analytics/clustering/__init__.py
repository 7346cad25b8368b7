"""Address clustering: heuristics that link addresses, union-find, stable ids, evaluation.

engine.run            the embedded (DuckDB) job, full or incremental
heuristics            registry: names, chains, defaults, `--heuristics` parsing
coinjoin              CoinJoin detection (excluded from multi-input and change)
multiinput, change    Bitcoin heuristics; ethereum: deposit addresses (papers cited),
                      as portable SQL (Spark SQL runs it; Ethereum runs it embedded too)
arrays, chainlet      the Bitcoin heuristics of the embedded engine, on integer arrays;
                      the window they read (`Chainlet`)
window, links         portable SQL windows; links written to the store
unionfind, dense      batch union-find (its hot loop in C); address ids to nodes
partition             stored partition, stable ids, merge log
explain               entity view and the evidence path between two addresses
evaluate, ablation    pairwise precision/recall; scoring heuristic sets on a store
export, spark         Parquet export and the same job on PySpark
"""
