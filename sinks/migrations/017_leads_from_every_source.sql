-- 017: one company, one picture. lead_scores_for(...) and lead_scores include every company of the
-- period from any source: the logs' visits, a Leadfeeder-style export's figures (company_sources,
-- the export's last visit in the period) and form, chat or configurator submissions (contacts
-- submitted in the period). Otherwise as 015: the earlier columns keep their names, types and order;
-- the new ones follow `reasons`.
--
-- The score's parts (each saturates smoothly, so a score never ties at a cap):
-- recency    up to 30: 30 on the period's last day, one point less per day before it; the day of the
--            company's last signal (a visit in the logs or the export, or a submission)
-- visits     up to 30: 30 * (1 - exp(-visits / 5)), the logs' visits in the period
-- pageviews  up to 20: 20 * (1 - exp(-pageviews / 15))
--            The export's visits and pageviews take the logs' place only when the logs saw no visit of
--            the company in the period: both may have seen the same visits, so they are never added.
-- intent     up to 30: 30 * (1 - exp(-views / 3)), the logs' pageviews of intent_pages
-- returning  10 when more than one visit, 10 more when more than one person (people: the logs only)
-- form       40 when someone of the company submitted a form, the chat or the configurator in the
--            period: the strongest signal there is. A person who objected to direct marketing is
--            never counted (nor shown).
--
-- What first named a company when leadpipe created it (network, export, form; NULL: before 017). A
-- company a form made goes with its only person when they are forgotten (sinks/erasure.py).
ALTER TABLE companies ADD COLUMN origin VARCHAR;

-- No personal data here (analysts read this view): the submissions are counted and their forms named;
-- who submitted them is for the sales report alone (sinks/leads.py reads contacts).
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
), exported AS (
    -- one company may be several rows of an export (a Business ID row and a name row): the largest figures
    SELECT company_id, CAST(max(visits) AS BIGINT) AS export_visits, CAST(max(pageviews) AS BIGINT) AS export_pageviews,
           max(quality) AS export_quality, max(last_visit) AS export_last_visit, min(first_visit) AS export_first_visit,
           string_agg(DISTINCT source, ', ' ORDER BY source) AS export_sources
    FROM company_sources
    WHERE last_visit >= CAST(period_start AS TIMESTAMPTZ) AND last_visit < CAST(period_end AS TIMESTAMPTZ)
    GROUP BY company_id
), submitted AS (
    SELECT company_id, count(*) AS forms, max(submitted_at) AS last_form_at,
           string_agg(DISTINCT coalesce(form, 'form'), ', ' ORDER BY coalesce(form, 'form')) AS form_names
    FROM contacts
    WHERE company_id IS NOT NULL AND NOT marketing_objection
      AND submitted_at >= CAST(period_start AS TIMESTAMPTZ) AND submitted_at < CAST(period_end AS TIMESTAMPTZ)
    GROUP BY company_id
), present AS (
    SELECT company_id FROM activity UNION SELECT company_id FROM exported UNION SELECT company_id FROM submitted
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
), signals AS (
    SELECT p.company_id,
           coalesce(a.visits, 0) AS visits, coalesce(a.pageviews, 0) AS pageviews, coalesce(a.people, 0) AS people,
           coalesce(a.first_visit, e.export_first_visit, e.export_last_visit) AS first_visit,
           coalesce(a.last_visit, e.export_last_visit) AS last_visit,
           coalesce(a.visits_7d, 0) AS visits_7d,
           -- the visits the score counts: the logs', or the export's when the logs saw none
           CASE WHEN a.visits > 0 THEN a.visits ELSE coalesce(e.export_visits, 0) END AS counted_visits,
           CASE WHEN a.visits > 0 THEN a.pageviews ELSE coalesce(e.export_pageviews, 0) END AS counted_pageviews,
           greatest(a.last_visit, e.export_last_visit, f.last_form_at) AS last_signal,
           e.export_visits, e.export_pageviews, e.export_quality, e.export_last_visit, e.export_sources,
           coalesce(f.forms, 0) AS forms, f.last_form_at, f.form_names
    FROM present p LEFT JOIN activity a USING (company_id) LEFT JOIN exported e USING (company_id)
    LEFT JOIN submitted f USING (company_id)
), scored AS (
    SELECT c.company_id, c.name, c.business_id, c.industry, c.city, c.website,
           g.visits, g.pageviews, g.people, g.first_visit, g.last_visit, g.visits_7d,
           coalesce(s.intent_views, 0) AS intent_views,
           greatest(0, 30 - date_diff('day', CAST(timezone(z.zone, g.last_signal) AS DATE), z.last_day)) AS recency_points,
           round(30 * (1 - exp(-g.counted_visits / 5.0)), 1) AS visit_points,
           round(20 * (1 - exp(-g.counted_pageviews / 15.0)), 1) AS pageview_points,
           round(30 * (1 - exp(-coalesce(s.intent_views, 0) / 3.0)), 1) AS intent_points,
           (CASE WHEN g.counted_visits > 1 THEN 10 ELSE 0 END) + (CASE WHEN g.people > 1 THEN 10 ELSE 0 END) AS returning_points,
           s.intent_words,
           CASE WHEN g.forms > 0 THEN 40 ELSE 0 END AS form_points,
           g.forms, g.last_form_at, g.form_names,
           g.export_visits, g.export_pageviews, g.export_quality, g.export_last_visit, g.export_sources,
           c.industry_code, g.last_signal,
           concat_ws(', ', CASE WHEN g.visits > 0 THEN 'logs' END,
                     CASE WHEN g.export_sources IS NOT NULL THEN g.export_sources END,
                     CASE WHEN g.forms > 0 THEN 'forms' END) AS sources,
           strftime(timezone(z.zone, g.last_visit), '%-d.%-m.%Y') AS last_visit_day,
           strftime(timezone(z.zone, g.last_form_at), '%-d.%-m.%Y') AS last_form_day,
           strftime(timezone(z.zone, g.export_last_visit), '%-d.%-m.%Y') AS export_day
    FROM signals g JOIN companies c USING (company_id)
    LEFT JOIN intent_summary s USING (company_id)
    CROSS JOIN period z
    WHERE c.kind = 'company' AND NOT coalesce(c.marketing_objection, false)
)
SELECT row_number() OVER (ORDER BY score DESC, last_signal DESC, name) AS rank,
       company_id, name, business_id, industry, city, website, visits, pageviews, people, first_visit, last_visit,
       visits_7d, intent_views, recency_points, visit_points, pageview_points, intent_points, returning_points,
       intent_words, score, reasons,
       form_points, forms, last_form_at, form_names,
       export_visits, export_pageviews, export_quality, export_last_visit, industry_code, sources
FROM (
    SELECT *, round(recency_points + visit_points + pageview_points + intent_points + returning_points + form_points, 1) AS score,
           concat_ws('; ',
               CASE WHEN forms = 1 THEN 'submitted the ' || form_names || ' form ' || last_form_day
                    WHEN forms > 1 THEN forms || ' submissions (' || form_names || '), last ' || last_form_day END,
               CASE WHEN visits > 0 THEN visits || CASE WHEN visits = 1 THEN ' visit' ELSE ' visits' END
                   || CASE WHEN visits_7d > 0 THEN ' (' || visits_7d || ' in the last 7)' ELSE '' END END,
               intent_words,
               CASE WHEN people > 1 THEN people || ' people' END,
               CASE WHEN export_sources IS NOT NULL THEN
                   'Leadfeeder: ' || coalesce(export_visits, 0) || CASE WHEN export_visits = 1 THEN ' visit' ELSE ' visits' END
                   || coalesce(', ' || export_pageviews || ' pageviews', '')
                   || coalesce(', quality ' || regexp_replace(CAST(export_quality AS VARCHAR), '\.0$', ''), '')
                   || ', last ' || export_day END,
               CASE WHEN visits > 0 THEN 'last visit ' || last_visit_day END
           ) AS reasons
    FROM scored
);

-- The lead score of the last 30 days of data: the 30 days (configured time zone) that end with the
-- last day any source saw the company (a visit in the logs or an export, or a submission) — the period
-- the nightly report covers by default (sinks/leads.py: default_period), so the view and the report
-- show one score.
CREATE OR REPLACE VIEW lead_scores AS
WITH last_day AS (
    SELECT zone, CAST(timezone(zone, coalesce(greatest(
        (SELECT max(ended_at) FROM visits), (SELECT max(last_visit) FROM company_sources),
        (SELECT max(submitted_at) FROM contacts)), now())) AS DATE) AS day
    FROM (SELECT configured_timezone() AS zone)
)
SELECT * FROM lead_scores_for(
    (SELECT timezone(zone, CAST(day - 29 AS TIMESTAMP)) FROM last_day),
    (SELECT timezone(zone, CAST(day + 1 AS TIMESTAMP)) FROM last_day)
);
