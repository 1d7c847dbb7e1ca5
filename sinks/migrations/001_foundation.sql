-- 001: the tables of PRODUCT.md, and the state the web-log ingest keeps.
-- Times are TIMESTAMPTZ (instants; shown in the session's time zone, stored as UTC).

CREATE SEQUENCE run_ids START 1;

CREATE TABLE runs (
    run_id      BIGINT PRIMARY KEY DEFAULT nextval('run_ids'),
    command     VARCHAR NOT NULL,
    started_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    status      VARCHAR NOT NULL,          -- running | success | failed
    stats       JSON,
    error       VARCHAR
);

CREATE TABLE rejects (
    run_id  BIGINT NOT NULL,
    source  VARCHAR NOT NULL,              -- the file or URL the line came from
    line_no BIGINT,                        -- NULL for a whole-file problem
    reason  VARCHAR NOT NULL,
    sample  VARCHAR                        -- the line, IP addresses masked, cut at 500 characters
);

CREATE TABLE companies (
    company_id       VARCHAR PRIMARY KEY,
    business_id      VARCHAR UNIQUE,
    name             VARCHAR NOT NULL,
    country          VARCHAR,
    kind             VARCHAR NOT NULL DEFAULT 'unknown'
        CHECK (kind IN ('company', 'isp', 'mobile', 'hosting', 'education', 'government', 'unknown')),
    company_form     VARCHAR,
    industry_code    VARCHAR,
    industry         VARCHAR,
    city             VARCHAR,
    website          VARCHAR,
    register_status  VARCHAR,
    match_method     VARCHAR,
    match_confidence DOUBLE,
    first_seen       TIMESTAMPTZ,
    last_seen        TIMESTAMPTZ
);

CREATE TABLE networks (
    network_id VARCHAR PRIMARY KEY,
    start_ip   VARCHAR NOT NULL,
    end_ip     VARCHAR NOT NULL,
    cidr       VARCHAR,
    netname    VARCHAR,
    org_name   VARCHAR,
    country    VARCHAR,
    kind       VARCHAR NOT NULL DEFAULT 'unknown'
        CHECK (kind IN ('company', 'isp', 'mobile', 'hosting', 'education', 'government', 'unknown')),
    company_id VARCHAR,
    source     VARCHAR NOT NULL,
    fetched_at TIMESTAMPTZ,
    expires_at TIMESTAMPTZ
);

CREATE TABLE visits (
    visit_id      VARCHAR PRIMARY KEY,     -- keyed hash of (visitor_key, started_at): stable across reruns
    company_id    VARCHAR,
    network_id    VARCHAR,
    visitor_key   VARCHAR NOT NULL,        -- keyed hash of client address + user agent
    client_key    VARCHAR,                 -- keyed hash of the client address alone (erasure by IP)
    client_prefix VARCHAR,                 -- optional /24 or /48, only with store_ip_prefix = true
    started_at    TIMESTAMPTZ NOT NULL,
    ended_at      TIMESTAMPTZ NOT NULL,
    pageviews     INTEGER NOT NULL,
    landing_page  VARCHAR,
    referrer      VARCHAR,
    utm_source    VARCHAR,
    utm_medium    VARCHAR,
    utm_campaign  VARCHAR,
    source        VARCHAR NOT NULL CHECK (source IN ('log', 'leadfeeder'))
);

CREATE TABLE pageviews (
    pageview_id  VARCHAR NOT NULL,         -- hash of (stream, line bytes, occurrence): stable
    visit_id     VARCHAR,                  -- NULL until the load stage sessionizes it
    visitor_key  VARCHAR NOT NULL,
    client_key   VARCHAR,
    client_prefix VARCHAR,
    ts           TIMESTAMPTZ NOT NULL,
    path         VARCHAR NOT NULL,         -- without the query string (may hold personal data)
    status       SMALLINT NOT NULL,
    referrer     VARCHAR,                  -- without its query string
    utm_source   VARCHAR,
    utm_medium   VARCHAR,
    utm_campaign VARCHAR,
    stream       VARCHAR NOT NULL,
    run_id       BIGINT NOT NULL
);

-- Every log line already counted, as (stream, hash of its bytes, occurrence
-- number within its file): what makes rotated, overlapping and re-read
-- files count once (a multiset union).
CREATE TABLE log_lines (
    stream     VARCHAR NOT NULL,
    line_hash  UHUGEINT NOT NULL,
    occurrence INTEGER NOT NULL,
    ts         TIMESTAMPTZ,
    run_id     BIGINT NOT NULL
);
