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

_EXPORT_GROUPS = """  -- exported companies' figures of the period by company, (no referrer), utm_source and utm_medium
    SELECT company_id, NULL, utm_source, utm_medium, greatest(coalesce(visits, 1), 1)
    FROM company_sources WHERE last_visit >= $start AND last_visit < $end
"""
#: The columns of ``lead_scores_for`` a report row starts from (migration 017 defines them).
LEAD_COLUMNS = ("rank", "company_id", "name", "business_id", "industry", "industry_code", "city", "website", "visits",
                "pageviews", "people", "first_visit", "last_visit", "score", "reasons", "form_points", "last_form_at",
                "export_visits", "export_pageviews", "export_quality", "export_last_visit", "sources")


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
    """The 30 days ending with the last day any source saw a company (a visit in the logs or an export, a
    submission), or today: the ``lead_scores`` view's period."""
    last = con.execute(
        """
        SELECT CAST(greatest((SELECT max(ended_at) FROM visits), (SELECT max(last_visit) FROM company_sources),
                             (SELECT max(submitted_at) FROM contacts)) AT TIME ZONE ? AS DATE)
        """,
        [zone],
    ).fetchall()[0][0] or datetime.now(ZoneInfo(zone)).date()
    return Period(last - timedelta(days=days - 1), last, zone)


def report_data(con: duckdb.DuckDBPyConnection, period: Period) -> dict:
    """Everything the report shows, as plain Python values."""
    start, end = period.bounds()
    bounds = {"start": start, "end": end}
    result = con.execute(f"SELECT {', '.join(LEAD_COLUMNS)} FROM lead_scores_for($start, $end) ORDER BY rank",
                         bounds)  # names from code
    rows = [dict(zip(LEAD_COLUMNS, row)) for row in result.fetchall()]
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
            """
            SELECT company_id FROM companies c
            WHERE CAST(coalesce(first_seen, (SELECT min(submitted_at) FROM contacts k WHERE k.company_id = c.company_id))
                       AT TIME ZONE $zone AS DATE) > $since
            """,
            {"zone": period.zone, "since": new_since},
        ).fetchall()
    }
    by_company: dict[str, list] = {}
    for company_id, *group in con.execute(_SOURCE_GROUPS, bounds).fetchall():
        by_company.setdefault(company_id, []).append(group)
    zone = ZoneInfo(period.zone)
    submissions = contacts_of_period(con, bounds, zone)
    exported: dict[str, list] = {}
    for company_id, *group in con.execute(_EXPORT_GROUPS, bounds).fetchall():
        exported.setdefault(company_id, []).append(group)
    for row in rows:
        row["forms"] = submissions.get(row["company_id"], [])
        row["contacted"] = " | ".join(  # the CSV's words for them: one submission each, " | " between
            ", ".join(filter(None, [f"{f['form']} {f['at']}", f["name"], f["position"], f["email"]])) for f in row["forms"])
        row["export"] = None if row["export_visits"] is None else {
            "visits": row["export_visits"], "pageviews": row["export_pageviews"], "quality": row["export_quality"],
            "last_visit_local": _local(row["export_last_visit"], zone)}
        groups = by_company.get(row["company_id"]) or exported.get(row["company_id"], [])  # the export's: no visits
        row["channels"] = [label for label, _, _ in tally(groups)]
        row.update(details.get(row["company_id"], {"top_pages": None, "referrers": None, "campaigns": None}))
        row["new"] = row["company_id"] in new_ids
        row["ytj_url"] = YTJ_PAGE.format(business_id=row["business_id"]) if row["business_id"] else None
        row["last_visit_local"] = _local(row["last_visit"], zone)
        row["last_visit_csv"] = _local(row["last_visit"], zone, "%d.%m.%Y %H:%M")  # Excel's fi-FI
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


def contacts_of_period(con: duckdb.DuckDBPyConnection, bounds: dict, zone: ZoneInfo) -> dict[str, list[dict]]:
    """Who contacted each company in the period, newest first, for sales: which form and when, and the
    person's name, position and e-mail. A person who objected to direct marketing is never shown (nor
    counted: ``lead_scores_for``); the company's own objection keeps it out of the rows altogether."""
    found: dict[str, list[dict]] = {}
    for company_id, form, at, name, position, email in con.execute(
        """
        SELECT company_id, coalesce(form, 'form'), submitted_at, name, position, email FROM contacts
        WHERE company_id IS NOT NULL AND NOT marketing_objection AND submitted_at >= $start AND submitted_at < $end
        ORDER BY submitted_at DESC, form, contact_id
        """,
        bounds,
    ).fetchall():
        found.setdefault(company_id, []).append(
            {"form": form, "at": _local(at, zone), "name": name, "position": position, "email": email})
    return found


def _local(moment: datetime | None, zone: ZoneInfo, pattern: str = "%-d.%-m.%Y %H:%M") -> str:
    """A moment as the configured zone's wall time (Finnish order); nothing when there is none."""
    return moment.astimezone(zone).strftime(pattern) if moment else ""


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
