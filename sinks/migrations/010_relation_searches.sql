-- 010: registry statuses and RFC 9910 relation searches; the organisation a network
-- names kept apart from the registry's holder.
-- `provisional` now means: the registry status may hold assignments (ALLOCATED PA,
-- SUB-ALLOCATED PA, ARIN allocations, a large range of unknown status).
ALTER TABLE networks ADD COLUMN registrant VARCHAR;    -- the registry's organisation object (org_name may be the customer it names)
ALTER TABLE networks ADD COLUMN parent_id VARCHAR;     -- the range whose relation search listed this one
ALTER TABLE networks ADD COLUMN search_base VARCHAR;   -- the registry's base URL when it serves relation searches
UPDATE networks SET registrant = org_name
WHERE source = 'rdap' AND kind_rule IS DISTINCT FROM 'isp-customer-assignment';

-- Ranges a relation search has listed completely: every address inside resolves
-- locally (to its most specific network) until the search expires with the cache.
CREATE TABLE network_searches (
    network_id  VARCHAR NOT NULL,      -- the range searched in (the whole of it, or a /24 or /48 block)
    start_num   UHUGEINT NOT NULL,
    end_num     UHUGEINT NOT NULL,
    searched_at TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);

-- Addresses looked up one by one inside a range that may hold assignments (at
-- registries without relation searches), as the keyed hash of the address only:
-- the registry's answer stands for that address until the range expires.
CREATE TABLE address_probes (
    client_key VARCHAR NOT NULL,
    network_id VARCHAR NOT NULL,
    probed_at  TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (client_key, network_id)
);

-- "One address decides its /24" is gone: a block probe said nothing about its other addresses.
DROP TABLE network_probes;

-- Small facts the pipeline keeps about itself, e.g. the classification rules the
-- cached networks were classified with (they are classified again when the rules change).
CREATE TABLE pipeline_state (
    key        VARCHAR PRIMARY KEY,
    value      VARCHAR NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
