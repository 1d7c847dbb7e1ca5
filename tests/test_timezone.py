"""The configured time zone, recorded in the database: what views, retention's daily totals and the run's
summary count as a day (no zone is hard-coded in sinks)."""

from datetime import date, datetime, timezone

import pytest

from sinks import privacy
from sinks.report import snapshot_summary
from sinks.state import record_timezone, recorded_timezone

UTC = timezone.utc
LATE = datetime(2026, 11, 23, 23, 30, tzinfo=UTC)  # 24.11. in Helsinki, 23.11. in UTC and New York


def _visit(con, visit_id: str, started: datetime, company: str | None = "c1") -> None:
    con.execute("INSERT INTO visits (visit_id, company_id, visitor_key, started_at, ended_at, pageviews, source)"
                " VALUES (?, ?, 'k1', ?, ?, 2, 'log')", [visit_id, company, started, started])


def test_record_timezone_stores_once_and_refuses_unknown_zones(con):
    assert recorded_timezone(con) == "UTC"  # before any run
    assert record_timezone(con, "Europe/Helsinki") is True
    assert record_timezone(con, "Europe/Helsinki") is False  # a rerun writes nothing
    assert recorded_timezone(con) == "Europe/Helsinki"
    assert record_timezone(con, "America/New_York") is True and recorded_timezone(con) == "America/New_York"
    for bad in ("Mars/Olympus_Mons", "", "../../etc/passwd", "Europe/Helsinki'; DROP TABLE visits; --"):
        with pytest.raises(ValueError, match="unknown time zone"):
            record_timezone(con, bad)
    assert recorded_timezone(con) == "America/New_York"


@pytest.mark.parametrize(("zone", "day"), [("Europe/Helsinki", date(2026, 11, 24)), ("UTC", date(2026, 11, 23)),
                                           ("America/New_York", date(2026, 11, 23))])
def test_retention_totals_count_days_in_the_given_zone(con, zone, day):
    con.execute("INSERT INTO companies (company_id, name, kind) VALUES ('c1', 'Kalliodata Oy', 'company')")
    _visit(con, "v1", LATE)
    privacy.retention(con, 13, datetime(2028, 1, 1, tzinfo=UTC), zone=zone)
    assert con.execute("SELECT day, visits, pageviews FROM company_daily_totals").fetchall() == [(day, 1, 2)]
    assert con.execute("SELECT count(*) FROM visits").fetchall() == [(0,)]


def test_retention_totals_default_to_the_recorded_zone(con):
    record_timezone(con, "Europe/Helsinki")
    con.execute("INSERT INTO companies (company_id, name, kind) VALUES ('c1', 'Kalliodata Oy', 'company')")
    _visit(con, "v1", LATE)
    privacy.retention(con, 13, datetime(2028, 1, 1, tzinfo=UTC))
    assert con.execute("SELECT day FROM company_daily_totals").fetchall() == [(date(2026, 11, 24),)]


def test_summary_days_follow_the_zone(con):
    _visit(con, "v1", LATE)
    _visit(con, "v2", datetime(2026, 11, 24, 8, tzinfo=UTC), company=None)
    assert snapshot_summary(con, "Europe/Helsinki")["days"] == [
        {"day": date(2026, 11, 24), "visits": 2, "pageviews": 4}]
    assert snapshot_summary(con, "UTC")["days"] == [
        {"day": date(2026, 11, 23), "visits": 1, "pageviews": 2},
        {"day": date(2026, 11, 24), "visits": 1, "pageviews": 2}]
