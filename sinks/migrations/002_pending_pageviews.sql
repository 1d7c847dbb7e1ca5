-- 002: pageviews that the ingest stage has found and the load stage has not yet
-- grouped into visits. Inserting them into `pageviews` with their visit id
-- (instead of updating a NULL visit id in place) keeps the load stage cheap.
CREATE TABLE pending_pageviews (
    pageview_id   VARCHAR NOT NULL,
    visitor_key   VARCHAR NOT NULL,
    client_key    VARCHAR,
    client_prefix VARCHAR,
    ts            TIMESTAMPTZ NOT NULL,
    path          VARCHAR NOT NULL,
    status        SMALLINT NOT NULL,
    referrer      VARCHAR,
    utm_source    VARCHAR,
    utm_medium    VARCHAR,
    utm_campaign  VARCHAR,
    stream        VARCHAR NOT NULL,
    run_id        BIGINT NOT NULL
);
