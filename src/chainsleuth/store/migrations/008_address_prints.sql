-- Fingerprints of the stored addresses (derived; docs/schema.md): the low 64 bits of the
-- MD5 of each address string, as `md5_number_upper` gives them. The screening service
-- keeps this table topped up and loads it at start instead of hashing every address
-- again (seconds on a large store). Rows are only appended; address ids are never reused.
CREATE TABLE address_prints (
    chain      VARCHAR NOT NULL,
    address_id BIGINT  NOT NULL,
    print      UBIGINT NOT NULL
);
