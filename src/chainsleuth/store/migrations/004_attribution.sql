-- Attribution: tags (who controls an address or a transaction, who says so, how sure),
-- actors, and the bookkeeping of imports so a re-import reports what it added and removed.
-- Tags are keyed by (chain, address) strings, not address ids: a tag may name an address
-- the store has not ingested yet, and applies as soon as it is (join via `addresses`).
CREATE TABLE tags (
    chain              VARCHAR NOT NULL,   -- bitcoin, ethereum, tron, ... (currencies.csv)
    address            VARCHAR,            -- stored form (ethereum lowercase); NULL for a tx tag
    tx_hash            VARCHAR,            -- lowercase hex; NULL for an address tag
    currency           VARCHAR NOT NULL,   -- as the source named it, upper-case (BTC, USDT)
    label              VARCHAR NOT NULL,
    category           VARCHAR,            -- concept id (data/attribution/concepts.csv)
    abuse              VARCHAR,            -- concept id
    actor              VARCHAR,            -- actors.id
    source             VARCHAR NOT NULL,   -- URL or document reference
    confidence         VARCHAR NOT NULL,   -- named level (data/attribution/confidence.csv)
    confidence_level   INTEGER NOT NULL,   -- its numeric level, 0..100
    is_cluster_definer BOOLEAN NOT NULL DEFAULT false,
    is_public          BOOLEAN NOT NULL DEFAULT true,
    lastmod            TIMESTAMP,
    context            VARCHAR,
    concepts           VARCHAR[],
    tag_type           VARCHAR,
    programs           VARCHAR,            -- sanctions programs (OFAC: "CYBER2, DPRK3")
    published          DATE,               -- publication date of the source list
    tagpack            VARCHAR NOT NULL,   -- dataset of origin (tag_imports.tagpack)
    line               INTEGER             -- line or row of the tag in its source file
);
CREATE INDEX tags_address_idx ON tags (chain, address);

CREATE TABLE tag_imports (
    tagpack     VARCHAR PRIMARY KEY,        -- dataset key: a pack's file stem, ofac-sdn, ...
    kind        VARCHAR NOT NULL,           -- tagpack, ofac-xml, ofac-list, etherscan-labels, ...
    file        VARCHAR NOT NULL,
    title       VARCHAR,
    creator     VARCHAR,
    published   DATE,
    tag_count   INTEGER NOT NULL,
    added       INTEGER NOT NULL,
    removed     INTEGER NOT NULL,
    changed     INTEGER NOT NULL,
    imported_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);

CREATE TABLE actors (
    id            VARCHAR PRIMARY KEY,
    label         VARCHAR NOT NULL,
    aliases       VARCHAR[] NOT NULL DEFAULT [],
    country       VARCHAR,                  -- ISO 3166-1 alpha-2 of the main jurisdiction
    jurisdictions VARCHAR[] NOT NULL DEFAULT [],
    categories    VARCHAR[] NOT NULL DEFAULT [],
    uri           VARCHAR,
    sources       VARCHAR[] NOT NULL DEFAULT [],
    actorpack     VARCHAR NOT NULL           -- where the record came from
);
