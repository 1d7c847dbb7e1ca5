"""Private files whatever the umask and the folder; symlinks never followed; nothing left behind by a kill."""

import os
import stat
from pathlib import Path

import pytest

from enrich.errors import BusyError, ConfigError
from flows import commands, engine
from flows.config import load_settings
from sinks import database
from tests.conftest import combined, write_log


@pytest.fixture
def open_umask():
    previous = os.umask(0o022)  # the usual, world-readable default
    yield
    os.umask(previous)


def _settings(tmp_path, db, **extra):
    return load_settings({"db": str(db), **extra}, None, {"LEADPIPE_CONFIG_DIR": str(tmp_path / "cfg")})


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_everything_a_run_creates_is_private_while_it_works(tmp_path, open_umask):
    db = tmp_path / "a" / "b" / "leads.duckdb"
    seen = {}

    def inspect(ctx):  # a stage that looks at the files the run has made so far
        ctx.con.execute("CREATE TABLE spill AS SELECT range AS n FROM range(100000)")
        work = database.work_path(ctx.settings.db)
        for path in [work, work.with_name(work.name + ".wal"), ctx.scratch, ctx.scratch / "duckdb",
                     database.lock_path(ctx.settings.db), tmp_path / "a", tmp_path / "a" / "b"]:
            if path.exists():
                seen[path.name] = _mode(path)
        return {}

    engine.execute(_settings(tmp_path, db), "inspect", [inspect])
    assert seen[".leads.duckdb.work"] == 0o600 and seen[".leads.duckdb.lock"] == 0o600
    assert seen[".leads.duckdb.work.wal"] == 0o600  # the working copy's WAL exists while the run works
    assert seen["a"] == seen["b"] == seen["duckdb"] == 0o700
    assert _mode(db) == 0o600 and stat.S_IMODE(os.umask(0o022)) == 0o022  # the caller's umask is back


def test_subject_export_onto_an_existing_file_or_symlink_is_private(tmp_path, open_umask):
    db = tmp_path / "leads.duckdb"
    engine.execute(_settings(tmp_path, db, logs=[str(write_log(tmp_path / "access.log", [combined()]))]),
                   "ingest", ["ingest"])
    out = tmp_path / "export.json"
    out.write_text("old")
    out.chmod(0o644)
    engine.execute(_settings(tmp_path, db), "subject-export",
                   [commands.privacy_request("subject-export", "ip", "85.76.1.10", out)])
    assert _mode(out) == 0o600 and "visits" in out.read_text()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    link = tmp_path / "link.json"
    link.symlink_to(victim)
    engine.execute(_settings(tmp_path, db), "subject-export",
                   [commands.privacy_request("subject-export", "ip", "85.76.1.10", link)])
    assert victim.read_text() == "keep me" and not link.is_symlink()  # replaced, never written through


def test_two_names_of_one_database_share_one_lock_and_a_planted_lock_symlink_is_refused(tmp_path):
    db = tmp_path / "leads.duckdb"
    engine.execute(_settings(tmp_path, db), "first", [lambda ctx: {}])
    alias = tmp_path / "other-name.duckdb"
    alias.symlink_to(db)
    with database.exclusive(db):
        with pytest.raises(BusyError):
            engine.execute(_settings(tmp_path, alias), "second", [lambda ctx: {}])
    engine.execute(_settings(tmp_path, alias), "through the link", [lambda ctx: {}])
    assert alias.is_symlink() and db.is_file() and not db.is_symlink()  # published over the real file
    target = tmp_path / "elsewhere"
    target.write_text("")
    database.lock_path(db).unlink()
    database.lock_path(db).symlink_to(target)
    with pytest.raises(ConfigError):
        engine.execute(_settings(tmp_path, db), "third", [lambda ctx: {}])


def test_a_killed_runs_leftovers_are_cleared_before_the_next_run(tmp_path):
    db = tmp_path / "leads.duckdb"
    engine.execute(_settings(tmp_path, db), "first", [lambda ctx: {}])
    stale = tmp_path / ".leadpipe-leads.duckdb-x1y2"  # a killed run's downloads
    stale.mkdir()
    (stale / "log-0").write_text("185.213.44.10 - - …")
    compacted = database.work_path(db).with_name(database.work_path(db).name + ".compact")
    compacted.write_text("pre-erasure rows")
    others = tmp_path / ".leadpipe-other.duckdb-a1b2"  # another database's run: not ours to touch
    others.mkdir()
    engine.execute(_settings(tmp_path, db), "second", [lambda ctx: {}])
    assert not stale.exists() and not compacted.exists() and others.exists()


def test_reports_are_private_at_every_level_and_never_written_through_a_symlink(tmp_path, open_umask):
    db = tmp_path / "leads.duckdb"
    reports = tmp_path / "r1" / "r2"
    engine.execute(_settings(tmp_path, db, logs=[str(write_log(tmp_path / "access.log", [combined()]))]),
                   "ingest", ["ingest", "load"])
    victim = tmp_path / "victim.html"
    victim.write_text("keep me")
    reports.mkdir(parents=True)
    (reports / "lead-report-2026-11-24.html").symlink_to(victim)
    engine.execute(_settings(tmp_path, db, report_dir=str(tmp_path / "new" / "deep"), until="2026-11-24"),
                   "report", ["report"])
    assert _mode(tmp_path / "new") == _mode(tmp_path / "new" / "deep") == 0o700
    assert all(_mode(p) == 0o600 for p in (tmp_path / "new" / "deep").iterdir())
    engine.execute(_settings(tmp_path, db, report_dir=str(reports), until="2026-11-24"), "report", ["report"])
    assert victim.read_text() == "keep me" and not (reports / "lead-report-2026-11-24.html").is_symlink()
