"""The pipeline's stages as plain functions, and the operation that runs them.

Each stage takes an open working connection and returns its counts. The
Prefect flow (``flows/nightly.py``) wraps the same functions as tasks; the
single-stage commands call them directly, without Prefect's start-up cost.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import requests

from enrich import bots
from enrich.clients import ProxyPolicy
from enrich.errors import ConfigError, LeadpipeError
from enrich.weblogs import LogSource, download, expand_sources
from flows import __version__
from flows.config import Settings, load_or_create_secret
from sinks import database, runs
from sinks.weblog_load import IngestOptions, ingest_logs, sessionize

log = logging.getLogger("leadpipe")

USER_AGENT = f"leadpipe/{__version__} (+https://github.com/leadpipe/leadpipe)"


@dataclass
class RunContext:
    """What every stage of one run shares."""

    settings: Settings
    con: duckdb.DuckDBPyConnection
    run_id: int
    scratch: Path
    stats: dict = field(default_factory=dict)


def window(settings: Settings) -> tuple[datetime | None, datetime | None]:
    """``--since``/``--until`` (dates in the configured time zone) as UTC instants.

    ``since`` is inclusive from its local midnight; ``until`` is inclusive of
    its whole day, so the upper bound is the next local midnight.
    """
    zone = ZoneInfo(settings.timezone)

    def midnight(day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=zone).astimezone(timezone.utc)

    since = midnight(settings.since) if settings.since else None
    until = midnight(settings.until + timedelta(days=1)) if settings.until else None
    return since, until


def expand_templates(patterns: tuple[str, ...], settings: Settings, today: date | None = None) -> list[str]:
    """Fill ``{yesterday:%Y%m%d}`` / ``{today:...}`` in paths and URLs (yesterday's rotated file)."""
    today = today or datetime.now(ZoneInfo(settings.timezone)).date()
    values = {"today": today, "yesterday": today - timedelta(days=1)}
    out = []
    for pattern in patterns:
        if "{today" in pattern or "{yesterday" in pattern:
            try:
                pattern = pattern.format_map(values)
            except (KeyError, ValueError, IndexError) as exc:
                raise ConfigError(f"bad date template in {pattern!r}: {exc}") from None
        out.append(pattern)
    return out


@contextlib.contextmanager
def progress_reporter(enabled: bool) -> Iterator[Callable[[str, int], None]]:
    """A progress bar on a terminal, log lines otherwise."""
    if enabled and sys.stderr.isatty():
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.completed:,} lines"),
            TimeElapsedColumn(), transient=True,
        ) as bar:
            tasks: dict[str, int] = {}

            def advance(source: str, lines: int) -> None:
                if source not in tasks:
                    tasks[source] = bar.add_task(f"reading {Path(source).name}", total=None)
                bar.advance(tasks[source], lines)

            yield advance
        return
    totals: dict[str, int] = {}

    def report(source: str, lines: int) -> None:
        totals[source] = totals.get(source, 0) + lines
        log.info("read %s lines from %s", f"{totals[source]:,}", source)

    yield report


def fetch_sources(sources: list[LogSource], settings: Settings, scratch: Path) -> list[tuple[LogSource, Path]]:
    """Local files for every source: URLs are downloaded into the private scratch dir."""
    files = []
    session = None
    for index, source in enumerate(sources):
        if not source.is_url:
            files.append((source, Path(source.location)))
            continue
        if settings.offline:
            raise ConfigError(f"--offline: not fetching {source.location}")
        if session is None:
            session = requests.Session()
            session.headers["User-Agent"] = USER_AGENT
        target = scratch / f"download-{index}"
        files.append(
            (source, download(source.location, target, session, auth=settings.http_auth, token=settings.http_token))
        )
    return files


def ingest(ctx: RunContext, show_progress: bool = True) -> dict:
    """Stage: web logs → pageviews (dedup, bots, client address, keyed hashes)."""
    settings = ctx.settings
    if not settings.logs:
        log.info("no --logs given: nothing to ingest")
        return {"files": 0, "lines_read": 0}
    sources = expand_sources(expand_templates(settings.logs, settings))
    files = fetch_sources(sources, settings, ctx.scratch)
    since, until = window(settings)
    try:
        policy = ProxyPolicy.from_strings(settings.trusted_proxies, settings.internal_networks)
    except ValueError as exc:
        raise ConfigError(f"bad trusted_proxies/internal_networks entry: {exc}") from None
    options = IngestOptions(
        secret=load_or_create_secret(settings),
        policy=policy,
        bot_patterns=bots.bot_patterns(settings.data_dir / "bots-extra.txt"),
        since=since,
        until=until,
        store_ip_prefix=settings.store_ip_prefix,
    )
    with progress_reporter(show_progress) as on_progress:
        return ingest_logs(ctx.con, files, options, ctx.run_id, on_progress)


def load(ctx: RunContext) -> dict:
    """Stage: pageviews → visits (sessions)."""
    return sessionize(ctx.con, ctx.settings.session_gap_minutes)


STAGES: dict[str, Callable[[RunContext], dict]] = {"ingest": ingest, "load": load}


def execute(
    settings: Settings,
    command: str,
    stages: list[str],
    call: Callable[[str, Callable[[RunContext], dict], RunContext], dict] | None = None,
) -> dict:
    """Run ``stages`` against a working copy of ``settings.db`` and publish it.

    Args:
        settings: resolved configuration.
        command: what the operator ran, for the ``runs`` row.
        stages: stage names, in order.
        call: how to invoke a stage (the flow passes Prefect tasks); default: directly.

    Returns:
        The run's stats (also stored in ``runs.stats``).

    Raises:
        LeadpipeError: with a one-line reason; the published database is unchanged
            except for a ``failed`` row in ``runs``.
    """
    call = call or (lambda name, fn, ctx: fn(ctx))
    db = settings.db
    with database.exclusive(db):
        scratch = Path(tempfile.mkdtemp(prefix=".leadpipe-", dir=db.parent))
        try:
            with database.working_copy(db, settings.memory_limit) as con:
                ctx = RunContext(settings, con, runs.start_run(con, command), scratch)
                for name in stages:
                    ctx.stats.update(call(name, STAGES[name], ctx) or {})
                runs.finish_run(con, ctx.run_id, "success", ctx.stats)
                ctx.stats["run_id"] = ctx.run_id
                return ctx.stats
        except Exception as exc:
            reason = one_line(exc)
            with contextlib.suppress(Exception), database.working_copy(db, settings.memory_limit) as con:
                runs.record_failure(con, command, reason)
            if isinstance(exc, LeadpipeError):
                raise
            raise LeadpipeError(reason) from exc
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    if isinstance(exc, LeadpipeError):
        return first or exc.__class__.__name__
    return f"{exc.__class__.__name__}: {first}" if first else exc.__class__.__name__
