-- 008: the lead score and the analysts' views.
-- Pages that show buying intent (regular expressions on the path); the report stage
-- refreshes them from leadpipe.toml (intent_pages).
CREATE TABLE intent_pages (
    pattern VARCHAR PRIMARY KEY,
    label   VARCHAR NOT NULL
);
INSERT INTO intent_pages VALUES
    ('(?i)pric|hinnasto|hinnat', 'pricing'),
    ('(?i)contact|yhteystiedot|ota-yhteytta', 'contact'),
    ('(?i)/demo|book-a-demo|esittely', 'demo'),
    ('(?i)configurator|konfiguraattori|quote|tarjous', 'configurator');

-- A company or contact that objected to direct marketing never appears in lead reports.
ALTER TABLE companies ADD COLUMN marketing_objection BOOLEAN DEFAULT false;

CREATE TABLE reports (
    report_id    BIGINT PRIMARY KEY,
    generated_at TIMESTAMPTZ NOT NULL,
    period_start DATE NOT NULL,
    period_end   DATE NOT NULL,
    html_path    VARCHAR,
    csv_path     VARCHAR,
    companies    INTEGER
);

-- Daily activity per company (Helsinki days).
CREATE VIEW daily_company_activity AS
SELECT v.company_id, c.name AS company, c.business_id,
       CAST(v.started_at AT TIME ZONE 'Europe/Helsinki' AS DATE) AS day,
       count(*) AS visits, sum(v.pageviews) AS pageviews, count(DISTINCT v.visitor_key) AS visitors
FROM visits v JOIN companies c USING (company_id)
GROUP BY ALL;

-- Visits with their company and network, for BI tools (no visitor keys, no contact data).
CREATE VIEW visits_enriched AS
SELECT v.visit_id, v.started_at, v.ended_at, v.pageviews, v.landing_page, v.referrer,
       v.utm_source, v.utm_medium, v.utm_campaign, v.source,
       c.company_id, c.name AS company, c.business_id, c.industry, c.city,
       n.cidr AS network, n.kind AS network_kind, n.source AS network_source
FROM visits v
LEFT JOIN companies c USING (company_id)
LEFT JOIN networks n USING (network_id);

-- The lead score of a period: one row per company of kind company with visits in it,
-- explained in words. Companies that objected to direct marketing never appear.
-- Each part saturates smoothly (diminishing returns), so a score never ties at a cap:
-- recency    up to 30: 30 on the period's last day, one point less per day before it
-- visits     up to 30: 30 * (1 - exp(-visits / 5)), visits in the period
-- pageviews  up to 20: 20 * (1 - exp(-pageviews / 15))
-- intent     up to 30: 30 * (1 - exp(-views / 3)), pageviews of intent_pages
-- returning  10 when more than one visit, 10 more when more than one person
CREATE MACRO lead_scores_for(period_start, period_end) AS TABLE
WITH last_visit AS (
    SELECT CAST(period_end AS TIMESTAMPTZ) AS now
), recent AS (
    SELECT v.* FROM visits v
    WHERE v.started_at >= CAST(period_start AS TIMESTAMPTZ) AND v.started_at < CAST(period_end AS TIMESTAMPTZ)
), activity AS (
    SELECT company_id, count(*) AS visits, sum(pageviews) AS pageviews, count(DISTINCT visitor_key) AS people,
           max(ended_at) AS last_visit, min(started_at) AS first_visit,
           count(*) FILTER (WHERE started_at >= (SELECT now FROM last_visit) - INTERVAL 7 DAY) AS visits_7d
    FROM recent WHERE company_id IS NOT NULL GROUP BY company_id
), intent AS (
    SELECT p.company_id, i.label, count(*) AS views
    FROM pageviews p JOIN recent r USING (visit_id) JOIN intent_pages i ON regexp_matches(p.path, i.pattern)
    WHERE p.company_id IS NOT NULL
    GROUP BY ALL
), intent_summary AS (
    SELECT company_id, sum(views) AS intent_views,
           string_agg('viewed ' || label || CASE WHEN views = 1 THEN ' once' WHEN views = 2 THEN ' twice'
                                               ELSE ' ' || views || ' times' END, '; ' ORDER BY views DESC, label) AS intent_words
    FROM intent GROUP BY company_id
), scored AS (
    SELECT c.company_id, c.name, c.business_id, c.industry, c.city, c.website,
           a.visits, a.pageviews, a.people, a.first_visit, a.last_visit, a.visits_7d,
           coalesce(s.intent_views, 0) AS intent_views,
           greatest(0, 30 - date_diff('day', CAST(a.last_visit AS DATE), CAST((SELECT now FROM last_visit) AS DATE))) AS recency_points,
           round(30 * (1 - exp(-a.visits / 5.0)), 1) AS visit_points,
           round(20 * (1 - exp(-a.pageviews / 15.0)), 1) AS pageview_points,
           round(30 * (1 - exp(-coalesce(s.intent_views, 0) / 3.0)), 1) AS intent_points,
           (CASE WHEN a.visits > 1 THEN 10 ELSE 0 END) + (CASE WHEN a.people > 1 THEN 10 ELSE 0 END) AS returning_points,
           s.intent_words
    FROM activity a JOIN companies c USING (company_id)
    LEFT JOIN intent_summary s USING (company_id)
    WHERE c.kind = 'company' AND NOT coalesce(c.marketing_objection, false)
)
SELECT row_number() OVER (ORDER BY score DESC, last_visit DESC, name) AS rank, *
FROM (
    SELECT *, round(recency_points + visit_points + pageview_points + intent_points + returning_points, 1) AS score,
           concat_ws('; ',
               visits || CASE WHEN visits = 1 THEN ' visit' ELSE ' visits' END
                   || CASE WHEN visits_7d > 0 THEN ' (' || visits_7d || ' in the last 7)' ELSE '' END,
               intent_words,
               CASE WHEN people > 1 THEN people || ' people' END,
               'last visit ' || strftime(last_visit AT TIME ZONE 'Europe/Helsinki', '%-d.%-m.%Y')
           ) AS reasons
    FROM scored
);

-- The lead score over the last 30 days of data.
CREATE VIEW lead_scores AS
SELECT * FROM lead_scores_for(
    (SELECT coalesce(max(ended_at), now()) - INTERVAL 30 DAY FROM visits),
    (SELECT coalesce(max(ended_at), now()) + INTERVAL 1 SECOND FROM visits)
);
