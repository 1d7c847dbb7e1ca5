-- 015: the views' sums are BIGINT, not HUGEINT. DuckDB sums integers into a 128-bit HUGEINT, which
-- BI drivers (ODBC, JDBC, Power BI, Tableau) cannot map; a day's or a period's pageviews fit 64 bits.
-- daily_company_activity.pageviews, lead_scores_for(...).pageviews and .intent_views are cast; the
-- lead_scores view is created again so that it takes the macro's new column types. Otherwise as 012.

-- Daily activity per company, in the configured time zone's days.
CREATE OR REPLACE VIEW daily_company_activity AS
SELECT v.company_id, c.name AS company, c.business_id,
       CAST(timezone(z.zone, v.started_at) AS DATE) AS day,
       count(*) AS visits, CAST(sum(v.pageviews) AS BIGINT) AS pageviews, count(DISTINCT v.visitor_key) AS visitors
FROM visits v JOIN companies c USING (company_id), (SELECT configured_timezone() AS zone) z
GROUP BY ALL;

-- The lead score of a period [period_start, period_end): one row per company of kind company
-- with visits starting in it, explained in words. Companies that objected to direct marketing
-- never appear. Each part saturates smoothly (diminishing returns), so a score never ties at a cap:
-- recency    up to 30: 30 on the period's last day, one point less per day before it
--            (days in the configured time zone; the last day is the one period_end closes)
-- visits     up to 30: 30 * (1 - exp(-visits / 5)), visits in the period
-- pageviews  up to 20: 20 * (1 - exp(-pageviews / 15))
-- intent     up to 30: 30 * (1 - exp(-views / 3)), pageviews of intent_pages
-- returning  10 when more than one visit, 10 more when more than one person
--
-- Cost (008 matched every pageview row of the period against every pattern, compiling a
-- regular expression per row): pageviews are pruned to the period by `ts` first (a visit's
-- pageviews lie between its started_at and ended_at, the min and max of their ts), counted per
-- (company, path), and each distinct path is matched against the patterns once.
CREATE OR REPLACE MACRO lead_scores_for(period_start, period_end) AS TABLE
WITH period AS (
    SELECT zone, CAST(timezone(zone, CAST(period_end AS TIMESTAMPTZ) - INTERVAL 1 MICROSECOND) AS DATE) AS last_day
    FROM (SELECT configured_timezone() AS zone)
), recent AS MATERIALIZED (
    SELECT v.visit_id, v.company_id, v.visitor_key, v.started_at, v.ended_at, v.pageviews FROM visits v
    WHERE v.started_at >= CAST(period_start AS TIMESTAMPTZ) AND v.started_at < CAST(period_end AS TIMESTAMPTZ)
), activity AS (
    SELECT company_id, count(*) AS visits, CAST(sum(pageviews) AS BIGINT) AS pageviews,
           count(DISTINCT visitor_key) AS people,
           max(ended_at) AS last_visit, min(started_at) AS first_visit,
           count(*) FILTER (WHERE started_at >= CAST(period_end AS TIMESTAMPTZ) - INTERVAL 7 DAY) AS visits_7d
    FROM recent WHERE company_id IS NOT NULL GROUP BY company_id
), path_views AS MATERIALIZED (
    SELECT p.company_id, p.path, count(*) AS views
    FROM pageviews p JOIN recent r USING (visit_id)
    WHERE p.ts >= CAST(period_start AS TIMESTAMPTZ) AND p.ts <= (SELECT max(ended_at) FROM recent)
      AND p.company_id IS NOT NULL
    GROUP BY p.company_id, p.path
), path_labels AS (
    SELECT d.path, i.label
    FROM (SELECT DISTINCT path FROM path_views) d JOIN intent_pages i ON regexp_matches(d.path, i.pattern)
), intent AS (
    SELECT v.company_id, l.label, CAST(sum(v.views) AS BIGINT) AS views
    FROM path_views v JOIN path_labels l USING (path)
    GROUP BY v.company_id, l.label
), intent_summary AS (
    SELECT company_id, CAST(sum(views) AS BIGINT) AS intent_views,
           string_agg('viewed ' || label || CASE WHEN views = 1 THEN ' once' WHEN views = 2 THEN ' twice'
                                               ELSE ' ' || views || ' times' END, '; ' ORDER BY views DESC, label) AS intent_words
    FROM intent GROUP BY company_id
), scored AS (
    SELECT c.company_id, c.name, c.business_id, c.industry, c.city, c.website,
           a.visits, a.pageviews, a.people, a.first_visit, a.last_visit, a.visits_7d,
           coalesce(s.intent_views, 0) AS intent_views,
           greatest(0, 30 - date_diff('day', CAST(timezone(z.zone, a.last_visit) AS DATE), z.last_day)) AS recency_points,
           round(30 * (1 - exp(-a.visits / 5.0)), 1) AS visit_points,
           round(20 * (1 - exp(-a.pageviews / 15.0)), 1) AS pageview_points,
           round(30 * (1 - exp(-coalesce(s.intent_views, 0) / 3.0)), 1) AS intent_points,
           (CASE WHEN a.visits > 1 THEN 10 ELSE 0 END) + (CASE WHEN a.people > 1 THEN 10 ELSE 0 END) AS returning_points,
           s.intent_words, strftime(timezone(z.zone, a.last_visit), '%-d.%-m.%Y') AS last_visit_day
    FROM activity a JOIN companies c USING (company_id)
    LEFT JOIN intent_summary s USING (company_id)
    CROSS JOIN period z
    WHERE c.kind = 'company' AND NOT coalesce(c.marketing_objection, false)
)
SELECT row_number() OVER (ORDER BY score DESC, last_visit DESC, name) AS rank, * EXCLUDE (last_visit_day)
FROM (
    SELECT *, round(recency_points + visit_points + pageview_points + intent_points + returning_points, 1) AS score,
           concat_ws('; ',
               visits || CASE WHEN visits = 1 THEN ' visit' ELSE ' visits' END
                   || CASE WHEN visits_7d > 0 THEN ' (' || visits_7d || ' in the last 7)' ELSE '' END,
               intent_words,
               CASE WHEN people > 1 THEN people || ' people' END,
               'last visit ' || last_visit_day
           ) AS reasons
    FROM scored
);

-- The lead score of the last 30 days of data: the 30 days (configured time zone) that end with
-- the last day with visits — the period the nightly report covers by default, so the view and
-- the report show one score.
CREATE OR REPLACE VIEW lead_scores AS
WITH last_day AS (
    SELECT zone, CAST(timezone(zone, coalesce((SELECT max(ended_at) FROM visits), now())) AS DATE) AS day
    FROM (SELECT configured_timezone() AS zone)
)
SELECT * FROM lead_scores_for(
    (SELECT timezone(zone, CAST(day - 29 AS TIMESTAMP)) FROM last_day),
    (SELECT timezone(zone, CAST(day + 1 AS TIMESTAMP)) FROM last_day)
);
