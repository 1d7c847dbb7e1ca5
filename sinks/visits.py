"""Pending pageviews into visits: sessions recomputed only where the night can change them.

A visit is a visitor's pageviews with no gap longer than the session gap (a
gap of exactly that long continues the visit), ordered by time and then by
pageview id. Its id is a hash of the visitor and its first pageview's time:
the same pageviews always make the same visits, whatever order the files came
in and however many runs brought them.

A night's pageviews can only change the stored visits they come within the gap
of: a visit ends more than the gap before its visitor's next one starts, so a
stored visit that no new pageview reaches (``ended_at >= ts - gap`` and
``started_at <= ts + gap``) stays exactly as it is, and leaving it out does not
bring two others closer. :func:`sessionize` therefore reads only the visits so
reached, their pageviews and the new ones — a night on a year of history costs
what the night costs — and gives the same visits, row for row, as grouping the
whole history again (``tests/test_sessionize.py`` checks both ways).

Stored visits are found by (visitor, time): the time bounds are constants, so
DuckDB skips the row groups of ``visits`` and ``pageviews`` outside them (zone
maps: both tables are appended night by night).
"""

from __future__ import annotations

from datetime import timedelta

import duckdb

from sinks import faults
from sinks.database import transaction

_PAGEVIEW_COLUMNS = (
    "pageview_id, visitor_key, client_key, client_prefix, ts, path, status, referrer, "
    "utm_source, utm_medium, utm_campaign, stream, run_id, network_id, company_id"
)
_TEMP_TABLES = ("reached", "sessioned")

# The stored visits within the gap of a new pageview of their visitor. The constant bounds
# ($low, $high: the night's first and last pageview, widened by the gap) let the scan skip
# row groups; the join then decides per pageview.
_REACHED = """
CREATE OR REPLACE TEMP TABLE reached AS
SELECT DISTINCT v.visit_id, v.started_at, v.ended_at
FROM (SELECT visit_id, visitor_key, started_at, ended_at FROM visits
      WHERE source = 'log' AND ended_at >= $low AND started_at <= $high) v
JOIN (SELECT DISTINCT visitor_key, ts FROM pending_pageviews) n
  ON v.visitor_key = n.visitor_key AND v.ended_at >= n.ts - $gap AND v.started_at <= n.ts + $gap
"""

# The new pageviews with the stored ones of the reached visits (a visit's pageviews lie
# within its [started_at, ended_at]: $first..$last bound the scan), grouped into visits.
_SESSIONED = f"""
CREATE OR REPLACE TEMP TABLE sessioned AS
WITH pv AS (
    SELECT {_PAGEVIEW_COLUMNS}, NULL::VARCHAR AS old_visit_id FROM pending_pageviews
    UNION ALL
    SELECT {_PAGEVIEW_COLUMNS}, visit_id FROM pageviews
    WHERE ts BETWEEN $first AND $last AND visit_id IN (SELECT visit_id FROM reached)
), starts AS (
    SELECT *, coalesce(ts - lag(ts) OVER (PARTITION BY visitor_key ORDER BY ts, pageview_id) > $gap, true)
              AS starts_visit
    FROM pv
), numbered AS (
    SELECT *, sum(CAST(starts_visit AS INTEGER)) OVER (
               PARTITION BY visitor_key ORDER BY ts, pageview_id ROWS UNBOUNDED PRECEDING) AS visit_no
    FROM starts
), firsts AS (
    SELECT visitor_key, visit_no, md5(visitor_key || chr(0) || CAST(min(ts) AS VARCHAR)) AS visit_id
    FROM numbered GROUP BY visitor_key, visit_no
)
SELECT n.* EXCLUDE (starts_visit, visit_no), f.visit_id
FROM numbered n JOIN firsts f USING (visitor_key, visit_no)
"""

_INSERT_VISITS = """
INSERT INTO visits (visit_id, company_id, network_id, visitor_key, client_key, client_prefix,
                    started_at, ended_at, pageviews, landing_page, referrer,
                    utm_source, utm_medium, utm_campaign, source)
SELECT visit_id, company_id, network_id, visitor_key, client_key, client_prefix, started_at, ended_at, pageviews,
       landing.path, landing.referrer, landing.utm_source, landing.utm_medium, landing.utm_campaign, 'log'
FROM (
    SELECT visit_id, any_value(visitor_key) AS visitor_key, any_value(client_key) AS client_key,
           -- one visitor is one address: one network (the newest attribution if it changed;
           -- pageviews of the same second by id, so a visit never depends on the order of reading)
           arg_max(network_id, {'ts': ts, 'id': pageview_id}) AS network_id,
           arg_max(company_id, {'ts': ts, 'id': pageview_id}) AS company_id,
           any_value(client_prefix) AS client_prefix, min(ts) AS started_at, max(ts) AS ended_at,
           count(*) AS pageviews,
           -- the landing pageview: first by time, then by id (deterministic on ties)
           arg_min({'path': path, 'referrer': referrer, 'utm_source': utm_source,
                    'utm_medium': utm_medium, 'utm_campaign': utm_campaign},
                   {'ts': ts, 'id': pageview_id}) AS landing
    FROM sessioned GROUP BY visit_id
)
"""


def sessionize(con: duckdb.DuckDBPyConnection, gap_minutes: int = 30) -> dict:
    """Group pending pageviews into visits and move them into ``pageviews``, in one transaction.

    The pending pageviews are grouped together with the stored visits they
    reach (see the module's docstring), so a late or next-night pageview
    extends or merges visits instead of starting new ones.

    Args:
        con: a migrated connection.
        gap_minutes: the longest pause within a visit.

    Returns:
        ``pageviews_loaded`` (pending pageviews moved), ``visitors_sessionized``
        (visitors with new pageviews), ``visits`` (the change in the number of
        visits: a late line can merge two) and ``visits_touched`` (visits created
        or recomputed).
    """
    gap = timedelta(minutes=gap_minutes)
    low, high, visitors = con.execute(
        "SELECT min(ts), max(ts), count(DISTINCT visitor_key) FROM pending_pageviews"
    ).fetchall()[0]
    if not visitors:  # nothing new (a rerun of a night already loaded): nothing to recompute
        return {"pageviews_loaded": 0, "visitors_sessionized": 0, "visits": 0, "visits_touched": 0}
    try:
        # Temporary tables are filled outside the transaction (uncommitted rows stay in
        # memory; these may spill): they only read, and the writes below are one transaction.
        con.execute(_REACHED, {"low": low - gap, "high": high + gap, "gap": gap})
        reached, first, last = con.execute("SELECT count(*), min(started_at), max(ended_at) FROM reached").fetchall()[0]
        con.execute(_SESSIONED, {"first": first, "last": last, "gap": gap})
        with transaction(con):
            con.execute(
                """
                DELETE FROM visits
                WHERE ended_at >= $first AND started_at <= $last AND visit_id IN (SELECT visit_id FROM reached)
                """,
                {"first": first, "last": last},
            )
            con.execute(
                """
                UPDATE pageviews SET visit_id = s.visit_id
                FROM (SELECT pageview_id, visit_id FROM sessioned
                      WHERE old_visit_id IS NOT NULL AND old_visit_id <> visit_id) s
                WHERE pageviews.ts BETWEEN $first AND $last AND pageviews.pageview_id = s.pageview_id
                """,
                {"first": first, "last": last},
            )
            moved = con.execute(
                f"""
                INSERT INTO pageviews (visit_id, {_PAGEVIEW_COLUMNS})
                SELECT visit_id, {_PAGEVIEW_COLUMNS} FROM sessioned WHERE old_visit_id IS NULL
                """
            ).fetchall()[0][0]
            touched = con.execute(_INSERT_VISITS).fetchall()[0][0]
            con.execute("DELETE FROM pending_pageviews")
            faults.point("load:before-commit")
    finally:
        for table in _TEMP_TABLES:
            con.execute(f"DROP TABLE IF EXISTS temp.{table}")
    return {"pageviews_loaded": moved, "visitors_sessionized": visitors, "visits": touched - reached,
            "visits_touched": touched}
