-- 003: the network cache and its provenance; attribution on pageviews.
-- Ranges are 128-bit numbers (IPv4 mapped into ::ffff:0:0/96), so one range
-- join serves both address families.
ALTER TABLE networks ADD COLUMN start_num UHUGEINT;
ALTER TABLE networks ADD COLUMN end_num UHUGEINT;
ALTER TABLE networks ADD COLUMN org_handle VARCHAR;
ALTER TABLE networks ADD COLUMN registry_type VARCHAR;   -- e.g. RIPE "ASSIGNED PA"
ALTER TABLE networks ADD COLUMN remarks VARCHAR;
ALTER TABLE networks ADD COLUMN handle VARCHAR;
ALTER TABLE networks ADD COLUMN business_id VARCHAR;     -- from an operator or licensed list
ALTER TABLE networks ADD COLUMN kind_rule VARCHAR;       -- which rule decided kind
ALTER TABLE networks ADD COLUMN kind_signals JSON;       -- what that rule saw
ALTER TABLE networks ADD COLUMN provisional BOOLEAN DEFAULT false;  -- a broad allocation: look again for a smaller range

-- The operator's word on a network's kind: wins over every rule.
CREATE TABLE network_overrides (
    cidr       VARCHAR PRIMARY KEY,
    start_num  UHUGEINT NOT NULL,
    end_num    UHUGEINT NOT NULL,
    kind       VARCHAR NOT NULL
        CHECK (kind IN ('company', 'isp', 'mobile', 'hosting', 'education', 'government', 'unknown')),
    created_at TIMESTAMPTZ NOT NULL
);

ALTER TABLE pageviews ADD COLUMN network_id VARCHAR;
ALTER TABLE pageviews ADD COLUMN company_id VARCHAR;
ALTER TABLE pending_pageviews ADD COLUMN network_id VARCHAR;
ALTER TABLE pending_pageviews ADD COLUMN company_id VARCHAR;
