-- 018: existing customers (excluded from feeds) and the morning e-mail's deliveries.
-- A customer is a Business ID or a domain from an imported file (a CRM export); importing the same
-- file again replaces its rows. A delivery is one feed's e-mail for one report period: sent once,
-- a failure retried by later runs (a bounded number of attempts). Recipients' addresses are never stored.
CREATE TABLE IF NOT EXISTS customers (
    kind         VARCHAR NOT NULL,          -- business_id or domain
    value        VARCHAR NOT NULL,          -- 1234567-8 or example.fi
    source_file  VARCHAR NOT NULL,          -- the imported file's full path
    imported_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (kind, value, source_file)
);
CREATE TABLE IF NOT EXISTS deliveries (
    feed          VARCHAR NOT NULL,
    period_start  DATE NOT NULL,
    period_end    DATE NOT NULL,
    status        VARCHAR NOT NULL,         -- sent, failed (retried next run), gave_up
    attempts      INTEGER NOT NULL,
    sent_at       TIMESTAMPTZ,
    recipients    INTEGER NOT NULL,         -- how many, never who
    companies     INTEGER NOT NULL,
    message_id    VARCHAR,
    last_error    VARCHAR,                  -- one line, no address
    updated_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (feed, period_start, period_end)
);
