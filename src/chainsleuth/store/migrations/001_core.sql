-- Core tables shared by both chain families, and the UTXO tables (Bitcoin).
-- Rulebook: docs/schema.md. Every table has a `chain` column; hashes are lowercase hex
-- VARCHAR as block explorers show them; amounts are exact integers in base units.
CREATE SEQUENCE address_id_seq START 1;

CREATE TABLE addresses (
    chain      VARCHAR NOT NULL,
    address    VARCHAR NOT NULL,
    address_id BIGINT  NOT NULL
);

CREATE TABLE blocks (
    chain       VARCHAR NOT NULL,
    height      BIGINT  NOT NULL,
    hash        VARCHAR NOT NULL,
    parent_hash VARCHAR NOT NULL,
    time        TIMESTAMP NOT NULL,
    tx_count    INTEGER NOT NULL,
    PRIMARY KEY (chain, height)
);

CREATE TABLE txs (
    chain         VARCHAR NOT NULL,
    block_height  BIGINT  NOT NULL,
    tx_hash       VARCHAR NOT NULL,
    position      INTEGER NOT NULL,   -- index of the transaction in its block
    time          TIMESTAMP NOT NULL,
    version       BIGINT,
    locktime      BIGINT,
    size          INTEGER,
    weight        INTEGER,
    is_coinbase   BOOLEAN NOT NULL DEFAULT false,
    input_count   INTEGER,
    output_count  INTEGER,
    input_value   HUGEINT,            -- NULL where some prevout is unknown
    output_value  HUGEINT,
    fee           HUGEINT             -- base units; NULL where not computable
);

CREATE TABLE outputs (
    chain        VARCHAR NOT NULL,
    block_height BIGINT  NOT NULL,
    tx_hash      VARCHAR NOT NULL,
    n            INTEGER NOT NULL,
    address_id   BIGINT,              -- NULL for outputs without an address (OP_RETURN)
    value        BIGINT  NOT NULL,    -- satoshi
    script_type  VARCHAR NOT NULL,
    spent_by     VARCHAR,             -- tx_hash of the spending transaction
    spent_height BIGINT               -- block height of the spending transaction
);

CREATE TABLE inputs (
    chain        VARCHAR NOT NULL,
    block_height BIGINT  NOT NULL,
    tx_hash      VARCHAR NOT NULL,
    n            INTEGER NOT NULL,
    prev_tx_hash VARCHAR,             -- NULL for a coinbase input
    prev_n       BIGINT,
    address_id   BIGINT,              -- resolved from the spent output; NULL if unknown
    value        BIGINT,              -- satoshi; NULL if the spent output is unknown
    sequence     BIGINT
);

CREATE TABLE ingest_state (
    chain       VARCHAR PRIMARY KEY,
    source      VARCHAR NOT NULL,
    last_height BIGINT,
    last_hash   VARCHAR,
    updated_at  TIMESTAMP NOT NULL DEFAULT current_timestamp
);
