-- 009: contacts from the site's forms and chat, and the privacy bookkeeping.
-- Contacts are personal data: they are kept out of every analyst view.
CREATE TABLE contacts (
    contact_id          VARCHAR PRIMARY KEY,   -- keyed hash of (email or phone or name, form, time)
    email_key           VARCHAR,               -- keyed hash of the normalised email: finds a person's rows
    company_id          VARCHAR,
    business_id         VARCHAR,
    name                VARCHAR,
    email               VARCHAR,
    phone               VARCHAR,
    position            VARCHAR,
    company_name        VARCHAR,
    form                VARCHAR,
    message             VARCHAR,
    marketing_consent   BOOLEAN,
    marketing_objection BOOLEAN NOT NULL DEFAULT false,
    submitted_at        TIMESTAMPTZ,
    source_file         VARCHAR,
    run_id              BIGINT
);

-- Erased subjects, as keyed hashes (or a Business ID's keyed hash): later runs never re-import them.
CREATE TABLE suppressions (
    kind       VARCHAR NOT NULL,               -- email | ip | visitor | business_id
    key        VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (kind, key)
);

-- Objections to direct marketing, kept even when the rows they flag are re-imported.
CREATE TABLE marketing_objections (
    kind       VARCHAR NOT NULL,               -- email | business_id
    key        VARCHAR NOT NULL,               -- keyed hash
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (kind, key)
);

-- What the data protection contact did, without the personal data itself.
CREATE TABLE audit_log (
    acted_at      TIMESTAMPTZ NOT NULL,
    action        VARCHAR NOT NULL,            -- forget | subject-export | object | retention
    subject_kind  VARCHAR,                     -- email | ip | visitor-key | business-id
    rows_affected JSON NOT NULL
);

-- Aggregates that outlive visit-level retention.
CREATE TABLE company_daily_totals (
    company_id VARCHAR NOT NULL,
    day        DATE NOT NULL,
    visits     INTEGER NOT NULL,
    pageviews  INTEGER NOT NULL,
    visitors   INTEGER NOT NULL,
    PRIMARY KEY (company_id, day)
);
