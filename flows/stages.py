"""The nightly pipeline's stages, and its order: :data:`PIPELINE`.

Each stage takes the run's context (``flows/context.py``), calls ``enrich/``
and ``sinks/`` and returns its counts. The engine (``flows/engine.py``) runs
them against a working copy and publishes it; the Prefect flow wraps the same
functions as tasks; the single-stage commands call the engine with a part of
the pipeline.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from enrich.classify import load_known_organisations
from enrich.errors import ConfigError, LeadpipeError
from enrich.downloads import expand_templates
from enrich.weblogs import expand_locations, expand_sources
from flows.context import RunContext
from flows.crm_push import push
from flows.progress import Reading, lookups
from sinks import address_resolution, companies, database, erasure, privacy, register_matching
from sinks import addresses as address_sinks
from sinks import sources as source_sinks
from sinks.report import set_intent_pages, write_report
from sinks.rejects import record_rejects
from sinks.text import one_line
from sinks.pageviews import ingest_logs
from sinks.visits import sessionize

log = logging.getLogger("leadpipe")

Stage = Callable[[RunContext], dict]


def ingest(ctx: RunContext) -> dict:
    """Web logs → pageviews (new lines only; bots, client address, keyed hashes)."""
    if not ctx.settings.logs:
        log.info("no --logs given: nothing to ingest")
        return {"files": 0, "lines_read": 0}
    sources = expand_sources(expand_templates(ctx.settings.logs, ctx.today()))
    files = ctx.registries.downloads.log_files(sources)
    with ctx.progress.steps() as steps:
        reading = Reading(steps, files)
        stats = ingest_logs(ctx.con, files, ctx.ingest_options(), ctx.run_id, reading, reading.parsing)
        # Until a resolve stage settles them, the run's addresses wait (privately) for one: never discarded.
        now = ctx.now()
        ctx.pending.add(address_sinks.run_address_pairs(ctx.con), now)
        stats["addresses_pending"] = len(ctx.pending.load(now))
    return stats


def leadfeeder(ctx: RunContext) -> dict:
    """Leadfeeder-style exports (CSV, XLSX, API JSON; paths, globs or URLs) → companies and their figures."""
    from enrich.leadfeeder import read_export

    token = ctx.settings.leadfeeder_token
    headers = {"Authorization": f"Token token={token}"} if token else {}
    now, erased = ctx.now(), erasure.erased_business(ctx.con, ctx.secret)
    known = load_known_organisations(ctx.known_file)
    counts = {"leadfeeder_rows": 0, "leadfeeder_companies_new": 0, "leadfeeder_updated": 0,
              "leadfeeder_unchanged": 0, "leadfeeder_not_organisations": 0}

    def read(index: int, location: str, is_url: bool):
        path = ctx.registries.downloads.local_file(location, is_url, f"leadfeeder-{index}", headers)
        return read_export(path, ctx.zone, now)

    def store(location: str, rows) -> None:
        stored = source_sinks.upsert_source_rows(ctx.con, "leadfeeder", rows, location, ctx.run_id, now, erased=erased,
                                                 known=known)
        for key in ("rows", "companies_new", "updated", "unchanged", "not_organisations"):
            counts[f"leadfeeder_{key}"] += stored[key]

    with database.transaction(ctx.con):
        stats = _each_file(ctx, expand_locations(ctx.settings.leadfeeder, "--leadfeeder"), "leadfeeder", "export",
                           read, store)
    return {**stats, **counts}


def forms(ctx: RunContext) -> dict:
    """Website form, chat and configurator submissions (JSON lines or CSV) → contacts."""
    from enrich.forms import parse_forms

    counts = {"contacts": 0, "contacts_suppressed": 0}

    def read(index: int, location: str, is_url: bool):
        return parse_forms(Path(location).read_bytes(), ctx.zone)

    def store(location: str, submissions) -> None:
        stored = privacy.store_contacts(ctx.con, submissions, ctx.secret, location, ctx.run_id)
        counts["contacts"] += stored["contacts"]
        counts["contacts_suppressed"] += stored["suppressed"]

    with database.transaction(ctx.con):
        locations = expand_locations(ctx.settings.forms, "--forms") if ctx.settings.forms else []
        stats = _each_file(ctx, locations, "forms", "submissions file", read, store)
        counts["contacts_linked"] = privacy.link_contacts(ctx.con) if locations else 0
    return {**stats, **counts}


def _each_file(ctx: RunContext, locations: Iterable[tuple[str, bool]], prefix: str, what: str,
               read: Callable, store: Callable) -> dict:
    """Read and store each file of a source; one that cannot be read is one reject with its reason
    (the run goes on). Rejects are recorded and counted by reason."""
    stats = {f"{prefix}_files": 0, f"{prefix}_rejected": 0, f"{prefix}_rejects_by_reason": {}}
    by_reason = stats[f"{prefix}_rejects_by_reason"]
    for index, (location, is_url) in enumerate(locations):
        stats[f"{prefix}_files"] += 1
        try:
            rows, rejects = read(index, location, is_url)
        except (LeadpipeError, OSError, ValueError, RecursionError) as exc:
            rows, rejects = None, [(None, f"not a readable {what}: {one_line(exc)}")]
            log.warning("%s %s not read: %s", prefix, location, one_line(exc))
        for reason, n in record_rejects(ctx.con, ctx.run_id, location, rejects).items():
            by_reason[reason] = by_reason.get(reason, 0) + n
        stats[f"{prefix}_rejected"] += len(rejects)
        if rows is not None:
            store(location, rows)
    return stats


def resolve(ctx: RunContext) -> dict:
    """The run's and the waiting addresses → networks → companies (lists, cache, then RDAP)."""
    requests = f"requests (budget {ctx.settings.rdap_max_requests:,})"
    with ctx.progress.step("resolving", unit="addresses") as row:
        stats = address_resolution.resolve_and_attribute(ctx.con, ctx.pending, ctx.registries.rdap,
                                                         ctx.resolution_policy(), ctx.secret, ctx.now(),
                                                         lookups(row, requests))
    # A registry answer that named an erased person was stored without the name: the file is rewritten.
    ctx.compact = ctx.compact or stats.get("networks_erased", 0) > 0
    return stats


def enrich(ctx: RunContext) -> dict:
    """Companies and networks' holders → the trade register (bulk file and cache first, then YTJ)."""
    with database.transaction(ctx.con), ctx.progress.step("enriching", unit="lookups") as row:
        return register_matching.enrich_companies(ctx.con, ctx.registries.ytj, ctx.secret, ctx.now(),
                                                  ctx.settings.register_ttl_days, lookups(row, "register requests"))


def load(ctx: RunContext) -> dict:
    """Pending pageviews → visits (sessions); companies' first and last visits."""
    with ctx.progress.step("sessions"):
        stats = sessionize(ctx.con, ctx.settings.session_gap_minutes)
    with database.transaction(ctx.con):
        companies.refresh(ctx.con)
        privacy.link_contacts(ctx.con)
        # a company that only filled in a form is a lead too: found among the night's companies, else created
        stats["form_contacts_linked"] = privacy.companies_from_contacts(ctx.con, ctx.secret)
    return stats


def retention(ctx: RunContext) -> dict:
    """Visit-level rows older than ``retention_months`` are deleted (aggregates stay)."""
    with database.transaction(ctx.con):
        rows = privacy.retention(ctx.con, ctx.settings.retention_months, ctx.now(), zone=ctx.settings.timezone)
    ctx.compact = ctx.compact or any(rows.values())  # deleted rows must not linger in free blocks
    return {f"retention_deleted_{table}": n for table, n in rows.items()}


def report(ctx: RunContext) -> dict:
    """The lead report (HTML and CSV) for ``--since/--until`` (default: the last 30 days)."""
    settings = ctx.settings
    with database.transaction(ctx.con):
        try:
            set_intent_pages(ctx.con, settings.intent_pages)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        period = ctx.report_period()
        stats = write_report(ctx.con, settings.report_dir, period, ctx.now(), settings.feeds, ctx.leads(period))
    # The top leads name companies (a sole trader is a person): shown to the operator, never in runs.stats.
    ctx.outputs["top_leads"] = stats.pop("top_leads", [])
    return stats


def deliver(ctx: RunContext) -> dict:
    """Each feed's morning e-mail for the report's period, once (``sinks/deliveries.py``); never fails the night."""
    from flows.feed_stages import deliver_feeds

    return deliver_feeds(ctx)


#: The nightly pipeline, in order: the flow, the CLI and the crash tests all run this declaration.
PIPELINE: tuple[Stage, ...] = (ingest, leadfeeder, forms, resolve, enrich, load, retention, report, deliver, push)
STAGES: dict[str, Stage] = {stage.__name__: stage for stage in PIPELINE}
