-- Pages of the tracing index (issue 6): the spend graph of migration 007 packed by runs of
-- transaction ids, so a trace hop reads the few pages holding its transactions instead of
-- scanning the row groups of `trace_coins` that hold them (DuckDB reads a whole row group
-- of each column it scans: ~120,000 rows for a hop's few hundred). A page is one row whose
-- payload holds both sides of `page_txs` consecutive transactions with their own fields
-- (layout: `chainsleuth.analytics.tracing.pages`). The payload is stored uncompressed: a
-- compressed blob column is decompressed whole for any row read, an uncompressed one row by
-- row. Derived from trace_txs/trace_coins and rebuilt from them (`pages.refresh`), never
-- edited by hand.
CREATE TABLE trace_pages (
    chain   VARCHAR NOT NULL,
    page    BIGINT  NOT NULL,       -- transactions page * page_txs .. (page + 1) * page_txs - 1
    payload BLOB    NOT NULL USING COMPRESSION uncompressed
);

-- How far the pages go: transactions below `upto` are paged, and a spend recorded in a page
-- counts only when the spending transaction is below `upto` too (later ones are read from
-- trace_coins, so pages stay right while new blocks are indexed and after a reorg).
CREATE TABLE trace_pages_state (
    chain    VARCHAR PRIMARY KEY,
    page_txs INTEGER NOT NULL,
    upto     BIGINT  NOT NULL
);
