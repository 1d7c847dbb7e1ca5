"""Resolving addresses to networks: relation searches where registries serve them, lookups where not.

:func:`resolve_addresses` takes the addresses that no list, cached range,
search or earlier lookup settles — most valuable first — and spends at most
a budget of registry requests on them:

* an address inside no known range: one ``/ip`` lookup, whose answer is the
  most specific network holding it (and settles every later address inside
  it when its status is a leaf);
* an address inside a range that may hold assignments (``ALLOCATED PA``…):
  one RFC 9910 ``rdap-bottom`` search lists every assignment inside the range,
  so every other address there resolves locally; a registry that answers
  "too many rows" (or truncates) is asked per /24 (/48) block that holds
  visitors instead; a registry without relation searches is asked about each
  visitor address (never "one address decides the whole /24").

What the budget, a failure or a registry that stopped answering leaves over
waits in the private pending file (``sinks/pending.py``) for a later run.
"""

from __future__ import annotations

import bisect
import ipaddress
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from enrich.classify import KnownOrganisation, classify
from enrich.errors import PermanentError, RetryableError
from enrich.http import BudgetSpent, RegistryUnavailable
from enrich.networks import Network, to_number
from enrich.ranges import KnownRange, RangeIndex, area_bounds, area_of, block_range, most_specific
from enrich.rdap import RdapClient, parse_rdap

log = logging.getLogger("leadpipe")

#: More waiting addresses than this in a customer assignment's /16 (IPv6 /32): ask for its parent.
NEIGHBOURS = 3


@dataclass(frozen=True)
class PendingAddress:
    client_key: str
    address: str
    number: int
    match: KnownRange | None  # the most specific stored range holding it, if any


@dataclass
class Resolution:
    networks: list[Network] = field(default_factory=list)  # fetched, classified
    searches: list[tuple[str, str, str]] = field(default_factory=list)  # (network_id, start_ip, end_ip) enumerated
    probes: list[tuple[str, str]] = field(default_factory=list)  # (client_key, network_id) answered by /ip
    not_found: set[str] = field(default_factory=set)  # client keys no registry holds a network for


def _first_address(payload: dict) -> str | None:
    value = str(payload.get("startAddress") or "").split("/")[0]
    if value.count(".") == 3:
        value = ".".join(part.lstrip("0") or "0" for part in value.split("."))
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


class _Resolver:
    """One run's walk over the pending addresses (see the module's docstring)."""

    def __init__(self, client: RdapClient, known: tuple[KnownOrganisation, ...], budget: int, stats: dict):
        self.client, self.known, self.budget, self.stats = client, known, budget, stats
        self.result = Resolution()
        self.fetched, self.covered = RangeIndex(), RangeIndex()
        self.probed: set[str] = set()
        self.stored: set[str] = set()
        self.areas_asked: set[tuple[bool, int]] = set()
        self.numbers: list[int] = []  # every pending address, sorted: how many wait near a range
        self.searched: set[tuple[str, str, str]] = set()  # (relation, start, end) asked in this run
        self.too_many: set[str] = set()  # networks whose search must go block by block
        self.no_search: set[str] = set()  # registries that do not serve relation searches after all

    def _spend(self) -> bool:
        return self.client.requests_sent < self.budget

    def _store(self, network: Network) -> KnownRange:
        known = KnownRange.of(network)
        if network.network_id not in self.stored:
            self.stored.add(network.network_id)
            self.result.networks.append(network)
            self.fetched.add(known)
        return known

    def lookup(self, pending: PendingAddress) -> None:
        """``/ip/{address}``: its answer is the most specific network holding this address."""
        answer = self.client.fetch(pending.address)
        if answer is None:
            self.stats["rdap_not_found"] += 1
            self.result.not_found.add(pending.client_key)  # the registry holds nothing here: nothing to wait for
            return
        payload, url = answer
        answered = parse_rdap(payload, pending.address, url)
        if not answered.contains(pending.number):
            raise PermanentError("the registry answered with a range that does not hold the address")
        network = self._store(classify(answered, self.known))
        self.probed.add(pending.client_key)
        self.result.probes.append((pending.client_key, network.network_id))
        if network.final and network.from_lir and network.search_base:
            self.discover_parent(network, pending)

    def discover_parent(self, leaf: KnownRange, pending: PendingAddress) -> None:
        """A customer's assignment with more visitors around it: list its parent's assignments at once.

        When at least :data:`NEIGHBOURS` other waiting addresses share the leaf's
        /16 (IPv6 /32), one ``rdap-up`` finds the range it was assigned from,
        and one search of that range settles every customer inside it — instead
        of one lookup per customer.
        """
        area = area_of(leaf.start_num)
        if area in self.areas_asked or leaf.search_base in self.no_search:
            return
        if self.waiting_near(area) <= NEIGHBOURS or not self._spend():
            return
        self.areas_asked.add(area)
        payload = self.client.parent(leaf.search_base, leaf.start_ip, leaf.end_ip)
        self.stats["rdap_searches"] += 1
        found = self._holder(payload, leaf.start_num, leaf.end_num, None, leaf.search_base)
        if found is None:
            return
        parent = self._store(found)
        if not parent.final:
            self.search(parent, pending, by_block=False)

    def _holder(self, payload: dict | None, first: int, last: int, parent_id: str | None, base: str | None) -> Network | None:
        """An ``rdap-up`` answer, if it really holds ``first``..``last`` (and is larger): classified."""
        address = _first_address(payload) if payload else None
        if address is None:
            return None
        try:
            network = parse_rdap(payload, address, parent_id=parent_id)
        except PermanentError:
            return None
        if not (network.start_num <= first and last <= network.end_num) or network.size <= last - first + 1:
            self.stats["rdap_search_rejected"] += 1
            return None
        return classify(replace(network, search_base=base), self.known)

    def waiting_near(self, area: tuple[bool, int]) -> int:
        first, last = area_bounds(area)
        return bisect.bisect_right(self.numbers, last) - bisect.bisect_left(self.numbers, first)

    def search(self, parent: KnownRange, pending: PendingAddress, by_block: bool = True) -> bool:
        """List the assignments inside ``parent`` — or, when it is too large and ``by_block``, inside
        the visitor's /24 (/48) block of it; False: look the address up instead.

        ``rdap-bottom`` never lists an object that holds the whole range asked
        about, so when a block's listing leaves the visitor outside every object
        in it, one ``rdap-up`` says what holds the block (a pool, a customer's
        /22, a reseller's range) before the block counts as settled.
        """
        if parent.network_id not in self.too_many:
            listed = self._list(parent, parent.network_id, parent.start_ip, parent.end_ip)
            if listed is not None:
                return listed
            self.too_many.add(parent.network_id)
        if not by_block:
            return False
        start, end = block_range(pending.number, parent)
        if ("rdap-bottom", start, end) not in self.searched:
            if not self._list(parent, parent.network_id, start, end, cover=False):
                return False
            inside = self.fetched.best(pending.number)
            if inside is not None and inside.final and inside.end_num - inside.start_num < parent.end_num - parent.start_num:
                return True  # the visitor sits in an assignment the block's listing named
        if ("rdap-up", start, end) in self.searched or not self._spend():
            return False
        self.searched.add(("rdap-up", start, end))
        payload = self.client.parent(parent.search_base, start, end)
        self.stats["rdap_searches"] += 1
        found = self._holder(payload, to_number(start), to_number(end), parent.network_id, parent.search_base)
        if found is None:
            return False  # the registry does not say what holds the block: ask about the address
        holder = self._store(found)
        if not holder.final:  # nothing between the block and its holder: the listing was complete
            self._cover(parent.network_id, start, end)
        return True

    def _list(self, parent: KnownRange, searched_id: str, start: str, end: str, cover: bool = True) -> bool | None:
        """``rdap-bottom`` for ``start``..``end``: True when listed completely, None when too many."""
        if ("rdap-bottom", start, end) in self.searched or not self._spend():
            return False
        self.searched.add(("rdap-bottom", start, end))
        answer = self.client.search(parent.search_base, start, end)
        self.stats["rdap_searches"] += 1
        if answer.unsupported:
            self.no_search.add(parent.search_base)
            return False
        if answer.too_many:
            return None
        complete = True
        for payload in answer.objects:
            address = _first_address(payload)
            try:
                if address is None:
                    raise PermanentError("search result without a start address")
                network = parse_rdap(payload, address, parent_id=parent.network_id)
                if not (to_number(start) <= network.start_num and network.end_num <= to_number(end)):
                    raise PermanentError("a search result outside the range searched")
            except PermanentError:
                self.stats["rdap_search_rejected"] += 1
                complete = False
                continue
            self.stats["rdap_search_results"] += 1
            self._store(classify(replace(network, search_base=parent.search_base), self.known))
        if complete and cover:  # a result that could not be read leaves its range to per-address lookups
            self._cover(searched_id, start, end)
        return complete

    def _cover(self, searched_id: str, start: str, end: str) -> None:
        self.covered.add(KnownRange(searched_id, start, end, to_number(start), to_number(end), True))
        self.result.searches.append((searched_id, start, end))

    def settle(self, pending: PendingAddress) -> None:
        """Spend requests on one address until something final answers for it (or nothing may be spent)."""
        while True:
            best = most_specific(pending.match, self.fetched.best(pending.number))
            if best is not None and (best.final or self.covered.best(pending.number) is not None
                                     or pending.client_key in self.probed):
                return
            if not self._spend():
                self.stats["rdap_deferred"] += 1
                return
            if best is not None and best.search_base and best.search_base not in self.no_search:
                if self.search(best, pending):
                    continue
                if not self._spend():
                    self.stats["rdap_deferred"] += 1
                    return
            self.lookup(pending)
            return


def resolve_addresses(
    pending: list[PendingAddress], client: RdapClient, known: tuple[KnownOrganisation, ...], budget: int, stats: dict,
    on_progress: Callable[[int, int, int], None] | None = None,
) -> Resolution:
    """Spend at most ``budget`` registry requests on ``pending`` (most valuable first).

    Failures never stop the walk: the address waits for a later run. A registry
    that stops answering (see :class:`enrich.http.RegistryUnavailable`) is not
    asked again in this run; one log line counts what it left. ``on_progress`` hears
    (addresses walked, addresses to walk, requests sent) before the walk and after each address.
    """
    for key in ("rdap_requests", "rdap_networks", "rdap_searches", "rdap_search_results", "rdap_search_rejected",
                "rdap_not_found", "rdap_failed", "rdap_deferred", "rdap_unavailable"):
        stats.setdefault(key, 0)
    client.http.max_requests = budget  # retries and redirect hops count too: the client stops at the budget
    resolver = _Resolver(client, known, budget, stats)
    resolver.numbers = sorted(item.number for item in pending)
    if on_progress:
        on_progress(0, len(pending), client.requests_sent)
    for walked, item in enumerate(pending, 1):
        try:
            resolver.settle(item)
        except RegistryUnavailable:
            stats["rdap_unavailable"] += 1
        except BudgetSpent:
            stats["rdap_deferred"] += 1
        except (RetryableError, PermanentError) as exc:
            stats["rdap_failed"] += 1
            log.warning("RDAP lookup failed, left for a later run: %s", exc)
        except Exception as exc:  # noqa: BLE001 - one odd answer must never fail the night
            stats["rdap_failed"] += 1
            log.warning("RDAP lookup failed (%s), left for a later run", exc.__class__.__name__)
        finally:
            stats["rdap_requests"] = client.requests_sent
            if on_progress:
                on_progress(walked, len(pending), client.requests_sent)
    stats["rdap_networks"] = len(resolver.result.networks)
    if stats["rdap_unavailable"]:
        log.warning("a registry stopped answering (%s): %d addresses wait for the next run",
                    ", ".join(sorted(client.http.unavailable)) or "unreachable", stats["rdap_unavailable"])
    if stats["rdap_deferred"]:
        log.info("RDAP budget of %d requests reached: %d addresses wait for the next run", budget,
                 stats["rdap_deferred"])
    return resolver.result
