-- The company every stored row (pending pageviews, pageviews, visits) of a network carries, as last
-- attributed (sinks/attribution.py): a refresh re-points only the rows of networks whose company has
-- changed since. NULL attributed_at: no rows carry the network yet. The first refresh after this
-- migration checks every row once, as each refresh of the previous version did.
ALTER TABLE networks ADD COLUMN attributed_company_id VARCHAR;
ALTER TABLE networks ADD COLUMN attributed_at TIMESTAMPTZ;

-- Each network's company now: its organisation's key through any alias it was merged into; NULL for a
-- network that attributes nothing (an ISP's pool, mobile, hosting...).
CREATE VIEW network_companies AS
SELECT n.network_id, coalesce(a.company_id, n.company_id) AS company_id
FROM networks n LEFT JOIN company_aliases a ON a.alias_id = n.company_id;
