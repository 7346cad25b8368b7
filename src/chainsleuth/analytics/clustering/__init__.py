"""Address clustering: heuristics that link addresses, union-find, stable ids, evaluation.

engine.run           the embedded (DuckDB) job, full or incremental
heuristics           registry of heuristics, defaults, `--heuristics` parsing
coinjoin             CoinJoin detection (excluded from multi-input and change)
multiinput, change   Bitcoin heuristics (papers cited in each)
unionfind            batch union-find over integer arrays
partition            stored partition, stable ids, merge log
explain              entity view and the evidence path between two addresses
evaluate             pairwise precision/recall against ground truth
spark                the same job on PySpark over the Parquet export
"""
