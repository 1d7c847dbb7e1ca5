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
    "business_id": {"business_id", "businessid", "y-tunnus", "ytunnus"},
    "kind": {"kind", "type"},
    "country": {"country", "country_code"},
}


def parse_network_list(text: str, source: str = "operator") -> tuple[list[Network], list[tuple[int, str]]]:
    """Rows of an operator's or a licensed network list (CSV).

    Columns (by name, case-insensitive): ``cidr`` or ``start`` and ``end``;
    ``organisation``; optional ``business_id``, ``kind``, ``country``.

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
    networks, rejects = [], []
    for line_no, row in enumerate(reader, start=skipped + 2):
        def get(key: str) -> str | None:
            value = row.get(columns.get(key, ""), None)
            return value.strip() if isinstance(value, str) and value.strip() else None

        try:
            if get("cidr"):
                block = ipaddress.ip_network(get("cidr"), strict=False)
                start, end = str(block[0]), str(block[-1])
            else:
                start, end = str(ipaddress.ip_address(get("start"))), str(ipaddress.ip_address(get("end")))
                if to_number(start) > to_number(end):
                    raise ValueError("start is after end")
            kind = (get("kind") or "").lower() or None
            if kind is not None and kind not in KINDS:
                raise ValueError(f"unknown kind {kind!r}")
            if not get("organisation"):
                raise ValueError("no organisation")
        except (TypeError, ValueError) as exc:
            rejects.append((line_no, str(exc)))
            continue
        networks.append(
            Network(
                start_ip=start, end_ip=end, source=source, org_name=get("organisation"), registrant=get("organisation"),
                business_id=get("business_id"), kind=kind, country=(get("country") or "").upper() or None,
                rule=f"{source}-list" if kind else None,
            )
        )
    return networks, rejects


def _sniff_delimiter(text: str) -> str:
    header = text.lstrip("\ufeff").split("\n", 1)[0]
    return ";" if header.count(";") > header.count(",") else ","
