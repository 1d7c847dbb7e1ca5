"""What the report stage hands to the run's summary, computed once: the top leads from the report's own rows,
what the database holds, and the intent pages it scored with."""

import json
from datetime import date, datetime, timedelta, timezone

import pytest

from sinks.leads import Period
from sinks.report import set_intent_pages, snapshot_summary, write_report

UTC = timezone.utc
NOW = datetime(2026, 11, 25, 6, tzinfo=UTC)


def _activity(con) -> None:
    """Twelve companies with 1..12 visits each (the last one objecting), one pricing page view each."""
    con.execute("INSERT INTO companies (company_id, business_id, name, kind, marketing_objection)"
                " SELECT 'c' || i, CASE WHEN i % 2 = 0 THEN (1000000 + i) || '-0' END, 'Company ' || i || ' Oy',"
                " 'company', i = 12 FROM range(1, 13) r(i)")
    for i in range(1, 13):
        for n in range(i):
            started = datetime(2026, 11, 24, 10, tzinfo=UTC) - timedelta(days=n, minutes=i)
            con.execute("INSERT INTO visits (visit_id, company_id, visitor_key, started_at, ended_at, pageviews,"
                        " source) VALUES (?, ?, ?, ?, ?, 1, 'log')", [f"v{i}-{n}", f"c{i}", f"k{i}", started, started])
            con.execute("INSERT INTO pageviews (pageview_id, visit_id, visitor_key, ts, path, status, stream, run_id,"
                        " company_id) VALUES (?, ?, 'k', ?, '/pricing', 200, 's', 1, ?)",
                        [f"p{i}-{n}", f"v{i}-{n}", started, f"c{i}"])


def test_write_report_returns_its_top_ten_as_plain_values(con, tmp_path):
    _activity(con)
    period = Period(date(2026, 10, 26), date(2026, 11, 24), "Europe/Helsinki")
    stats = write_report(con, tmp_path / "reports", period, NOW)
    top = stats["top_leads"]
    assert [lead["name"] for lead in top] == [f"Company {i} Oy" for i in range(11, 1, -1)]  # the objector never
    assert [lead["rank"] for lead in top] == list(range(1, 11))
    assert set(top[0]) == {"rank", "name", "business_id", "score", "reasons"}
    assert top[0]["business_id"] is None and top[1]["business_id"] == "1000010-0"
    assert "viewed pricing 11 times" in top[0]["reasons"] and "last visit 24.11.2026" in top[0]["reasons"]
    json.dumps(top)  # plain values
    assert "times in Europe/Helsinki" in open(stats["report_html"], encoding="utf-8").read()
    # the same rows the report wrote, and the same scores the view shows for the default period
    with open(stats["report_csv"], encoding="utf-8-sig") as handle:
        lines = handle.read().splitlines()[1:11]
    assert [line.split(";")[1].strip('"') for line in lines] == [lead["name"] for lead in top]
    assert con.execute("SELECT configured_timezone()").fetchall() == [("Europe/Helsinki",)]
    view = con.execute("SELECT rank, name, business_id, score, reasons FROM lead_scores ORDER BY rank LIMIT 10")
    assert [dict(zip(("rank", "name", "business_id", "score", "reasons"), row)) for row in view.fetchall()] == top


def test_snapshot_summary_counts_tables_and_the_last_fourteen_days_with_visits(con, tmp_path):
    _activity(con)
    summary = snapshot_summary(con, "Europe/Helsinki")
    assert summary["tables"] == {"visits": 78, "pageviews": 78, "companies": 12, "networks": 0, "rejects": 0,
                                 "runs": 0}
    days = summary["days"]
    assert [d["day"] for d in days] == [date(2026, 11, 13) + timedelta(days=n) for n in range(12)]
    assert days[-1] == {"day": date(2026, 11, 24), "visits": 12, "pageviews": 12}
    assert days[0] == {"day": date(2026, 11, 13), "visits": 1, "pageviews": 1}


def test_snapshot_summary_reads_a_read_only_snapshot(tmp_path):
    from sinks import database

    path = tmp_path / "leads.duckdb"
    with database.connect(path) as con:
        _activity(con)
    with database.open_snapshot(path) as con:
        assert snapshot_summary(con, "UTC")["tables"]["visits"] == 78


def test_set_intent_pages_replaces_and_reruns_write_nothing(con):
    pairs = [("(?i)pric", "pricing"), ("(?i)/trial", "trial")]
    assert set_intent_pages(con, pairs) is True
    assert sorted(con.execute("SELECT pattern, label FROM intent_pages").fetchall()) == sorted(pairs)
    assert set_intent_pages(con, list(reversed(pairs))) is False
    assert set_intent_pages(con, [("(?i)demo", "demo")]) is True
    assert con.execute("SELECT pattern, label FROM intent_pages").fetchall() == [("(?i)demo", "demo")]


@pytest.mark.parametrize("pairs", [[("(?i)pric(", "pricing")], [("pric", "pricing"), ("pric", "prices")]])
def test_set_intent_pages_refuses_bad_patterns_and_keeps_the_old_ones(con, pairs):
    set_intent_pages(con, [("(?i)demo", "demo")])
    with pytest.raises(ValueError, match="intent_pages"):
        set_intent_pages(con, pairs)
    assert con.execute("SELECT pattern, label FROM intent_pages").fetchall() == [("(?i)demo", "demo")]


def test_a_period_has_no_default_zone():
    with pytest.raises(TypeError):
        Period(date(2026, 11, 1), date(2026, 11, 30))  # type: ignore[call-arg]
