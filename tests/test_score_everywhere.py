"""Issue 15 item 2, one score: the view, the report's rows, its CSV and the run summary give the same
number for the same period, whatever the analyst's session time zone; the period's days and the
"last 7 days" are the configured zone's."""

import csv
from datetime import date, datetime, timedelta, timezone

import pytest

from sinks.leads import Period, default_period
from sinks.report import write_report
from sinks.state import record_timezone

UTC = timezone.utc
NOW = datetime(2026, 11, 25, 6, tzinfo=UTC)
ZONE = "Europe/Helsinki"


def _activity(con) -> None:
    """Eight companies visiting at hours that fall on different days in different zones (22:30–01:30
    UTC), across October's change of summer time, some on pricing pages."""
    con.execute("INSERT INTO companies (company_id, business_id, name, kind)"
                " SELECT 'c' || i, NULL, 'Company ' || i || ' Oy', 'company' FROM range(1, 9) r(i)")
    n = 0
    for i in range(1, 9):
        for day in range(0, 50, i):
            n += 1
            started = datetime(2026, 11, 24, 22, 30, tzinfo=UTC) - timedelta(days=day, hours=i % 4)
            path = "/pricing" if (day + i) % 3 == 0 else "/blog"
            con.execute("INSERT INTO visits (visit_id, company_id, visitor_key, started_at, ended_at, pageviews,"
                        " source) VALUES (?, ?, ?, ?, ?, 1, 'log')", [f"v{n}", f"c{i}", f"k{i}-{day % 3}", started,
                                                                    started])
            con.execute("INSERT INTO pageviews (pageview_id, visit_id, visitor_key, ts, path, status, stream, run_id,"
                        " company_id) VALUES (?, ?, 'k', ?, ?, 200, 's', 1, ?)",
                        [f"p{n}", f"v{n}", started, path, f"c{i}"])


def _csv_scores(path: str) -> dict[str, float]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return {row["Company"]: float(row["Score"].replace(",", ".")) for row in csv.DictReader(handle, delimiter=";")}


PERIODS = [None, (date(2026, 10, 20), date(2026, 11, 18)), (date(2026, 10, 25), date(2026, 10, 25)),
           (date(2026, 11, 1), date(2026, 11, 25))]


@pytest.mark.parametrize("session_zone", ["UTC", "America/Los_Angeles", "Asia/Tokyo", ZONE])
@pytest.mark.parametrize("days", PERIODS, ids=["default", "oct20-nov18", "dst-day", "november"])
def test_view_report_csv_and_summary_show_one_score(con, tmp_path, session_zone, days):
    record_timezone(con, ZONE)
    _activity(con)
    con.execute(f"SET TimeZone = '{session_zone}'")  # an analyst's session (a name from this test)
    period = default_period(con, ZONE) if days is None else Period(*days, ZONE)
    stats = write_report(con, tmp_path / "reports", period, NOW)
    start, end = period.bounds()
    macro = {name: (score, visits_7d) for name, score, visits_7d in con.execute(
        "SELECT name, score, visits_7d FROM lead_scores_for(?, ?)", [start, end]).fetchall()}
    assert macro, "the period has companies"
    assert _csv_scores(stats["report_csv"]) == {name: score for name, (score, _) in macro.items()}
    assert {lead["name"]: lead["score"] for lead in stats["top_leads"]} == {
        name: score for name, (score, _) in sorted(macro.items(), key=lambda kv: -kv[1][0])[:10]}
    if days is None:  # the view is the report's default period
        view = dict(con.execute("SELECT name, score FROM lead_scores").fetchall())
        assert view == {name: score for name, (score, _) in macro.items()}
    # the same numbers in the business's own zone, whatever the session said
    con.execute(f"SET TimeZone = '{ZONE}'")
    again = {name: (score, visits_7d) for name, score, visits_7d in con.execute(
        "SELECT name, score, visits_7d FROM lead_scores_for(?, ?)", [start, end]).fetchall()}
    assert again == macro
