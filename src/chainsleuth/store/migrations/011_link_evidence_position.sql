-- A cluster link's evidence transaction is named by its place in the chain, (block_height,
-- tx_position) — the position of the transaction in its block, as in `txs.position` —
-- instead of its 64-character hash: a clustering run writes millions of links, and the
-- hash made up most of what it wrote. The hash is one join away (`txs`), and a reorg
-- still deletes links by height.
ALTER TABLE cluster_links ADD COLUMN tx_position INTEGER;
UPDATE cluster_links SET tx_position = t.position FROM txs t
WHERE t.chain = cluster_links.chain AND t.block_height = cluster_links.block_height
  AND t.tx_hash = cluster_links.tx_hash;
ALTER TABLE cluster_links DROP COLUMN tx_hash;
