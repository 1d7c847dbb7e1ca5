"""``leadpipe serve`` as a real service, run as the operator runs it: a subprocess.

Its printed addresses answer; its options become the deployment's parameters;
SIGINT (a terminal's Ctrl-C, to the whole process group) and SIGTERM stop it
within seconds, even with a run in flight, with one line and a documented exit
status, leaving no process behind; ``prefect.yaml`` takes its schedule from the
configuration. A run is held in flight by a named pipe as its log file: it
blocks reading it until the test lets go. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SECRET = "s3cr3t-export-token"
SERVED_TOML = 'schedule = "30 2 * * *"\ntimezone = "Europe/Stockholm"\n'


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _env(home: Path, **extra: str) -> dict[str, str]:
    """A clean environment: nothing of the developer's Prefect or leadpipe settings, registries unreachable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "LEADPIPE_"))}
    env.update(
        LEADPIPE_CONFIG_DIR=str(home / "config"), LEADPIPE_RDAP_URL="http://127.0.0.1:9/rdap",
        LEADPIPE_YTJ_URL="http://127.0.0.1:9/ytj", DO_NOT_TRACK="1", PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_RUNNER_POLL_FREQUENCY="1",  # a run asked for starts within a second, not ten
    )
    env.update(extra)
    return env


def _processes() -> dict[int, tuple[int, str]]:
    """Every process: pid -> (parent pid, state)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                found[int(entry.name)] = (int(fields[1]), fields[0])
    return found


def _descendants(pid: int) -> list[int]:
    table, found, todo = _processes(), [], [pid]
    while todo:
        parent = todo.pop()
        for child, (ppid, _) in table.items():
            if ppid == parent:
                found.append(child)
                todo.append(child)
    return found


def _cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    return ""


def _gone(pids: list[int], seconds: float = 10) -> list[int]:
    """The processes of ``pids`` still alive (zombies count as gone) after waiting up to ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        table = _processes()
        alive = [pid for pid in pids if pid in table and table[pid][1] != "Z"]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


class Serve:
    """One ``leadpipe serve`` in its own session, as a terminal or a service manager starts it."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.proc = subprocess.Popen([str(BIN / "leadpipe"), "serve", *args], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd,
                                     start_new_session=True)
        self.out: list[str] = []
        self.err: list[str] = []
        self.announced = threading.Event()
        self._readers = [threading.Thread(target=self._read, args=(stream, lines), daemon=True)
                         for stream, lines in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))]
        for reader in self._readers:
            reader.start()

    def _read(self, stream, lines: list[str]) -> None:
        for line in stream:
            lines.append(line)
            if "stops it" in line:
                self.announced.set()
        self.announced.set()

    def output(self) -> str:
        return "".join(self.out) + "".join(self.err)

    def wait_announced(self, seconds: float = 180) -> None:
        assert self.announced.wait(seconds) and self.proc.poll() is None, f"serve did not start:\n{self.output()}"

    def address(self, name: str) -> str:
        found = re.search(rf"^\s*Prefect {name}:\s+(\S+)\s*$", "".join(self.out), re.M)
        assert found, f"no Prefect {name} address printed:\n{self.output()}"
        return found.group(1)

    @property
    def api(self) -> str:
        return self.address("API")

    def stop(self, signum: int, *, group: bool = False) -> tuple[int, float]:
        """``signum`` to leadpipe (``group``: to its process group, as Ctrl-C does); its status and how long it took."""
        started = time.monotonic()
        if group:
            os.killpg(self.proc.pid, signum)
        else:
            self.proc.send_signal(signum)
        try:
            status = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"serve ignored signal {signum} for 60 s:\n{self.output()}")
        for reader in self._readers:
            reader.join(5)
        return status, time.monotonic() - started

    def kill(self) -> None:
        for pid in [self.proc.pid, *_descendants(self.proc.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)


class HeldLog:
    """A named pipe as the access log: a run reading it waits until the test lets go."""

    def __init__(self, path: Path) -> None:
        self.path = path
        os.mkfifo(path)
        self.writer: int | None = None

    def wait_for_reader(self, seconds: float = 90) -> None:
        """Until a run has the log open (and stays blocked reading it: we hold it open, writing nothing)."""
        deadline = time.monotonic() + seconds
        while self.writer is None:
            try:
                self.writer = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:  # ENXIO: nobody reads it yet
                assert time.monotonic() < deadline, "no run opened the log"
                time.sleep(0.1)

    def close(self) -> None:
        if self.writer is not None:
            os.close(self.writer)
            self.writer = None


def _api(method: str, url: str, **kwargs) -> requests.Response:
    """A call to the test's Prefect server; a 503 (its SQLite busy on a loaded machine) is asked again."""
    deadline = time.monotonic() + 30
    while True:
        answer = requests.request(method, url, timeout=10, **kwargs)
        if answer.status_code != 503 or time.monotonic() > deadline:
            answer.raise_for_status()
            return answer
        time.sleep(0.5)


def _deployment(api: str, name: str = "leadpipe-nightly") -> dict:
    return _api("GET", f"{api}/deployments/name/nightly/{name}").json()


def _start_a_run(api: str) -> str:
    return _api("POST", f"{api}/deployments/{_deployment(api)['id']}/create_flow_run", json={}).json()["id"]


def _assert_stopped_cleanly(serve: Serve, status: int, seconds: float, expected_status: int, pids: list[int]) -> None:
    output = serve.output()
    assert status == expected_status, output
    assert seconds < 20, f"took {seconds:.1f} s to stop"
    assert serve.err == ["leadpipe: stopped\n"], output  # one line, no traceback, no Prefect chatter
    assert "Traceback" not in output and "Error" not in output
    assert not _gone(pids), f"left behind: {[_cmdline(pid) for pid in _gone(pids, 0)]}"


class Service:
    """The module's served flow, with every option ``run`` has; started again if a test stopped it."""

    def __init__(self, home: Path) -> None:
        self.home = home
        (home / "leadpipe.toml").write_text(SERVED_TOML)
        (home / "export.csv").write_text("")
        (home / "forms.jsonl").write_text("")
        self.log = HeldLog(home / "access.log")
        self.port = _free_port()
        self.args = [
            "--db", str(home / "leads.duckdb"), "--logs", str(self.log.path), "--offline",
            "--leadfeeder", f"http://127.0.0.1:9/export.csv?token={SECRET}", "--leadfeeder", str(home / "export.csv"),
            "--forms", str(home / "forms.jsonl"), "--report-dir", str(home / "reports"),
            "--config", str(home / "leadpipe.toml"), "--port", str(self.port),
        ]
        self.serve: Serve | None = None

    def running(self) -> Serve:
        if self.serve is None or self.serve.proc.poll() is not None:
            self.log.close()
            self.serve = Serve(self.args, _env(self.home), self.home)
            self.serve.wait_announced()
        return self.serve

    def close(self) -> None:
        self.log.close()
        if self.serve is not None and self.serve.proc.poll() is None:
            self.serve.kill()


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    started = Service(tmp_path_factory.mktemp("serve"))
    try:
        yield started
    finally:
        started.close()


def test_the_printed_addresses_answer(service):
    serve = service.running()
    ui, api = serve.address("UI"), serve.api
    assert ui == f"http://127.0.0.1:{service.port}/" and api == f"http://127.0.0.1:{service.port}/api"
    page = requests.get(ui, headers={"Accept": "text/html"}, timeout=10)  # what a browser asks
    assert page.status_code == 200 and "<html" in page.text.lower()
    assert requests.get(f"{api}/health", timeout=10).json() is True
    # The UI asks the server whether to send analytics: never.
    assert requests.get(f"{api}/admin/settings", timeout=10).json()["server"]["analytics_enabled"] is False


def test_the_options_are_the_deployments_parameters(service):
    from flows.serve import description

    home = service.home
    deployment = _deployment(service.running().api)
    parameters = deployment["parameters"]
    assert SECRET not in json.dumps(parameters)  # a URL's credentials never reach Prefect's database
    assert parameters["overrides"]["leadfeeder"][0].startswith("http://127.0.0.1:9/export.csv")
    assert parameters == {
        "command": "run",
        "config_file": str(home / "leadpipe.toml"),
        "overrides": {
            "db": str(home / "leads.duckdb"), "logs": [str(home / "access.log")], "offline": True,
            "leadfeeder": [parameters["overrides"]["leadfeeder"][0], str(home / "export.csv")],
            "forms": [str(home / "forms.jsonl")], "report_dir": str(home / "reports"),
        },
    }
    [schedule] = deployment["schedules"]
    assert schedule["schedule"]["cron"] == "30 2 * * *" and schedule["schedule"]["timezone"] == "Europe/Stockholm"
    assert schedule["active"] and not deployment["paused"]
    assert deployment["description"] == description()


def test_prefect_yaml_takes_its_schedule_from_the_configuration(service, tmp_path):
    from flows.serve import description

    api = service.running().api
    text = (REPO / "prefect.yaml").read_text()
    assert "0 3 * * *" not in text and "Europe/Helsinki" not in text  # nothing hard-coded
    requests.post(f"{api}/work_pools/", json={"name": "leadpipe", "type": "process"}, timeout=10)
    # The file as shipped, but for the deployment's name (the served one has leadpipe-nightly).
    copy = tmp_path / "prefect.yaml"
    copy.write_text(text.replace("name: leadpipe-nightly", "name: from-prefect-yaml"))
    config = tmp_path / "leadpipe.toml"
    config.write_text('schedule = "45 5 * * 1-5"\n')
    env = _env(tmp_path, PREFECT_API_URL=api, PREFECT_HOME=str(tmp_path / "prefect"), PWD=str(REPO),
               LEADPIPE_CONFIG=str(config), LEADPIPE_TIMEZONE="America/New_York")
    deployed = subprocess.run([str(BIN / "prefect"), "--no-prompt", "deploy", "--all", "--prefect-file", str(copy)],
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    deployment = _deployment(api, "from-prefect-yaml")
    assert [(s["schedule"]["cron"], s["schedule"]["timezone"]) for s in deployment["schedules"]] == [
        ("45 5 * * 1-5", "America/New_York")]
    assert deployment["description"] == description()


def test_a_port_in_use_is_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([str(BIN / "leadpipe"), "serve"], cwd=tmp_path, capture_output=True, text=True,
                                env=_env(tmp_path, LEADPIPE_SERVE_PORT=str(port)), timeout=120)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"leadpipe: error: port {port} is in use on this machine; "
                                          "choose another with --port or serve_port"]


def test_sigterm_while_starting_stops_at_once(tmp_path):
    serve = Serve(["--port", str(_free_port())], _env(tmp_path), tmp_path)
    try:
        deadline = time.monotonic() + 60
        while not any("prefect server start" in _cmdline(pid) for pid in _descendants(serve.proc.pid)):
            assert time.monotonic() < deadline and serve.proc.poll() is None, serve.output()
            time.sleep(0.1)
        pids = _descendants(serve.proc.pid)
        status, seconds = serve.stop(signal.SIGTERM)
        _assert_stopped_cleanly(serve, status, seconds, 0, pids)
        assert serve.out == []  # it never claimed to serve
    finally:
        serve.kill()


def test_ctrl_c_during_a_run_stops_promptly_and_cleanly(service):
    serve = service.running()
    _start_a_run(serve.api)
    service.log.wait_for_reader()  # the run is in its ingest stage, reading the log
    pids = _descendants(serve.proc.pid)
    assert any("prefect server start" in _cmdline(pid) for pid in pids)
    assert len(pids) >= 2, "the run has its own process"
    status, seconds = serve.stop(signal.SIGINT, group=True)  # Ctrl-C reaches the whole foreground group
    _assert_stopped_cleanly(serve, status, seconds, 130, pids)
    service.log.close()
    assert not (service.home / "leads.duckdb").exists()  # nothing half-published
    with socket.socket() as probe:  # the port is free again
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", service.port))


def test_sigterm_during_a_run_stops_promptly_and_cleanly(service):
    serve = service.running()
    _start_a_run(serve.api)
    service.log.wait_for_reader()
    pids = _descendants(serve.proc.pid)
    assert any("prefect server start" in _cmdline(pid) for pid in pids) and len(pids) >= 2
    status, seconds = serve.stop(signal.SIGTERM)  # as `kill`, systemd (KillMode=mixed) or Docker sends it
    _assert_stopped_cleanly(serve, status, seconds, 0, pids)
    service.log.close()


def test_a_killed_serve_leaves_no_process_behind(service):
    """SIGKILL gives leadpipe no say: the kernel stops the server and a run in flight (parent-death signals)."""
    serve = service.running()
    _start_a_run(serve.api)
    service.log.wait_for_reader()
    pids = _descendants(serve.proc.pid)
    assert len(pids) >= 2
    serve.proc.kill()
    serve.proc.wait(timeout=10)
    service.log.close()
    assert not _gone(pids, 20), f"left behind: {[_cmdline(pid) for pid in _gone(pids, 0)]}"
    assert not (service.home / "leads.duckdb").exists()
