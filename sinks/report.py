"""The lead report for sales: one self-contained HTML file (Jinja2, inline SVG charts) and a CSV for Excel.

The data comes from ``lead_scores_for(period)`` and plain queries over visits
and pageviews; companies flagged against direct marketing never appear. Days are
the configured time zone's: the period's zone is recorded in the database
(:func:`sinks.state.record_timezone`), where the views and macros read it, so the
report, its CSV and the ``lead_scores`` view show one score.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
from jinja2 import Environment, PackageLoader, select_autoescape

from enrich.channels import tally
from sinks.files import private_writer
from sinks.state import record_timezone
from sinks.text import clean, csv_cell

YTJ_PAGE = "https://tietopalvelu.ytj.fi/yritys/{business_id}"
TOP = 25
TOP_LEADS = 10  # the run's summary shows this many
SUMMARY_TABLES = ("visits", "pageviews", "companies", "networks", "rejects", "runs")
SUMMARY_DAYS = 14
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


def bar_chart(items: list[tuple[str, float]], width: int = 400, bar: int = 24, color: str = "#2563eb") -> str:
    """A horizontal bar chart as inline SVG (no script, no network)."""
    from markupsafe import escape

    if not items:
        return '<p class="muted">No data for this period.</p>'
    top = max(value for _, value in items) or 1
    label_w, height = 150, bar * len(items) + 8
    parts = [f'<svg viewBox="0 0 {width} {height}" role="img" class="chart" preserveAspectRatio="xMinYMin meet">']
    for i, (label, value) in enumerate(items):
        y = 4 + i * bar
        length = max(2.0, (width - label_w - 44) * value / top)
        parts.append(f'<text x="{label_w - 8}" y="{y + bar * 0.7:.1f}" text-anchor="end" class="label">{escape(str(label)[:22])}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{length:.1f}" height="{bar - 6}" rx="3" fill="{color}"/>')
        parts.append(f'<text x="{label_w + length + 6:.1f}" y="{y + bar * 0.7:.1f}" class="value">{value:g}</text>')
    parts.append("</svg>")
    return "".join(parts)


def column_chart(days: list[tuple[date, int, int]], width: int = 400, height: int = 160) -> str:
    """Visits per day (all, and those attributed to companies) as inline SVG columns."""
    if not days:
        return '<p class="muted">No visits in this period.</p>'
    top = max(v for _, v, _ in days) or 1
    step = (width - 40) / len(days)
    parts = [f'<svg viewBox="0 0 {width} {height + 30}" role="img" class="chart">']
    for i, (day, visits, company) in enumerate(days):
        x = 30 + i * step
        h_all, h_company = (height - 10) * visits / top, (height - 10) * company / top
        parts.append(f'<rect x="{x:.1f}" y="{height - h_all:.1f}" width="{step * 0.8:.1f}" height="{h_all:.1f}" fill="#cbd5e1"><title>{day}: {visits} visits</title></rect>')
        parts.append(f'<rect x="{x:.1f}" y="{height - h_company:.1f}" width="{step * 0.8:.1f}" height="{h_company:.1f}" fill="#2563eb"><title>{day}: {company} company visits</title></rect>')
        if len(days) <= 16 or i % max(1, len(days) // 8) == 0:
            parts.append(f'<text x="{x + step * 0.4:.1f}" y="{height + 16}" text-anchor="middle" class="label">{day.day}.{day.month}.</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_html(data: dict, generated_at: datetime) -> str:
    # finalize: every value the template prints (charts included) loses control and bidi characters,
    # which autoescaping leaves in.
    environment = Environment(loader=PackageLoader("sinks", "templates"), autoescape=select_autoescape(["html", "j2"]),
                              finalize=clean)
    template = environment.get_template("lead_report.html.j2")
    return template.render(
        **data,
        generated_at=generated_at.astimezone(ZoneInfo(data["period"].zone)).strftime("%-d.%-m.%Y %H:%M"),
        daily_chart=column_chart(data["daily"]),
        companies_chart=bar_chart([(r["name"], r["score"]) for r in data["top"][:10]]),
        sources_chart=bar_chart(data["sources"], color="#0f766e"),
    )


#: The CSV's columns (keys of the report's rows) and the headers sales read in Excel.
CSV_HEADERS = {
    "rank": "Rank", "name": "Company", "business_id": "Business ID", "industry": "Industry", "city": "City",
    "website": "Website", "visits": "Visits", "pageviews": "Pageviews", "people": "Visitors",
    "last_visit_csv": "Last visit", "score": "Score", "reasons": "Why", "top_pages": "Top pages",
    "referrers": "Referrers", "campaigns": "Campaigns", "new": "New", "ytj_url": "YTJ page",
    "channels": "Channels",  # last: earlier columns keep their places
}
CSV_COLUMNS = list(CSV_HEADERS)


class _DecimalComma(float):
    """A number as Finnish Excel reads it: ``12,5`` (the csv writer leaves numbers unquoted)."""

    def __str__(self) -> str:
        return format(float(self), "g").replace(".", ",")

    __repr__ = __str__  # whichever the csv module asks for


def _csv_value(value: object) -> object:
    if isinstance(value, list):
        return ", ".join(value)
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, float):
        return int(value) if value.is_integer() else _DecimalComma(value)
    return value


def write_csv(data: dict, path: Path) -> None:
    """A CSV that Finnish Excel opens as it should: UTF-8 with BOM (ä and ö intact), semicolons,
    decimal commas (``12,5``) and ``dd.mm.yyyy hh:mm`` times, so numbers and dates are numbers and
    dates; readable headers.

    Safe to open: every text cell is quoted, clean and never a formula (:func:`sinks.text.csv_cell`);
    numbers stay unquoted numbers.
    """
    with private_writer(path, "w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.writer(handle, delimiter=";", quoting=csv.QUOTE_NONNUMERIC)
        writer.writerow(CSV_HEADERS.values())
        for row in data["companies"]:
            writer.writerow([csv_cell(_csv_value(row.get(c))) for c in CSV_COLUMNS])


def write_report(con: duckdb.DuckDBPyConnection, report_dir: Path, period: Period, now: datetime) -> dict:
    """Write lead-report-YYYY-MM-DD.html and .csv (named after the period's last day); record it.

    The period's zone is recorded as the database's (:func:`sinks.state.record_timezone`) first, so the
    scores are computed in it.

    Returns:
        ``report_html``, ``report_csv`` (paths), ``report_companies``, ``report_new_companies`` (counts)
        and ``top_leads``: the first :data:`TOP_LEADS` rows as plain dicts with ``rank``, ``name``,
        ``business_id``, ``score`` and ``reasons`` — for the run's summary, not for ``runs.stats``
        (a sole trader's name is personal data).
    """
    record_timezone(con, period.zone)
    data = report_data(con, period)
    stem = report_dir / f"lead-report-{period.end.isoformat()}"
    html_path, csv_path = stem.with_suffix(".html"), stem.with_suffix(".csv")
    with private_writer(html_path, "w", encoding="utf-8") as handle:
        handle.write(render_html(data, now))
    write_csv(data, csv_path)
    report_id = con.execute("SELECT coalesce(max(report_id), 0) + 1 FROM reports").fetchall()[0][0]
    con.execute(
        "INSERT INTO reports VALUES (?, ?, ?, ?, ?, ?, ?)",
        [report_id, now, period.start, period.end, str(html_path), str(csv_path), len(data["companies"])],
    )
    return {"report_html": str(html_path), "report_csv": str(csv_path), "report_companies": len(data["companies"]),
            "report_new_companies": len(data["new"]),
            "top_leads": [{key: row[key] for key in ("rank", "name", "business_id", "score", "reasons")}
                          for row in data["companies"][:TOP_LEADS]]}


def set_intent_pages(con: duckdb.DuckDBPyConnection, pairs: Iterable[tuple[str, str]]) -> bool:
    """Make ``intent_pages`` hold exactly ``pairs`` of (regular expression on the path, label).

    Returns:
        True when the table changed (nothing is written when it already holds them).

    Raises:
        ValueError: a pattern is not a valid regular expression, or appears twice.
    """
    wanted = sorted(set(pairs))
    patterns = [pattern for pattern, _ in wanted]
    if len(set(patterns)) != len(patterns):
        raise ValueError("intent_pages: one pattern has two labels")
    for pattern, label in wanted:
        try:
            con.execute("SELECT regexp_matches('', ?)", [pattern]).fetchall()
        except duckdb.Error:
            raise ValueError(f"intent_pages: the pattern of {label!r} is not a valid regular expression") from None
    if sorted(con.execute("SELECT pattern, label FROM intent_pages").fetchall()) == wanted:
        return False
    con.execute("DELETE FROM intent_pages")
    con.executemany("INSERT INTO intent_pages VALUES (?, ?)", [list(pair) for pair in wanted])
    return True


def snapshot_summary(con: duckdb.DuckDBPyConnection, zone: str) -> dict:
    """What a database holds, for the run's summary (works on a read-only snapshot).

    Args:
        con: a connection to the published snapshot (or the working copy).
        zone: the configured time zone (days are counted in it).

    Returns:
        ``{"tables": {name: rows}}`` for :data:`SUMMARY_TABLES`, and ``"days"``: the last
        :data:`SUMMARY_DAYS` days that have visits, oldest first, as ``{"day": date, "visits": int,
        "pageviews": int}``.
    """
    tables = {table: con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]  # names from code
              for table in SUMMARY_TABLES}
    days = con.execute(
        """
        SELECT CAST(timezone($zone, started_at) AS DATE) AS day, count(*) AS visits,
               CAST(sum(pageviews) AS BIGINT) AS pageviews
        FROM visits GROUP BY day ORDER BY day DESC LIMIT $days
        """,
        {"zone": zone, "days": SUMMARY_DAYS},
    ).fetchall()
    return {"tables": tables,
            "days": [{"day": day, "visits": visits, "pageviews": pageviews}
                     for day, visits, pageviews in reversed(days)]}
