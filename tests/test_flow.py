"""The nightly Prefect flow, run in-process against one session-scoped test harness."""

import os

import duckdb
import pytest

from tests.conftest import combined, write_log


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory):
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ["DO_NOT_TRACK"] = "1"
    os.environ.setdefault("PREFECT_HOME", str(tmp_path_factory.mktemp("prefect-home")))
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness():
        yield


def test_nightly_flow_runs_ingest_and_load_and_is_idempotent(prefect_harness, tmp_path):
    from flows.nightly import nightly

    logs = write_log(tmp_path / "access.log", [
        combined(ts="24/Nov/2026:10:00:00 +0200"),
        combined(ts="24/Nov/2026:10:10:00 +0200", request="GET /pricing HTTP/1.1"),
        combined(agent="curl/8.5.0"),
    ])
    db = tmp_path / "leads.duckdb"
    overrides = {"db": str(db), "logs": [str(logs)], "offline": True}
    first = nightly(overrides=overrides)
    assert first["pageviews"] == 2 and first["bot_requests"] == 1 and first["visits"] == 1
    second = nightly(overrides=overrides)
    assert second["pageviews"] == 0 and second["duplicate_lines"] == 3
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*), sum(pageviews) FROM visits").fetchall() == [(1, 2)]
        runs = con.execute("SELECT command, status, stats->>'$.lines_read' FROM runs ORDER BY run_id").fetchall()
    assert runs == [("run", "success", "3"), ("run", "success", "3")]


def test_flow_failure_leaves_the_snapshot_and_records_the_reason(prefect_harness, tmp_path):
    from enrich.errors import LeadpipeError
    from flows.nightly import nightly

    with pytest.raises(LeadpipeError, match="no such file"):
        nightly(overrides={"db": str(tmp_path / "x.duckdb"), "logs": [str(tmp_path / "nope.log")], "offline": True})
    with duckdb.connect(str(tmp_path / "x.duckdb"), read_only=True) as con:
        assert con.execute("SELECT status FROM runs").fetchall() == [("failed",)]
