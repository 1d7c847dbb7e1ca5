"""Retention deletes whole local weeks: each day's totals come from all its visits, exactly once."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sinks import privacy

NOW = datetime(2026, 11, 26, 9, 30, tzinfo=timezone.utc)
HELSINKI = ZoneInfo("Europe/Helsinki")


def _visit(con, visit_id: str, start: datetime, minutes: int, company: str = "c-1") -> None:
    con.execute(
        "INSERT INTO visits (visit_id, company_id, visitor_key, started_at, ended_at, pageviews, source) "
        "VALUES (?, ?, ?, ?, ?, 2, 'log')",
        [visit_id, company, f"v-{visit_id}", start, start + timedelta(minutes=minutes)],
    )
    for n, at in enumerate((start, start + timedelta(minutes=minutes))):
        con.execute(
            "INSERT INTO pageviews (pageview_id, visit_id, visitor_key, ts, path, status, stream, run_id, company_id) "
            "VALUES (?, ?, ?, ?, '/', 200, 's', 1, ?)",
            [f"{visit_id}-{n}", visit_id, f"v-{visit_id}", at, company],
        )


def test_the_cutoff_is_a_local_midnight():
    cutoff = privacy.retention_cutoff(NOW, 13, "Europe/Helsinki")
    local = cutoff.astimezone(HELSINKI)
    assert (local.hour, local.minute, local.weekday()) == (0, 0, 0)  # a whole week at a time: Monday 00:00
    assert NOW - cutoff <= timedelta(days=round(13 * 30.44) + 7)  # never more than six days late
    # one night to the next, the cutoff moves only when a week has passed: the file is rewritten weekly
    cutoffs = {privacy.retention_cutoff(NOW + timedelta(days=d), 13, "Europe/Helsinki") for d in range(7)}
    assert len(cutoffs) <= 2
    assert cutoff.date() < (NOW - timedelta(days=395)).date() + timedelta(days=1)


def test_a_day_goes_whole_with_its_late_pageviews_and_a_late_line_adds_to_its_totals(con):
    cutoff = privacy.retention_cutoff(NOW, 13, "Europe/Helsinki")
    day_before = cutoff - timedelta(hours=2)  # 22:00 local, the last day to go
    _visit(con, "a", day_before, 10)
    _visit(con, "b", cutoff - timedelta(minutes=5), 20)  # starts before midnight, ends after it
    _visit(con, "c", cutoff + timedelta(hours=1), 10)  # the next day: stays
    rows = privacy.retention(con, 13, NOW, zone="Europe/Helsinki")
    assert (rows["visits"], rows["pageviews"]) == (2, 4)  # b's pageview after midnight went with it
    assert con.execute("SELECT visit_id FROM visits").fetchall() == [("c",)]
    assert con.execute("SELECT DISTINCT visit_id FROM pageviews").fetchall() == [("c",)]
    totals = con.execute("SELECT day, visits, pageviews FROM company_daily_totals").fetchall()
    assert totals == [((cutoff - timedelta(days=1)).astimezone(HELSINKI).date(), 2, 4)]
    # A late line of that day, loaded and sessionized later, is deleted the next night: it adds.
    _visit(con, "d", day_before + timedelta(minutes=30), 1)
    again = privacy.retention(con, 13, NOW + timedelta(hours=1), zone="Europe/Helsinki")
    assert again["visits"] == 1
    assert con.execute("SELECT visits, pageviews FROM company_daily_totals").fetchall() == [(3, 6)]
    # Nothing left to delete: nothing written, not even an audit entry.
    audits = con.execute("SELECT count(*) FROM audit_log").fetchall()[0][0]
    assert not any(privacy.retention(con, 13, NOW + timedelta(hours=2), zone="Europe/Helsinki").values())
    assert con.execute("SELECT count(*) FROM audit_log").fetchall()[0][0] == audits


def test_a_log_older_than_the_retention_period_is_never_counted_again(tmp_path):
    """Retention forgets the ledger entries of the days it deletes; the lines are not imported again."""
    from flows import engine
    from flows.config import load_settings
    from tests.conftest import combined, write_log

    old = datetime.now(timezone.utc) - timedelta(days=500)
    stamp = old.strftime("%d/%b/%Y:%H:%M:%S +0000")
    write_log(tmp_path / "old.log", [combined(client="85.76.1.9", ts=stamp)] * 3)
    settings = load_settings({"db": str(tmp_path / "leads.duckdb"), "logs": [str(tmp_path / "old.log")],
                              "offline": True, "report_dir": str(tmp_path / "reports")}, None, None)
    for _ in range(3):
        stats = engine.execute(settings, "run", ["ingest", "resolve", "load", "retention"])
        assert (stats["pageviews"], stats["lines_out_of_window"], stats["compacted"]) == (0, 3, False)
