"""Pending pageviews into visits: the load stage's sessions.

:func:`sessionize` groups the pending pageviews, together with the stored
pageviews of the same visitors, into visits, and moves them to ``pageviews``:
a session that straddles midnight is extended by the next night's logs rather
than split.
"""

from __future__ import annotations

import duckdb

from sinks import faults
from sinks.database import transaction

_PAGEVIEW_COLUMNS = (
    "pageview_id, visitor_key, client_key, client_prefix, ts, path, status, referrer, "
    "utm_source, utm_medium, utm_campaign, stream, run_id, network_id, company_id"
)


def sessionize(con: duckdb.DuckDBPyConnection, gap_minutes: int = 30) -> dict:
    """Group pending pageviews into visits and move them into ``pageviews``.

    A visit is a visitor's pageviews with no gap longer than ``gap_minutes``
    (a gap of exactly that long continues the visit). The pending pageviews
    are sessionized together with the stored pageviews of the same visitors,
    so a late or next-night pageview extends or merges visits instead of
    starting new ones. The visit id is a hash of the visitor and the visit's
    first pageview: the same pageviews always make the same visits, whatever
    order the files came in.
    """
    try:
        with transaction(con):
            con.execute("CREATE OR REPLACE TEMP TABLE dirty AS SELECT DISTINCT visitor_key FROM pending_pageviews")
            con.execute(
                f"""
                CREATE OR REPLACE TEMP TABLE sessioned AS
                WITH pv AS (
                    SELECT {_PAGEVIEW_COLUMNS}, NULL::VARCHAR AS old_visit_id FROM pending_pageviews
                    UNION ALL
                    SELECT {_PAGEVIEW_COLUMNS}, visit_id FROM pageviews SEMI JOIN dirty USING (visitor_key)
                ), starts AS (
                    SELECT *, coalesce(ts - lag(ts) OVER (PARTITION BY visitor_key ORDER BY ts, pageview_id)
                                       > to_minutes(CAST($gap AS BIGINT)), true) AS starts_visit
                    FROM pv
                ), numbered AS (
                    SELECT *, sum(CAST(starts_visit AS INTEGER)) OVER (
                               PARTITION BY visitor_key ORDER BY ts, pageview_id ROWS UNBOUNDED PRECEDING) AS visit_no
                    FROM starts
                ), firsts AS (
                    SELECT visitor_key, visit_no, md5(visitor_key || chr(0) || CAST(min(ts) AS VARCHAR)) AS visit_id
                    FROM numbered GROUP BY visitor_key, visit_no
                )
                SELECT n.* EXCLUDE (starts_visit), f.visit_id
                FROM numbered n JOIN firsts f USING (visitor_key, visit_no)
                """,
                {"gap": gap_minutes},
            )
            before = con.execute("SELECT count(*) FROM visits SEMI JOIN dirty USING (visitor_key)").fetchall()[0][0]
            moved = con.execute(
                f"""
                INSERT INTO pageviews (visit_id, {_PAGEVIEW_COLUMNS})
                SELECT visit_id, {_PAGEVIEW_COLUMNS} FROM sessioned WHERE old_visit_id IS NULL
                """
            ).fetchall()[0][0]
            con.execute(
                """
                UPDATE pageviews SET visit_id = s.visit_id
                FROM (SELECT pageview_id, visit_id FROM sessioned
                      WHERE old_visit_id IS NOT NULL AND old_visit_id <> visit_id) s
                WHERE pageviews.pageview_id = s.pageview_id
                """
            )
            con.execute("DELETE FROM visits WHERE source = 'log' AND visitor_key IN (SELECT visitor_key FROM dirty)")
            after = con.execute(
                """
                INSERT INTO visits (visit_id, company_id, network_id, visitor_key, client_key, client_prefix,
                                    started_at, ended_at, pageviews, landing_page, referrer,
                                    utm_source, utm_medium, utm_campaign, source)
                SELECT visit_id, company_id, network_id, visitor_key, client_key, client_prefix, started_at, ended_at, pageviews,
                       landing.path, landing.referrer, landing.utm_source, landing.utm_medium, landing.utm_campaign, 'log'
                FROM (
                    SELECT visit_id, any_value(visitor_key) AS visitor_key, any_value(client_key) AS client_key,
                           -- one visitor is one address: one network (the newest attribution if it changed)
                           arg_max(network_id, ts) AS network_id, arg_max(company_id, ts) AS company_id,
                           any_value(client_prefix) AS client_prefix, min(ts) AS started_at, max(ts) AS ended_at,
                           count(*) AS pageviews,
                           -- the landing pageview: first by time, then by id (deterministic on ties)
                           arg_min({'path': path, 'referrer': referrer, 'utm_source': utm_source,
                                    'utm_medium': utm_medium, 'utm_campaign': utm_campaign},
                                   {'ts': ts, 'id': pageview_id}) AS landing
                    FROM sessioned GROUP BY visit_id
                )
                """
            ).fetchall()[0][0]
            visitors = con.execute("SELECT count(*) FROM dirty").fetchall()[0][0]
            con.execute("DELETE FROM pending_pageviews")
            faults.point("load:before-commit")
    finally:
        con.execute("DROP TABLE IF EXISTS temp.dirty")
        con.execute("DROP TABLE IF EXISTS temp.sessioned")
    # "visits": the change in the number of visits (a late line can merge two);
    # "visits_touched": visits created or recomputed by this run.
    return {"pageviews_loaded": moved, "visitors_sessionized": visitors, "visits": after - before,
            "visits_touched": after}
