-- 019: what was pushed to the CRM webhook: one row per company, day (the configured zone's) and target.
-- A target is a keyed hash of the webhook URL (the URL is a credential: never stored); `fingerprint` is a
-- hash of the lead's score and last visit when it was sent, so a rerun sends only new or changed leads,
-- and a company at most once a day. `status` is `sent` or `failed` (retried by the next run while
-- `attempts` is under the limit); `last_error` is one line naming the webhook's origin only.
CREATE TABLE pushes (
    company_id  VARCHAR NOT NULL,
    day         DATE NOT NULL,
    target      VARCHAR NOT NULL,
    format      VARCHAR NOT NULL,
    status      VARCHAR NOT NULL,
    attempts    INTEGER NOT NULL,
    pushed_at   TIMESTAMPTZ NOT NULL,
    score       DOUBLE,
    last_visit  TIMESTAMPTZ,
    fingerprint VARCHAR NOT NULL,
    last_error  VARCHAR,
    PRIMARY KEY (company_id, day, target)
);
