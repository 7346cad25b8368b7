-- A contract may be known without its creation block: ethereum-etl's `export_contracts`
-- lists contracts by address with `block_number` empty. Such rows keep a NULL height, so
-- a reorg rollback (which deletes by height) never removes them.
ALTER TABLE contracts ALTER COLUMN block_height DROP NOT NULL;
