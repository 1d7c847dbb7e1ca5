"""The engine and the layout it relies on: one declared pipeline, one-way dependencies, no SQL in
flows/, settings declared once, compaction only after deletions, a cheap copy of the file."""

from __future__ import annotations

import ast
import os
from dataclasses import fields
from pathlib import Path

import duckdb
import pytest

from enrich.errors import ConfigError
from flows import commands, engine
from flows.config import KEYS, Settings, env_name, load_settings
from flows.stages import PIPELINE, STAGES
from sinks import database
from tests.conftest import combined, write_log

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
    return found


def test_dependencies_point_one_way_flows_to_sinks_to_enrich():
    for path in (ROOT / "enrich").glob("*.py"):
        assert not _imports(path) & {"sinks", "flows"}, f"{path.name} imports sinks or flows"
    for path in (ROOT / "sinks").glob("*.py"):
        assert "flows" not in _imports(path), f"{path.name} imports flows"


def test_flows_hold_no_sql():
    for path in (ROOT / "flows").glob("*.py"):
        text = path.read_text()
        assert ".execute(\"" not in text and ".execute('" not in text and ".sql(" not in text, path.name
        assert "Europe/Helsinki" not in text or path.name == "config.py", f"{path.name} hard-codes the time zone"


def test_every_module_stays_small():
    for folder in ("flows", "sinks", "enrich"):
        for path in (ROOT / folder).glob("*.py"):
            assert len(path.read_text().splitlines()) <= 380, f"{folder}/{path.name} holds two ideas"


def test_the_flow_and_the_engine_run_the_one_declared_pipeline():
    from flows.nightly import TASKS

    assert list(TASKS) == [stage.__name__ for stage in PIPELINE] == list(STAGES)
    assert engine.execute.__defaults__[0] == tuple(STAGES)


def test_each_setting_is_declared_once_with_a_derived_environment_name(tmp_path):
    declared = {f.name for f in fields(Settings)}
    assert set(KEYS) <= declared and {"http_auth", "http_token", "leadfeeder_token", "webhook_url", "smtp_auth"} == declared - set(KEYS)
    env = {env_name("rdap_max_requests"): "17", env_name("retry_backoff"): "1;3", env_name("offline"): "yes",
           env_name("since"): "2026-11-01", env_name("db"): str(tmp_path / "x.duckdb")}
    settings = load_settings({}, None, env)
    assert (settings.rdap_max_requests, settings.retry_backoff, settings.offline) == (17, (1.0, 3.0), True)
    assert settings.since.isoformat() == "2026-11-01" and settings.db == tmp_path / "x.duckdb"
    with pytest.raises(ConfigError, match="LEADPIPE_SESSION_GAP_MINUTES"):
        load_settings({}, None, {"LEADPIPE_SESSION_GAP_MINUTES": "0"})
    with pytest.raises(ConfigError, match="--request-timeout"):  # a command-line value: named as its option
        load_settings({"request_timeout": "5"}, None, {})


def _night(tmp_path: Path, day: str = "24/Nov/2026") -> Settings:
    write_log(tmp_path / "access.log", [combined(client=f"85.76.1.{i}", ts=f"{day}:10:{i:02d}:00 +0200")
                                        for i in range(20)])
    return load_settings({"db": str(tmp_path / "leads.duckdb"), "logs": [str(tmp_path / "access.log")],
                          "offline": True, "report_dir": str(tmp_path / "reports")}, None, None)


def test_the_file_is_rewritten_only_when_rows_were_deleted(tmp_path):
    settings = _night(tmp_path)
    first = engine.execute(settings, "run")
    assert first["compacted"] is False  # nothing deleted: no whole-file rewrite
    assert engine.execute(settings, "run")["compacted"] is False  # the rerun neither
    nothing = engine.execute(settings, "forget", [commands.privacy_request("forget", "ip", "203.0.113.9")])
    assert nothing["compacted"] is False  # an erasure that found nobody deletes nothing
    erased = engine.execute(settings, "forget", [commands.privacy_request("forget", "ip", "85.76.1.3")])
    assert erased["compacted"] is True
    # Retention: the visits age past the window; deleting them compacts the file once.
    with duckdb.connect(str(settings.db)) as con:
        con.execute("UPDATE visits SET started_at = started_at - INTERVAL 500 DAY, ended_at = ended_at - INTERVAL 500 DAY")
        con.execute("UPDATE pageviews SET ts = ts - INTERVAL 500 DAY")
    assert engine.execute(settings, "retention", ["retention"])["compacted"] is True
    assert engine.execute(settings, "retention", ["retention"])["compacted"] is False


def test_a_run_publishes_a_copy_as_cheap_as_the_filesystem_allows(tmp_path, monkeypatch):
    source = tmp_path / "published.duckdb"
    source.write_bytes(os.urandom(300_000))
    method = database.clone_file(source, tmp_path / "a")
    assert method in {"reflink", "copy_file_range"}
    assert (tmp_path / "a").read_bytes() == source.read_bytes()
    assert (tmp_path / "a").stat().st_mode & 0o777 == 0o600

    def unsupported(*args, **kwargs):
        raise OSError(95, "Operation not supported")

    monkeypatch.setattr(database.fcntl, "ioctl", unsupported)
    monkeypatch.setattr(database.os, "copy_file_range", unsupported)
    assert database.clone_file(source, tmp_path / "b") == "copy"
    assert (tmp_path / "b").read_bytes() == source.read_bytes()
    with pytest.raises(FileExistsError):
        database.clone_file(source, tmp_path / "b")  # never over an existing file
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(OSError):
        database.clone_file(source, tmp_path / "link")  # never through a symlink
    assert not (tmp_path / "elsewhere").exists()


def test_the_run_context_reads_the_secret_once_and_chooses_offline_once(tmp_path, monkeypatch):
    from flows import config, engine as engine_module

    reads = []
    real = config.load_or_create_secret
    monkeypatch.setattr(engine_module, "load_or_create_secret", lambda s: reads.append(1) or real(s))
    seen = {}

    def inspect(ctx):
        seen.update(rdap=ctx.registries.rdap, ytj=ctx.registries.ytj, secret=ctx.secret)
        return {}

    engine.execute(_night(tmp_path), "run", ["ingest", inspect, "resolve", "enrich", "load", "report"])
    assert len(reads) == 1 and seen["secret"] and seen["rdap"] is None and seen["ytj"] is None


def test_an_erased_sole_traders_name_leaves_the_file_with_the_forget(tmp_path):
    """A network naming the trader without its Business ID is scrubbed by an UPDATE: the forget still
    rewrites the file, so the old name lingers in no free block."""
    lists = tmp_path / "list.csv"
    lists.write_text("cidr,organisation,business_id,kind,country\n"
                     "95.216.10.0/24,Tmi Matti Testinen,7654321-2,company,FI\n"
                     "95.217.20.0/24,Tmi Matti Testinen,,isp,FI\n")
    settings = load_settings({"db": str(tmp_path / "leads.duckdb"), "offline": True,
                              "report_dir": str(tmp_path / "reports")}, None, None)
    engine.execute(settings, "networks import", [commands.import_network_list(lists, "operator")])
    assert b"Testinen" in settings.db.read_bytes()
    result = engine.execute(settings, "forget", [commands.privacy_request("forget", "business-id", "7654321-2")])
    assert result["compacted"] is True and result["forgotten"]["networks_scrubbed"] == 1
    assert b"Testinen" not in settings.db.read_bytes()
