"""Token value flows decoded from logs, in SQL over `raw_eth_logs`.

Events and the shapes accepted (topic count, data words of 32 bytes):
- ERC-20 `Transfer(address indexed, address indexed, uint256)`: 3 topics, 1 word.
- ERC-721 `Transfer(address indexed, address indexed, uint256 indexed)`: 4 topics, no data;
  stored as amount 1 with the token id in `token_id`.
- Early tokens' `Transfer(address, address, uint256)` with nothing indexed: 1 topic,
  3 words; stored as a token transfer of the amount (standard left unknown).
- ERC-1155 `TransferSingle(operator, from, to, id, value)`: 4 topics, 2 words;
  `TransferBatch(operator, from, to, ids[], values[])`: 4 topics, ABI-encoded arrays, one
  transfer per item (position `log:N.i`).
- WETH `Deposit(dst, wad)` / `Withdrawal(src, wad)` of the wrapped-native contracts in
  `WRAPPED_NATIVE` (the same signatures are common elsewhere): a mint from / burn to the
  zero address, as ERC-20 mints and burns are.
Other shapes of these events are not value flows we can read: they are counted and
reported, not guessed. A log without topics (NULL, not an empty list) is malformed input.

Output: temp table `_token_events` (block_height, tx_hash, position, asset, from_address,
to_address, amount_word, id_word, standard); `amount_word` NULL means 1 (ERC-721), words
are 64 hex digits (converted exactly by `chains.ethereum.flows`).
"""

from __future__ import annotations

import duckdb

from chainsleuth.errors import ParseError

TRANSFER = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
TRANSFER_SINGLE = "0xc3d58168c5ae7397731d063d5bbf3d657854427343f4c083240f7aacaa2d0f62"
TRANSFER_BATCH = "0x4a39dc06d4c0dbc64b70af90fd698a233a518aa5d07e595d983b8c0526c8f7fb"
DEPOSIT = "0xe1fffcc4923d04b559f4d29a8bfc6cda04eb5b0d3c460751c2402c5c5cc9109c"
WITHDRAWAL = "0x7fcf532c15f0a6db0bd6d0e038bea71d30d808c7d98cb3bf7268a95bf5081b65"
ZERO_ADDRESS = "0x" + "0" * 40
WETH = "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
WRAPPED_NATIVE = frozenset({WETH})

MACROS = """
CREATE OR REPLACE TEMP MACRO eth_word(d, i) AS substr(d, 3 + 64 * i, 64);
CREATE OR REPLACE TEMP MACRO eth_topic_address(t) AS '0x' || substr(t, 27, 40);
CREATE OR REPLACE TEMP MACRO eth_word_address(w) AS '0x' || substr(w, 25, 40);
CREATE OR REPLACE TEMP MACRO eth_word_small(w) AS
    CASE WHEN substr(w, 1, 48) = repeat('0', 48) THEN TRY_CAST('0x' || w AS BIGINT) END;
"""

_LOGS_SQL = f"""
CREATE OR REPLACE TEMP TABLE _logs AS
SELECT block_height, tx_hash, log_index, address, data, topics, len(topics) AS nt,
       topics[1] AS t0, (length(data) - 2) // 64 AS nw,
       (length(data) - 2) % 64 = 0 AS aligned
FROM raw_eth_logs
WHERE topics[1] IN ('{TRANSFER}', '{TRANSFER_SINGLE}', '{TRANSFER_BATCH}')
   OR (topics[1] IN ('{DEPOSIT}', '{WITHDRAWAL}') AND list_contains($wrapped, address))
"""

_EVENTS_SQL = f"""
CREATE OR REPLACE TEMP TABLE _token_events AS
SELECT block_height, tx_hash, 'log:' || log_index AS position, address AS asset,
       eth_topic_address(topics[2]) AS from_address, eth_topic_address(topics[3]) AS to_address,
       eth_word(data, 0) AS amount_word, NULL AS id_word, 'erc20' AS standard, log_index
FROM _logs WHERE t0 = '{TRANSFER}' AND nt = 3 AND nw = 1 AND aligned
UNION ALL
SELECT block_height, tx_hash, 'log:' || log_index, address,
       eth_topic_address(topics[2]), eth_topic_address(topics[3]),
       NULL, substr(topics[4], 3), 'erc721', log_index
FROM _logs WHERE t0 = '{TRANSFER}' AND nt = 4 AND data IN ('0x', '')
UNION ALL
SELECT block_height, tx_hash, 'log:' || log_index, address,
       eth_word_address(eth_word(data, 0)), eth_word_address(eth_word(data, 1)),
       eth_word(data, 2), NULL, NULL, log_index
FROM _logs WHERE t0 = '{TRANSFER}' AND nt = 1 AND nw = 3 AND aligned
UNION ALL
SELECT block_height, tx_hash, 'log:' || log_index, address,
       eth_topic_address(topics[3]), eth_topic_address(topics[4]),
       eth_word(data, 1), eth_word(data, 0), 'erc1155', log_index
FROM _logs WHERE t0 = '{TRANSFER_SINGLE}' AND nt = 4 AND nw = 2 AND aligned
UNION ALL
SELECT block_height, tx_hash, 'log:' || log_index || '.' || i, address,
       eth_topic_address(topics[3]), eth_topic_address(topics[4]),
       eth_word(data, ov + 1 + i), eth_word(data, oi + 1 + i), 'erc1155', log_index
FROM (
    SELECT *, unnest(range(n)) AS i FROM (
        SELECT *, eth_word_small(eth_word(data, oi)) AS n
        FROM (SELECT *, eth_word_small(eth_word(data, 0)) // 32 AS oi,
                        eth_word_small(eth_word(data, 1)) // 32 AS ov
              FROM _logs WHERE t0 = '{TRANSFER_BATCH}' AND nt = 4 AND nw >= 4 AND aligned)
        WHERE oi < nw AND ov < nw
    )
    WHERE n = eth_word_small(eth_word(data, ov)) AND oi + n < nw AND ov + n < nw
)
UNION ALL
SELECT block_height, tx_hash, 'log:' || log_index, address,
       CASE WHEN t0 = '{DEPOSIT}' THEN '{ZERO_ADDRESS}' ELSE eth_topic_address(topics[2]) END,
       CASE WHEN t0 = '{DEPOSIT}' THEN eth_topic_address(topics[2]) ELSE '{ZERO_ADDRESS}' END,
       eth_word(data, 0), NULL, 'erc20', log_index
FROM _logs WHERE t0 IN ('{DEPOSIT}', '{WITHDRAWAL}') AND nt = 2 AND nw = 1 AND aligned
"""


def check_logs(con: duckdb.DuckDBPyConnection) -> None:
    """Raise ParseError naming block/tx/log for a log without topics or a malformed topic."""
    bad = con.execute(
        """
        SELECT block_height, tx_hash, log_index,
               CASE WHEN topics IS NULL THEN 'has no topics field'
                    WHEN NOT regexp_full_match(coalesce(data, ''), '0x[0-9a-f]*')
                        THEN 'has data that is not lowercase 0x-hex'
                    ELSE 'has a topic that is not 32 bytes of lowercase hex' END
        FROM raw_eth_logs
        WHERE topics IS NULL OR NOT regexp_full_match(
            coalesce(data, '') || '|' || array_to_string(topics, ','),
            '0x[0-9a-f]*\\|(0x[0-9a-f]{64}(,0x[0-9a-f]{64})*)?')
        ORDER BY block_height, tx_hash, log_index LIMIT 1
        """
    ).fetchall()
    if bad:
        h, tx, i, what = bad[0]
        raise ParseError(f"block {h} tx {tx} log {i} {what}")


def decode_logs(con: duckdb.DuckDBPyConnection, wrapped_native: frozenset[str]) -> int:
    """Fill `_token_events` from `raw_eth_logs`; return how many token events were skipped.

    Skipped: Transfer/TransferSingle/TransferBatch logs whose shape fits no standard above.
    """
    check_logs(con)
    con.execute(MACROS)
    con.execute(_LOGS_SQL, {"wrapped": sorted(wrapped_native)})
    con.execute(_EVENTS_SQL)
    row = con.execute(
        "SELECT (SELECT count(*) FROM _logs) -"
        " (SELECT count(DISTINCT (tx_hash, log_index)) FROM _token_events)"
    ).fetchall()
    con.execute("DROP TABLE _logs")
    return int(row[0][0])
