"""The engine: one run of stages against a working copy of the database, published at the end.

A run takes the database's lock, copies the published file, runs its stages
in order on the copy — each returns its counts — records the run, and renames
the copy over the published file. A failure or a kill leaves the published
file as it was (plus a ``failed`` row in ``runs``); the rerun starts again from
it. The file is rewritten ("compacted") only when a stage deleted rows.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from enrich.errors import ConfigError, LeadpipeError
from flows import progress
from flows.config import Settings, load_or_create_secret
from flows import preflight
from flows.runtime import PUBLISHING
from flows.context import Registries, RunContext, pending_addresses
from flows.stages import PIPELINE, STAGES, Stage
from sinks import database, faults, ledger, runs, state
from sinks.text import one_line

__all__ = ["PIPELINE", "execute", "one_line"]

#: How the engine invokes a stage: directly, or (the flow) as a Prefect task.
Call = Callable[[str, Stage, RunContext], dict]


def execute(
    settings: Settings,
    command: str,
    stages: Sequence[str | Stage] = tuple(stage.__name__ for stage in PIPELINE),
    call: Call | None = None,
) -> dict:
    """Run ``stages`` against a working copy of ``settings.db`` and publish it.

    Args:
        settings: resolved configuration.
        command: what the operator ran, for the ``runs`` row.
        stages: stage names of :data:`PIPELINE` (or stage functions), in order; default: all.
        call: how to invoke a stage (the flow passes Prefect tasks); default: directly.

    Returns:
        The run's counts (also stored in ``runs.stats``) and its outputs (never stored).

    Raises:
        LeadpipeError: with a one-line reason; the published database is unchanged
            except for a ``failed`` row in ``runs``.
    """
    # One file, one lock, whatever name it is given (a symlink, a relative path): its real path, once.
    settings = replace(settings, db=settings.db.expanduser().resolve())
    umask = os.umask(0o077)  # everything a run creates is its owner's alone: WAL, temp files, folders
    try:
        with database.exclusive(settings.db):
            return _execute_locked(settings, command, stages, call or (lambda name, fn, ctx: fn(ctx)))
    finally:
        os.umask(umask)


def _execute_locked(settings: Settings, command: str, stages: Sequence[str | Stage], call: Call) -> dict:
    db = settings.db
    database.discard_run_leftovers(db)  # a killed run's copy and downloads: nobody else's (we hold the lock)
    scratch = Path(tempfile.mkdtemp(prefix=database.scratch_prefix(db), dir=db.parent))
    compact = [False]  # asked for by the run's stages, or by re-keying an older database's ledger
    publishing = None  # its row, from the end of the last stage until the published file is in place
    published = False
    try:
        secret = load_or_create_secret(settings)
        with database.working_copy(db, settings.memory_limit, lambda: compact[0],
                                   temp_directory=scratch / "duckdb") as con:
            with database.transaction(con):
                # another key would make every keyed lookup miss: checked before anything is keyed with it
                _check_secret(con, secret, settings, adopt=command == state.ADOPT_SECRET)
                # an older version's unkeyed ledger: keyed before anything else
                compact[0] = ledger.key_legacy_entries(con, secret, datetime.now(timezone.utc)) > 0
                _record_timezone(con, settings.timezone)  # the days views, reports and totals count
            pending = pending_addresses(settings)
            # A run killed between publishing and its pending file: kept if it was published, else dropped.
            pending.settle(lambda run_id: runs.succeeded(con, run_id))
            ctx = RunContext(settings, con, runs.start_run(con, command), scratch, secret,
                             Registries.for_run(settings, scratch), pending, progress=progress.current())
            for stage in stages:
                name, fn = (stage, STAGES[stage]) if isinstance(stage, str) else (stage.__name__, stage)
                with ctx.progress.stage(name):
                    ctx.stats.update(call(name, fn, ctx) or {})
                faults.point(f"stage:{name}:after")
            compact[0] = compact[0] or ctx.compact
            ctx.stats["compacted"] = compact[0]  # whether publishing rewrites the whole file
            runs.finish_run(con, ctx.run_id, "success", ctx.stats)
            ctx.pending.prepare(datetime.now(timezone.utc), ctx.run_id)  # committed once the file is published
            publishing = ctx.progress.stage("publishing")  # leaving the block: checkpoint, compaction, rename
            PUBLISHING.start()  # a Ctrl-C now waits until the file and the pending addresses are both in place
        faults.point("publish:after-rename")
        # Published: the prepared pending file becomes the file (a kill before this: settled next run).
        ctx.pending.commit()
        published = True
        publishing.finish()
        return {**ctx.stats, "run_id": ctx.run_id, **ctx.outputs}
    except Exception as exc:
        if publishing is not None:
            publishing.finish(ok=False)
        reason = one_line(exc)
        with contextlib.suppress(Exception), database.working_copy(db, settings.memory_limit) as con:
            runs.record_failure(con, command, reason)
        if isinstance(exc, LeadpipeError):
            raise
        raise LeadpipeError(reason) from exc
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        PUBLISHING.end(published)


def _record_timezone(con, zone: str) -> None:
    try:
        state.record_timezone(con, zone)
    except ValueError as exc:
        raise ConfigError(f"timezone: {exc}") from None


def _check_secret(con, secret: bytes, settings: Settings, adopt: bool) -> None:
    try:
        state.check_secret(con, secret, adopt)
    except ValueError:
        raise preflight.other_key(settings, f"its keyed hashes were made with another secret.key, not "
                                  f"{settings.secret_path}") from None
