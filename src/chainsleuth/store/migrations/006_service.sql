-- Screening service (issue 8): precomputed exposures, API keys, the audit trail,
-- watchlists and alerts.

-- Value each address received, per hop from a risky entity and per risk concept
-- (policy-independent: scores apply the policy's weights and decay at request time).
CREATE TABLE exposures (
    chain      VARCHAR NOT NULL,
    address_id BIGINT  NOT NULL,
    concept    VARCHAR NOT NULL,    -- risk concept of the source entity (sanction, mixing, ...)
    hop        INTEGER NOT NULL,    -- 1 = received straight from the risky entity
    tainted    DOUBLE  NOT NULL,    -- haircut-tainted value received, base units
    received   HUGEINT NOT NULL     -- everything the address received, base units
);

-- Entities carrying a risk concept, with the tag that gives it (direct exposure).
CREATE TABLE risky_addresses (
    chain      VARCHAR NOT NULL,
    address_id BIGINT  NOT NULL,
    concept    VARCHAR NOT NULL,
    entity     VARCHAR NOT NULL,
    label      VARCHAR NOT NULL,
    source     VARCHAR NOT NULL,
    confidence VARCHAR NOT NULL,
    confidence_level INTEGER NOT NULL,
    tagged_address VARCHAR NOT NULL  -- the address whose tag names the entity
);

CREATE TABLE exposure_runs (
    chain       VARCHAR PRIMARY KEY,
    hops        INTEGER NOT NULL,
    last_height BIGINT,
    addresses   BIGINT NOT NULL,
    computed_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);

CREATE SEQUENCE api_key_seq START 1;
CREATE TABLE api_keys (
    key_id     BIGINT PRIMARY KEY,
    name       VARCHAR NOT NULL,
    prefix     VARCHAR NOT NULL,    -- first characters, to recognise a key in lists
    salt       VARCHAR NOT NULL,
    hash       VARCHAR NOT NULL,    -- PBKDF2-HMAC-SHA256 of the key with the salt
    scopes     VARCHAR[] NOT NULL,
    rate_per_minute INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    revoked_at TIMESTAMP
);

CREATE SEQUENCE audit_seq START 1;
CREATE TABLE audit (             -- append-only: the service never updates or deletes rows
    audit_id       BIGINT PRIMARY KEY,
    key_id         BIGINT,
    time           TIMESTAMP NOT NULL,
    endpoint       VARCHAR NOT NULL,
    request        JSON NOT NULL,
    score          INTEGER,
    decision       VARCHAR,         -- level for screening, allow/deny for the guard
    policy_version VARCHAR NOT NULL,
    result         JSON NOT NULL
);

CREATE SEQUENCE watchlist_seq START 1;
CREATE TABLE watchlists (
    watchlist_id BIGINT PRIMARY KEY,
    name         VARCHAR NOT NULL,
    webhooks     VARCHAR[] NOT NULL DEFAULT [],
    secret       VARCHAR NOT NULL,  -- HMAC-SHA256 key for webhook signatures
    created_at   TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE TABLE watchlist_items (
    watchlist_id BIGINT NOT NULL,
    kind         VARCHAR NOT NULL,  -- address | entity | actor
    chain        VARCHAR,
    value        VARCHAR NOT NULL,
    note         VARCHAR
);

CREATE SEQUENCE alert_seq START 1;
CREATE TABLE alerts (
    alert_id     BIGINT PRIMARY KEY,
    watchlist_id BIGINT,
    chain        VARCHAR NOT NULL,
    block_height BIGINT NOT NULL,
    tx_hash      VARCHAR NOT NULL,
    kind         VARCHAR NOT NULL,  -- watched-outflow | watched-inflow | high-exposure-deposit
    detail       JSON NOT NULL,
    created_at   TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE TABLE alert_deliveries (
    alert_id   BIGINT NOT NULL,
    url        VARCHAR NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    status     VARCHAR NOT NULL,    -- pending | delivered | failed
    last_error VARCHAR,
    next_try   TIMESTAMP,
    delivered_at TIMESTAMP
);
