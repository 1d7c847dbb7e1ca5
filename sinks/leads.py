"""The period's leads as plain Python values: every company the period knows, with what explains it.

The rows come from ``lead_scores_for(period)`` (migrations) and plain queries
over visits and pageviews; companies flagged against direct marketing never
appear. Days are the configured time zone's: the period's zone is recorded in
the database (:func:`sinks.state.record_timezone`), where the views and macros
read it, so the report, its CSV, the e-mail and the ``lead_scores`` view show
one score. Rendering: ``sinks/report.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import duckdb

from enrich.channels import tally

TOP = 25
YTJ_PAGE = "https://tietopalvelu.ytj.fi/yritys/{business_id}"
#: Why visits were not companies' (``networks.kind``, or no network): what an empty report says.
NETWORK_KINDS = {
    "isp": "internet providers (ISP)", "mobile": "mobile operators", "hosting": "hosting and clouds",
    "unknown": "networks of unknown kind", "unresolved": "addresses not resolved to a network",
    "education": "schools and universities", "government": "public sector",
    "company": "company networks without a company shown (none found, or it objected to direct marketing)",
}
ALWAYS_SHOWN = ("isp", "mobile", "hosting", "unknown", "unresolved")
# a referrer's host (URL or bare host/path): channels are decided from it and the UTM tags
_SOURCE_GROUPS = """  -- company visits by company, referrer host, utm_source and utm_medium
    SELECT company_id, nullif(regexp_extract(referrer, '^(?:[a-zA-Z][a-zA-Z0-9+.-]*://)?([^/?#]*)', 1), ''),
           utm_source, utm_medium, count(*)
    FROM visits WHERE started_at >= $start AND started_at < $end AND company_id IS NOT NULL GROUP BY ALL
"""


@dataclass(frozen=True)
class Period:
    """Whole days ``start``..``end`` (inclusive) in the time zone ``zone`` (the configured one)."""

    start: date
    end: date  # inclusive
    zone: str

    def bounds(self) -> tuple[datetime, datetime]:
        tz = ZoneInfo(self.zone)
        return (datetime.combine(self.start, time(0), tz).astimezone(timezone.utc),
                datetime.combine(self.end + timedelta(days=1), time(0), tz).astimezone(timezone.utc))


def default_period(con: duckdb.DuckDBPyConnection, zone: str, days: int = 30) -> Period:
    """The 30 days ending with the last day that has visits (or today)."""
    last = con.execute(
        "SELECT CAST(max(ended_at) AT TIME ZONE ? AS DATE) FROM visits", [zone]
    ).fetchall()[0][0] or datetime.now(ZoneInfo(zone)).date()
    return Period(last - timedelta(days=days - 1), last, zone)


def report_data(con: duckdb.DuckDBPyConnection, period: Period) -> dict:
    """Everything the report shows, as plain Python values."""
    start, end = period.bounds()
    bounds = {"start": start, "end": end}
    companies = con.execute(
        """
        SELECT rank, company_id, name, business_id, industry, city, website, visits, pageviews, people,
               first_visit, last_visit, score, reasons
        FROM lead_scores_for($start, $end) ORDER BY rank
        """,
        {"start": start, "end": end},
    ).fetchall()
    columns = ["rank", "company_id", "name", "business_id", "industry", "city", "website", "visits", "pageviews",
               "people", "first_visit", "last_visit", "score", "reasons"]
    rows = [dict(zip(columns, row)) for row in companies]
    details = {
        company_id: {"top_pages": pages, "referrers": refs, "campaigns": camps}
        for company_id, pages, refs, camps in con.execute(
            """
            WITH v AS (
                SELECT * FROM visits WHERE started_at >= $start AND started_at < $end AND company_id IS NOT NULL
            ), pages AS (
                -- a visit's pageviews are no older than its start: the older history is never read
                SELECT p.company_id, p.path, count(*) AS n FROM pageviews p SEMI JOIN v USING (visit_id)
                WHERE p.ts >= $start
                GROUP BY p.company_id, p.path QUALIFY row_number() OVER (PARTITION BY p.company_id ORDER BY n DESC, p.path) <= 5
            ), refs AS (
                SELECT company_id, regexp_extract(referrer, '^[a-z]+://([^/]+)', 1) AS host, count(*) AS n FROM v
                WHERE referrer IS NOT NULL GROUP BY company_id, host
                QUALIFY row_number() OVER (PARTITION BY company_id ORDER BY n DESC, host) <= 3
            ), camps AS (
                SELECT company_id, utm_campaign, count(*) AS n FROM v WHERE utm_campaign IS NOT NULL GROUP BY ALL
            )
            SELECT c.company_id,
                   (SELECT list(path || ' (' || n || ')' ORDER BY n DESC, path) FROM pages p WHERE p.company_id = c.company_id),
                   (SELECT list(host ORDER BY n DESC, host) FROM refs r WHERE r.company_id = c.company_id AND host <> ''),
                   (SELECT list(utm_campaign ORDER BY n DESC, utm_campaign) FROM camps m WHERE m.company_id = c.company_id)
            FROM (SELECT DISTINCT company_id FROM v) c
            """,
            bounds,
        ).fetchall()
    }
    previous = con.execute(
        "SELECT max(period_end) FROM reports WHERE period_end < ?", [period.end]
    ).fetchall()[0][0]
    new_since = previous or (period.start - timedelta(days=1))
    new_ids = {
        company_id for (company_id,) in con.execute(
            "SELECT company_id FROM companies WHERE CAST(first_seen AT TIME ZONE $zone AS DATE) > $since",
            {"zone": period.zone, "since": new_since},
        ).fetchall()
    }
    by_company: dict[str, list] = {}
    for company_id, *group in con.execute(_SOURCE_GROUPS, bounds).fetchall():
        by_company.setdefault(company_id, []).append(group)
    zone = ZoneInfo(period.zone)
    for row in rows:
        row["channels"] = [label for label, _, _ in tally(by_company.get(row["company_id"], []))]
        row.update(details.get(row["company_id"], {"top_pages": None, "referrers": None, "campaigns": None}))
        row["new"] = row["company_id"] in new_ids
        row["ytj_url"] = YTJ_PAGE.format(business_id=row["business_id"]) if row["business_id"] else None
        row["last_visit_local"] = row["last_visit"].astimezone(zone).strftime("%-d.%-m.%Y %H:%M")
        row["last_visit_csv"] = row["last_visit"].astimezone(zone).strftime("%d.%m.%Y %H:%M")  # Excel's fi-FI
        for key in ("top_pages", "referrers", "campaigns"):
            row[key] = list(row[key] or [])
    daily = con.execute(
        """
        SELECT CAST(started_at AT TIME ZONE $zone AS DATE) AS day, count(*) AS visits,
               count(*) FILTER (WHERE company_id IS NOT NULL) AS company_visits
        FROM visits WHERE started_at >= $start AND started_at < $end GROUP BY day ORDER BY day
        """,
        {**bounds, "zone": period.zone},
    ).fetchall()
    channels = tally([group for groups in by_company.values() for group in groups])  # every company's visits
    totals = con.execute(
        """
        SELECT count(*), count(*) FILTER (WHERE company_id IS NOT NULL), coalesce(sum(pageviews), 0)
        FROM visits WHERE started_at >= $start AND started_at < $end
        """,
        bounds,
    ).fetchall()[0]
    return {
        "period": period, "companies": rows, "top": rows[:TOP], "new": [r for r in rows if r["new"]],
        "daily": daily, "sources": [(label, n) for label, n, _ in channels], "channels": channels,
        "network_kinds": None if rows else network_kinds(con, bounds),
        "totals": {"visits": totals[0], "company_visits": totals[1], "pageviews": totals[2], "companies": len(rows)},
    }


def network_kinds(con: duckdb.DuckDBPyConnection, bounds: dict) -> list[tuple[str, int]]:
    """The period's visits by the kind of their network (``visits.network_id`` → ``networks.kind``;
    no network: ``unresolved``) as ``(words, visits)``: :data:`ALWAYS_SHOWN` always, the rest when seen."""
    counts = dict(con.execute(
        """
        SELECT coalesce(n.kind, 'unresolved'), count(*) FROM visits v LEFT JOIN networks n USING (network_id)
        WHERE v.started_at >= $start AND v.started_at < $end GROUP BY 1
        """,
        bounds,
    ).fetchall())
    return [(words, counts.get(kind, 0)) for kind, words in NETWORK_KINDS.items()
            if kind in ALWAYS_SHOWN or counts.get(kind)]
