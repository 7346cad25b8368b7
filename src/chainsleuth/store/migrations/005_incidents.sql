-- Incidents (from the curated YAML database or user files, `incidents import DIR`) and
-- daily USD prices (`prices import FILE`). An incident is not on one chain, so the chain
-- lives on its assets and seeds. Asset amounts are exact integers in base units (HUGEINT);
-- prices are exact decimals as written in the imported file, never floats.
CREATE TABLE incidents (
    incident_id        VARCHAR PRIMARY KEY,
    name               VARCHAR NOT NULL,
    date               DATE    NOT NULL,
    date_precision     VARCHAR NOT NULL,      -- day | month
    victim_name        VARCHAR NOT NULL,
    victim_type        VARCHAR NOT NULL,
    victim_country     VARCHAR,               -- ISO 3166-1 alpha-2, NULL when unknown
    usd_value          BIGINT,                -- whole USD at the time of the theft
    valuation          VARCHAR NOT NULL,      -- reported | daily_close | estimate
    valuation_note     VARCHAR,
    actor              VARCHAR NOT NULL,
    confidence         VARCHAR NOT NULL,      -- high | medium | low
    attributed_by      VARCHAR[] NOT NULL,
    disputed           BOOLEAN NOT NULL,
    attribution_note   VARCHAR,
    notes              VARCHAR,
    source_file        VARCHAR NOT NULL,
    imported_at        TIMESTAMP NOT NULL DEFAULT current_timestamp
);

CREATE TABLE incident_assets (
    incident_id VARCHAR NOT NULL,
    position    INTEGER NOT NULL,
    chain       VARCHAR NOT NULL,
    asset       VARCHAR,
    amount      VARCHAR,                      -- whole units, decimal text as written
    amount_base HUGEINT,                      -- exact base units; NULL when not known
    decimals    INTEGER,
    PRIMARY KEY (incident_id, position)
);

CREATE TABLE incident_seeds (
    incident_id VARCHAR NOT NULL,
    chain       VARCHAR NOT NULL,
    kind        VARCHAR NOT NULL,             -- address | txid
    value       VARCHAR NOT NULL,
    role        VARCHAR,
    PRIMARY KEY (incident_id, chain, kind, value)
);

CREATE TABLE incident_sources (
    incident_id VARCHAR NOT NULL,
    position    INTEGER NOT NULL,
    source      VARCHAR NOT NULL,             -- http(s) URL or doc:/github: reference
    PRIMARY KEY (incident_id, position)
);

CREATE TABLE prices_daily (
    asset     VARCHAR NOT NULL,               -- upper-case symbol: BTC, ETH
    date      DATE    NOT NULL,               -- UTC day
    close_usd DECIMAL(38, 12) NOT NULL,
    source    VARCHAR NOT NULL,               -- the imported file's name and shape
    PRIMARY KEY (asset, date)
);
