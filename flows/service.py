"""The life of ``leadpipe serve``'s processes: its Prefect server, its signals, its children, its end.

``flows/serve.py`` holds the service (the deployment, the runner, the command);
this module holds what keeps it a well-behaved process: a Prefect server started
in its own process group and stopped in order, SIGINT and SIGTERM noted for the
main thread, runs that die with ``serve`` (even by SIGKILL), no child left behind.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from enrich.errors import ConfigError, LeadpipeError
from flows.config import Settings
from flows.runtime import _die_with_parent

#: Exit statuses after a signal: Ctrl-C is an interruption (128 + SIGINT, as for every command);
#: SIGTERM is how systemd, Docker and Kubernetes stop a service, an ordinary end.
EXIT_STATUS = {signal.SIGINT: 130, signal.SIGTERM: 0}
#: Set by ``leadpipe serve`` to its process id, for its runs (see :func:`_a_run_dies_with_serve`).
SERVE_PID = "LEADPIPE_SERVE_PID"


def _a_run_dies_with_serve() -> None:
    """In a served run's process: killed when ``leadpipe serve`` dies, even by SIGKILL.

    Prefect starts each run with multiprocessing's spawn, which imports the
    command's main module (and so ``flows.cli`` and this module) in the new
    process before the run: here, a direct child of ``serve`` asks the kernel
    for the signal (nothing else does: the variable names its parent). SIGKILL,
    not SIGTERM: with serve gone its run could only retry reporting to a server
    that is gone too, and a killed run is safe (it works in a private copy).
    """
    serve_pid = os.environ.get(SERVE_PID)
    if serve_pid and serve_pid == str(os.getppid()):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if str(os.getppid()) != serve_pid:  # serve died before we asked
            os._exit(137)


_a_run_dies_with_serve()


class Signals:
    """SIGINT and SIGTERM, noted for the main thread: the first one received decides the exit status."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.event = threading.Event()

    def __call__(self, signum: int, frame: Any) -> None:
        if self.received is None:
            self.received = signum
        self.event.set()

    def install(self) -> None:
        for signum in EXIT_STATUS:
            signal.signal(signum, self)

    def wait(self, seconds: float) -> bool:
        return self.event.wait(seconds)


class Stopped(Exception):
    """A signal arrived before the service was up."""


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds: TIME_WAIT is no use
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/health", timeout=2).ok
    except requests.RequestException:
        return False


@dataclass
class Server:
    api: str
    ui: str | None  # None: an external server, whose UI we do not know
    process: subprocess.Popen | None = None  # ours

    def stopped(self) -> bool:
        return self.process is not None and self.process.poll() is not None


def _stop_process_group(process: subprocess.Popen, seconds: float = 10) -> None:
    """SIGTERM to the server's process group (it and anything it started), SIGKILL after ``seconds``."""
    for signum, wait in ((signal.SIGTERM, seconds), (signal.SIGKILL, 5)):
        if process.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signum)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=wait)
    with contextlib.suppress(ProcessLookupError):  # a grandchild that outlived the server
        os.killpg(process.pid, signal.SIGKILL)


@contextlib.contextmanager
def prefect_server(settings: Settings, signals: Signals, startup_timeout: float = 120) -> Iterator[Server]:
    """A Prefect API for scheduling: the configured one, or a local server we start and stop.

    Scheduled runs need a Prefect server (its scheduler creates the runs); the
    temporary per-process API cannot schedule. If ``PREFECT_API_URL`` is set,
    that server is used; otherwise ``prefect server start`` runs on
    127.0.0.1:``serve_port`` with its UI (served from the installed package,
    nothing fetched; analytics off), its state in ``config_dir/prefect``. It is
    a child in its own process group, so a terminal's Ctrl-C reaches leadpipe
    alone, which stops it after the runner; it also dies with leadpipe (even
    by SIGKILL).
    """
    if os.environ.get("PREFECT_API_URL"):
        yield Server(os.environ["PREFECT_API_URL"].rstrip("/"), None)
        return
    port = settings.serve_port
    if port > 65535:
        raise ConfigError(f"serve_port {port}: not a TCP port (1-65535)")
    if not _port_free(port):
        raise ConfigError(f"port {port} is in use on this machine; choose another with --port or serve_port")
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PREFECT_UI_ENABLED": os.environ.get("PREFECT_UI_ENABLED", "true"),
           "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false"}
    ui = env["PREFECT_UI_ENABLED"].strip().lower() in {"1", "true", "yes", "on"}
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
        start_new_session=True, preexec_fn=_die_with_parent,
    )
    try:
        deadline = time.monotonic() + startup_timeout
        while not _answers(f"{url}/api"):
            if server.poll() is not None or time.monotonic() > deadline:
                raise LeadpipeError(f"the local Prefect server did not start on port {port}")
            if signals.wait(0.2):
                raise Stopped
        os.environ["PREFECT_API_URL"] = f"{url}/api"
        yield Server(f"{url}/api", f"{url}/" if ui else None, server)
    finally:
        _stop_process_group(server)


def _children() -> list[int]:
    """This process's child processes (a run in flight, multiprocessing's helpers)."""
    me, found = str(os.getpid()), []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                if (entry / "stat").read_text().rsplit(")", 1)[1].split()[1] == me:
                    found.append(int(entry.name))
    return found


def kill_children(seconds: float = 5) -> None:
    """Whatever child process is left (the runner cancels its runs first): killed, and reaped."""
    pids = _children()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + seconds
    for pid in pids:
        while time.monotonic() < deadline:
            try:
                if os.waitpid(pid, os.WNOHANG)[0]:
                    break
            except ChildProcessError:  # reaped already (by multiprocessing, say)
                break
            time.sleep(0.05)


def exit_now(status: int) -> None:
    """The end of the service, with nothing after its last line.

    ``os._exit``: at interpreter exit Prefect's background threads would try to
    reach the server just stopped, and print about it.
    """
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(status)
