"""Reading and parsing access logs: formats, quirks, rejects."""


import pytest

from enrich.weblogs import ReadResult, expand_sources, read_line_batches, stream_name, unescape_field
from enrich.errors import InputError
from tests.conftest import BROWSER, combined, ingest, write_log


def _pageviews(con):
    return con.execute("SELECT path, status, referrer FROM pageviews ORDER BY ts, path").fetchall()


def test_common_format_has_no_user_agent_and_is_not_a_bot(con, tmp_path):
    lines = ['85.76.1.10 - frank [24/Nov/2026:10:00:00 +0200] "GET /about HTTP/1.0" 200 2326']
    stats = ingest(con, write_log(tmp_path / "access.log", lines))
    assert stats["pageviews"] == 1 and stats["bot_requests"] == 0


def test_vhost_prefix_and_unquoted_forwarded_list(con, tmp_path):
    lines = [
        f'www.example.fi 85.76.1.10 - - [24/Nov/2026:10:00:00 +0200] "GET /a HTTP/1.1" 200 1 "-" "{BROWSER}"',
        f'85.76.1.10, 10.0.0.1, 127.0.0.1 - - [24/Nov/2026:10:01:00 +0200] "GET /b HTTP/1.1" 200 1 "-" "{BROWSER}"',
        f'"85.76.1.10, 10.0.0.7" 10.0.0.5 - - [24/Nov/2026:10:02:00 +0200] "GET /c HTTP/1.1" 200 1 "-" "{BROWSER}"',
        f'85.76.1.10, 10.0.0.7 10.0.0.5 - - [24/Nov/2026:10:03:00 +0200] "GET /d HTTP/1.1" 200 1 "-" "{BROWSER}"',
    ]
    stats = ingest(con, write_log(tmp_path / "access.log", lines))
    assert stats["lines_rejected"] == 0 and stats["pageviews"] == 4
    # all four are the same visitor (85.76.1.10 + agent): one visit
    assert con.execute("SELECT count(*), sum(pageviews) FROM visits").fetchall() == [(1, 4)]


def test_trailing_quoted_and_unquoted_fields(con, tmp_path):
    lines = [
        combined(extra=' "-"'),
        combined(extra=' "85.76.1.11" 0.123 "upstream"', ts="24/Nov/2026:10:01:00 +0200"),
        combined(extra=" rt=0.002 uct=0.000", ts="24/Nov/2026:10:02:00 +0200"),
    ]
    stats = ingest(con, write_log(tmp_path / "access.log", lines))
    assert stats["lines_rejected"] == 0 and stats["pageviews"] == 3


def test_escaped_quotes_and_hex_bytes_are_unescaped(con, tmp_path):
    lines = [
        '85.76.1.10 - - [24/Nov/2026:10:00:00 +0200] "GET /haku/\\xC3\\xA4ij\\xC3\\xA4 HTTP/1.1" 200 1 '
        '"https://www.google.fi/?q=\\"x\\"" "Mozilla/5.0 \\"quoted\\" agent"',
    ]
    stats = ingest(con, write_log(tmp_path / "access.log", lines))
    assert stats["lines_rejected"] == 0
    assert _pageviews(con) == [("/haku/äijä", 200, "https://www.google.fi/")]


def test_whitespace_crlf_and_missing_final_newline(con, tmp_path):
    path = tmp_path / "access.log"
    path.write_bytes(
        ("  " + combined(request="GET /a HTTP/1.1") + "  \r\n").encode()
        + ("\t" + combined(request="GET /b HTTP/1.1", ts="24/Nov/2026:10:01:00 +0200")).encode()
    )
    stats = ingest(con, path)
    assert stats["lines_read"] == 2 and stats["lines_rejected"] == 0 and stats["pageviews"] == 2


def test_absolute_request_targets_and_query_strings(con, tmp_path):
    lines = [combined(request="GET http://www.example.fi/pricing?utm_source=li&utm_medium=paid%20social&email=a@b.fi HTTP/1.1")]
    ingest(con, write_log(tmp_path / "access.log", lines))
    row = con.execute("SELECT path, utm_source, utm_medium, utm_campaign FROM pageviews").fetchall()
    # the query string (which may hold personal data) is not stored; UTM tags are
    assert row == [("/pricing", "li", "paid social", None)]


def test_rejects_are_counted_sampled_and_masked(con, tmp_path):
    lines = [
        combined(),
        "",
        "garbage 85.76.1.10 here",
        '85.76.1.10 - - [25/Feb/2019:16:19:48.143] "GET / HTTP/1.1" 200 1 "-" "x"',  # no offset
        "2001:db8:85a3::8a2e:370:7334 - - nonsense",
        "x" * 70000,
    ]
    stats = ingest(con, write_log(tmp_path / "access.log", lines))
    assert stats["lines_read"] == 6
    assert stats["lines_parsed"] == 1 and stats["lines_rejected"] == 5
    reasons = stats["rejects_by_reason"]
    assert reasons["empty line"] == 1 and reasons["line too long"] == 1
    assert sum(reasons.values()) == 5
    samples = [r[0] for r in con.execute("SELECT sample FROM rejects WHERE sample IS NOT NULL").fetchall()]
    assert samples and all("85.76.1.10" not in s and "2001:db8" not in s for s in samples)
    assert all(len(s) <= 500 for s in samples)


def test_invalid_utf8_and_binary_garbage_never_stop_a_run(con, tmp_path):
    path = tmp_path / "access.log"
    path.write_bytes(
        combined().encode() + b"\n" + b"\x1f\x8b\x08\x00\xff\xfe binary \x00\x01\n"
        + combined(agent="Mozilla/5.0 \xe4\xf6", ts="24/Nov/2026:10:01:00 +0200").encode("latin-1") + b"\n"
    )
    stats = ingest(con, path)
    assert stats["lines_read"] == 3
    assert stats["lines_parsed"] == 2 and stats["lines_rejected"] == 1


def test_gzip_and_truncated_gzip(con, tmp_path):
    lines = [combined(ts=f"24/Nov/2026:10:{m:02d}:00 +0200") for m in range(50)]
    good = write_log(tmp_path / "access.log.2.gz", lines, gz=True)
    data = good.read_bytes()
    damaged = tmp_path / "other.log.gz"
    damaged.write_bytes(data[: len(data) // 2])
    stats = ingest(con, good, damaged)
    assert stats["pageviews"] == 50  # the damaged copy's lines are duplicates of good ones
    assert stats["file_errors"] and "damaged gzip" in stats["file_errors"][0]
    rejects = con.execute("SELECT reason FROM rejects WHERE line_no IS NULL").fetchall()
    assert len(rejects) == 1


def test_read_line_batches_numbers_lines_across_pieces(tmp_path):
    path = write_log(tmp_path / "a.log", [f"line {i}" for i in range(1000)])
    batches = list(read_line_batches(path, ReadResult(), batch_bytes=2000, piece_bytes=333))
    numbers = [n for b in batches for n in b.column("line_no").to_pylist()]
    lines = [s.rstrip("\n") for b in batches for s in b.column("line").to_pylist()]
    assert numbers == list(range(1, 1001))
    assert lines == [f"line {i}" for i in range(1000)]


@pytest.mark.parametrize(
    ("name", "stream"),
    [
        ("/var/log/nginx/access.log", "access.log"),
        ("/var/log/nginx/access.log.1", "access.log"),
        ("/var/log/nginx/access.log.12.gz", "access.log"),
        ("access.log-20261124.gz", "access.log"),
        ("https://web1.example.fi/logs/access.log.1.gz", "access.log"),
        ("tomcat-access.log.9", "tomcat-access.log"),
    ],
)
def test_stream_name(name, stream):
    assert stream_name(name) == stream


def test_missing_paths_directories_and_empty_globs_are_one_line_errors(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        expand_sources([str(tmp_path / "nope.log")])
    with pytest.raises(InputError, match="is a directory"):
        expand_sources([str(tmp_path)])
    with pytest.raises(InputError, match="matches no file"):
        expand_sources([str(tmp_path / "*.log")])


def test_unescape_field():
    assert unescape_field(r"a\"b\\c") == 'a"b\\c'
    assert unescape_field(r"\xC3\xA4") == "ä"
    assert unescape_field(r"\x16\x03") == "\x16\x03"
    assert unescape_field(None) is None


def test_empty_file(con, tmp_path):
    path = tmp_path / "access.log"
    path.write_bytes(b"")
    stats = ingest(con, path)
    assert stats["lines_read"] == 0 and stats["pageviews"] == 0
