-- 013: visits lose the PRIMARY KEY index on visit_id; nothing else changes.
--
-- DuckDB keeps a key's ART index in memory once a write touches it: ~68 bytes per visit
-- (276 MB at 4.1 M visits, measured), so with a year of a busy site's visits every load
-- stage loaded it again (0.3 s at 4 M visits) and a 700 MB memory limit ran out (Out of
-- Memory in the load stage at ~5.5 M visits). No query looks visits up through it, and the
-- key is unique by construction: a visit id hashes the visitor and the visit's first
-- pageview, and two visits of one visitor are more than the session gap apart
-- (sinks/visits.py; tests/test_sessionize.py checks it).
-- Views reading visits bind by name, so they survive the table being rebuilt. The rows are
-- written in the order of their ends: the load stage finds the visits a night can reach by
-- time, and zone maps skip row groups only where times are clustered (the previous load
-- re-inserted every returning visitor's visits, old ones included, at the end of the table).
CREATE TABLE visits_013 (
    visit_id      VARCHAR NOT NULL,        -- keyed hash of (visitor_key, started_at): stable across reruns
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
INSERT INTO visits_013 SELECT * FROM visits ORDER BY ended_at;
DROP TABLE visits;
ALTER TABLE visits_013 RENAME TO visits;
