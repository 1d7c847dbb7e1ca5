"""The command line through Typer's runner: stages, publishing, one-line errors, the lock."""

import json
import os
import stat

import duckdb
from typer.testing import CliRunner

from flows.cli import app
from sinks import database
from tests.conftest import combined, write_log

runner = CliRunner()


def _invoke(*args):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_ingest_and_load_publish_a_readable_snapshot(tmp_path):
    logs = write_log(tmp_path / "access.log", [combined(), combined(ts="24/Nov/2026:10:05:00 +0200")])
    db = tmp_path / "out" / "leads.duckdb"
    result = _invoke("ingest", "--db", str(db), "--logs", str(logs))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["pageviews"] == 2
    result = _invoke("load", "--db", str(db))
    assert result.exit_code == 0, result.output
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM visits").fetchall() == [(1,)]
        statuses = con.execute("SELECT command, status FROM runs ORDER BY run_id").fetchall()
    assert statuses == [("ingest", "success"), ("load", "success")]
    assert stat.S_IMODE(os.stat(db).st_mode) == 0o600
    assert not database.work_path(db).exists()


def test_missing_log_is_a_one_line_error_found_before_the_run_starts(tmp_path):
    db = tmp_path / "leads.duckdb"
    logs = write_log(tmp_path / "access.log", [combined()])
    assert _invoke("ingest", "--db", str(db), "--logs", str(logs)).exit_code == 0
    before = db.read_bytes()
    result = _invoke("ingest", "--db", str(db), "--logs", str(tmp_path / "missing.log"))
    assert result.exit_code == 1
    assert "no such file" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output
    assert before == db.read_bytes()  # checked before any run: nothing recorded, nothing changed


def test_a_second_concurrent_run_refuses_at_once(tmp_path):
    db = tmp_path / "leads.duckdb"
    logs = write_log(tmp_path / "access.log", [combined()])
    with database.exclusive(db):
        result = _invoke("ingest", "--db", str(db), "--logs", str(logs))
    assert result.exit_code == 75
    assert "another leadpipe run" in result.stderr


def test_bad_config_is_one_line(tmp_path):
    config = tmp_path / "leadpipe.toml"
    config.write_text("this is = = not toml")
    result = _invoke("ingest", "--config", str(config), "--db", str(tmp_path / "x.duckdb"))
    assert result.exit_code == 1
    assert "not valid TOML" in result.stderr and "Traceback" not in result.output


def test_secret_is_created_0600_outside_the_database(tmp_path):
    logs = write_log(tmp_path / "access.log", [combined()])
    db = tmp_path / "leads.duckdb"
    assert _invoke("ingest", "--db", str(db), "--logs", str(logs)).exit_code == 0
    secret = tmp_path / "config" / "secret.key"
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(secret.parent).st_mode) == 0o700
    key = secret.read_text().strip()
    with duckdb.connect(str(db), read_only=True) as con:
        tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        for table in tables:
            text = con.execute(f"SELECT string_agg(CAST(t AS VARCHAR), '|') FROM {table} t").fetchall()[0][0] or ""
            assert key not in text and "85.76.1.10" not in text
