"""No attribution is lost for good: addresses without a final answer wait (privately) for a later run.

Offline runs, stage commands run one by one, the request budget and a
registry's outage all leave addresses over; each waits in a 0600 file outside
DuckDB for ``unresolved_keep_days`` and any later run, ``leadpipe resolve`` or
``leadpipe networks import`` attributes its stored visits.
"""

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest

from sinks.pending import PendingAddresses
from flows import commands, context, engine
from flows.config import load_settings
from tests.conftest import combined, write_log
from tests.rdap_registry import RdapRegistry
from tests.registry_world import OBJECTS

LINES = [
    combined(client="88.120.10.2", request="GET /pricing HTTP/1.1"),  # Kalliodata Oy, on Elisa's connection
    combined(client="193.64.10.77", ts="24/Nov/2026:10:05:00 +0200"),  # Mobiilitiimi Oy, its own space
    combined(client="88.112.1.1", ts="24/Nov/2026:10:10:00 +0200"),  # Elisa's DSL pool
]


def _settings(tmp_path, logs=None, **extra):
    values = {"db": str(tmp_path / "leads.duckdb"), "rdap_min_interval": 0, **extra}
    if logs:
        values["logs"] = [str(logs)]
    return load_settings(values, None, {"LEADPIPE_CONFIG_DIR": str(tmp_path / "cfg")})


def _companies(db) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(
            "SELECT c.name, count(*) FROM visits v JOIN companies c USING (company_id) GROUP BY 1 ORDER BY 1"
        ).fetchall()


def _registry(httpserver) -> RdapRegistry:
    registry = RdapRegistry(OBJECTS, base="/rdap")
    httpserver.expect_request(re.compile(r"^/rdap/.+$")).respond_with_handler(registry)
    return registry


def test_ingest_alone_never_discards_addresses_and_resolve_attributes_them_later(tmp_path, httpserver):
    registry = _registry(httpserver)
    logs = write_log(tmp_path / "access.log", LINES)
    ingested = engine.execute(_settings(tmp_path, logs), "ingest", ["ingest"])
    loaded = engine.execute(_settings(tmp_path), "load", ["load"])
    assert ingested["pageviews"] == 3 and loaded["visits"] == 3 and registry.requests == []
    pending = context.pending_addresses(_settings(tmp_path))
    assert pending.path.stat().st_mode & 0o777 == 0o600 and len(pending.load(datetime.now(timezone.utc))) == 3
    with duckdb.connect(str(tmp_path / "leads.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(network_id) FROM visits").fetchall() == [(0,)]
    stats = engine.execute(_settings(tmp_path, rdap_url=httpserver.url_for("/rdap")), "resolve", ["resolve"])
    assert stats["retried"] == 3 and stats["addresses_pending"] == 0
    assert _companies(tmp_path / "leads.duckdb") == [("Kalliodata Oy", 1), ("Mobiilitiimi Oy", 1)]
    assert not pending.path.exists()  # nothing kept longer than needed


def test_offline_then_online(tmp_path, httpserver):
    registry = _registry(httpserver)
    logs = write_log(tmp_path / "access.log", LINES)
    offline = engine.execute(_settings(tmp_path, logs, offline=True), "run", ["ingest", "resolve", "load"])
    assert offline["addresses_pending"] == 3 and registry.requests == []
    online = engine.execute(_settings(tmp_path, logs, rdap_url=httpserver.url_for("/rdap")), "run",
                            ["ingest", "resolve", "load"])
    assert online["pageviews"] == 0 and online["retried"] == 3 and online["addresses_pending"] == 0
    assert _companies(tmp_path / "leads.duckdb") == [("Kalliodata Oy", 1), ("Mobiilitiimi Oy", 1)]


def test_networks_import_attributes_what_waited(tmp_path):
    logs = write_log(tmp_path / "access.log", LINES)
    engine.execute(_settings(tmp_path, logs, offline=True), "run", ["ingest", "resolve", "load"])
    listed = tmp_path / "ours.csv"
    listed.write_text("cidr,organisation,business_id,kind\n88.120.10.0/29,Kalliodata Oy,3141593-8,company\n")
    stats = engine.execute(_settings(tmp_path), "networks import", [commands.import_network_list(listed, "operator")])
    assert stats["addresses_attributed"] == 1 and stats["addresses_pending"] == 2
    assert _companies(tmp_path / "leads.duckdb") == [("Kalliodata Oy", 1)]


def test_a_forgotten_address_never_waits_and_waiting_is_bounded_in_time(tmp_path):
    logs = write_log(tmp_path / "access.log", LINES)
    settings = _settings(tmp_path, logs, offline=True)
    engine.execute(settings, "run", ["ingest", "resolve", "load"])
    result = engine.execute(settings, "forget", [commands.privacy_request("forget", "ip", "88.120.10.2")])
    assert result["forgotten"]["pending_addresses"] == 1
    waiting = context.pending_addresses(settings)
    assert "88.120.10.2" not in {address for _, address in waiting.load(datetime.now(timezone.utc))}
    # an address erased earlier is never queued again, whatever the logs hold
    engine.execute(settings, "run", ["ingest", "resolve", "load"])
    assert "88.120.10.2" not in waiting.path.read_text()
    # after unresolved_keep_days an address is dropped
    entries = json.loads(waiting.path.read_text())
    for entry in entries:
        entry["since"] = (datetime.now(timezone.utc) - timedelta(days=8)).isoformat()
    waiting.path.write_text(json.dumps(entries))
    assert context.pending_addresses(settings).load(datetime.now(timezone.utc)) == []


def test_one_file_per_database(tmp_path):
    first = PendingAddresses(tmp_path / "cfg", tmp_path / "a.duckdb")
    second = PendingAddresses(tmp_path / "cfg", tmp_path / "b.duckdb")
    now = datetime.now(timezone.utc)
    first.add([("k1", "192.0.2.1")], now)
    first.save(now)
    assert second.load(now) == [] and first.load(now) == [("k1", "192.0.2.1")]
    assert (tmp_path / "cfg").stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("behind_bootstrap", [False, True])
def test_a_registry_that_stops_answering_costs_seconds_and_no_address_is_logged(tmp_path, caplog, httpserver,
                                                                               behind_bootstrap):
    import socket
    import time

    from werkzeug.wrappers import Response

    with socket.socket() as listener:  # a port that accepts nothing: every connection is refused
        listener.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{listener.getsockname()[1]}/rdap"
    rdap_url = dead
    if behind_bootstrap:  # the bootstrap answers (paced, 1 s apart) and redirects to the dead registry
        httpserver.expect_request(re.compile(r"^/bootstrap/ip/.+$")).respond_with_handler(
            lambda r: Response("", status=302, headers={"Location": dead + "/ip/" + r.path.rsplit("/", 1)[1]}))
        rdap_url = httpserver.url_for("/bootstrap")
    lines = [combined(client=f"88.120.{i}.9", ts=f"24/Nov/2026:10:{i:02d}:00 +0200") for i in range(40)]
    settings = _settings(tmp_path, write_log(tmp_path / "access.log", lines), rdap_url=rdap_url,
                         retry_backoff="0.2", request_timeout="0.5,0.5", rdap_min_interval=1)
    started = time.monotonic()
    with caplog.at_level("INFO"):
        stats = engine.execute(settings, "run", ["ingest", "resolve", "load"])
    assert time.monotonic() - started < 20
    assert stats["rdap_requests"] == (6 if behind_bootstrap else 3)
    assert stats["rdap_unavailable"] == 40 and stats["addresses_pending"] == 40
    assert [r for r in caplog.records if "stopped answering" in r.getMessage()]
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name != "werkzeug")  # ours, not the test server's
    assert not re.search(r"88\.120\.\d+\.\d+", logged), "a client address reached the logs"


def test_the_pending_file_stays_private_whatever_is_planted_around_it(tmp_path, monkeypatch):
    import os

    now = datetime.now(timezone.utc)
    db = tmp_path / "leads.duckdb"
    waiting = PendingAddresses(tmp_path / "cfg", db)
    # another spelling of the same database is the same file
    monkeypatch.chdir(tmp_path)
    assert PendingAddresses(tmp_path / "cfg", Path("leads.duckdb")).path == waiting.path
    (tmp_path / "cfg").mkdir(mode=0o700)
    leftover = waiting.path.with_suffix(".tmp")
    leftover.write_text("[]")
    leftover.chmod(0o644)
    old = os.umask(0)
    try:
        waiting.add([("k1", "192.0.2.1")], now)
        waiting.save(now)
    finally:
        os.umask(old)
    assert waiting.path.stat().st_mode & 0o777 == 0o600
    # a symlink planted at the file is never read through
    secret = tmp_path / "elsewhere.json"
    secret.write_text('[{"client_key": "x", "address": "192.0.2.9", "since": "2999-01-01"}]')
    waiting.path.unlink()
    waiting.path.symlink_to(secret)
    assert PendingAddresses(tmp_path / "cfg", db).load(now) == []


def test_subject_export_says_whether_the_address_waits(tmp_path):
    logs = write_log(tmp_path / "access.log", LINES)
    settings = _settings(tmp_path, logs, offline=True)
    engine.execute(settings, "run", ["ingest", "resolve", "load"])
    out = tmp_path / "export.json"
    engine.execute(settings, "subject-export", [commands.privacy_request("subject-export", "ip", "88.120.10.2", out)])
    exported = json.loads(out.read_text())
    assert exported["waiting_for_resolution"] is True and len(exported["visits"]) == 1


def test_a_run_killed_before_publishing_keeps_what_waited(tmp_path, httpserver):
    import subprocess
    import sys
    import textwrap

    _registry(httpserver)
    logs = write_log(tmp_path / "access.log", LINES)
    engine.execute(_settings(tmp_path, logs, offline=True), "run", ["ingest", "resolve", "load"])
    waiting = context.pending_addresses(_settings(tmp_path)).path
    before = waiting.read_text()
    root = Path(__file__).resolve().parents[1]
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(root)!r})
        from sinks import faults
        faults.KILL_AT = "publish:before-rename"
        from flows import commands, context, engine
        from flows.config import load_settings
        settings = load_settings({{"db": {str(tmp_path / "leads.duckdb")!r}, "rdap_url": {httpserver.url_for("/rdap")!r},
                                   "rdap_min_interval": 0}}, None, {{"LEADPIPE_CONFIG_DIR": {str(tmp_path / "cfg")!r}}})
        engine.execute(settings, "resolve", ["resolve"])
    """)
    assert subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120).returncode == -9
    assert waiting.read_text() == before  # the published database never saw the answers: nothing left the file
    assert _companies(tmp_path / "leads.duckdb") == []
    stats = engine.execute(_settings(tmp_path, rdap_url=httpserver.url_for("/rdap")), "resolve", ["resolve"])
    assert stats["retried"] == 3 and not waiting.exists()
    assert _companies(tmp_path / "leads.duckdb") == [("Kalliodata Oy", 1), ("Mobiilitiimi Oy", 1)]


@pytest.mark.parametrize("kill_at, published", [("publish:after-rename", True), ("publish:before-rename", False)])
def test_a_run_killed_around_publishing_leaves_the_file_its_database_expects(tmp_path, kill_at, published):
    """The waiting addresses are prepared before the rename and committed after it: a kill between the
    two is settled by the next run — kept when the killed run was published, dropped when it was not."""
    import subprocess
    import sys
    import textwrap

    logs = write_log(tmp_path / "access.log", LINES)
    root = Path(__file__).resolve().parents[1]
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(root)!r})
        from sinks import faults
        faults.KILL_AT = {kill_at!r}
        from flows import engine
        from flows.config import load_settings
        settings = load_settings({{"db": {str(tmp_path / "leads.duckdb")!r}, "logs": [{str(logs)!r}],
                                   "offline": True}}, None, {{"LEADPIPE_CONFIG_DIR": {str(tmp_path / "cfg")!r}}})
        engine.execute(settings, "ingest", ["ingest"])
    """)
    assert subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120).returncode == -9
    waiting = context.pending_addresses(_settings(tmp_path))
    assert waiting.prepared_path.exists() and not waiting.path.exists()
    assert (tmp_path / "leads.duckdb").exists() == published
    engine.execute(_settings(tmp_path, offline=True), "load", ["load"])  # any next run settles the file
    assert not waiting.prepared_path.exists()
    now = datetime.now(timezone.utc)
    assert len(waiting.load(now)) == (3 if published else 0)  # the published night's addresses still wait
