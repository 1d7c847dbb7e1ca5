"""The ``nightly`` Prefect flow: one task per stage of :data:`flows.stages.PIPELINE`, run by the engine.

Import this module only after :func:`flows.runtime.prepare_prefect` has set
Prefect's environment (home directory, telemetry off).
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any

from prefect import Flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from enrich.errors import LeadpipeError
from enrich.redact import redact_url
from flows import engine
from flows.config import load_settings
from flows.stages import PIPELINE
from sinks.text import one_line


def _one_line_failures(stage):
    """``stage`` failing with its one line only (see :func:`sinks.text.one_line`).

    Prefect logs a failed task's exception, traceback and chained causes into its database;
    an exception's text may quote an address or a URL with its credentials. The type of a
    LeadpipeError is kept (the CLI's exit status depends on it); ``LEADPIPE_DEBUG`` keeps
    the original exception for debugging.
    """
    @functools.wraps(stage)
    def run(*args: Any, **kwargs: Any) -> dict:
        try:
            return stage(*args, **kwargs)
        except Exception as exc:
            if os.environ.get("LEADPIPE_DEBUG"):
                raise
            raise (type(exc) if isinstance(exc, LeadpipeError) else LeadpipeError)(one_line(exc)) from None

    return run


# Tasks receive a live DuckDB connection: nothing to cache or persist.
TASKS = {
    stage.__name__: task(name=stage.__name__, cache_policy=NO_CACHE, persist_result=False)(_one_line_failures(stage))
    for stage in PIPELINE
}


#: Real URLs of a served deployment, by their redacted form: the runner's child processes
#: inherit the environment, Prefect's database never sees them.
SECRETS_ENV = "LEADPIPE_URL_SECRETS"


def _redacted(value: Any, keep: dict[str, str] | None = None) -> Any:
    """``value`` with every string's URL credentials redacted; ``keep`` collects the real ones."""
    if isinstance(value, str):
        shown = redact_url(value)
        if keep is not None and shown != value:
            keep[shown] = value
        return shown
    if isinstance(value, dict):
        return {k: _redacted(v, keep) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redacted(v, keep) for v in value]
    return value


def _revealed(value: Any) -> Any:
    """The inverse of :func:`_redacted` for a served run: the real URLs from this process's environment."""
    real = json.loads(os.environ.get(SECRETS_ENV) or "{}")
    if isinstance(value, str):
        return real.get(value, value)
    if isinstance(value, dict):
        return {k: _revealed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_revealed(v) for v in value]
    return value


def _hidden_for_deployment(parameters: dict | None) -> dict | None:
    if not parameters:
        return parameters
    keep: dict[str, str] = {}
    shown = _redacted(parameters, keep)
    if keep:
        os.environ[SECRETS_ENV] = json.dumps({**json.loads(os.environ.get(SECRETS_ENV) or "{}"), **keep})
    return shown


class SecretFreeFlow(Flow):
    """A flow whose parameters reach Prefect's database without URL credentials.

    Prefect stores every flow run's parameters (and a deployment's) in its database, where
    ``--logs``/``--leadfeeder`` URLs would keep their ``user:pass@`` and ``?token=``. A run
    called in-process still receives the real values (Prefect stores what
    :meth:`serialize_parameters` returns); a served deployment stores the redacted ones and
    its runs, in child processes of ``leadpipe serve``, find the real ones in the environment.
    """

    def serialize_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        return super().serialize_parameters(_redacted(parameters))

    def to_deployment(self, *args: Any, parameters: dict | None = None, **kwargs: Any):
        return super().to_deployment(*args, parameters=_hidden_for_deployment(parameters), **kwargs)

    async def ato_deployment(self, *args: Any, parameters: dict | None = None, **kwargs: Any):
        return await super().ato_deployment(*args, parameters=_hidden_for_deployment(parameters), **kwargs)


def _secret_free_flow(fn):
    return SecretFreeFlow(fn, name="nightly", log_prints=False, persist_result=False)


@_secret_free_flow
def nightly(overrides: dict | None = None, config_file: str | None = None, command: str = "run") -> dict:
    """The pipeline's stages, in order, against a working copy of the database, published at the end.

    Args:
        overrides: settings given on the command line (strings, lists, booleans).
        config_file: an explicit ``leadpipe.toml``.
        command: recorded in ``runs.command``.
    """
    from pathlib import Path

    settings = load_settings(_revealed(overrides or {}), Path(config_file) if config_file else None)
    logger = get_run_logger()
    logger.info("leadpipe %s into %s", command, settings.db)
    result = _one_line_failures(engine.execute)(settings, command, list(TASKS),
                                                call=lambda name, fn, ctx: TASKS[name](ctx))
    logger.info("run %s finished: %s", result.get("run_id"), {k: v for k, v in result.items() if isinstance(v, int)})
    return result
