"""The nightly flow through Prefect, as `leadpipe run` runs it: Prefect's database never holds a subject,
and a killed run leaves no Prefect API server behind."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import combined, write_log

ROOT = Path(__file__).resolve().parents[1]
LEADPIPE = Path(sys.executable).with_name("leadpipe")


def _env(tmp_path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "LEADPIPE_"))}
    env.update(LEADPIPE_CONFIG_DIR=str(tmp_path / "cfg"), LEADPIPE_RDAP_URL="http://127.0.0.1:9/rdap",
               LEADPIPE_YTJ_URL="http://127.0.0.1:9/ytj", DO_NOT_TRACK="1", PREFECT_SERVER_ANALYTICS_ENABLED="false")
    return env


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if parent == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not LEADPIPE.exists(), reason="the leadpipe console script is not installed")
def test_prefects_database_never_holds_a_subject(tmp_path):
    address, email = "193.64.10.20", "anna.virtanen@kalliodata.fi"
    logs = write_log(tmp_path / "access.log", [combined(client=address, request=f"GET /p?e={email} HTTP/1.1")])
    forms = tmp_path / "forms.jsonl"
    forms.write_text('{"time": "2026-11-24T10:06:00+02:00", "name": "Anna Virtanen", "email": "%s"}\n' % email)
    db = tmp_path / "leads.duckdb"
    run = subprocess.run([str(LEADPIPE), "run", "--db", str(db), "--logs", str(logs), "--forms", str(forms),
                          "--offline", "--report-dir", str(tmp_path / "reports")],
                         env=_env(tmp_path), capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-2000:]
    for path in (tmp_path / "cfg" / "prefect").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for trace in (address, email, "Anna Virtanen"):
                assert trace.encode() not in data, (path.name, trace)


@pytest.mark.skipif(not LEADPIPE.exists(), reason="the leadpipe console script is not installed")
def test_a_killed_run_leaves_no_prefect_server_behind(tmp_path):
    logs = write_log(tmp_path / "access.log", [combined()])
    run = subprocess.Popen([str(LEADPIPE), "run", "--db", str(tmp_path / "leads.duckdb"), "--logs", str(logs),
                            "--offline", "--report-dir", str(tmp_path / "reports")],
                           env=_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, servers = time.monotonic() + 60, []
    while not servers and time.monotonic() < deadline and run.poll() is None:
        servers = _children(run.pid)
        time.sleep(0.2)
    assert servers, "the run started its temporary Prefect API as a child"
    run.send_signal(signal.SIGKILL)
    run.wait()
    deadline = time.monotonic() + 20
    while any(_alive(pid) for pid in servers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in servers), "the Prefect API outlived the killed run"
