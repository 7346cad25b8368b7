-- Tracing pages carry the address strings of their outputs (issue 6): a trace names the
-- addresses of its edges from the pages it read instead of scanning the address
-- dictionary for them. The pages' layout changed (`chainsleuth.analytics.tracing.pages`),
-- so the pages written before are dropped; the next trace on the store opened writable
-- writes them again (`pages.refresh`), reading `trace_coins` until then.
DELETE FROM trace_pages;
DELETE FROM trace_pages_state;

-- The hash keys of the paged transactions (those below trace_pages_state.upto), written
-- in (chain, hash_key) order with the pages: a trace finds its seed transaction in the
-- one row group whose key range holds it, instead of scanning the keys of every
-- transaction in trace_txs (7 ms at 10M). Transactions from `upto` on are looked up in
-- trace_txs.
CREATE TABLE trace_hash_keys (
    chain    VARCHAR NOT NULL,
    hash_key UBIGINT NOT NULL,   -- md5_number_upper(tx_hash), as in trace_txs
    tx_id    BIGINT  NOT NULL
);
