"""``leadpipe serve``: the nightly flow on its schedule, as a long-running service."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator

from flows.cli import ConfigOpt, DbOpt, LogsOpt, VerboseOpt, app, _overrides, _settings
from flows.config import Settings
from flows.console import console, fail as _fail
from flows.runtime import _die_with_parent, _free_port, _wait_healthy, prepare_prefect, setup_logging


@contextlib.contextmanager
def prefect_server(settings: Settings, startup_timeout: float = 90) -> Iterator[str]:
    """A Prefect API for scheduling: the configured one, or a local server we start.

    Scheduled runs need a Prefect server (its scheduler creates the runs); the
    temporary per-process API cannot schedule. If ``PREFECT_API_URL`` is set,
    that server is used; otherwise ``prefect server start`` runs on 127.0.0.1
    with its state in ``config_dir/prefect`` for as long as we serve.
    """
    if os.environ.get("PREFECT_API_URL"):
        yield os.environ["PREFECT_API_URL"]
        return
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ), preexec_fn=_die_with_parent,
    )
    try:
        _wait_healthy(server, url, startup_timeout)
        os.environ["PREFECT_API_URL"] = url
        yield url
    finally:
        server.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=20)


@app.command()
def serve(config: ConfigOpt = None, db: DbOpt = None, logs: LogsOpt = None, verbose: VerboseOpt = False) -> None:
    """Serve the nightly flow on its cron schedule (leadpipe.toml: schedule, timezone)."""
    setup_logging(verbose)
    overrides = _overrides(db, logs, None, None, False, None)
    settings = _settings(overrides, config)
    prepare_prefect(settings)
    params = {"overrides": {k: v for k, v in overrides.items() if v is not None}}
    if config:
        params["config_file"] = str(config.resolve())
    try:
        with prefect_server(settings) as api:
            from prefect.schedules import Cron

            from flows.nightly import nightly

            console.print(f"serving 'nightly' on '{settings.schedule}' ({settings.timezone}) via {api}; Ctrl-C stops")
            nightly.serve(
                name="leadpipe-nightly", schedule=Cron(settings.schedule, timezone=settings.timezone),
                parameters=params,
            )
    except RuntimeError as exc:
        _fail(exc)
