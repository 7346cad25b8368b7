-- Address clustering (issue 4): the partition of each chain's addresses into entities, the
-- evidence that built it, the ids that vanished in merges, and the state for incremental runs.
-- A cluster's id is the smallest address_id among its members: it never changes as the
-- cluster grows (new addresses get larger ids), and a merge keeps the older of the two ids.

-- Every address of a chain that clustering has seen, with its entity (singletons included).
CREATE TABLE clusters (
    chain      VARCHAR NOT NULL,
    address_id BIGINT  NOT NULL,
    cluster_id BIGINT  NOT NULL
);

-- One row per link a heuristic made: the two addresses, the heuristic, the evidence tx.
CREATE TABLE cluster_links (
    chain        VARCHAR NOT NULL,
    address_id_a BIGINT  NOT NULL,
    address_id_b BIGINT  NOT NULL,
    heuristic    VARCHAR NOT NULL,     -- multi-input, change-fresh, deposit-address, ...
    tx_hash      VARCHAR NOT NULL,     -- the transaction that is the evidence
    block_height BIGINT  NOT NULL      -- height of the evidence (a reorg deletes by range)
);

-- Transactions read as CoinJoins (multi-input and change heuristics skip them).
CREATE TABLE coinjoin_txs (
    chain        VARCHAR NOT NULL,
    block_height BIGINT  NOT NULL,
    tx_hash      VARCHAR NOT NULL,
    kind         VARCHAR NOT NULL      -- wasabi1, wasabi2, whirlpool-mix, joinmarket, ...
);

-- Whirlpool tx0 (premix) transactions: one owner, but their outputs are not change.
CREATE TABLE premix_txs (
    chain        VARCHAR NOT NULL,
    block_height BIGINT  NOT NULL,
    tx_hash      VARCHAR NOT NULL
);

-- Cluster ids that vanished in a merge, and the id they resolve to now.
CREATE TABLE cluster_aliases (
    chain        VARCHAR NOT NULL,
    alias_id     BIGINT  NOT NULL,
    cluster_id   BIGINT  NOT NULL,
    block_height BIGINT,               -- tip when the merge was recorded
    merged_at    TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- What the last clustering run covered, so the next one only reads newer blocks.
CREATE TABLE cluster_state (
    chain       VARCHAR PRIMARY KEY,
    heuristics  VARCHAR NOT NULL,      -- comma-separated, sorted
    last_height BIGINT,
    last_hash   VARCHAR,
    addresses   BIGINT  NOT NULL,
    clusters    BIGINT  NOT NULL,
    updated_at  TIMESTAMP NOT NULL DEFAULT current_timestamp
);
