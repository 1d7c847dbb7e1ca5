"""The run's addresses → networks → companies: lists and cache first, then the registries.

Addresses exist only in the run's temporary table (filled by the ingest) and
in the private pending file (``config_dir``, 0600, never in DuckDB), which
keeps every address without a final answer yet — offline, over the budget, a
registry's bad night — for a few days.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from enrich.classify import RULES_VERSION, classify, load_known_organisations
from enrich.rdap import RdapClient
from enrich.ranges import KnownRange
from enrich.resolution import PendingAddress, Resolution, resolve_addresses
from sinks import addresses as address_sinks
from sinks import companies, database, erasure
from sinks import networks as network_sinks
from sinks.pending import PendingAddresses

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResolutionPolicy:
    """What bounds one run's resolution: the known list, the budget and the cache's life."""

    known_file: Path  # data/networks/known-organisations.csv
    max_requests: int
    network_ttl_days: int


def resolve_and_attribute(
    con: duckdb.DuckDBPyConnection, pending: PendingAddresses, rdap: RdapClient | None,
    policy: ResolutionPolicy, secret: bytes, now: datetime, on_progress: Callable[[int, int, int], None] | None = None,
) -> dict:
    """Match the run's and the waiting addresses to networks, ask ``rdap`` (``None``: lists and
    cache only) within the budget, store the answers and attribute visits to companies.
    ``on_progress``: see :func:`enrich.resolution.resolve_addresses`."""
    stats = {"addresses": 0, "resolved_from_lists_or_cache": 0, "resolved_by_rdap": 0, "unresolved": 0,
             "rdap_requests": 0, "rdap_networks": 0, "rdap_searches": 0, "rdap_search_results": 0,
             "rdap_not_found": 0, "rdap_failed": 0, "rdap_deferred": 0, "rdap_unavailable": 0, "retried": 0}
    queued = pending.load(now)
    if queued:
        address_sinks.add_run_addresses(con, queued)
        stats["retried"] = len(queued)
    known = load_known_organisations(policy.known_file)
    with database.transaction(con):
        rules = RULES_VERSION + (policy.known_file.read_text(encoding="utf-8") if policy.known_file.exists() else "")
        stats["networks_reclassified"] = network_sinks.reclassify(con, lambda n: classify(n, known), rules, now)
    has_addresses = address_sinks.has_run_addresses(con)
    resolution = Resolution()
    if has_addresses:
        address_sinks.match_addresses(con, now)
        work = [_pending(row) for row in address_sinks.addresses_to_resolve(con)]
        stats["addresses"] = con.execute("SELECT count(*) FROM run_addresses").fetchall()[0][0]
        stats["resolved_from_lists_or_cache"] = stats["addresses"] - len(work)
        if work and rdap is not None:
            resolution = resolve_addresses(work, rdap, known, policy.max_requests, stats, on_progress)
        elif work:
            log.info("offline: %d addresses wait for a run that may ask the registries", len(work))
    waiting: list[tuple[str, str]] = []
    try:
        with database.transaction(con):
            network_sinks.store_networks(con, resolution.networks, now, policy.network_ttl_days)
            stats["networks_erased"] = erasure.scrub_erased_networks(con, secret)
            network_sinks.store_searches(con, resolution.searches, now, policy.network_ttl_days)
            network_sinks.store_probes(con, resolution.probes, now, policy.network_ttl_days)
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
        log.info("%d addresses wait for resolution by a later run", len(waiting))
    return stats


def _pending(row: tuple) -> PendingAddress:
    """One row of :func:`sinks.addresses.addresses_to_resolve` as the resolver takes it."""
    client_key, address, number, network_id, start_ip, end_ip, start_num, end_num, search_base = row
    match = None if network_id is None else KnownRange(
        network_id, start_ip, end_ip, int(start_num), int(end_num), False, search_base)
    return PendingAddress(client_key, address, int(number), match)
