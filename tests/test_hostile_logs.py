"""Hostile web logs (issue 12, items 4, 11, 12): sanitised reject samples, sane time, bounded work.

Each test replays one attack that was reproduced against the ingest: a reject
sample that kept an ident user, an e-mail in a query string or an address
glued to other characters; a log line dated 9999 or with a UTC offset of
+99:00; a gzip bomb of empty lines (58 KB that took 4.5 minutes and 1.9 GB);
a file that decompresses past any sensible size.
"""

from __future__ import annotations

import gzip
import time
from datetime import datetime, timedelta, timezone

import pytest

from enrich.samples import sanitise_sample
from enrich.weblogs import ReadResult, read_line_batches
from tests.conftest import combined, ingest, write_log

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=timezone.utc)
#: Fragments of the addresses used below: none may survive in a sample.
ADDRESS_PARTS = ("85.76", "76.1.10", "2001", "db8", "0db8", "10.0.0.7")


# --- item 4: a reject sample keeps what a pageview keeps, and no more --------------------------------


def test_reject_samples_are_sanitised_like_pageviews(con, tmp_path):
    lines = [
        # a log line with a bad time: ident and user, an e-mail and a token in the query, UTM kept
        '85.76.1.10 ident-x matti.meikalainen [24/Nov/2026:10:00:00 +0299x] '
        '"GET /tilaa?email=matti%40firma.fi&utm_source=uutiskirje&token=s3cr3t HTTP/1.1" 200 1 '
        '"https://mail.example/read?msg=42&to=matti@firma.fi" "UA"',
        # a user name with spaces shifts the fields: still no word of it is kept
        '85.76.1.10 - Matti Kalle Meikäläinen [24/Nov/2026:10:00:00 +0200] "GET / HTTP/1.1" 200 1 "-" "UA"',
        # addresses glued to other characters, in every form
        "garbage x85.76.1.10y ip=85.76.1.10:443 a2001:0db8:0000:0000:0000:0000:0000:0001 z2001:db8::1 "
        "[2001:db8::1]:80 ::ffff:85.76.1.10 85%2E76%2E1%2E10",
        # an IIS W3C line: the query is its own field, without '?'
        "2026-11-24 10:00:00 GET /login user=matti&password=hunter2&utm_medium=email 443 85.76.1.10 Mozilla/5.0 200",
        # a JSON access log: user and authorisation fields
        '{"remote_ip":"85.76.1.10","user_id":"matti","uri":"/x?email=a@b.fi",'
        '"headers":{"Authorization":["Basic bWF0dGk6aHVudGVyMg=="],"Cookie":["sid=abc"]}}',
        # a pageview dated 2100 is a reject too, and sanitised alike
        combined(ts="24/Nov/2100:10:00:00 +0200", request="GET /?session=deadbeef&utm_campaign=talvi HTTP/1.1",
                 client="85.76.1.10, 10.0.0.7"),
    ]
    stats = ingest(con, write_log(tmp_path / "access.log", lines), now=NOW)
    assert stats["lines_rejected"] == len(lines)
    samples = [s for (s,) in con.execute("SELECT sample FROM rejects ORDER BY line_no").fetchall()]
    assert len(samples) == len(lines)
    text = "\n".join(samples)
    for secret in ("ident-x", "matti", "Matti", "Kalle", "Meikäläinen", "firma.fi", "s3cr3t", "msg=42", "hunter2",
                   "bWF0dGk6", "sid=abc", "a@b.fi", "deadbeef", *ADDRESS_PARTS):
        assert secret not in text, (secret, text)
    assert "utm_source=uutiskirje" in samples[0] and "utm_medium=email" in samples[3]
    assert "utm_campaign=talvi" in samples[5]
    assert samples[0].startswith("[ip] - - [24/Nov/2026:10:00:00 +0299x]")  # the shape stays readable


def test_a_damaged_file_keeps_no_user_or_query_in_its_sample(con, tmp_path):
    path = tmp_path / "access.log.1.gz"
    line = '85.76.1.10 - matti [24/Nov/2026:10:00:00 +0200] "GET /x?email=matti@firma.fi HTTP/1.1" 200 1 "-" "UA"'
    data = gzip.compress(((combined() + "\n") * 3 + line).encode() * 1)
    path.write_bytes(data[:-12])  # cut inside the trailer: the last line is where reading stopped
    ingest(con, path, now=NOW)
    (sample,) = con.execute("SELECT sample FROM rejects WHERE line_no IS NULL").fetchall()[0]
    assert "matti" not in sample and "85.76" not in sample


@pytest.mark.parametrize("cut", ["85.76.1", "85.76.1.10 - matti", "2001:db8:85a3::8a2e:37"])
def test_a_line_cut_short_keeps_no_address_part_or_user(cut):
    sample = sanitise_sample(cut, cut_short=True)
    assert "85.76" not in sample and "db8" not in sample and "matti" not in sample


# --- item 11: time stays sane ----------------------------------------------------------------------


@pytest.mark.parametrize("stamp", ["24/Nov/9999:10:00:00 +0200", "24/Nov/2100:10:00:00 +0200", "24/Nov/1970:10:00:00 +0000",
                                   "31/Dec/1994:23:00:00 +0200", "24/Nov/2026:10:00:00 +1500",
                                   "24/Nov/2026:10:00:00 -1459", "24/Nov/2026:10:00:00 +9900",
                                   "28/Nov/2026:03:00:01 +0000"])
def test_implausible_log_timestamps_are_rejects(con, tmp_path, stamp):
    lines = [combined(ts="24/Nov/2026:10:00:00 +0200"), combined(ts=stamp, agent="Other/1.0")]
    stats = ingest(con, write_log(tmp_path / "access.log", lines), now=NOW)
    assert stats["rejects_by_reason"] == {"implausible timestamp": 1} and stats["pageviews"] == 1
    assert con.execute("SELECT max(ended_at) < TIMESTAMPTZ '2026-11-25' FROM visits").fetchall() == [(True,)]


@pytest.mark.parametrize("stamp", ["01/Jan/1995:00:00:00 +0000", "24/Nov/2026:10:00:00 +1400", "24/Nov/2026:10:00:00 -1200",
                                   "27/Nov/2026:02:59:59 +0000"])
def test_timestamps_at_the_edges_of_the_window_load(con, tmp_path, stamp):
    stats = ingest(con, write_log(tmp_path / "access.log", [combined(ts=stamp)]), now=NOW)
    assert stats["pageviews"] == 1 and stats["lines_rejected"] == 0


def test_the_run_time_defaults_to_now(con, tmp_path):
    tomorrow = datetime.now(timezone.utc) + timedelta(days=3)
    stats = ingest(con, write_log(tmp_path / "access.log", [combined(ts=tomorrow.strftime("%d/%b/%Y:%H:%M:%S +0000"))]))
    assert stats["rejects_by_reason"] == {"implausible timestamp": 1}


# --- item 12: bounded time and memory -----------------------------------------------------------------


def test_empty_lines_are_cheap_rejects_that_never_enter_the_ledger(con, tmp_path):
    path = tmp_path / "access.log.gz"
    with gzip.open(path, "wb", compresslevel=9) as handle:
        handle.write((combined() + "\n").encode())
        for _ in range(20):
            handle.write(b"\n" * 100_000 + b" \r\n\t\n" * 10_000)
        handle.write((combined(ts="24/Nov/2026:10:01:00 +0200") + "\n").encode())
    started = time.monotonic()
    stats = ingest(con, path, now=NOW)
    elapsed = time.monotonic() - started
    blank = 20 * (100_000 + 20_000)
    assert stats["lines_read"] == blank + 2 and stats["pageviews"] == 2
    assert stats["rejects_by_reason"] == {"empty line": blank} and stats["lines_rejected"] == blank
    assert con.execute("SELECT count(*) FROM log_lines").fetchall() == [(2,)]  # two lines, not 2.4 million
    assert con.execute("SELECT count(*), min(line_no) FROM rejects").fetchall() == [(1, 2)]
    assert elapsed < 10, elapsed
    again = ingest(con, path, now=NOW)  # a rerun: the two lines are duplicates, the blank ones rejects again
    assert again["duplicate_lines"] == 2 and again["lines_rejected"] == blank


def test_a_file_past_the_decompressed_cap_stops_with_a_counted_reject(con, tmp_path):
    path = tmp_path / "access.log.gz"
    lines = [combined(ts=f"24/Nov/2026:{h:02d}:{m:02d}:00 +0200", request=f"GET /{i} HTTP/1.1")
             for i, (h, m) in enumerate((h, m) for h in range(10, 24) for m in range(60))]
    write_log(path, lines, gz=True)
    size = sum(len(line) + 1 for line in lines)
    stats = ingest(con, path, now=NOW, max_file_bytes=size // 4)
    assert 0 < stats["lines_parsed"] < len(lines) // 3
    assert stats["file_errors"] == ["decompressed size over the cap: the rest of the file is not read"]
    assert con.execute("SELECT count(*) FROM rejects WHERE line_no IS NULL").fetchall() == [(1,)]
    result = ReadResult()
    assert sum(b.num_rows for b in read_line_batches(path, result, max_bytes=10 * size)) == len(lines)
    assert result.error is None
