-- 005: "why is this company here?" — every visit with the network that matched,
-- where that network came from, the rule that classified it and what it saw.
CREATE VIEW visit_provenance AS
SELECT v.visit_id, v.started_at, v.pageviews, v.landing_page,
       c.company_id, c.name AS company, c.business_id,
       n.cidr AS network, n.netname, n.org_name AS network_holder, n.country AS network_country,
       n.source AS network_source,             -- operator | licensed | rdap
       n.registry_type, n.kind AS network_kind,
       n.kind_rule,                            -- operator-list, known-organisation, keyword, ...
       n.kind_signals,                         -- what that rule saw, in words
       n.fetched_at AS network_fetched_at, n.expires_at AS network_expires_at,
       c.match_method, c.match_confidence
FROM visits v
LEFT JOIN networks n ON n.network_id = v.network_id
LEFT JOIN companies c ON c.company_id = v.company_id;
