-- Account chains (Ethereum): value flows, Ethereum-specific block and transaction fields,
-- created contracts and token metadata. Blocks, transactions and addresses also go into
-- the shared `blocks`/`txs`/`addresses` tables of 001 with chain = 'ethereum'.
--
-- uint256 rule (docs/schema.md): an amount is `amount HUGEINT` when it is below 2^127;
-- otherwise `amount` is NULL and `amount_raw` holds the exact decimal digits. Exactly one of
-- the two is set. Exact sums: sum(coalesce(amount::BIGNUM, amount_raw::BIGNUM)).

-- Every value flow: a transaction's value (native), a call with value inside it (internal),
-- a token event (token). Failed flows are kept with success = false and count nowhere.
CREATE TABLE transfers (
    chain        VARCHAR NOT NULL,
    block_height BIGINT  NOT NULL,
    time         TIMESTAMP NOT NULL,
    tx_hash      VARCHAR NOT NULL,
    position     VARCHAR NOT NULL,  -- 'tx' | 'trace:0,2' (trace address) | 'log:12' | 'log:12.3'
    kind         VARCHAR NOT NULL,  -- native | internal | token
    asset        VARCHAR NOT NULL,  -- 'ETH' or the token contract (lowercase address)
    from_id      BIGINT,            -- NULL: no sender (never for ETH; the zero address mints)
    to_id        BIGINT,
    amount       HUGEINT,           -- base units (wei, token units) when < 2^127, else NULL
    amount_raw   VARCHAR,           -- exact decimal digits when amount is NULL
    token_id     VARCHAR,           -- ERC-721 / ERC-1155 token id, decimal digits
    success      BOOLEAN NOT NULL
);

-- Ethereum fields of each block, and whether its internal transfers are known.
CREATE TABLE eth_blocks (
    chain            VARCHAR NOT NULL,
    height           BIGINT  NOT NULL,
    miner_id         BIGINT,
    base_fee_per_gas HUGEINT,
    gas_used         BIGINT,
    gas_limit        BIGINT,
    internal_source  VARCHAR,           -- trace_block | debug_traceBlockByNumber | etl
    internal_available BOOLEAN NOT NULL, -- false: internal transfers of this block unknown
    PRIMARY KEY (chain, height)
);

-- Ethereum fields of each transaction (the generic row is in `txs`).
CREATE TABLE eth_txs (
    chain                    VARCHAR NOT NULL,
    block_height             BIGINT  NOT NULL,
    tx_hash                  VARCHAR NOT NULL,
    from_id                  BIGINT  NOT NULL,
    to_id                    BIGINT,            -- NULL: contract creation
    value                    HUGEINT NOT NULL,  -- wei (bounded by the ETH supply)
    nonce                    BIGINT,
    gas                      BIGINT,
    gas_price                HUGEINT,
    max_fee_per_gas          HUGEINT,
    max_priority_fee_per_gas HUGEINT,
    tx_type                  INTEGER,
    method_id                VARCHAR,           -- first 4 bytes of the input, 0x-hex
    gas_used                 BIGINT,
    effective_gas_price      HUGEINT,
    fee                      HUGEINT,           -- gas_used * effective_gas_price (wei)
    status                   INTEGER,           -- receipt status; NULL before Byzantium
    success                  BOOLEAN NOT NULL,
    contract_id              BIGINT             -- address created by this transaction
);

-- Addresses that are contracts (created by a transaction or a create trace).
CREATE TABLE contracts (
    chain        VARCHAR NOT NULL,
    address_id   BIGINT  NOT NULL,
    block_height BIGINT  NOT NULL,
    tx_hash      VARCHAR,
    creator_id   BIGINT
);

-- Token metadata; standard is erc20 | erc721 | erc1155 (from the events seen, or a source).
CREATE TABLE tokens (
    chain    VARCHAR NOT NULL,
    contract VARCHAR NOT NULL,
    symbol   VARCHAR,
    name     VARCHAR,
    decimals INTEGER,
    standard VARCHAR,
    source   VARCHAR,                   -- etl | eth_call | token_list | events
    PRIMARY KEY (chain, contract)
);
