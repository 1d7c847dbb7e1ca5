"""Process-wide set-up that must happen before Prefect is imported."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import requests

from enrich.redact import SafeLogMessages
from flows.config import Settings, ensure_private_dir


def prepare_prefect(settings: Settings, verbose: bool = False) -> None:
    """Keep Prefect's state in our config dir and switch its telemetry off.

    PRODUCT.md: nothing phones home. Prefect reads these variables when it is
    first imported, so call this before importing ``flows.nightly``. Unless
    ``verbose``, Prefect's internal workers keep their warnings to themselves.
    """
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ["DO_NOT_TRACK"] = "1"
    os.environ.setdefault("PREFECT_HOME", str(ensure_private_dir(settings.prefect_home)))
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
    if not verbose:
        os.environ.setdefault("PREFECT_INTERNAL_LOGGING_LEVEL", "ERROR")
    # The temporary local API server prints a banner per process; keep output for the operator.
    os.environ.setdefault("PREFECT_UI_ENABLED", "false")


class _SafeMessages(SafeLogMessages):
    """Log messages quote registry and export text: besides redaction, no control or bidi character
    reaches the terminal."""

    def filter(self, record: logging.LogRecord) -> bool:
        from sinks.text import clean_text

        super().filter(record)
        record.msg = clean_text(record.msg)
        return True


class _NotPrefect(logging.Filter):
    """Prefect's own records (a failed task's traceback, state changes) stay in Prefect's database;
    the operator sees leadpipe's one line. ``--verbose`` shows them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith("prefect")


def _filter_root_handlers(verbose: bool) -> None:
    for handler in logging.getLogger().handlers:
        wanted = [_SafeMessages] + ([] if verbose else [_NotPrefect])
        for kind in wanted:
            if not any(isinstance(f, kind) for f in handler.filters):
                handler.addFilter(kind())


def setup_logging(verbose: bool = False) -> None:
    level = logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _filter_root_handlers(verbose)
    for noisy in ("httpx", "httpcore", "urllib3", "prefect", "uvicorn", "alembic", "aiosqlite"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def quiet_prefect(verbose: bool = False) -> None:
    """After Prefect's import, which replaced the root logger's handlers with its console: our
    filters again (no address or secret in any line; Prefect's own records only when verbose),
    and leadpipe's level."""
    _filter_root_handlers(verbose)
    logging.getLogger("leadpipe").setLevel(logging.DEBUG if verbose else logging.INFO)


def _die_with_parent() -> None:
    """In a child, before it runs: the kernel sends it SIGTERM when leadpipe dies, even by SIGKILL."""
    import ctypes
    import signal

    PR_SET_PDEATHSIG = 1  # noqa: N806 (the kernel's name)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _wait_healthy(server: subprocess.Popen, url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(f"{url}/health", timeout=2).ok:
                return
        except requests.RequestException:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the local Prefect API did not start on {url}")
        time.sleep(0.2)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _drain_prefect_workers(timeout: float = 5) -> None:
    """Prefect's background workers (run logs, events) send what they hold while the API still listens,
    not at exit, when it is gone ("Error logging to API")."""
    if "prefect" not in sys.modules:
        return
    from prefect._internal.concurrency.services import QueueService

    with contextlib.suppress(Exception):
        QueueService.drain_all(timeout=timeout)


@contextlib.contextmanager
def temporary_prefect_api(
    startup_timeout: float = 90, while_starting: Callable[[], None] | None = None
) -> Iterator[str]:
    """The API a single run needs, as Prefect's own temporary server — but a child that dies with us.

    Without ``PREFECT_API_URL`` Prefect would start the same server itself,
    and a killed run would leave it running (about 190 MB each). Ours gets
    the parent-death signal, so nothing outlives the run. Prefect reads its
    settings when it is first imported: the URL is set before that, and
    ``while_starting`` (importing the flow, a few seconds) runs while the
    server boots.
    """
    if os.environ.get("PREFECT_API_URL"):
        if while_starting:
            while_starting()
        yield os.environ["PREFECT_API_URL"]
        return
    spec = importlib.util.find_spec("prefect")  # its location, without importing it (and its settings)
    site = Path(spec.origin).parent.parent if spec and spec.origin else None
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", *(["--app-dir", str(site)] if site else []), "--factory",
         "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port), "--log-level", "error",
         "--lifespan", "on"],
        env={**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent,
    )
    os.environ["PREFECT_API_URL"] = url
    try:
        if while_starting:
            while_starting()
        _wait_healthy(server, url, startup_timeout)
        yield url
    finally:
        _drain_prefect_workers()
        os.environ.pop("PREFECT_API_URL", None)
        server.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=20)


def _say_and_exit(signum: int, what: str) -> None:
    shown = "\x1b[?25h\n" if sys.stderr.isatty() else ""  # a progress display hid the cursor
    os.write(2, f"{shown}leadpipe: interrupted; {what}\n".encode())
    os._exit(128 + signum)


class _Publishing:
    """From the end of a run's last stage until the published file and the private pending-address
    file are both in place, Ctrl-C and SIGTERM wait: stopping between the two would leave a published
    night whose addresses never get a network."""

    def __init__(self) -> None:
        self.active = False
        self.signum: int | None = None

    def start(self) -> None:
        self.active = True

    def end(self, published: bool = True) -> None:
        self.active, signum, self.signum = False, self.signum, None
        if signum:
            _say_and_exit(signum, "after the run was published" if published else "the published database is as it was")


PUBLISHING = _Publishing()


@contextlib.contextmanager
def stop_at_once_on_signals(db: Path) -> Iterator[None]:
    """Ctrl-C or SIGTERM during a run of ``db``: the run stops at once, like a kill, and says so.

    A killed run is safe at any point (the published database is replaced only by an atomic rename;
    ``tests/test_crash.py``): so the run is not unwound through DuckDB, Prefect and its temporary API
    (which turn an interrupt into a failed query, a crashed flow and retries to a server that is
    gone) but ended here — its private working copy removed, one line, exit 130 (SIGINT) or 143
    (SIGTERM). The lock goes with the process; the temporary API dies with its parent.
    """
    from sinks.database import discard_run_leftovers

    def stop(signum: int, frame: object) -> None:
        if PUBLISHING.active:  # the rename and the pending file go together: stopped when both are done
            PUBLISHING.signum = PUBLISHING.signum or signum
            return
        with contextlib.suppress(Exception):
            discard_run_leftovers(db)
        _say_and_exit(signum, "the published database is as it was")

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
