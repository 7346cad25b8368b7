-- How many blocks at or below `last_height` the last clustering run saw. A block stored
-- later below that height (an earlier range ingested afterwards, a gap filled) changes the
-- count, so the next run rebuilds instead of resuming above it. NULL (stores clustered
-- before this column): the next run rebuilds once.
ALTER TABLE cluster_state ADD COLUMN blocks BIGINT;
