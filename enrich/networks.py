"""Networks: address arithmetic, the Network record, registry statuses and operator lists.

Pure functions. Addresses of both families live in one number space: IPv4 is
mapped into ``::ffff:0:0/96`` (as IPv6 does itself), so one range column and
one range join serve both. Deciding a network's kind lives in
``enrich/classify.py``.
"""

from __future__ import annotations

import csv
import io
import ipaddress
from dataclasses import dataclass, field
from functools import cached_property

from enrich.business_ids import InvalidBusinessId, business_id
from enrich.clients import parse_address

KINDS = ("company", "isp", "mobile", "hosting", "education", "government", "unknown")
#: Sources whose ranges the operator vouches for: final, never looked up again, never expire.
LIST_SOURCES = ("operator", "licensed")
_V4_BASE = 0xFFFF_0000_0000


def to_number(address: str | ipaddress.IPv4Address | ipaddress.IPv6Address) -> int:
    """An address as a 128-bit number; IPv4 maps into ::ffff:0:0/96."""
    parsed = (parse_address(address) or ipaddress.ip_address(address)) if isinstance(address, str) else address
    if parsed.version == 4:
        return _V4_BASE + int(parsed)
    mapped = parsed.ipv4_mapped
    return _V4_BASE + int(mapped) if mapped is not None else int(parsed)


def is_v4_number(number: int) -> bool:
    return _V4_BASE <= number <= _V4_BASE + 0xFFFF_FFFF


def block_number(address: str | int) -> int:
    """The first number of the address's /24 (IPv4) or /48 (IPv6) block (from its text or number)."""
    number = address if isinstance(address, int) else to_number(address)
    return number - number % (1 << (8 if is_v4_number(number) else 80))


def block_cidr(address: str | int) -> str:
    """The /24 (IPv4) or /48 (IPv6) block holding an address, as CIDR text."""
    first = block_number(address)
    if is_v4_number(first):
        return f"{ipaddress.IPv4Address(first - _V4_BASE)}/24"
    return f"{ipaddress.IPv6Address(first)}/48"


def range_cidrs(start: str, end: str) -> str:
    """The CIDR blocks covering start..end, comma-separated."""
    first, last = ipaddress.ip_address(start), ipaddress.ip_address(end)
    return ", ".join(str(n) for n in ipaddress.summarize_address_range(first, last))


# --- registry statuses: can anything hide inside a network? ------------------------------

#: Statuses under which the registry allows no more-specific object (RIPE's database rules,
#: whois ``InetnumStatus``; ARIN reassignments and direct assignments; APNIC and LACNIC assignments).
LEAF_STATUSES = frozenset({
    "ASSIGNED PA", "ASSIGNED PI", "ALLOCATED-ASSIGNED PA", "ASSIGNED ANYCAST", "ASSIGNED",  # RIPE, AFRINIC
    "REASSIGNED", "REASSIGNMENT", "DIRECT ASSIGNMENT", "ASSIGNMENT",  # ARIN
    "ASSIGNED PORTABLE", "ASSIGNED NON-PORTABLE",  # APNIC
})
#: Statuses of ranges that may hold customer assignments, whatever their name says.
PARENT_STATUSES = frozenset({
    "ALLOCATED PA", "SUB-ALLOCATED PA", "LIR-PARTITIONED PA", "AGGREGATED-BY-LIR", "ALLOCATED UNSPECIFIED",
    "ALLOCATED PI", "ALLOCATED-BY-RIR", "ALLOCATED-BY-LIR", "LIR-PARTITIONED PI",  # RIPE, AFRINIC
    "DIRECT ALLOCATION", "REALLOCATED", "REALLOCATION", "ALLOCATION", "ALLOCATED",  # ARIN, LACNIC
    "ALLOCATED PORTABLE", "ALLOCATED NON-PORTABLE",  # APNIC
})
#: Leaf statuses of an assignment an LIR (an ISP) made from its own range, to a customer or a pool.
LIR_ASSIGNMENTS = frozenset({"ASSIGNED PA", "ASSIGNED", "REASSIGNED", "REASSIGNMENT", "ASSIGNED NON-PORTABLE"})
#: An unknown status (LEGACY, none at all) on a range this large may hold assignments.
UNKNOWN_STATUS_PARENT_V4 = 1 << 12  # a /20
UNKNOWN_STATUS_PARENT_V6 = 1 << 96  # a /32


def status_is_leaf(registry_type: str | None, size: int, is_v4: bool) -> bool:
    """Whether a registry's answer is final for every address inside the range."""
    status = " ".join((registry_type or "").upper().replace("_", " ").split())
    if status in LEAF_STATUSES:
        return True
    if status in PARENT_STATUSES:
        return False
    return size < (UNKNOWN_STATUS_PARENT_V4 if is_v4 else UNKNOWN_STATUS_PARENT_V6)


@dataclass(frozen=True)
class Network:
    """One address range, what the registry (or a list) says about it, and its kind once classified.

    ``registrant`` is the name of the organisation object that holds the range
    (never a handle or a maintainer); ``org_name`` is the organisation the
    classification settled on (the registrant, or the business customer an
    ISP's assignment names).
    """

    start_ip: str
    end_ip: str
    source: str  # operator | licensed | rdap
    netname: str | None = None
    org_name: str | None = None
    org_handle: str | None = None
    registrant: str | None = None
    country: str | None = None
    registry_type: str | None = None  # RIPE "ASSIGNED PA", ARIN "DIRECT ALLOCATION"...
    remarks: str | None = None  # every remark line, " | "-separated, descriptions first
    handle: str | None = None
    business_id: str | None = None  # from an operator list
    kind: str | None = None  # from an operator list, or decided by classify()
    rule: str | None = None
    signals: tuple[str, ...] = field(default=())
    parent_id: str | None = None  # the range a relation search listed this one in
    search_base: str | None = None  # the registry's base URL when it serves RFC 9910 relation searches

    @cached_property
    def start_num(self) -> int:
        return to_number(self.start_ip)

    @cached_property
    def end_num(self) -> int:
        return to_number(self.end_ip)

    @property
    def is_v4(self) -> bool:
        return is_v4_number(self.start_num)

    @property
    def cidr(self) -> str:
        return range_cidrs(self.start_ip, self.end_ip)

    @property
    def size(self) -> int:
        return self.end_num - self.start_num + 1

    @property
    def is_leaf(self) -> bool:
        """Final for every address inside: an operator's list entry, or a leaf registry status."""
        return self.source in LIST_SOURCES or status_is_leaf(self.registry_type, self.size, self.is_v4)

    @property
    def from_lir(self) -> bool:
        """An ISP's assignment from its own range: its neighbours are likely the ISP's other customers."""
        return " ".join((self.registry_type or "").upper().split()) in LIR_ASSIGNMENTS

    @property
    def network_id(self) -> str:
        """Natural key: the range and where it came from."""
        return f"{self.source}:{self.start_ip}-{self.end_ip}"

    def contains(self, number: int) -> bool:
        return self.start_num <= number <= self.end_num


# --- operator and licensed lists ------------------------------------------------

_LIST_ALIASES = {
    "cidr": {"cidr", "network", "prefix"},
    "start": {"start", "start_ip", "range_start", "first"},
    "end": {"end", "end_ip", "range_end", "last"},
    "organisation": {"organisation", "organization", "org", "org_name", "name", "company"},
    "business_id": {"business_id", "businessid", "business id", "y-tunnus", "ytunnus"},
    "kind": {"kind", "type"},
    "country": {"country", "country_code"},
}
#: Why a list row is rejected: fixed texts, never the row's values.
NOT_A_CIDR = "not a CIDR block"
NOT_AN_ADDRESS = "start or end is not an IP address"
NO_RANGE = "no cidr (or start and end)"
START_AFTER_END = "start is after end"
MIXED_FAMILIES = "start and end are of different address families"
UNKNOWN_KIND = f"unknown kind (one of {', '.join(KINDS)})"
NO_ORGANISATION = "no organisation"
DUPLICATE = "the same range as an earlier row"


class _Rejected(ValueError):
    """A list row that cannot be kept; the message is the fixed reason."""


def parse_block(text: str) -> tuple[str, str]:
    """A block as the operator types it — CIDR (``193.166.220.0/24``) or ``start-end`` — as (start, end).

    Raises:
        ValueError: neither (the message quotes nothing).
    """
    text = (text or "").strip()
    if "/" not in text and text.count("-") == 1:
        first, last = (part.strip() for part in text.split("-"))
        try:
            start, end = ipaddress.ip_address(first), ipaddress.ip_address(last)
        except ValueError:
            raise ValueError(NOT_AN_ADDRESS) from None
        if start.version != end.version:
            raise ValueError(MIXED_FAMILIES)
        if start > end:
            raise ValueError(START_AFTER_END)
        return str(start), str(end)
    try:
        block = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(NOT_A_CIDR) from None
    return str(block[0]), str(block[-1])


def parse_network_list(text: str, source: str = "operator") -> tuple[list[Network], list[tuple[int, str]]]:
    """Rows of an operator's or a licensed network list (CSV).

    Columns (by name, case-insensitive): ``cidr`` or ``start`` and ``end``;
    ``organisation``; optional ``business_id``, ``kind``, ``country``. A row is
    rejected whole — a bad block, an unknown kind, no organisation, a Business ID
    that fails its check (:mod:`enrich.business_ids`), a range an earlier row
    already gave — with its line number and a fixed reason.

    Returns:
        (networks, rejects) where each reject is (line number, reason).
    """
    # Lines starting with '#' are comments before the header.
    lines = text.lstrip("\ufeff").splitlines()
    skipped = 0
    while skipped < len(lines) and (not lines[skipped].strip() or lines[skipped].lstrip().startswith("#")):
        skipped += 1
    body = "\n".join(lines[skipped:])
    reader = csv.DictReader(io.StringIO(body), delimiter=_sniff_delimiter(body))
    columns = {}
    for name in reader.fieldnames or []:
        for key, aliases in _LIST_ALIASES.items():
            if name and name.strip().lower() in aliases:
                columns[key] = name
    if "organisation" not in columns or not ("cidr" in columns or {"start", "end"} <= set(columns)):
        raise ValueError("a network list needs an organisation column and cidr (or start and end) columns")
    networks, rejects, seen = [], [], set()
    for row in reader:
        line_no = skipped + reader.line_num  # the row's last physical line, as an editor counts

        def get(key: str) -> str | None:
            value = row.get(columns.get(key, ""), None)
            return value.strip() if isinstance(value, str) and value.strip() else None

        try:
            network = _list_row(get, source)
            if (network.start_ip, network.end_ip) in seen:
                raise _Rejected(DUPLICATE)
        except (_Rejected, InvalidBusinessId) as exc:
            rejects.append((line_no, str(exc)))
            continue
        seen.add((network.start_ip, network.end_ip))
        networks.append(network)
    return networks, rejects


def _list_row(get, source: str) -> Network:
    """One list row as a Network; _Rejected or InvalidBusinessId with the fixed reason."""
    if get("cidr"):
        try:
            block = ipaddress.ip_network(get("cidr"), strict=False)
        except ValueError:
            raise _Rejected(NOT_A_CIDR) from None
        start, end = str(block[0]), str(block[-1])
    elif get("start") and get("end"):
        try:
            start, end = parse_block(f"{get('start')}-{get('end')}")
        except ValueError as exc:
            raise _Rejected(str(exc)) from None
    else:
        raise _Rejected(NO_RANGE)
    kind = (get("kind") or "").lower() or None
    if kind is not None and kind not in KINDS:
        raise _Rejected(UNKNOWN_KIND)
    if not get("organisation"):
        raise _Rejected(NO_ORGANISATION)
    return Network(
        start_ip=start, end_ip=end, source=source, org_name=get("organisation"), registrant=get("organisation"),
        business_id=business_id(get("business_id")), kind=kind, country=(get("country") or "").upper() or None,
        rule=f"{source}-list" if kind else None,
    )


#: Blocks no visitor's address is ever in: private, loopback, link-local, documentation, multicast,
#: reserved (IANA special-purpose registries). Client addresses there are never attributed.
_RESERVED = tuple((ipaddress.ip_network(block), reason) for reason, blocks in {
    "private or reserved range: private (RFC 1918)": ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"),
    "private or reserved range: carrier-grade NAT (RFC 6598)": ("100.64.0.0/10",),
    "private or reserved range: unique local (RFC 4193)": ("fc00::/7",),
    "private or reserved range: loopback": ("127.0.0.0/8", "::1/128"),
    "private or reserved range: link-local": ("169.254.0.0/16", "fe80::/10"),
    "private or reserved range: documentation": ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24",
                                                  "2001:db8::/32", "3fff::/20"),
    "private or reserved range: benchmarking": ("198.18.0.0/15", "2001:2::/48"),
    "private or reserved range: multicast": ("224.0.0.0/4", "ff00::/8"),
    "private or reserved range: reserved": ("0.0.0.0/8", "192.0.0.0/24", "240.0.0.0/4", "::/128", "100::/64"),
}.items() for block in blocks)


def reserved_range(network: Network) -> str | None:
    """Why no visitor's address can be in (part of) the network's range — a fixed text — or None."""
    for block, reason in _RESERVED:
        if to_number(block[0]) <= network.end_num and network.start_num <= to_number(block[-1]):
            return reason
    return None


def _sniff_delimiter(text: str) -> str:
    header = text.lstrip("\ufeff").split("\n", 1)[0]
    return ";" if header.count(";") > header.count(",") else ","
