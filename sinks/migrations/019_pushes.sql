-- 019: what was pushed to the CRM webhook: one row per company, day (the configured zone's) and target.
-- A target is a keyed hash of the webhook URL (the URL is a credential: never stored). `last_visit`,
-- `last_form_at` and `export_last_visit` are the lead's activity moments when it was sent: a rerun sends
-- a lead again only with later activity (never for a score that merely decays), and a company at most
-- once a day. `status` is `sent`, `failed` (the webhook failing: retried by the next run while `attempts`
-- is under the limit) or `rejected` (the webhook refused this lead itself, e.g. 400 invalid_blocks: not sent
-- again until the lead has later activity); `last_error` is one line naming the webhook's origin only.
CREATE TABLE pushes (
    company_id  VARCHAR NOT NULL,
    day         DATE NOT NULL,
    target      VARCHAR NOT NULL,
    format      VARCHAR NOT NULL,
    status      VARCHAR NOT NULL CHECK (status IN ('sent', 'failed', 'rejected')),
    attempts    INTEGER NOT NULL,
    pushed_at   TIMESTAMPTZ NOT NULL,
    score       DOUBLE,
    last_visit  TIMESTAMPTZ,
    last_form_at      TIMESTAMPTZ,
    export_last_visit TIMESTAMPTZ,
    last_error  VARCHAR,
    PRIMARY KEY (company_id, day, target)
);
