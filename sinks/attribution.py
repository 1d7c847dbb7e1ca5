"""Which company each network's rows belong to, and each company's first and last visit.

A network's company (view ``network_companies``) is its organisation's key
(``networks.company_id``, set by ``sinks/companies.py``) through any alias that
key was merged into; NULL for networks that attribute nothing (ISP pools,
mobile, hosting...). Every stored row of a network — pending pageviews,
pageviews, visits — carries the company the network records as
``attributed_company_id`` (a complete pass made it so, and rows take it when
they get their network: :func:`record` first). So a refresh re-points only the
rows of the networks whose company has changed since — a kind that changed, a
merge, an erasure — not the history of every network; and recomputes the first
and last visits only of the companies whose rows changed
(:func:`update_seen_since_last`). The record lives on the network row, so
whatever deletes a network (an erasure) deletes it too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import duckdb

_STATE_KEY = "network-attributions"
#: The tables whose rows carry a network and its company.
ROW_TABLES = ("pending_pageviews", "pageviews", "visits")


def record(con: duckdb.DuckDBPyConnection, network_ids: list[str]) -> None:
    """Networks no row carries yet record their current company, for the rows about to take it."""
    con.execute(
        """
        UPDATE networks SET attributed_company_id = c.company_id, attributed_at = current_timestamp
        FROM network_companies c
        WHERE networks.network_id = c.network_id AND networks.attributed_at IS NULL
          AND networks.network_id IN (SELECT unnest($ids))
        """,
        {"ids": network_ids},
    )


def repoint(con: duckdb.DuckDBPyConnection) -> set[str] | None:
    """Rows of networks whose company changed take the new one; every network's record is current.

    The pending pageviews (the night's) are re-derived whole; a network no row
    carries yet is only recorded. Without a record of a complete pass in
    ``pipeline_state`` (a database an older version wrote, or whose state was
    cleared) every row is checked once.

    Returns:
        The companies rows moved from or to (their first and last visits may have changed);
        None when every row was checked.
    """
    full = not con.execute("SELECT count(*) FROM pipeline_state WHERE key = ?", [_STATE_KEY]).fetchall()[0][0]
    changed = con.execute(
        """
        CREATE OR REPLACE TEMP TABLE attribution_changes AS
        SELECT c.network_id, c.company_id, n.attributed_company_id AS before,
               n.attributed_at IS NOT NULL OR $full AS has_rows
        FROM network_companies c JOIN networks n USING (network_id)
        WHERE $full OR n.attributed_at IS NULL OR n.attributed_company_id IS DISTINCT FROM c.company_id
        """,
        {"full": full},
    ).fetchall()[0][0]
    moved: set[str] = set()
    if changed:
        if not full:
            moved = {cid for (cid,) in con.execute(
                "SELECT DISTINCT unnest([before, company_id]) FROM attribution_changes WHERE has_rows"
            ).fetchall() if cid is not None}
        if full or moved:  # a network with rows whose company changed: at least one side is a company
            for table in ROW_TABLES[1:]:
                con.execute(
                    f"""
                    UPDATE {table} SET company_id = c.company_id
                    FROM (SELECT network_id, company_id FROM attribution_changes WHERE has_rows) c
                    WHERE {table}.network_id = c.network_id AND {table}.company_id IS DISTINCT FROM c.company_id
                    """
                )
        con.execute(
            """
            UPDATE networks SET attributed_company_id = c.company_id, attributed_at = current_timestamp
            FROM attribution_changes c WHERE networks.network_id = c.network_id
            """
        )
    con.execute("DROP TABLE temp.attribution_changes")
    con.execute(
        """
        UPDATE pending_pageviews SET company_id = c.company_id FROM network_companies c
        WHERE pending_pageviews.network_id = c.network_id AND pending_pageviews.company_id IS DISTINCT FROM c.company_id
        """
    )
    if full:
        con.execute("INSERT OR REPLACE INTO pipeline_state VALUES (?, 'complete', current_timestamp)", [_STATE_KEY])
        return None
    return moved


def merged(con: duckdb.DuckDBPyConnection, alias_id: str, target_id: str) -> None:
    """``alias_id`` became an alias of ``target_id`` and its rows moved over: so do the networks' records."""
    con.execute("UPDATE networks SET attributed_company_id = ? WHERE attributed_company_id = ?", [target_id, alias_id])


def update_seen(con: duckdb.DuckDBPyConnection, company_ids: Iterable[str] | None = None) -> int:
    """Companies' first and last visits, from their visits and export figures: of ``company_ids``, or of
    every company (None). A company with neither keeps what it had. Returns the rows changed."""
    return con.execute(
        """
        UPDATE companies SET first_seen = s.first_seen, last_seen = s.last_seen
        FROM (SELECT company_id, min(first_seen) AS first_seen, max(last_seen) AS last_seen FROM (
                  SELECT company_id, started_at AS first_seen, ended_at AS last_seen FROM visits
                  WHERE company_id IS NOT NULL AND ($all OR company_id IN (SELECT unnest($ids)))
                  UNION ALL
                  SELECT company_id, first_visit, last_visit FROM company_sources
                  WHERE company_id IS NOT NULL AND ($all OR company_id IN (SELECT unnest($ids)))
              ) GROUP BY company_id) s
        WHERE companies.company_id = s.company_id
          AND (companies.first_seen IS DISTINCT FROM s.first_seen OR companies.last_seen IS DISTINCT FROM s.last_seen)
        """,
        {"all": company_ids is None, "ids": sorted(company_ids or [])},
    ).fetchall()[0][0]


def _extend_by_pageviews_since(con: duckdb.DuckDBPyConnection, run_id: int) -> set[str]:
    """The visits sessions made of pageviews loaded by runs after ``run_id`` extend their companies' first
    and last visits: a session only adds pageviews to its visitor's visits or merges them, so the first
    visit can only move earlier and the last later, and nothing older is read.

    Returns:
        Companies of pageviews in those visits that are not the visit's own: a visit they had was merged
        away, so theirs are recomputed.
    """
    low, high = con.execute("SELECT min(ts), max(ts) FROM pageviews WHERE run_id > ?", [run_id]).fetchall()[0]
    if low is None:
        return set()
    # Both tables are appended night by night: the constant bounds let DuckDB skip older row groups.
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE seen_visits AS
        SELECT visit_id, company_id, started_at, ended_at FROM visits
        WHERE ended_at >= $low AND visit_id IN (SELECT visit_id FROM pageviews WHERE run_id > $run AND ts >= $low)
        """,
        {"low": low, "run": run_id},
    )
    con.execute(
        """
        UPDATE companies SET first_seen = least(companies.first_seen, s.first_seen),
               last_seen = greatest(companies.last_seen, s.last_seen)
        FROM (SELECT company_id, min(started_at) AS first_seen, max(ended_at) AS last_seen FROM seen_visits
              WHERE company_id IS NOT NULL GROUP BY company_id) s
        WHERE companies.company_id = s.company_id
          AND (companies.first_seen IS DISTINCT FROM least(companies.first_seen, s.first_seen)
               OR companies.last_seen IS DISTINCT FROM greatest(companies.last_seen, s.last_seen))
        """
    )
    first, last = con.execute("SELECT min(started_at), max(ended_at) FROM seen_visits").fetchall()[0]
    lost = {c for (c,) in con.execute(
        """
        SELECT DISTINCT p.company_id FROM pageviews p JOIN seen_visits v USING (visit_id)
        WHERE p.ts BETWEEN $first AND $last AND p.company_id IS NOT NULL AND p.company_id IS DISTINCT FROM v.company_id
        """,
        {"first": first or low, "last": last or high},
    ).fetchall()}
    con.execute("DROP TABLE temp.seen_visits")
    return lost


def _oldest_visit_end(con: duckdb.DuckDBPyConnection, before: str | None) -> str | None:
    """The earliest end of a visit, looked for first near the ``before`` one (old row groups skipped)."""
    if before is not None:
        near = con.execute("SELECT CAST(min(ended_at) AS VARCHAR) FROM visits "
                           "WHERE ended_at < CAST(? AS TIMESTAMPTZ) + INTERVAL 7 DAY", [before]).fetchall()[0][0]
        if near is not None:
            return near
    return con.execute("SELECT CAST(min(ended_at) AS VARCHAR) FROM visits").fetchall()[0][0]


def update_seen_since_last(con: duckdb.DuckDBPyConnection, moved: set[str] | None) -> None:
    """First and last visits of the companies whose visits or export figures changed since the last refresh.

    Besides ``moved`` (companies rows were re-pointed from or to; None: any row may have been), what
    changed is read against what the last refresh saw (``pipeline_state``): pageviews loaded since
    (the visits their sessions made or merged: extended in place); the oldest visit (retention deleted
    older ones, so only companies first or last seen before the oldest kept visit can have lost
    theirs); the export figures; erasures (rows deleted anywhere: everything is recomputed).
    """
    stored = con.execute("SELECT value FROM pipeline_state WHERE key = 'companies-seen'").fetchall()
    last = json.loads(stored[0][0]) if stored else None
    run, forgets, sources_count, sources_hash = con.execute(
        """
        SELECT (SELECT coalesce(max(run_id), $run) FROM pageviews WHERE run_id > $run),
               (SELECT count(*) FROM audit_log WHERE action = 'forget'),
               count(*), CAST(coalesce(bit_xor(hash(source, source_key, company_id, first_visit, last_visit)), 0)
                              AS VARCHAR)
        FROM company_sources
        """,
        {"run": last["run"] if last else -1},  # newer runs' pageviews are appended last: few row groups
    ).fetchall()[0]
    oldest = _oldest_visit_end(con, last["oldest"] if last else None)
    now = {"run": run, "oldest": oldest, "forgets": forgets, "sources": [sources_count, sources_hash]}
    if (moved is None or last is None or forgets != last["forgets"] or sources_count < last["sources"][0]
            or (oldest is None and last["oldest"] is not None)):
        update_seen(con)
    else:
        ids = set(moved)
        if run > last["run"]:
            ids |= _extend_by_pageviews_since(con, last["run"])
        if oldest != last["oldest"]:
            ids.update(c for (c,) in con.execute(
                "SELECT company_id FROM companies WHERE first_seen < CAST($t AS TIMESTAMPTZ) "
                "OR last_seen < CAST($t AS TIMESTAMPTZ)", {"t": oldest}).fetchall())
        if now["sources"] != last["sources"]:
            ids.update(c for (c,) in con.execute("SELECT DISTINCT company_id FROM company_sources").fetchall())
        if ids:
            update_seen(con, ids)
    if now != last:
        con.execute("INSERT OR REPLACE INTO pipeline_state VALUES ('companies-seen', ?, current_timestamp)",
                    [json.dumps(now)])
