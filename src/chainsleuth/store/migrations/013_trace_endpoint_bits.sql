-- Custodial address ids as bits (issue 6): one row per run of 32,768 address ids holding
-- a custodial one, a bit per id (`analytics.tracing.endpoints.BITS_BLOCK`). A trace reads
-- these rows once (2 MB for 16 million addresses; stored uncompressed) to tell whether
-- the addresses it reaches are custodial, instead of scanning `trace_endpoints` once per
-- hop; the entity and label of the ones that are come from `trace_endpoints` in
-- one query at the end of the trace. Derived from `trace_endpoints` whenever that changes.
CREATE TABLE trace_endpoint_bits (
    chain VARCHAR NOT NULL,
    block BIGINT  NOT NULL,   -- address ids block * 32768 .. (block + 1) * 32768 - 1
    bits  BLOB    NOT NULL USING COMPRESSION uncompressed
);

-- Rebuild the endpoints (and with them the bits) on the next trace of a writable store.
DELETE FROM trace_endpoints;
DELETE FROM trace_index_state;
