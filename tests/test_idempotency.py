"""Reruns change nothing; the next night's logs extend a session across midnight."""

from tests.conftest import combined, ingest, table_counts, write_log


def _snapshot(con):
    return (
        table_counts(con),
        con.execute("SELECT visit_id, started_at, ended_at, pageviews FROM visits ORDER BY visit_id").fetchall(),
        con.execute("SELECT pageview_id, visit_id FROM pageviews ORDER BY pageview_id").fetchall(),
    )


def test_same_inputs_twice_change_nothing(con, tmp_path):
    lines = [combined(ts=f"24/Nov/2026:1{h}:{m:02d}:00 +0200", client=f"85.76.1.{h}") for h in range(5) for m in (0, 10, 50)]
    path = write_log(tmp_path / "access.log", lines)
    ingest(con, path)
    first = _snapshot(con)
    stats = ingest(con, path)
    assert stats["pageviews"] == 0 and stats["duplicate_lines"] == len(lines)
    assert _snapshot(con) == first


def test_next_nights_logs_extend_a_session_that_straddles_midnight(con, tmp_path):
    night1 = write_log(tmp_path / "access.log.1", [
        combined(ts="23/Nov/2026:23:40:00 +0200", request="GET /a HTTP/1.1"),
        combined(ts="23/Nov/2026:23:55:00 +0200", request="GET /b HTTP/1.1"),
    ])
    ingest(con, night1)
    assert con.execute("SELECT count(*) FROM visits").fetchall()[0][0] == 1
    night2 = write_log(tmp_path / "access.log", [
        combined(ts="24/Nov/2026:00:10:00 +0200", request="GET /c HTTP/1.1"),
        combined(ts="24/Nov/2026:09:00:00 +0200", request="GET /d HTTP/1.1"),
    ])
    stats = ingest(con, night2)
    rows = con.execute("SELECT pageviews, landing_page FROM visits ORDER BY started_at").fetchall()
    assert rows == [(3, "/a"), (1, "/d")]
    assert stats["visits"] == 1  # one new visit; the first was extended, not split
    # and the pageviews point at the visits that hold them
    assert con.execute(
        "SELECT count(*) FROM pageviews p JOIN visits v USING (visit_id)"
    ).fetchall()[0][0] == 4


def test_one_run_over_both_nights_equals_two_runs(con, tmp_path):
    from sinks import database

    lines1 = [combined(ts="23/Nov/2026:23:50:00 +0200"), combined(ts="23/Nov/2026:23:59:00 +0200", client="85.76.1.99")]
    lines2 = [combined(ts="24/Nov/2026:00:05:00 +0200"), combined(ts="24/Nov/2026:00:45:00 +0200", client="85.76.1.99")]
    a = write_log(tmp_path / "access.log.1", lines1)
    b = write_log(tmp_path / "access.log", lines2)
    ingest(con, a)
    ingest(con, b)
    other = database.connect(":memory:")
    ingest(other, b, a)
    assert _snapshot(con) == _snapshot(other)


def test_late_lines_merge_visits_and_keep_ids_stable(con, tmp_path):
    early = write_log(tmp_path / "access.log", [combined(ts="24/Nov/2026:10:00:00 +0200"),
                                                combined(ts="24/Nov/2026:10:50:00 +0200")])
    ingest(con, early)
    assert con.execute("SELECT count(*) FROM visits").fetchall()[0][0] == 2
    late = write_log(tmp_path / "other.log", [combined(ts="24/Nov/2026:10:25:00 +0200")])
    ingest(con, late)
    assert con.execute("SELECT count(*), sum(pageviews) FROM visits").fetchall() == [(1, 3)]


def test_since_until_window_loads_only_those_days_and_leaves_the_rest_for_later(con, tmp_path):
    from datetime import datetime, timezone

    path = write_log(tmp_path / "access.log", [
        combined(ts="23/Nov/2026:12:00:00 +0200", request="GET /a HTTP/1.1"),
        combined(ts="24/Nov/2026:12:00:00 +0200", request="GET /b HTTP/1.1"),
    ])
    day = datetime(2026, 11, 23, 22, tzinfo=timezone.utc)  # 24 Nov 00:00 Helsinki
    stats = ingest(con, path, since=day)
    assert stats["pageviews"] == 1 and stats["lines_out_of_window"] == 1
    stats = ingest(con, path)  # the earlier day, later
    assert stats["pageviews"] == 1 and stats["duplicate_lines"] == 1
