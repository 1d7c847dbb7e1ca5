"""Networks: address arithmetic, the Network record, operator lists and classification.

Pure functions. Addresses of both families live in one number space: IPv4 is
mapped into ``::ffff:0:0/96`` (as IPv6 does itself), so one range column and
one range join serve both.

Classification decides a network's ``kind`` (company, isp, mobile, hosting,
education, government, unknown) by ordered rules; the first that fires wins
and is recorded with the signals it saw, so every attribution explains
itself. A wrong company is worse than a missing one: every rule that can say
"not a company" runs before the rules that say "company".
"""

from __future__ import annotations

import csv
import io
import ipaddress
import re
from dataclasses import dataclass, field, replace
from functools import cached_property

from enrich.clients import parse_address
from pathlib import Path

KINDS = ("company", "isp", "mobile", "hosting", "education", "government", "unknown")
_V4_BASE = 0xFFFF_0000_0000


def to_number(address: str | ipaddress.IPv4Address | ipaddress.IPv6Address) -> int:
    """An address as a 128-bit number; IPv4 maps into ::ffff:0:0/96."""
    parsed = (parse_address(address) or ipaddress.ip_address(address)) if isinstance(address, str) else address
    if parsed.version == 4:
        return _V4_BASE + int(parsed)
    mapped = parsed.ipv4_mapped
    return _V4_BASE + int(mapped) if mapped is not None else int(parsed)


def block_number(address: str | int) -> int:
    """The first number of the address's /24 (IPv4) or /48 (IPv6) block (from its text or number)."""
    number = address if isinstance(address, int) else to_number(address)
    is_v4 = _V4_BASE <= number <= _V4_BASE + 0xFFFF_FFFF
    return number - number % (1 << (8 if is_v4 else 80))


def range_cidrs(start: str, end: str) -> str:
    """The CIDR blocks covering start..end, comma-separated."""
    first, last = ipaddress.ip_address(start), ipaddress.ip_address(end)
    return ", ".join(str(n) for n in ipaddress.summarize_address_range(first, last))


@dataclass(frozen=True)
class Network:
    """One address range and what is known about who holds it."""

    start_ip: str
    end_ip: str
    source: str  # operator | licensed | rdap
    netname: str | None = None
    org_name: str | None = None
    org_handle: str | None = None
    country: str | None = None
    registry_type: str | None = None  # RIPE "ASSIGNED PA", ARIN "DIRECT ALLOCATION"...
    remarks: str | None = None
    handle: str | None = None
    business_id: str | None = None  # from an operator list
    kind: str | None = None  # from an operator list, or decided by classify()
    rule: str | None = None
    signals: tuple[str, ...] = field(default=())

    @cached_property
    def start_num(self) -> int:
        return to_number(self.start_ip)

    @cached_property
    def end_num(self) -> int:
        return to_number(self.end_ip)

    @property
    def cidr(self) -> str:
        return range_cidrs(self.start_ip, self.end_ip)

    @property
    def size(self) -> int:
        return self.end_num - self.start_num + 1

    @property
    def network_id(self) -> str:
        """Natural key: the range and where it came from."""
        return f"{self.source}:{self.start_ip}-{self.end_ip}"


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
                start_ip=start, end_ip=end, source=source, org_name=get("organisation"),
                business_id=get("business_id"), kind=kind, country=(get("country") or "").upper() or None,
                rule=f"{source}-list" if kind else None,
            )
        )
    return networks, rejects


def _sniff_delimiter(text: str) -> str:
    header = text.lstrip("\ufeff").split("\n", 1)[0]
    return ";" if header.count(";") > header.count(",") else ","


# --- classification ------------------------------------------------------------------

#: Words in a network's name or remarks, and the kind they point to. Finnish too.
KEYWORDS: tuple[tuple[str, str], ...] = (
    ("mobile", r"mobile|mobiili|\blte\b|\b[345]g\b|gprs|umts|\bcgn(at)?\b|carrier.?grade"),
    ("hosting", r"cloud|hosting|\bvps\b|colo(cation)?|data.?cent(er|re)|datacenter|konesali|server|dedicated|\bcdn\b"),
    ("isp", r"\bdsl\b|adsl|vdsl|ftth|fttx|fiber|fibre|kuitu|broadband|laajakaista|\bcable\b|kaapeli|"
            r"\bpool\b|dynamic|dyn\b|residential|customers?\b|asiakkaat|asiakas|subscriber|\bbras\b|\bppp|"
            r"home.?users|kotitalou|\bnat\b|\bwifi\b|hotspot"),
    ("education", r"universit|yliopisto|ammattikorkeakoulu|\bamk\b|college|school|koulu|\bedu\b|funet|campus"),
    ("government", r"ministry|ministeri|government|\bgov\b|valtion|valtio|kaupunki|municipal|kunta\b|\bcity of\b"),
)
#: Registry types of broad, shared allocations: a hit there says little about the holder.
PROVISIONAL_TYPES = {"ALLOCATED PA", "ALLOCATED PI", "ALLOCATED UNSPECIFIED", "LIR-PARTITIONED PA",
                     "SUB-ALLOCATED PA", "ALLOCATION", "DIRECT ALLOCATION", "ALLOCATED-BY-RIR"}
#: A network this large is an operator's, not an office's.
LARGE_NETWORK_V4 = 1 << 16  # a /16
LARGE_NETWORK_V6 = 1 << 96  # a /32
#: Distinct visitors per day from one network beyond which it is a shared (NAT, ISP) network.
SHARED_VISITORS_PER_DAY = 25


@dataclass(frozen=True)
class KnownOrganisation:
    pattern: re.Pattern[str]
    kind: str
    note: str


def load_known_organisations(path: Path) -> tuple[KnownOrganisation, ...]:
    """The curated list of ISP, mobile-operator and hosting organisations (CSV: pattern,kind,note)."""
    if not path.exists():
        return ()
    rows = csv.DictReader(io.StringIO("\n".join(
        line for line in path.read_text(encoding="utf-8").splitlines() if not line.lstrip().startswith("#")
    )))
    return tuple(
        KnownOrganisation(re.compile(row["pattern"], re.IGNORECASE), row["kind"].strip(), row.get("note") or "")
        for row in rows
        if row.get("pattern") and row.get("kind", "").strip() in KINDS
    )


def classify(network: Network, known: tuple[KnownOrganisation, ...] = ()) -> Network:
    """Decide a network's kind, recording the rule and the signals.

    Order: an operator list's kind; a curated ISP/mobile/hosting organisation;
    name and remark keywords; broad allocations and very large ranges (never a
    company); an organisation entity with nothing against it (company);
    otherwise unknown.
    """
    if network.kind in KINDS and network.source in {"operator", "licensed"}:
        return replace(network, rule=network.rule or f"{network.source}-list",
                       signals=(f"{network.source} list says {network.kind}",))
    signals: list[str] = []
    holder = " ".join(filter(None, [network.org_name, network.org_handle]))
    text = " ".join(filter(None, [network.netname, network.remarks]))
    for entry in known:
        if holder and entry.pattern.search(holder):
            customer = _assigned_customer(network, text) if entry.kind == "isp" else None
            if customer and not entry.pattern.search(customer):  # the ISP's own block is no customer
                return replace(network, org_name=customer, kind="company", rule="isp-customer-assignment",
                               signals=(f"{network.org_name!r} (a known ISP) assigned {network.cidr} "
                                        f"({network.registry_type}) to {customer!r}",))
            return replace(network, kind=entry.kind, rule="known-organisation",
                           signals=(f"organisation {network.org_name!r} is a known {entry.kind} ({entry.note})",))
    for kind, pattern in KEYWORDS:
        match = re.search(pattern, f"{text} {network.org_name or ''}", re.IGNORECASE)
        if match:
            signals.append(f"{kind} keyword {match.group(0)!r} in name/remarks/organisation")
            return replace(network, kind=kind, rule="keyword", signals=tuple(signals))
    registry_type = (network.registry_type or "").upper()
    large = LARGE_NETWORK_V4 if network.start_ip.count(".") == 3 else LARGE_NETWORK_V6
    if registry_type in PROVISIONAL_TYPES or network.size >= large:
        signals.append(f"registry type {registry_type or '?'}, {network.size:,} addresses: an operator's allocation")
        return replace(network, kind="isp" if network.org_name else "unknown", rule="broad-allocation",
                       signals=tuple(signals))
    if network.org_name:
        signals.append(f"organisation entity {network.org_name!r} holds {network.cidr}")
        return replace(network, kind="company", rule="organisation-entity", signals=tuple(signals))
    return replace(network, kind="unknown", rule="no-organisation", signals=("no organisation entity",))


_NET_SUFFIX = re.compile(r"[-_ ]?(net|lan|wan|nw|network|block|range|\d+)$", re.IGNORECASE)


def _assigned_customer(network: Network, text: str) -> str | None:
    """The customer an ISP assigned a small block to, as named in its remarks or name.

    Only for an assignment (not an allocation or a pool) no larger than a /24
    (IPv4) or /48 (IPv6), whose name and remarks carry no ISP/mobile/hosting
    keyword.
    """
    if not (network.registry_type or "").upper().startswith("ASSIGNED"):
        return None
    limit = 256 if network.start_ip.count(".") == 3 else 1 << 80
    if network.size > limit:
        return None
    if any(re.search(pattern, text, re.IGNORECASE) for _, pattern in KEYWORDS):
        return None
    if network.remarks:
        first = network.remarks.split(" | ")[0].strip()
        if first and len(first) > 2:
            return first
    if network.netname:
        name = network.netname
        while True:
            stripped = _NET_SUFFIX.sub("", name)
            if stripped == name:
                break
            name = stripped
        return name.replace("-", " ").replace("_", " ").title() if len(name) > 2 else None
    return None
