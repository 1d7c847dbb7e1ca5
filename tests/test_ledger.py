"""The line ledger is keyed: no way back from the database to a log line, and older databases migrate."""

from datetime import datetime, timezone

import duckdb

from flows import commands, engine
from flows.config import load_or_create_secret, load_settings
from sinks import ledger
from tests.conftest import combined, write_log

LINES = [combined(client=f"185.213.44.{i}", ts=f"24/Nov/2026:10:{i:02d}:00 +0200", request=f"GET /p{i} HTTP/1.1")
         for i in range(1, 6)]


def _settings(tmp_path, **extra):
    return load_settings({"db": str(tmp_path / "leads.duckdb"), **extra}, None,
                         {"LEADPIPE_CONFIG_DIR": str(tmp_path / "cfg")})


def _md5_numbers(lines):
    with duckdb.connect() as con:
        return [con.execute("SELECT md5_number(?)", [line]).fetchall()[0][0] for line in lines]


def test_the_ledger_holds_keyed_hashes_only_and_knows_whose_line_it_counted(tmp_path):
    settings = _settings(tmp_path, logs=[str(write_log(tmp_path / "access.log", LINES))])
    engine.execute(settings, "ingest", ["ingest"])
    secret = load_or_create_secret(settings)
    with duckdb.connect(str(settings.db), read_only=True) as con:
        hashes = {h for (h,) in con.execute("SELECT line_hash FROM log_lines").fetchall()}
        keys = con.execute("SELECT count(client_key) FROM log_lines").fetchall()[0][0]
    assert hashes == {ledger.keyed_in_python(secret, line) for line in LINES}  # the SQL HMAC is HMAC-SHA-256
    assert not hashes & set(_md5_numbers(LINES))  # the old, guessable hash is nowhere
    assert keys == len(LINES)
    # a guess with the line but without the secret cannot be checked against the database
    assert ledger.keyed_in_python(b"another secret, another guess...", LINES[0]) not in hashes
    engine.execute(settings, "forget", [commands.privacy_request("forget", "ip", "185.213.44.3")])
    with duckdb.connect(str(settings.db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM log_lines").fetchall() == [(len(LINES) - 1,)]


def test_an_older_unkeyed_ledger_is_keyed_once_and_still_counts_each_line_once(tmp_path):
    settings = _settings(tmp_path, logs=[str(write_log(tmp_path / "access.log", LINES))])
    engine.execute(settings, "ingest", ["ingest", "load"])
    with duckdb.connect(str(settings.db)) as con:  # as an older leadpipe left it: MD5s of the lines
        numbers = _md5_numbers(LINES)
        stamps = [row[0] for row in con.execute("SELECT ts FROM log_lines ORDER BY ts").fetchall()]
        con.execute("DELETE FROM log_lines")
        for number, ts in zip(numbers, stamps):
            con.execute("INSERT INTO log_lines VALUES ('access.log', CAST(? AS UHUGEINT), 1, ?, 1, NULL, true)",
                        [str(number), ts])
        con.execute("DELETE FROM pipeline_state WHERE key = 'log-ledger'")
        old_ids = {i for (i,) in con.execute("SELECT pageview_id FROM pageviews").fetchall()}
    stats = engine.execute(settings, "ingest", ["ingest", "load"])  # the same file, read again
    assert stats["pageviews"] == 0 and stats["duplicate_lines"] == len(LINES)
    with duckdb.connect(str(settings.db), read_only=True) as con:
        hashes = {h for (h,) in con.execute("SELECT line_hash FROM log_lines").fetchall()}
        ids = {i for (i,) in con.execute("SELECT pageview_id FROM pageviews").fetchall()}
        assert con.execute("SELECT count(*) FROM pageviews").fetchall() == [(len(LINES),)]
    assert not hashes & set(numbers) and len(hashes) == len(LINES)
    assert not ids & old_ids  # pageview ids derived from the unkeyed hashes are re-keyed too
    again = engine.execute(settings, "ingest", ["ingest"])
    assert again["pageviews"] == 0 and again["duplicate_lines"] == len(LINES)
    assert ledger.key_legacy_entries(duckdb.connect(str(settings.db)), b"x", datetime.now(timezone.utc)) == 0


def test_forget_by_address_reaches_the_lines_that_made_no_pageview(tmp_path):
    """Assets, errors and bots' requests are counted in the ledger under their sender too; after the
    erasure, reading the same file again counts its lines once and names nobody."""
    subject = "185.213.44.9"
    lines = LINES + [
        combined(client=subject, ts="24/Nov/2026:11:00:00 +0200", request="GET /app.css HTTP/1.1"),
        combined(client=subject, ts="24/Nov/2026:11:00:01 +0200", request="GET /missing HTTP/1.1", status=404),
        combined(client=subject, ts="24/Nov/2026:11:00:02 +0200", agent="Googlebot/2.1"),
    ]
    settings = _settings(tmp_path, logs=[str(write_log(tmp_path / "access.log", lines))])
    engine.execute(settings, "ingest", ["ingest"])
    with duckdb.connect(str(settings.db), read_only=True) as con:
        assert con.execute("SELECT count(client_key) FROM log_lines").fetchall() == [(len(lines),)]
    result = engine.execute(settings, "forget", [commands.privacy_request("forget", "ip", subject)])
    assert result["forgotten"]["log_lines"] == 3
    again = engine.execute(settings, "ingest", ["ingest"])
    assert again["duplicate_lines"] == len(LINES) and again["pageviews"] == 0
    with duckdb.connect(str(settings.db), read_only=True) as con:
        assert con.execute("SELECT count(*), count(client_key) FROM log_lines").fetchall() == [
            (len(lines), len(LINES))]  # counted once more, named never
