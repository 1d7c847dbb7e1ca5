"""Companies and networks ↔ the trade register: local bulk file and cache first, then the YTJ API.

A known Business ID is validated (python-stdnum) and looked up; otherwise the
organisation's name is matched (``enrich/matching.py``). Organisations outside
Finland keep no Business ID. A register failure leaves the company for a later
run; an erased sole trader is never matched again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime

import duckdb

from enrich.business_ids import valid_or_none
from enrich.classify import customer_names
from enrich.errors import PermanentError, RetryableError
from enrich.matching import best_match, search_queries
from enrich.ytj import YtjClient
from sinks import companies, erasure, privacy
from sinks import networks as network_sinks
from sinks import register as register_sinks

log = logging.getLogger(__name__)


class _Register:
    """Lookups in the local register (bulk file and cached answers), asking ``client`` for misses."""

    def __init__(self, con: duckdb.DuckDBPyConnection, client: YtjClient | None, secret: bytes, now: datetime,
                 ttl_days: int) -> None:
        self.con, self.client, self.secret, self.now, self.ttl = con, client, secret, now, ttl_days
        self.erased = erasure.suppressed(con, "business_id")

    def is_erased(self, business_id: str) -> bool:
        return erasure.business_id_key(self.secret, business_id) in self.erased

    def search(self, kind: str, query: str, location: str = "") -> list:
        ids = register_sinks.cached_query(self.con, kind, query, location, self.now)
        if ids is None and self.client is not None:
            if kind == "business_id":
                found = [c for c in [self.client.by_business_id(query)] if c]
            else:
                found = self.client.search(query, location or None)
            found = [c for c in found if not self.is_erased(c.business_id)]
            register_sinks.store_entries(self.con, found, "api", self.now, self.ttl)
            ids = [c.business_id for c in found]
            register_sinks.remember_query(self.con, kind, query, location, ids, self.now, self.ttl)
        return register_sinks.entries(self.con, ids or [], self.now)

    def match_name(self, name: str, city: str | None = None, website: str | None = None):
        candidates = register_sinks.local_candidates(self.con, name, self.now)
        best = best_match(name, candidates, city, website)
        for query in ([] if best else search_queries(name)):
            candidates += self.search("name", query)
            best = best_match(name, candidates, city, website)
            if best:
                break
        return best

    def match_business_id(self, business_id: str):
        bid = valid_or_none(business_id) or business_id
        found = register_sinks.entries(self.con, [bid], self.now) or self.search("business_id", bid)
        return (found[0], "business-id", 1.0, found[0].name) if found else None


class _Lookups:
    """Lookups done of lookups planned, and register requests sent, told to ``report`` as they go."""

    def __init__(self, client: YtjClient | None, report: Callable[[int, int, int], None] | None) -> None:
        self.client, self.report, self.done, self.planned = client, report, 0, 0

    def each(self, items: list) -> Iterator:
        """``items``, counted done as the loop moves past each (``continue`` included)."""
        self.planned += len(items)
        self._tell()
        for item in items:
            yield item
            self.done += 1
            self._tell()

    def _tell(self) -> None:
        if self.report:
            self.report(self.done, self.planned, self.client.requests_sent if self.client else 0)


def classify_networks(register: _Register, stats: dict, lookups: _Lookups | None = None) -> int:
    """A Finnish organisation the register knows is classified by its industry, whatever words its
    name contains; a name without a legal form becomes a company only when the register knows it."""
    classified, lookups = 0, lookups or _Lookups(None, None)
    for network_id, org_name, remarks, rule in lookups.each(register_sinks.networks_for_the_register(register.con)):
        names = [org_name] if rule == "name-keyword" else customer_names(remarks)
        try:
            found = next(((name, best) for name in names if name and (best := register.match_name(name))), None)
        except (RetryableError, PermanentError) as exc:
            stats["register_failed"] += 1
            log.warning("register lookup for a network's holder failed, left for a later run: %s", exc)
            continue
        if found and not register.is_erased(found[1].company.business_id):
            classified += register_sinks.classify_network_by_register(register.con, network_id, found[1].company,
                                                                       found[0])
    return classified


def enrich_companies(con: duckdb.DuckDBPyConnection, client: YtjClient | None, secret: bytes, now: datetime,
                     ttl_days: int, on_progress: Callable[[int, int, int], None] | None = None) -> dict:
    """Networks' holders and companies → register entries (call inside one transaction).

    ``on_progress`` hears (lookups done, lookups planned, register requests sent) as they go:
    the networks' holders first, then the companies (which the holders' matches may add to)."""
    stats = {"companies_checked": 0, "register_matches": 0, "register_no_match": 0, "register_unchecked": 0,
             "register_requests": 0, "register_failed": 0, "outside_finland": 0, "companies_merged": 0}
    has_bulk = con.execute("SELECT count(*) FROM register_companies WHERE source = 'bulk'").fetchall()[0][0] > 0
    register = _Register(con, client, secret, now, ttl_days)
    lookups = _Lookups(client, on_progress)
    stats["networks_by_register"] = classify_networks(register, stats, lookups)
    if stats["networks_by_register"]:
        network_sinks.apply_overrides(con)
        companies.refresh(con)

    def no_match(company_id: str, reason: str) -> None:
        register_sinks.apply_match(con, company_id, None, reason, None, None, now)

    work = register_sinks.companies_to_enrich(con, now, ttl_days)
    for company_id, business_id, name, country, city, website in lookups.each(work):
        stats["companies_checked"] += 1
        try:
            if business_id and not valid_or_none(business_id):
                no_match(company_id, "invalid-business-id")
                continue
            if not business_id and country and country.upper() != "FI":
                stats["outside_finland"] += 1
                no_match(company_id, "outside-finland")
                continue
            if business_id:
                match = register.match_business_id(business_id)
            else:
                best = register.match_name(name, city, website)
                match = (best.company, best.method, best.confidence, best.matched_name) if best else None
        except (RetryableError, PermanentError) as exc:
            stats["register_failed"] += 1
            log.warning("register lookup for %r failed, left for a later run: %s", name, exc)
            continue
        finally:
            stats["register_requests"] = client.requests_sent if client else 0
        if match is None and client is None and not has_bulk:
            stats["register_unchecked"] += 1  # --offline without a bulk file: ask another night
        elif match is None or register.is_erased(match[0].business_id):
            stats["register_no_match"] += 1  # an erased sole trader is never matched again
            no_match(company_id, "no-register-match")
        else:
            stats["register_matches"] += 1
            if register_sinks.apply_match(con, company_id, match[0], *match[1:], now) != company_id:
                stats["companies_merged"] += 1
    stats["networks_by_industry"] = register_sinks.classify_by_industry(con)
    privacy.apply_objections(con, secret)
    network_sinks.apply_overrides(con)
    companies.refresh(con)
    return stats
