-- 007: what each source (a Leadfeeder-style export, later forms) says about a
-- company, kept apart from the log-derived visits: both may have seen the same
-- visits, so their counts are never added together.
CREATE TABLE company_sources (
    source      VARCHAR NOT NULL,           -- leadfeeder
    source_key  VARCHAR NOT NULL,           -- the organisation within that source (Business ID, or name|country|domain)
    company_id  VARCHAR NOT NULL,
    name        VARCHAR NOT NULL,           -- as the source wrote it
    website     VARCHAR,
    industry    VARCHAR,
    employees   VARCHAR,
    business_id VARCHAR,
    country     VARCHAR,
    city        VARCHAR,
    first_visit TIMESTAMPTZ,
    last_visit  TIMESTAMPTZ,
    visits      INTEGER,
    pageviews   INTEGER,
    quality     DOUBLE,
    utm_source  VARCHAR,
    utm_medium  VARCHAR,
    extra       JSON,                       -- the columns leadpipe does not know, kept
    file        VARCHAR,
    run_id      BIGINT,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (source, source_key)
);
