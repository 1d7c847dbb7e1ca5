"""``leadpipe serve``: the nightly flow on its schedule, as a long-running service.

The service is three parts: a Prefect server (ours, on ``serve_port``, unless
``PREFECT_API_URL`` names one), whose scheduler creates the nightly runs; a
Prefect runner, in a thread of this process, which registers the deployment and
starts each run in a child process; and this process's main thread, which only
waits for SIGINT or SIGTERM. Either signal stops the runner (an in-flight run is
cancelled: it works on a private copy, so the analysts' database is untouched),
then the server, and ends the process with one line on stderr,
``leadpipe: stopped``, and exit status 130 (SIGINT) or 0 (SIGTERM, a service
manager's ordinary stop).
"""

from __future__ import annotations

import asyncio
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
from typing import Annotated, Any, Optional

import requests
import typer

from enrich.errors import ConfigError, LeadpipeError
from flows.cli import (
    ConfigOpt, DbOpt, FormsOpt, LeadfeederOpt, LogsOpt, OfflineOpt, ReportOpt, VerboseOpt, _checked, _overrides, app,
)
from flows.config import Settings, load_settings
from flows.console import console, err, fail as _fail
from flows.runtime import _die_with_parent, prepare_prefect, setup_logging

DEPLOYMENT = "leadpipe-nightly"
#: Exit statuses after a signal: Ctrl-C is an interruption (128 + SIGINT, as for every command);
#: SIGTERM is how systemd, Docker and Kubernetes stop a service, an ordinary end.
EXIT_STATUS = {signal.SIGINT: 130, signal.SIGTERM: 0}
#: How long the runner has to cancel a run in flight and pause the schedule; then its children are killed.
STOP_SECONDS = 15.0

#: Set by ``leadpipe serve`` to its process id, for its runs (see :func:`_a_run_dies_with_serve`).
SERVE_PID = "LEADPIPE_SERVE_PID"

PortOpt = Annotated[Optional[int], typer.Option(
    "--port", min=1, max=65535,
    help="Port of the local Prefect server (UI and API) on 127.0.0.1; default 4200 (env LEADPIPE_SERVE_PORT).")]


def description() -> str:
    """The deployment's description, for ``serve`` and ``prefect.yaml``: the stages as they are."""
    from flows.stages import PIPELINE

    return (f"leadpipe nightly: {' → '.join(stage.__name__ for stage in PIPELINE)}, in a private working copy, "
            "published atomically to the analysts' database")


def configured_schedule(config: str | None = None) -> dict[str, str]:
    """A ``prefect.yaml`` build step: the configured schedule and time zone, for ``prefect deploy``.

    Read as every leadpipe command reads its settings (``--config``/``LEADPIPE_CONFIG``,
    ``./leadpipe.toml``, ``LEADPIPE_SCHEDULE``/``LEADPIPE_TIMEZONE``, the defaults); Prefect
    templates the deployment's schedule with ``{{ leadpipe-config.schedule }}`` and
    ``{{ leadpipe-config.timezone }}``.
    """
    settings = load_settings({}, Path(config) if config else None)
    return {"schedule": settings.schedule, "timezone": settings.timezone, "description": description()}


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


class _Signals:
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


class _Stopped(Exception):
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
def prefect_server(settings: Settings, signals: _Signals, startup_timeout: float = 120) -> Iterator[Server]:
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
                raise _Stopped
        os.environ["PREFECT_API_URL"] = f"{url}/api"
        yield Server(f"{url}/api", f"{url}/" if ui else None, server)
    finally:
        _stop_process_group(server)


class _Runner:
    """Prefect's runner for the nightly deployment, in a thread with its own event loop.

    In a thread, Prefect installs no signal handler of its own: SIGINT and
    SIGTERM stay with :class:`_Signals`, and stopping is :meth:`stop`.
    """

    def __init__(self, settings: Settings, parameters: dict) -> None:
        self.settings, self.parameters = settings, parameters
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._runner: Any = None
        self.thread = threading.Thread(target=self._thread, name="leadpipe-runner", daemon=True)

    def _thread(self) -> None:
        # Runs start in child processes of this thread, which inherit its signal mask: a terminal's
        # Ctrl-C (SIGINT to the whole process group) reaches the main thread alone, and a run in
        # flight ends as the runner cancels it (SIGTERM), not half-way through a KeyboardInterrupt.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            asyncio.run(self._main())
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # reported by the main thread, as one line
            self.error = exc
        finally:
            self.ready.set()

    async def _main(self) -> None:
        from prefect.deployments.runner import EntrypointType
        from prefect.runner import Runner
        from prefect.schedules import Cron

        from flows.nightly import nightly

        self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
        # One nightly run at a time; on stopping, the schedule is paused (a shared server
        # would otherwise pile up runs nobody takes).
        self._runner = Runner(name="leadpipe", limit=1, pause_on_shutdown=True)
        try:
            schedule = Cron(self.settings.schedule, timezone=self.settings.timezone)
        except ValueError:
            raise ConfigError(f"schedule {self.settings.schedule!r} is not a cron expression "
                              "(minute hour day month weekday)") from None
        await self._runner.aadd_flow(
            nightly, name=DEPLOYMENT, schedule=schedule,
            parameters=self.parameters, description=description(),
            entrypoint_type=EntrypointType.MODULE_PATH,  # a run imports flows.nightly from any directory
        )
        self.ready.set()
        await self._runner.start()

    def start(self) -> None:
        self.thread.start()

    def stop(self, seconds: float) -> None:
        """Cancel a run in flight, pause the schedule and end the thread, within ``seconds``."""
        if self._loop is not None and self.thread.is_alive():
            if self._runner is not None and self._runner.started:
                asyncio.run_coroutine_threadsafe(self._runner.astop(), self._loop)
            elif self._task is not None:
                self._loop.call_soon_threadsafe(self._task.cancel)
        self.thread.join(seconds)


def _children() -> list[int]:
    """This process's child processes (a run in flight, multiprocessing's helpers)."""
    me, found = str(os.getpid()), []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                if (entry / "stat").read_text().rsplit(")", 1)[1].split()[1] == me:
                    found.append(int(entry.name))
    return found


def _kill_children(seconds: float = 5) -> None:
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


def _exit(status: int) -> None:
    """The end of the service, with nothing after its last line.

    ``os._exit``: at interpreter exit Prefect's background threads would try to
    reach the server just stopped, and print about it.
    """
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(status)


def _announce(settings: Settings, server: Server) -> None:
    lines = [f"leadpipe: serving the nightly flow at '{settings.schedule}' ({settings.timezone})"]
    if server.ui:
        lines.append(f"  Prefect UI:  {server.ui}")
    lines.append(f"  Prefect API: {server.api}")
    lines.append("  Ctrl-C or SIGTERM stops it.")
    for line in lines:  # plain lines: an address is never wrapped
        console.print(line, soft_wrap=True, highlight=False, markup=False)
    sys.stdout.flush()


@app.command()
def serve(
    db: DbOpt = None, logs: LogsOpt = None, leadfeeder: LeadfeederOpt = None, forms: FormsOpt = None,
    offline: OfflineOpt = False, report_dir: ReportOpt = None, port: PortOpt = None, config: ConfigOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Serve the nightly flow on its cron schedule (settings schedule, timezone); options as for run."""
    setup_logging(verbose)
    overrides = {k: v for k, v in _overrides(db, logs, None, None, offline, report_dir, leadfeeder, forms).items()
                 if v is not None}
    # Checked now, not at 3 a.m.: the database's folder, the report folder, every local input path.
    settings, checked = _checked({**overrides, "serve_port": port}, config, "serve", creates=True,
                                 reads_inputs=True, report=True)
    overrides["db"] = checked["db"]  # the real path: runs start in this folder, but one file is one file
    # Each scheduled run resolves its settings as `leadpipe run` would, with these options.
    parameters: dict[str, Any] = {"overrides": overrides, "command": "run"}
    if config:
        parameters["config_file"] = str(config.resolve())
    os.environ.setdefault("PREFECT_UI_ENABLED", "true")  # our server's UI; the operator may still say false
    if not verbose:
        # Prefect's console (here and in each run's process) stays quiet: a run's logs, states and
        # failures are in Prefect's database and UI; --verbose shows them here too.
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    prepare_prefect(settings)
    signals = _Signals()
    signals.install()
    os.environ[SERVE_PID] = str(os.getpid())
    try:
        with prefect_server(settings, signals) as server:
            runner = _Runner(settings, parameters)
            runner.start()
            while not runner.ready.wait(0.2):
                if signals.event.is_set():
                    raise _Stopped
            if runner.error is not None:
                raise runner.error
            _announce(settings, server)
            while not signals.wait(1):
                if server.stopped():
                    raise LeadpipeError("the local Prefect server stopped")
                if not runner.thread.is_alive():  # the runner ended by itself: a failure
                    raise runner.error or LeadpipeError("the Prefect runner stopped")
            runner.stop(STOP_SECONDS)  # then the server stops
    except _Stopped:
        pass
    except Exception as exc:  # one line, never a traceback
        _kill_children()
        if os.environ.get("LEADPIPE_DEBUG") and not isinstance(exc, LeadpipeError):
            raise
        try:
            _fail(exc)
        except typer.Exit as failed:
            _exit(failed.exit_code)
    _kill_children()
    err.print("leadpipe: stopped", highlight=False)
    _exit(EXIT_STATUS.get(signals.received or signal.SIGTERM, 0))
