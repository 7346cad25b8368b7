-- Tracing index (issue 6): the UTXO spend graph keyed by integers, and the custodial
-- endpoints by address id, derived from blocks/txs/inputs/outputs and tags/clusters so a
-- trace hop is a lookup on sorted integer keys, not a join on 64-character hashes.
-- Filled and kept current by `chainsleuth.analytics.tracing.index.refresh` (appends new
-- blocks, cuts back to the fork after a reorg); never written by anything else.

-- The blocks the index covers, with their hash (a mismatch with `blocks` is a reorg) and
-- the id of their first transaction (ids follow height, then position in the block).
CREATE TABLE trace_blocks (
    chain    VARCHAR NOT NULL,
    height   BIGINT  NOT NULL,
    hash     VARCHAR NOT NULL,
    first_tx BIGINT  NOT NULL
);

-- One row per transaction, in id order. hash_key = md5_number_upper(tx_hash): finding a
-- transaction by hash filters on this integer first (a scan of integers, not of strings).
CREATE TABLE trace_txs (
    chain        VARCHAR   NOT NULL,
    tx_id        BIGINT    NOT NULL,
    hash_key     UBIGINT   NOT NULL,
    tx_hash      VARCHAR   NOT NULL,
    block_height BIGINT    NOT NULL,
    time         TIMESTAMP NOT NULL,
    fee          BIGINT    NOT NULL,   -- 0 where not computable (txs.fee NULL)
    is_coinbase  BOOLEAN   NOT NULL
);

-- Both sides of every transaction, in (tx_id, side, n) order. An input (side 0) links to
-- the coin it spends (link_tx NULL for a coinbase input, -1 when that coin's transaction
-- is not stored); an output (side 1) links to the input that spends it (NULL: unspent).
CREATE TABLE trace_coins (
    chain      VARCHAR  NOT NULL,
    tx_id      BIGINT   NOT NULL,
    side       TINYINT  NOT NULL,
    n          BIGINT   NOT NULL,
    value      BIGINT   NOT NULL,     -- satoshi; 0 for an input whose coin is unknown
    address_id BIGINT   NOT NULL,     -- -1 without address
    link_tx    BIGINT,
    link_n     BIGINT
);

-- Addresses of custodial entities (analytics.tracing.endpoints.CUSTODIAL) with the entity's
-- label, in address_id order; `trace_index_state.endpoints_key` says what it was built from.
CREATE TABLE trace_endpoints (
    chain      VARCHAR NOT NULL,
    address_id BIGINT  NOT NULL,
    entity     VARCHAR NOT NULL,
    label      VARCHAR NOT NULL,
    category   VARCHAR NOT NULL
);

CREATE TABLE trace_index_state (
    chain          VARCHAR PRIMARY KEY,
    endpoints_key  VARCHAR NOT NULL,   -- tag imports and clustering run the endpoints reflect
    max_address_id BIGINT  NOT NULL,   -- addresses up to this id are in trace_endpoints
    updated_at     TIMESTAMP NOT NULL DEFAULT current_timestamp
);
