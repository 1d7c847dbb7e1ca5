-- 016: which list file an operator's or licensed list row came from, and the kind the list said.
-- A re-import of the same list (same source, same file) replaces its rows: the rows it no longer holds
-- are removed. The list's own kind survives an operator override, so clearing the override restores it.
-- Rows imported before this migration have no list file (a re-import adopts the ranges it still holds;
-- `leadpipe networks remove` removes the others).
ALTER TABLE networks ADD COLUMN list_file VARCHAR;
ALTER TABLE networks ADD COLUMN list_kind VARCHAR;
UPDATE networks SET list_kind = kind WHERE source IN ('operator', 'licensed') AND kind_rule = source || '-list';
