-- 011: the line ledger is keyed (HMAC with the secret, sinks/ledger.py) and knows whose line it
-- counted, so `forget --ip` can remove those entries. Entries written before are flagged
-- `legacy`; the first run after this migration replaces their unkeyed hashes (it holds the
-- secret, this file does not).
ALTER TABLE log_lines ADD COLUMN client_key VARCHAR;
ALTER TABLE log_lines ADD COLUMN legacy BOOLEAN DEFAULT false;
UPDATE log_lines SET legacy = true;
