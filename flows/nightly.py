"""The ``nightly`` Prefect flow: one task per stage (ingest, leadfeeder, forms, resolve, enrich, load, retention, report), each wrapping ``flows/stages.py``.

Import this module only after :func:`flows.runtime.prepare_prefect` has set
Prefect's environment (home directory, telemetry off).
"""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows import stages
from flows.config import load_settings

# Tasks receive a live DuckDB connection: nothing to cache or persist.
ingest_task = task(name="ingest", cache_policy=NO_CACHE, persist_result=False)(stages.ingest)
leadfeeder_task = task(name="leadfeeder", cache_policy=NO_CACHE, persist_result=False)(stages.leadfeeder)
forms_task = task(name="forms", cache_policy=NO_CACHE, persist_result=False)(stages.forms)
retention_task = task(name="retention", cache_policy=NO_CACHE, persist_result=False)(stages.retention)
resolve_task = task(name="resolve", cache_policy=NO_CACHE, persist_result=False)(stages.resolve)
enrich_task = task(name="enrich", cache_policy=NO_CACHE, persist_result=False)(stages.enrich)
load_task = task(name="load", cache_policy=NO_CACHE, persist_result=False)(stages.load)
report_task = task(name="report", cache_policy=NO_CACHE, persist_result=False)(stages.report)
TASKS = {"ingest": ingest_task, "leadfeeder": leadfeeder_task, "forms": forms_task, "resolve": resolve_task, "enrich": enrich_task, "load": load_task,
         "retention": retention_task, "report": report_task}


@flow(name="nightly", log_prints=False, persist_result=False)
def nightly(overrides: dict | None = None, config_file: str | None = None, command: str = "run") -> dict:
    """Ingest → leadfeeder → forms → resolve → enrich → load → retention → report, against a working copy of the database, published at the end.

    Args:
        overrides: settings given on the command line (strings, lists, booleans).
        config_file: an explicit ``leadpipe.toml``.
        command: recorded in ``runs.command``.
    """
    from pathlib import Path

    settings = load_settings(overrides or {}, Path(config_file) if config_file else None)
    logger = get_run_logger()
    logger.info("leadpipe %s into %s", command, settings.db)
    result = stages.execute(settings, command, list(TASKS), call=lambda name, fn, ctx: TASKS[name](ctx))
    logger.info("run %s finished: %s", result.get("run_id"), {k: v for k, v in result.items() if isinstance(v, int)})
    return result
