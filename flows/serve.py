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
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from enrich.errors import ConfigError, LeadpipeError
from flows.cli import (
    ConfigOpt, DbOpt, FormsOpt, LeadfeederOpt, LogsOpt, OfflineOpt, ReportOpt, VerboseOpt, _checked, _overrides, app,
)
from flows.config import Settings, load_settings
from flows.console import console, err, fail as _fail
from flows.runtime import prepare_prefect, setup_logging
from flows.service import (
    EXIT_STATUS, SERVE_PID, Server, Signals, Stopped, exit_now, kill_children, prefect_server,
)

DEPLOYMENT = "leadpipe-nightly"
#: How long the runner has to cancel a run in flight and pause the schedule; then its children are killed.
STOP_SECONDS = 15.0

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


class _Runner:
    """Prefect's runner for the nightly deployment, in a thread with its own event loop.

    In a thread, Prefect installs no signal handler of its own: SIGINT and
    SIGTERM stay with :class:`flows.service.Signals`, and stopping is :meth:`stop`.
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
    signals = Signals()
    signals.install()
    os.environ[SERVE_PID] = str(os.getpid())
    try:
        with prefect_server(settings, signals) as server:
            runner = _Runner(settings, parameters)
            runner.start()
            while not runner.ready.wait(0.2):
                if signals.event.is_set():
                    raise Stopped
            if runner.error is not None:
                raise runner.error
            _announce(settings, server)
            while not signals.wait(1):
                if server.stopped():
                    raise LeadpipeError("the local Prefect server stopped")
                if not runner.thread.is_alive():  # the runner ended by itself: a failure
                    raise runner.error or LeadpipeError("the Prefect runner stopped")
            runner.stop(STOP_SECONDS)  # then the server stops
    except Stopped:
        pass
    except Exception as exc:  # one line, never a traceback
        kill_children()
        if os.environ.get("LEADPIPE_DEBUG") and not isinstance(exc, LeadpipeError):
            raise
        try:
            _fail(exc)
        except typer.Exit as failed:
            exit_now(failed.exit_code)
    kill_children()
    err.print("leadpipe: stopped", highlight=False)
    exit_now(EXIT_STATUS.get(signals.received or signal.SIGTERM, 0))
