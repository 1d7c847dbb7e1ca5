"""The lead report for sales: one self-contained HTML file (Jinja2, inline SVG charts) and a CSV for Excel.

What it shows comes from ``sinks/leads.py`` (one definition of the period's
leads and scores); this module renders it and records the report.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import duckdb
from jinja2 import Environment, PackageLoader, select_autoescape

from sinks.charts import bar_chart, column_chart
from sinks.files import private_writer
from sinks.leads import Period, report_data
from sinks.state import record_timezone
from sinks.text import clean, csv_cell

__all__ = ["CSV_COLUMNS", "CSV_HEADERS", "render_html", "set_intent_pages", "snapshot_summary", "write_csv",
           "write_report"]

TOP_LEADS = 10  # the run's summary shows this many
SUMMARY_TABLES = ("visits", "pageviews", "companies", "networks", "rejects", "runs")
SUMMARY_DAYS = 14


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
    "channels": "Channels",  # later: earlier columns keep their places
    "sources": "Seen in", "contacted": "Contacted us", "export_visits": "Leadfeeder visits",
    "export_pageviews": "Leadfeeder pageviews", "export_quality": "Leadfeeder quality",
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


def write_report(con: duckdb.DuckDBPyConnection, report_dir: Path, period: Period, now: datetime,
                 feeds: tuple = (), leads: dict | None = None) -> dict:
    """Write lead-report-YYYY-MM-DD.html and .csv (named after the period's last day); record it.

    Each of ``feeds`` (:class:`sinks.feeds.Feed`) is a section of the HTML and its own
    ``lead-report-YYYY-MM-DD-FEED.csv``. ``leads``: the period's :func:`sinks.leads.report_data`, when
    the caller has it.

    The period's zone is recorded as the database's (:func:`sinks.state.record_timezone`) first, so the
    scores are computed in it.

    Returns:
        ``report_html``, ``report_csv`` (paths), ``report_companies``, ``report_new_companies`` (counts)
        and ``top_leads``: the first :data:`TOP_LEADS` rows as plain dicts with ``rank``, ``name``,
        ``business_id``, ``score`` and ``reasons`` — for the run's summary, not for ``runs.stats``
        (a sole trader's name is personal data).
    """
    record_timezone(con, period.zone)
    data = dict(leads if leads is not None else report_data(con, period))  # its own: feeds are added below
    from sinks.feeds import feed_csv_path, feed_data

    data["feeds"] = [feed_data(con, data, feed) for feed in feeds]
    for feed in data["feeds"]:
        write_csv(feed, feed_csv_path(report_dir, period, feed["feed"]))
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
            "report_feeds": {feed["feed"].name: len(feed["companies"]) for feed in data["feeds"]},
            "top_leads": [{key: row[key] for key in ("rank", "name", "business_id", "score", "reasons")}
                          for row in data["companies"][:TOP_LEADS]]}


def report_link(report_url: str | None, html_path: Path | str) -> str | None:
    """Where sales open a report: ``report_url`` (the report folder as served) joined with its file
    name; None when ``report_url`` is unset (the e-mail attaches the report, the push links nothing)."""
    if not report_url:
        return None
    return report_url.rstrip("/") + "/" + quote(str(html_path).replace("\\", "/").rsplit("/", 1)[-1])


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
