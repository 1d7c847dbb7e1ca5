"""Each definition of PRODUCT.md, end to end through the ingest: bots, pageviews, sessions, duplicates."""

from tests.conftest import combined, ingest, table_counts, write_log


def test_bots_are_counted_never_visits(con, tmp_path):
    lines = [
        combined(agent="Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
        combined(agent="curl/8.5.0"),
        combined(agent="python-requests/2.32.3"),
        combined(agent="Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0 Safari/537.36"),
        combined(agent="kube-probe/1.31"),
        combined(agent="ELB-HealthChecker/2.0"),
        combined(agent="Mozilla/5.0 (compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)"),
        combined(agent=""),
        combined(agent="-"),
        combined(),  # a person
    ]
    stats = ingest(con, write_log(tmp_path / "access.log", lines))
    assert stats["bot_requests"] == 9
    assert stats["pageviews"] == 1
    assert table_counts(con)["visits"] == 1


def test_pageview_rule_assets_redirects_errors_methods(con, tmp_path):
    lines = [
        combined(request="GET /pricing HTTP/1.1", status=200),
        combined(request="GET /pricing HTTP/1.1", status=304, ts="24/Nov/2026:10:00:01 +0200"),
        combined(request="GET /static/app.css HTTP/1.1"),
        combined(request="GET /static/app.js?v=3 HTTP/1.1"),
        combined(request="GET /img/logo.PNG HTTP/1.1"),
        combined(request="GET /fonts/inter.woff2 HTTP/1.1"),
        combined(request="GET /favicon.ico HTTP/1.1"),
        combined(request="GET /static/app.js.map HTTP/1.1"),
        combined(request="GET /feed/ HTTP/1.1"),
        combined(request="GET /old HTTP/1.1", status=301),
        combined(request="GET /missing HTTP/1.1", status=404),
        combined(request="GET /broken HTTP/1.1", status=500),
        combined(request="POST /contact HTTP/1.1", status=200),
        combined(request="HEAD / HTTP/1.1", status=200),
        combined(request="-", status=408),
    ]
    stats = ingest(con, write_log(tmp_path / "access.log", lines))
    assert stats["lines_parsed"] == len(lines)
    assert stats["pageviews"] == 2
    assert con.execute("SELECT DISTINCT path FROM pageviews").fetchall() == [("/pricing",)]


def _visit_counts(con):
    return con.execute("SELECT count(*), sum(pageviews) FROM visits").fetchall()[0]


def test_a_gap_of_exactly_30_minutes_continues_the_visit(con, tmp_path):
    lines = [combined(ts="24/Nov/2026:10:00:00 +0200"), combined(ts="24/Nov/2026:10:30:00 +0200")]
    ingest(con, write_log(tmp_path / "access.log", lines))
    assert _visit_counts(con) == (1, 2)


def test_a_gap_of_30_minutes_and_one_second_starts_a_new_visit(con, tmp_path):
    lines = [combined(ts="24/Nov/2026:10:00:00 +0200"), combined(ts="24/Nov/2026:10:30:01 +0200")]
    ingest(con, write_log(tmp_path / "access.log", lines))
    assert _visit_counts(con) == (2, 2)


def test_october_dst_change_is_one_visit_in_utc(con, tmp_path):
    # 25 Oct 2026: Helsinki clocks go from 04:00 EEST back to 03:00 EET. Local
    # times run backwards, but 03:50 +0300 and 03:10 +0200 are 20 minutes apart.
    lines = [
        combined(ts="25/Oct/2026:03:50:00 +0300", request="GET /a HTTP/1.1"),
        combined(ts="25/Oct/2026:03:10:00 +0200", request="GET /b HTTP/1.1"),
    ]
    ingest(con, write_log(tmp_path / "access.log", lines))
    assert _visit_counts(con) == (1, 2)
    started, ended, landing = con.execute(
        "SELECT strftime(started_at, '%H:%M'), strftime(ended_at, '%H:%M'), landing_page FROM visits"
    ).fetchall()[0]
    assert (started, ended, landing) == ("00:50", "01:10", "/a")


def test_visitor_is_address_plus_user_agent(con, tmp_path):
    lines = [
        combined(client="85.76.1.10"),
        combined(client="85.76.1.10", agent="Mozilla/5.0 (Macintosh) Safari/605.1.15"),
        combined(client="85.76.1.11"),
    ]
    ingest(con, write_log(tmp_path / "access.log", lines))
    assert con.execute("SELECT count(DISTINCT visitor_key) FROM visits").fetchall()[0][0] == 3


def test_duplicates_across_rotated_and_gzip_files_are_a_multiset_union(con, tmp_path):
    a, b, c, d = (combined(ts=f"24/Nov/2026:10:0{i}:00 +0200", request=f"GET /p{i} HTTP/1.1") for i in range(4))
    # access.log.1 holds b twice (two identical requests in one second are two requests).
    write_log(tmp_path / "access.log.2.gz", [a, b], gz=True)
    write_log(tmp_path / "access.log.1", [b, b, c])  # copytruncate overlap: b again
    write_log(tmp_path / "access.log", [c, d])
    stats = ingest(con, tmp_path / "access.log*")
    # a, b, b, c, d: max(1, 2) copies of b, one of c
    assert stats["lines_read"] == 7
    assert stats["duplicate_lines"] == 2
    assert stats["lines_parsed"] == 5
    assert stats["pageviews"] == 5
    assert stats["lines_read"] == stats["lines_parsed"] + stats["lines_rejected"] + stats["duplicate_lines"]


def test_reading_order_and_rereading_change_no_count(con, tmp_path):
    lines = [combined(ts=f"24/Nov/2026:10:{m:02d}:00 +0200") for m in range(10)]
    write_log(tmp_path / "access.log.1", lines[:6])
    write_log(tmp_path / "access.log", lines[4:])
    first = ingest(con, tmp_path / "access.log", tmp_path / "access.log.1")
    assert first["pageviews"] == 10
    before = table_counts(con)
    again = ingest(con, tmp_path / "access.log.1", tmp_path / "access.log")
    assert again["pageviews"] == 0 and again["duplicate_lines"] == 12
    assert table_counts(con) == before


def test_streams_are_deduplicated_separately(con, tmp_path):
    line = combined()
    write_log(tmp_path / "access.log", [line])
    write_log(tmp_path / "shop-access.log", [line])
    stats = ingest(con, tmp_path / "access.log", tmp_path / "shop-access.log")
    assert stats["duplicate_lines"] == 0 and stats["pageviews"] == 2


def test_trusted_proxy_and_forwarded_for_field(con, tmp_path):
    lines = [
        combined(client="10.0.0.5", extra=' "85.76.1.10"'),
        combined(client="10.0.0.5", extra=' "85.76.1.10, 10.0.0.7"', ts="24/Nov/2026:10:01:00 +0200"),
        combined(client="203.0.113.7", extra=' "85.76.1.10"', ts="24/Nov/2026:10:02:00 +0200"),
    ]
    ingest(con, write_log(tmp_path / "access.log", lines), proxies=["203.0.113.0/24"])
    # one visitor: all three resolve to 85.76.1.10 with the same agent
    assert _visit_counts(con) == (1, 3)
