"""Analysts open the published file with their tools (issue 14, item 6): it is written in a storage
format every DuckDB 1.x reads — checked with the duckdb-cli 1.5 binary from PyPI (the ``test`` extra
installs it) — an older leadpipe's file in the newer format is converted at the next run, and no view
column has a type BI drivers cannot map (HUGEINT)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from flows import commands, engine
from flows.config import Settings, load_settings
from sinks import database

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo"
CLI = Path(sys.executable).parent / "duckdb"
#: Column types BI drivers (ODBC, JDBC, Power BI, Tableau) cannot map.
UNMAPPABLE = {"HUGEINT", "UHUGEINT", "VARINT", "BIGNUM"}
TAG = f"{database.STORAGE_VERSION}+"


def _views(con) -> list[str]:
    return [row[0] for row in con.execute(
        "SELECT view_name FROM duckdb_views() WHERE NOT internal AND database_name = current_database()"
        " ORDER BY view_name").fetchall()]


def _unmappable_columns(con) -> list[tuple]:
    return con.execute(
        "SELECT c.table_name, c.column_name, c.data_type FROM duckdb_columns() c"
        " JOIN duckdb_views() v ON v.view_name = c.table_name AND v.database_name = c.database_name"
        " WHERE NOT v.internal AND c.database_name = current_database()"
        " AND (c.data_type IN (SELECT unnest(?)) OR c.data_type LIKE 'DECIMAL%' AND c.numeric_precision > 18)",
        [sorted(UNMAPPABLE)]).fetchall()


def _cli(db: Path, sql: str) -> subprocess.CompletedProcess:
    if not CLI.exists():
        pytest.skip(f"no duckdb-cli beside {sys.executable}: install the test extra (pip install -e .[test])")
    return subprocess.run([str(CLI), "-readonly", "-json", str(db), "-c", sql],
                          capture_output=True, text=True, timeout=60)


def _settings(tmp: Path, db: Path) -> Settings:
    """The demo's settings (data/demo: offline, an operator network list), everything under ``tmp``."""
    return load_settings({"db": str(db), "logs": [str(DEMO / "logs" / "access.log*")],
                          "leadfeeder": [str(DEMO / "leadfeeder-export.csv")], "forms": [str(DEMO / "forms.jsonl")],
                          "offline": True, "report_dir": str(tmp / "reports"), "config_dir": str(tmp / "config")},
                         DEMO / "leadpipe.toml", {})


def _demo(tmp: Path, db: Path) -> Settings:
    settings = _settings(tmp, db)
    engine.execute(settings, "networks import", [commands.import_network_list(DEMO / "networks.csv", "operator"),
                                                 commands.import_register(DEMO / "register.json")])
    engine.execute(settings, "demo")
    return settings


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    """A published demo database (about 400 visits, 6 scored companies), built once."""
    tmp = tmp_path_factory.mktemp("compat")
    return _demo(tmp, tmp / "leads.duckdb").db


def _row_counts(db: Path) -> dict[str, int]:
    with duckdb.connect(str(db), read_only=True) as con:
        names = [row[0] for row in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()").fetchall()]
        return database.count_rows(con, sorted(names + _views(con)))


def test_no_view_column_is_a_hugeint_or_another_type_bi_drivers_cannot_map():
    with database.connect(":memory:") as con:
        views = _views(con)
        assert {"daily_company_activity", "lead_scores", "visits_enriched"} <= set(views)
        assert _unmappable_columns(con) == []
        for view in views:  # each still binds with its stored column types
            con.execute(f"SELECT * FROM {view} LIMIT 1").fetchall()
        scored = con.execute("DESCRIBE SELECT * FROM lead_scores_for(?::TIMESTAMPTZ, ?::TIMESTAMPTZ)",
                             ["2026-11-01", "2026-12-01"])
        assert {name: kind for name, kind, *_ in scored.fetchall()
                if name in ("pageviews", "intent_views")} == {"pageviews": "BIGINT", "intent_views": "BIGINT"}


def test_a_database_of_the_previous_schema_loses_its_hugeint_columns_when_migrated(monkeypatch, tmp_path):
    shipped = database.migrations()
    monkeypatch.setattr(database, "migrations", lambda: [m for m in shipped if m[0] <= 14])
    with database.connect(tmp_path / "old.duckdb") as con:
        assert _unmappable_columns(con)  # 014's views summed into HUGEINT
    monkeypatch.setattr(database, "migrations", lambda: shipped)
    with database.connect(tmp_path / "old.duckdb") as con:
        assert _unmappable_columns(con) == []
        for view in _views(con):
            con.execute(f"SELECT * FROM {view} LIMIT 1").fetchall()


def test_a_new_file_is_written_in_the_storage_version_duckdb_1x_reads(tmp_path):
    with database.connect(tmp_path / "new.duckdb") as con:
        assert database.storage_version(con) == TAG and database.has_storage_version(con)
    with database.connect(":memory:") as con:
        assert database.has_storage_version(con)  # no file, nothing to convert


def test_the_published_snapshot_opens_read_only_in_duckdb_cli_1_5(published):
    version = subprocess.run([str(CLI), "--version"], capture_output=True, text=True) if CLI.exists() else None
    assert version is None or version.stdout.startswith("v1.5."), version and version.stdout
    with database.open_snapshot(published) as con:
        assert database.storage_version(con) == TAG
        views = _views(con)
        expected = {view: con.execute(f"SELECT count(*) FROM {view}").fetchall()[0][0] for view in views}
        assert expected["lead_scores"] > 0 and expected["daily_company_activity"] > 0
    queries = [f"SELECT '{view}' AS name, count(*) AS n FROM (SELECT * FROM {view})" for view in views]
    queries.append("SELECT 'lead_scores_for' AS name, count(*) AS n"
                   " FROM lead_scores_for(TIMESTAMPTZ '2026-10-01', TIMESTAMPTZ '2026-12-01')")
    result = _cli(published, " UNION ALL ".join(queries) + ";")
    assert result.returncode == 0, result.stderr
    counts = {row["name"]: row["n"] for row in json.loads(result.stdout)}
    assert counts.pop("lead_scores_for") > 0 and counts == expected


def test_a_file_an_older_leadpipe_wrote_in_the_newer_format_is_converted_at_the_next_run(tmp_path, monkeypatch):
    monkeypatch.setattr(database, "STORAGE_VERSION", "v2.0.0")  # DuckDB 2.0's default, as before issue 14
    settings = _demo(tmp_path, tmp_path / "leads.duckdb")
    monkeypatch.undo()
    with database.open_snapshot(settings.db) as con:
        assert database.storage_version(con) == "v2.0.0+"
    if CLI.exists():
        refused = _cli(settings.db, "SELECT 1")
        assert refused.returncode != 0 and "version number" in refused.stderr
    before = _row_counts(settings.db)
    rewrites = []
    compact = database.compact
    monkeypatch.setattr(database, "compact", lambda *args: rewrites.append(args) or compact(*args))
    assert engine.execute(settings, "run")["compacted"] is False  # no rows deleted: a conversion only
    assert len(rewrites) == 1
    with database.open_snapshot(settings.db) as con:
        assert database.storage_version(con) == TAG
    after = _row_counts(settings.db)
    for log in ("runs", "reports"):  # the run's own rows; the data are as they were
        assert after.pop(log) == before.pop(log) + 1
    assert after == before and after["visits"] > 0
    engine.execute(settings, "run")
    assert len(rewrites) == 1  # converted once
    # A compaction (an erasure) keeps the format.
    erased = engine.execute(settings, "forget", [commands.privacy_request("forget", "business-id", "3141593-8")])
    assert erased["compacted"] is True and len(rewrites) == 2
    with database.open_snapshot(settings.db) as con:
        assert database.storage_version(con) == TAG
        left = con.execute("SELECT count(*) FROM visits_enriched").fetchall()[0][0]
    assert 0 < left < before["visits_enriched"]
    result = _cli(settings.db, "SELECT count(*) AS n FROM visits_enriched;")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["n"] == left
