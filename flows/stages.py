"""The pipeline's stages as plain functions, and the operation that runs them.

Each stage takes an open working connection and returns its counts. The
Prefect flow (``flows/nightly.py``) wraps the same functions as tasks; the
single-stage commands call them directly, without Prefect's start-up cost.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import requests

from enrich import bots
from enrich.clients import ProxyPolicy
from enrich.errors import ConfigError, InputError, LeadpipeError, PermanentError, RetryableError
from enrich.classify import RULES_VERSION, classify, customer_names, load_known_organisations
from enrich.resolution import KnownRange, PendingAddress, Resolution, resolve_addresses
from enrich.http import PoliteClient
from enrich.rdap import RdapClient
from enrich.redact import mask_addresses
from enrich.weblogs import LogSource, download, expand_locations, expand_sources
from flows import __version__
from flows.config import Settings, load_or_create_secret
from sinks import addresses as address_sinks
from sinks import companies, database, erasure, faults, files, ledger, runs
from sinks.pending import PendingAddresses
from sinks import networks as network_sinks
from sinks import register as register_sinks
from sinks import privacy
from sinks import sources as source_sinks
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
    compact: bool = False  # rewrite the file when publishing (after deletions)
    pending: PendingAddresses | None = None  # addresses waiting for resolution: written after publishing

    def __post_init__(self) -> None:
        if self.pending is None:
            self.pending = pending_addresses(self.settings)


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
    """Local files for every log source: URLs are downloaded into the private scratch dir."""
    return [(source, local_file(source.location, source.is_url, settings, scratch / f"log-{index}"))
            for index, source in enumerate(sources)]


def local_file(location: str, is_url: bool, settings: Settings, target: Path, headers: dict | None = None) -> Path:
    """A path to read ``location`` from: itself, or its download into ``target`` (0600).

    Credentials come from the environment only: the web server's (``LEADPIPE_HTTP_*``)
    for log URLs, or ``headers`` given by the caller instead — never one host's
    credentials sent to another.

    Raises:
        ConfigError: a URL under ``--offline``.
        InputError: the download failed (one line).
    """
    from enrich.redact import redact_url

    if not is_url:
        return Path(location)
    if settings.offline:
        raise ConfigError(f"--offline: not fetching {redact_url(location)}")
    with requests.Session() as session:
        session.headers["User-Agent"] = USER_AGENT
        if headers is not None:
            return download(location, target, session, headers=headers)
        return download(location, target, session, auth=settings.http_auth, token=settings.http_token)


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
        max_file_bytes=settings.max_log_file_gb * 10**9,
    )
    with progress_reporter(show_progress) as on_progress:
        stats = ingest_logs(ctx.con, files, options, ctx.run_id, on_progress)
    # Until a resolve stage settles them, the run's addresses wait (privately) for one: never discarded.
    now = datetime.now(timezone.utc)
    ctx.pending.add(address_sinks.run_address_pairs(ctx.con), now)
    stats["addresses_pending"] = len(ctx.pending.load(now))
    return stats


def pending_addresses(settings: Settings) -> PendingAddresses:
    """The private file of addresses waiting for resolution, for ``settings.db``."""
    return PendingAddresses(settings.config_dir, settings.db, settings.unresolved_keep_days)


def leadfeeder(ctx: RunContext) -> dict:
    """Stage: Leadfeeder-style exports (CSV, XLSX, API JSON; paths, globs or URLs) → companies.

    A file that cannot be read as an export is one reject with its reason (the
    run goes on); a row without a company name is a reject too.
    """
    from enrich.leadfeeder import read_export

    settings = ctx.settings
    stats = {"leadfeeder_files": 0, "leadfeeder_rows": 0, "leadfeeder_rejected": 0, "leadfeeder_companies_new": 0,
             "leadfeeder_updated": 0, "leadfeeder_unchanged": 0, "leadfeeder_rejects_by_reason": {}}
    sources = expand_locations(settings.leadfeeder, "--leadfeeder")
    token = settings.leadfeeder_token
    headers = {"Authorization": f"Token token={token}"} if token else {}
    now = datetime.now(timezone.utc)
    secret = load_or_create_secret(settings)
    erased_ids, erased_names = erasure.suppressed(ctx.con, "business_id"), erasure.suppressed(ctx.con, "organisation")

    def erased(business_id: str | None, name: str | None) -> bool:
        return bool(business_id and erasure.business_id_key(secret, business_id) in erased_ids) or \
            erasure.is_erased_name(secret, erased_names, name)

    with database.transaction(ctx.con):
        for index, (location, is_url) in enumerate(sources):
            stats["leadfeeder_files"] += 1
            try:
                path = local_file(location, is_url, settings, ctx.scratch / f"leadfeeder-{index}", headers)
                rows, rejects = read_export(path, ZoneInfo(settings.timezone), now)
            except (LeadpipeError, OSError, ValueError, RecursionError) as exc:
                rejects, rows = [(None, f"not a readable export: {one_line(exc)}")], None
                log.warning("leadfeeder export %s not read: %s", location, one_line(exc))
            _record_rejects(ctx, location, rejects, stats, "leadfeeder")
            if rows is None:
                continue
            counts = source_sinks.upsert_source_rows(ctx.con, "leadfeeder", rows, location, ctx.run_id, now,
                                                     erased=erased)
            stats["leadfeeder_rows"] += counts["rows"]
            stats["leadfeeder_companies_new"] += counts["companies_new"]
            stats["leadfeeder_updated"] += counts["updated"]
            stats["leadfeeder_unchanged"] += counts["unchanged"]
    return stats


def _record_rejects(ctx: RunContext, source: str, rejects: list[tuple[int | None, str]], stats: dict,
                    prefix: str) -> None:
    """A source's rejects, into ``rejects`` and counted by reason (reasons never quote a value)."""
    by_reason = stats[f"{prefix}_rejects_by_reason"]
    for line_no, reason in rejects:
        ctx.con.execute("INSERT INTO rejects VALUES (?, ?, ?, ?, NULL)", [ctx.run_id, source, line_no, reason])
        by_reason[reason] = by_reason.get(reason, 0) + 1
    stats[f"{prefix}_rejected"] += len(rejects)


def resolve(ctx: RunContext) -> dict:
    """Stage: the run's and the waiting addresses → networks → companies (lists, cache, then RDAP)."""
    return resolve_addresses_stage(ctx, online=not ctx.settings.offline)


def resolve_addresses_stage(ctx: RunContext, online: bool) -> dict:
    """Match addresses to networks, ask the registries (when ``online``) within the budget, attribute.

    Addresses exist only in the run's temporary table (filled by ``ingest``)
    and in the private pending file (``config_dir``, 0600, never in DuckDB),
    which keeps every address that has no final answer yet — offline, over
    the budget, a registry's bad night — for ``unresolved_keep_days``.
    """
    con, settings = ctx.con, ctx.settings
    now = datetime.now(timezone.utc)
    stats = {"addresses": 0, "resolved_from_lists_or_cache": 0, "resolved_by_rdap": 0, "unresolved": 0,
             "rdap_requests": 0, "rdap_networks": 0, "rdap_searches": 0, "rdap_search_results": 0,
             "rdap_not_found": 0, "rdap_failed": 0, "rdap_deferred": 0, "rdap_unavailable": 0, "retried": 0}
    pending = ctx.pending
    queued = pending.load(now)
    if queued:
        address_sinks.add_run_addresses(con, queued)
        stats["retried"] = len(queued)
    known_file = settings.data_dir / "networks" / "known-organisations.csv"
    known = load_known_organisations(known_file)
    with database.transaction(con):
        rules = RULES_VERSION + (known_file.read_text(encoding="utf-8") if known_file.exists() else "")
        stats["networks_reclassified"] = network_sinks.reclassify(con, lambda n: classify(n, known), rules, now)
    has_addresses = address_sinks.has_run_addresses(con)
    resolution = Resolution()
    if has_addresses:
        address_sinks.match_addresses(con, now)
        work = [_pending(row) for row in address_sinks.addresses_to_resolve(con)]
        stats["addresses"] = con.execute("SELECT count(*) FROM run_addresses").fetchall()[0][0]
        stats["resolved_from_lists_or_cache"] = stats["addresses"] - len(work)
        if work and online:
            client = RdapClient(settings.rdap_url,
                                http=registry_client(settings, settings.rdap_min_interval, "application/rdap+json"))
            resolution = resolve_addresses(work, client, known, settings.rdap_max_requests, stats)
        elif work:
            log.info("offline: %d addresses wait for a run that may ask the registries", len(work))
    waiting: list[tuple[str, str]] = []
    try:
        with database.transaction(con):
            network_sinks.store_networks(con, resolution.networks, now, settings.network_ttl_days)
            stats["networks_erased"] = erasure.scrub_erased_networks(con, load_or_create_secret(settings))
            network_sinks.store_searches(con, resolution.searches, now, settings.network_ttl_days)
            network_sinks.store_probes(con, resolution.probes, now, settings.network_ttl_days)
            if has_addresses:
                address_sinks.match_addresses(con, now)
                address_sinks.attribute_addresses(con)
                stats["shared_networks"] = network_sinks.mark_shared_networks(con)
                matched = con.execute("SELECT count(*) FROM address_matches").fetchall()[0][0]
                stats["unresolved"] = stats["addresses"] - matched
                waiting = address_sinks.unsettled_addresses(con, exclude=resolution.not_found)
                stats["resolved_by_rdap"] = stats["addresses"] - stats["resolved_from_lists_or_cache"] - len(waiting) \
                    - len(resolution.not_found)
            companies.refresh(con)
    finally:
        address_sinks.drop_matches(con)
    if has_addresses:
        pending.keep_only(waiting, now)
    stats["addresses_pending"] = len(waiting)
    if waiting:
        log.info("%d addresses wait for resolution by a later run (kept %d days)", len(waiting),
                 settings.unresolved_keep_days)
    return stats


def _pending(row: tuple) -> PendingAddress:
    """One row of :func:`sinks.addresses.addresses_to_resolve` as the resolver takes it."""
    client_key, address, number, network_id, start_ip, end_ip, start_num, end_num, search_base = row
    match = None if network_id is None else KnownRange(
        network_id, start_ip, end_ip, int(start_num), int(end_num), False, search_base)
    return PendingAddress(client_key, address, int(number), match)


def registry_client(settings: Settings, min_interval: float, accept: str) -> PoliteClient:
    """The polite HTTP client every registry lookup goes through, configured once."""
    return PoliteClient(user_agent=USER_AGENT, accept=accept, min_interval=min_interval,
                        backoff=settings.retry_backoff, timeout=tuple(settings.request_timeout))


def enrich(ctx: RunContext) -> dict:
    """Stage: companies → the trade register (local bulk file and cache first, then the YTJ API).

    A known Business ID is validated (python-stdnum) and looked up; otherwise the
    organisation's name is matched (``enrich/matching.py``). Organisations
    outside Finland keep no Business ID. A register failure leaves the company
    for a later run.
    """
    from stdnum.fi import ytunnus

    from enrich.matching import best_match, search_queries
    from enrich.ytj import YtjClient

    con, settings = ctx.con, ctx.settings
    now = datetime.now(timezone.utc)
    ttl = settings.register_ttl_days
    stats = {"companies_checked": 0, "register_matches": 0, "register_no_match": 0, "register_unchecked": 0,
             "register_requests": 0, "register_failed": 0, "outside_finland": 0, "companies_merged": 0}
    has_bulk = con.execute("SELECT count(*) FROM register_companies WHERE source = 'bulk'").fetchall()[0][0] > 0
    secret = load_or_create_secret(settings)
    erased = erasure.suppressed(con, "business_id")
    client = None if settings.offline else YtjClient(
        settings.ytj_url, http=registry_client(settings, settings.ytj_min_interval, "application/json")
    )

    def search(kind: str, query: str, location: str = "") -> list:
        ids = register_sinks.cached_query(con, kind, query, location, now)
        if ids is None and client is not None:
            if kind == "business_id":
                found = [c for c in [client.by_business_id(query)] if c]
            else:
                found = client.search(query, location or None)
            found = [c for c in found if erasure.business_id_key(secret, c.business_id) not in erased]
            register_sinks.store_entries(con, found, "api", now, ttl)
            ids = [c.business_id for c in found]
            register_sinks.remember_query(con, kind, query, location, ids, now, ttl)
        return register_sinks.entries(con, ids or [], now)

    def match_name(name: str, city: str | None = None, website: str | None = None):
        candidates = register_sinks.local_candidates(con, name, now)
        best = best_match(name, candidates, city, website)
        for query in ([] if best else search_queries(name)):
            candidates += search("name", query)
            best = best_match(name, candidates, city, website)
            if best:
                break
        return best

    with database.transaction(con):
        # A Finnish organisation the register knows is classified by its industry, whatever words its
        # name contains; a name without a legal form becomes a company only when the register knows it.
        stats["networks_by_register"] = 0
        for network_id, org_name, remarks, rule in register_sinks.networks_for_the_register(con):
            names = [org_name] if rule == "name-keyword" else customer_names(remarks)
            try:
                found = next(((name, best) for name in names if name and (best := match_name(name))), None)
            except (RetryableError, PermanentError) as exc:
                stats["register_failed"] += 1
                log.warning("register lookup for a network's holder failed, left for a later run: %s", exc)
                continue
            if found and erasure.business_id_key(secret, found[1].company.business_id) not in erased:
                stats["networks_by_register"] += register_sinks.classify_network_by_register(
                    con, network_id, found[1].company, found[0])
        if stats["networks_by_register"]:
            network_sinks.apply_overrides(con)
            companies.refresh(con)
        for company_id, business_id, name, country, city, website in register_sinks.companies_to_enrich(con, now, ttl):
            stats["companies_checked"] += 1
            try:
                if business_id:
                    if not ytunnus.is_valid(business_id):
                        register_sinks.apply_match(con, company_id, None, "invalid-business-id", None, None, now)
                        continue
                    bid = ytunnus.format(business_id)
                    found = register_sinks.entries(con, [bid], now) or search("business_id", bid)
                    match = (found[0], "business-id", 1.0, found[0].name) if found else None
                elif country and country.upper() != "FI":
                    stats["outside_finland"] += 1
                    register_sinks.apply_match(con, company_id, None, "outside-finland", None, None, now)
                    continue
                else:
                    best = match_name(name, city, website)
                    match = (best.company, best.method, best.confidence, best.matched_name) if best else None
            except (RetryableError, PermanentError) as exc:
                stats["register_failed"] += 1
                log.warning("register lookup for %r failed, left for a later run: %s", name, exc)
                continue
            finally:
                stats["register_requests"] = client.requests_sent if client else 0
            if match is None:
                if client is None and not has_bulk:
                    stats["register_unchecked"] += 1  # --offline without a bulk file: ask another night
                    continue
                stats["register_no_match"] += 1
                register_sinks.apply_match(con, company_id, None, "no-register-match", None, None, now)
                continue
            if erasure.business_id_key(secret, match[0].business_id) in erased:
                stats["register_no_match"] += 1  # an erased sole trader is never matched again
                register_sinks.apply_match(con, company_id, None, "no-register-match", None, None, now)
                continue
            stats["register_matches"] += 1
            if register_sinks.apply_match(con, company_id, match[0], *match[1:], now) != company_id:
                stats["companies_merged"] += 1
        stats["networks_by_industry"] = register_sinks.classify_by_industry(con)
        privacy.apply_objections(con, secret)
        network_sinks.apply_overrides(con)
        companies.refresh(con)
    return stats


def import_register(path: Path, batch_size: int = 10_000) -> Callable[[RunContext], dict]:
    """A stage that loads PRH's bulk file (the /all_companies zip, or the JSON inside it).

    The file is streamed: DuckDB reads the JSON array object by object and
    the entries are parsed and stored in batches, so the full register (hundreds
    of thousands of companies) loads in bounded memory.
    """

    def register_import(ctx: RunContext) -> dict:
        import json
        import zipfile

        from enrich.ytj import parse_company

        source = path
        try:
            if zipfile.is_zipfile(path):
                with zipfile.ZipFile(path) as archive:
                    member = next(n for n in archive.namelist() if n.lower().endswith(".json"))
                    source = ctx.scratch / "all_companies.json"
                    with archive.open(member) as packed, source.open("wb") as unpacked:
                        shutil.copyfileobj(packed, unpacked, 1 << 20)
            with source.open("rb") as probe:  # the JSON itself, also when it came in a zip
                head = probe.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
        except (OSError, StopIteration, zipfile.BadZipFile) as exc:
            raise ConfigError(f"cannot read register file {path}: {exc.__class__.__name__}: {exc}") from None
        # The bulk file is a JSON array of companies; a /companies answer wraps them in {"companies": [...]}.
        query = ("SELECT unnest(json_extract(json, '$.companies[*]')) FROM read_json_objects(?, format = 'auto')"
                 if head.startswith(b"{") else "SELECT json FROM read_json_objects(?, format = 'array')")
        entries, rejected, stored, now = [], 0, 0, datetime.now(timezone.utc)
        secret, erased = load_or_create_secret(ctx.settings), erasure.suppressed(ctx.con, "business_id")
        reader = ctx.con.cursor()
        try:
            result = reader.execute(query, [str(source)])
            with database.transaction(ctx.con):
                index = 0
                while rows := result.fetchmany(batch_size):
                    for (text,) in rows:
                        index += 1
                        try:
                            entries.append(parse_company(json.loads(text)))
                        except (PermanentError, AttributeError, TypeError, ValueError, RecursionError):
                            rejected += 1
                            ctx.con.execute("INSERT INTO rejects VALUES (?, ?, ?, ?, NULL)",
                                            [ctx.run_id, str(path), index, "not a register entry"])
                    if erased:  # an erased sole trader's entry never comes back with the next bulk file
                        entries = [e for e in entries if erasure.business_id_key(secret, e.business_id) not in erased]
                    stored += register_sinks.store_entries(ctx.con, entries, "bulk", now, None)
                    entries = []
        except duckdb.Error as exc:
            raise ConfigError(f"cannot read register file {path}: {one_line(exc)}") from None
        finally:
            reader.close()
        return {"register_entries": stored, "register_rejected": rejected}

    return register_import


def report(ctx: RunContext) -> dict:
    """Stage: the lead report (HTML and CSV) for ``--since/--until`` (default: the last 30 days)."""
    from sinks.report import Period, default_period, write_report

    settings = ctx.settings
    with database.transaction(ctx.con):
        privacy.apply_objections(ctx.con, load_or_create_secret(settings))
        ctx.con.execute("DELETE FROM intent_pages")
        for pattern, label in settings.intent_pages:
            ctx.con.execute("INSERT INTO intent_pages VALUES (?, ?)", [pattern, label])
        if settings.since or settings.until:
            fallback = default_period(ctx.con, settings.timezone)
            period = Period(settings.since or fallback.start, settings.until or fallback.end, settings.timezone)
        else:
            period = default_period(ctx.con, settings.timezone)
        return write_report(ctx.con, settings.report_dir, period, datetime.now(timezone.utc))


def forms(ctx: RunContext) -> dict:
    """Stage: website form, chat and configurator submissions (JSON lines or CSV) → contacts."""
    from enrich.forms import parse_forms

    settings = ctx.settings
    stats = {"forms_files": 0, "contacts": 0, "contacts_linked": 0, "contacts_suppressed": 0, "forms_rejected": 0,
             "forms_rejects_by_reason": {}}
    if not settings.forms:
        return stats
    secret = load_or_create_secret(settings)
    with database.transaction(ctx.con):
        for location, _ in expand_locations(settings.forms, "--forms"):
            path = Path(location)
            stats["forms_files"] += 1
            try:
                submissions, rejects = parse_forms(path.read_bytes(), ZoneInfo(settings.timezone))
            except (InputError, OSError, ValueError, RecursionError) as exc:
                submissions, rejects = None, [(None, f"not a readable submissions file: {one_line(exc)}")]
            _record_rejects(ctx, location, rejects, stats, "forms")
            if submissions is None:
                continue
            counts = privacy.store_contacts(ctx.con, submissions, secret, location, ctx.run_id)
            stats["contacts"] += counts["contacts"]
            stats["contacts_suppressed"] += counts["suppressed"]
        stats["contacts_linked"] = privacy.link_contacts(ctx.con)
    return stats


def retention(ctx: RunContext) -> dict:
    """Stage: delete visit-level rows older than ``retention_months`` (aggregates stay); compact the file."""
    with database.transaction(ctx.con):
        rows = privacy.retention(ctx.con, ctx.settings.retention_months, datetime.now(timezone.utc))
    ctx.compact = True
    return {f"retention_deleted_{table}": n for table, n in rows.items()}


def privacy_request(action: str, kind: str, value: str, out: Path | None = None) -> Callable[[RunContext], dict]:
    """A stage for one data-subject request: forget, subject-export or object.

    Raises:
        ConfigError: the identifier is not an address, e-mail, visitor key or Business ID (checked
            before the database is touched; the value is never quoted).
    """
    from enrich.clients import client_key

    try:
        value = erasure.canonical(kind, value)
    except ValueError as exc:
        raise ConfigError(f"{kind}: {exc}") from None

    def privacy_operation(ctx: RunContext) -> dict:
        import json

        secret = load_or_create_secret(ctx.settings)
        now = datetime.now(timezone.utc)
        with database.transaction(ctx.con):
            if action == "forget":
                rows = erasure.forget(ctx.con, secret, kind, value, now)
                if kind == "ip":  # nor may the address wait for resolution
                    rows["pending_addresses"] = ctx.pending.drop(client_key(secret, value), now)
                ctx.compact = True  # erased rows must not linger in free blocks of the file
                return {"forgotten": rows}
            if action == "object":
                return {"objection": privacy.object_to_marketing(ctx.con, secret, kind, value, now)}
            data = privacy.subject_export(ctx.con, secret, kind, value, now)
            if kind == "ip":  # the address itself may wait, outside the database, for resolution
                data["waiting_for_resolution"] = ctx.pending.holds(client_key(secret, value))
        text = json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n"
        # Exact data, but no control or bidi character raw on a terminal: escaped as JSON allows.
        text = re.sub(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]",
                      lambda m: f"\\u{ord(m.group(0)):04x}", text)
        if out is None:
            sys.stdout.write(text)
        else:
            files.write_private(out, text)
        return {"exported": {k: len(v) for k, v in data.items() if isinstance(v, list)}}

    return privacy_operation


def load(ctx: RunContext) -> dict:
    """Stage: pending pageviews → visits (sessions); companies' first and last visits."""
    stats = sessionize(ctx.con, ctx.settings.session_gap_minutes)
    with database.transaction(ctx.con):
        companies.refresh(ctx.con)
        privacy.link_contacts(ctx.con)
    return stats


STAGES: dict[str, Callable[[RunContext], dict]] = {
    "ingest": ingest, "leadfeeder": leadfeeder, "forms": forms, "resolve": resolve, "enrich": enrich,
    "load": load, "retention": retention, "report": report,
}


def execute(
    settings: Settings,
    command: str,
    stages: list[str | Callable[[RunContext], dict]],
    call: Callable[[str, Callable[[RunContext], dict], RunContext], dict] | None = None,
) -> dict:
    """Run ``stages`` against a working copy of ``settings.db`` and publish it.

    Args:
        settings: resolved configuration.
        command: what the operator ran, for the ``runs`` row.
        stages: stage names (or stage functions), in order.
        call: how to invoke a stage (the flow passes Prefect tasks); default: directly.

    Returns:
        The run's stats (also stored in ``runs.stats``).

    Raises:
        LeadpipeError: with a one-line reason; the published database is unchanged
            except for a ``failed`` row in ``runs``.
    """
    call = call or (lambda name, fn, ctx: fn(ctx))
    # One file, one lock, whatever name it is given (a symlink, a relative path): its real path, once.
    settings = replace(settings, db=settings.db.expanduser().resolve())
    db = settings.db
    umask = os.umask(0o077)  # everything a run creates is its owner's alone: WAL, temp files, folders
    try:
        with database.exclusive(db):
            return _execute_locked(settings, command, stages, call)
    finally:
        os.umask(umask)


class _Compact:
    compact = True


def _execute_locked(settings: Settings, command: str, stages: list, call: Callable) -> dict:
    db = settings.db
    for stale in db.parent.glob(f".leadpipe-{db.name}-*"):  # a killed run's downloads: nobody else's (we hold the lock)
        shutil.rmtree(stale, ignore_errors=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".leadpipe-{db.name}-", dir=db.parent))
    try:
        current: list = []  # the run (and anything else) that asks for compaction at publishing
        with database.working_copy(db, settings.memory_limit, lambda: any(c.compact for c in current),
                                   temp_directory=scratch / "duckdb") as con:
            with database.transaction(con):  # an older version's unkeyed ledger: keyed before anything else
                if ledger.key_legacy_entries(con, load_or_create_secret(settings), datetime.now(timezone.utc)):
                    current.append(_Compact())  # the unkeyed hashes must not linger in free blocks
            ctx = RunContext(settings, con, runs.start_run(con, command), scratch)
            current.append(ctx)
            for stage in stages:
                name, fn = (stage, STAGES[stage]) if isinstance(stage, str) else (stage.__name__, stage)
                ctx.stats.update(call(name, fn, ctx) or {})
                faults.point(f"stage:{name}:after")
            runs.finish_run(con, ctx.run_id, "success", ctx.stats)
            ctx.stats["run_id"] = ctx.run_id
        # Published: what the run settled may leave the pending file (a kill before this keeps it there).
        ctx.pending.save(datetime.now(timezone.utc))
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
    """An exception as the one line shown to the operator and kept in ``runs.error``.

    No client address, no credential of a URL, no control or bidi character (it reaches terminals).
    """
    from enrich.redact import redact_secrets
    from sinks.text import clean_text

    text = redact_secrets(mask_addresses(str(exc))).strip().splitlines()
    first = clean_text(text[0]).strip() if text else ""
    if isinstance(exc, LeadpipeError):
        return first or exc.__class__.__name__
    return f"{exc.__class__.__name__}: {first}" if first else exc.__class__.__name__


def import_network_list(path: Path, source: str) -> Callable[[RunContext], dict]:
    """A stage that loads an operator's or a licensed network list (CSV)."""

    def networks_import(ctx: RunContext) -> dict:
        from enrich.networks import parse_network_list

        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read network list {path}: {exc}") from None
        try:
            networks, rejects = parse_network_list(text, source)
        except ValueError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        known = load_known_organisations(ctx.settings.data_dir / "networks" / "known-organisations.csv")
        now = datetime.now(timezone.utc)
        erased = erasure.suppressed(ctx.con, "business_id")
        if erased:  # an erased sole trader stays erased, whatever the list still says
            secret = load_or_create_secret(ctx.settings)
            networks = [n for n in networks
                        if not (n.business_id and erasure.business_id_key(secret, n.business_id) in erased)]
        with database.transaction(ctx.con):
            for line_no, reason in rejects:
                ctx.con.execute("INSERT INTO rejects VALUES (?, ?, ?, ?, NULL)", [ctx.run_id, str(path), line_no, reason])
            network_sinks.store_networks(ctx.con, [classify(n, known) for n in networks], now, None)
            erasure.scrub_erased_networks(ctx.con, load_or_create_secret(ctx.settings))
        # Addresses that waited for want of a network may find theirs in the list: attribute them now.
        stats = resolve_addresses_stage(ctx, online=False)
        return {"networks_imported": len(networks), "rows_rejected": len(rejects),
                "addresses_attributed": stats["addresses"] - stats["unresolved"],
                "addresses_pending": stats["addresses_pending"]}

    return networks_import


def classify_network(cidr: str, kind: str) -> Callable[[RunContext], dict]:
    """A stage that records the operator's kind for a CIDR block and re-attributes visits."""
    import ipaddress

    from enrich.networks import KINDS

    if kind not in KINDS:
        raise ConfigError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    try:
        block = ipaddress.ip_network(cidr, strict=False)
    except ValueError as exc:
        raise ConfigError(f"not a CIDR block: {cidr!r} ({exc})") from None

    def networks_classify(ctx: RunContext) -> dict:
        with database.transaction(ctx.con):
            network_sinks.set_override(ctx.con, str(block), kind, datetime.now(timezone.utc))
            companies.refresh(ctx.con)
        affected = ctx.con.execute(
            "SELECT count(*) FROM networks WHERE kind_rule = 'operator-override' AND kind = ?", [kind]
        ).fetchall()[0][0]
        return {"override": str(block), "kind": kind, "networks_affected": affected}

    return networks_classify
