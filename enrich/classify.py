"""Deciding a network's kind: the one home of every rule, each recorded with what it saw.

Pure functions over what a registry (or the operator's list) says about a
range. The first rule that fires wins. A wrong company is worse than a
missing one, so the rules that can say "not a company" run before those that
say "company" — with one exception the data demands: words inside a
business's legal name ("Kaapelitehdas Oy", "Asiakastieto Oy", "Softcolor Oy")
are never evidence about the network, because that is the company's name,
not a description of an access network.

Order:
1. the operator's (or a licensed) list;
2. registry placeholders (IANA, ERX, ``RIPE-NCC-MANAGED-ADDRESS-BLOCK``,
   ``ALLOCATED UNSPECIFIED``): unknown, never a company;
3. a small leaf assignment whose description names a business customer,
   held by a known ISP or by no organisation object at all: that customer;
4. a holder (or, without one, a netname or remark) on the curated list of
   ISPs, mobile operators and clouds;
5. access-network words in the netname and remarks (outside legal names),
   and education/government words in a holder's name that is not a business's;
6. a range that may hold assignments (non-leaf status) or a very large one:
   an operator's allocation (isp);
7. an organisation holding a small final range: a company;
8. otherwise unknown.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, replace
from pathlib import Path

from enrich.matching import fold, legal_name
from enrich.networks import KINDS, LIST_SOURCES, Network

#: Words of an access network: a hit means the range is no office. Anchored at word starts
#: ("kaapelitv" is cable, "softcolor" is not colocation), whole words where a prefix would mislead.
ACCESS_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("mobile", r"\bmobile\b|\bmobiili|\bmobil\b|\blte\b|\b[345]g\b|\bgprs\b|\bumts\b|\bcgn(?:at)?\b|"
               r"\bcarrier ?grade|\bwireless\b|\bcellular\b|\bgsm\b"),
    ("hosting", r"\bcloud|\bhosting\b|\bhosted\b|\bvps\b|\bcolo(?:cation)?(?:\b|\d)|\bdata ?cent(?:er|re)s?\b|"
                r"\bdatacent|\bkonesali|\bservers?\b|\bdedicated\b|\bcdn\b|\bvirtual\b"),
    ("isp", r"\bx?dsl\b|\badsl|\bvdsl|\bftt[hxbcp]\b|\bfib(?:er|re)\b|\bkuitu|\bbroadband\b|\blaajakaista|"
            r"\bcable\b|\bkaapeli|\bpool\b|\bdynamic\b|\bdyn\b|\bresidential\b|\bsubscribers?\b|\bbras\b|"
            r"\bpppoe\b|\bppp\b|\bhome ?users?\b|\bkotitalou|\bnat\b|\bwifi\b|\bhotspot|\btelecom|\bisp\b|"
            r"\binternet service provider|\bleased ?line"),
)
#: Words that name a public body or a school. Finnish builds compounds ("valtiovarainministeriö",
#: "ammattikorkeakoulu"), so these may end a word; they count only outside a business's legal name.
PUBLIC_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("education", r"universi(?:ty|ties|dad|dade|tät|te|tet|teit)|yliopisto|korkeakoulu|\bamk\b|college|school|"
                  r"koulu\b|\bedu\b|\bfunet\b|\bcampus\b|hochschule|högskola|\bsunet\b|\buninett\b"),
    ("government", r"ministry|ministeri|\bgovernment|\bgov\b|\bvaltion\b|\bvaltio\b|\bkaupunki\b|\bkaupungin\b|"
                   r"\bmunicipal|\bkunta\b|\bkunnan\b|\bcity of\b|\bstadt\b|\bkommune\b|\bkommun\b|"
                   r"virasto\b|\bhallinto\b|\bpolice\b|\bpoliisi\b"),
)
_ACCESS = tuple((kind, re.compile(pattern, re.IGNORECASE)) for kind, pattern in ACCESS_KEYWORDS)
_PUBLIC = tuple((kind, re.compile(pattern, re.IGNORECASE)) for kind, pattern in PUBLIC_KEYWORDS)

#: Registry placeholders: whole RIR blocks, early-registration transfers, unallocated space.
_REGISTRY_BLOCK = re.compile(
    r"^(?:IANA|ERX|STUB|RESERVED|UNALLOCATED|NON-RIPE-NCC|RIPE-NCC-MANAGED|EU-ZZ|RIPE-ERX|RIPE-CBLK|"
    r"APNIC-(?:AP|ERX)\b|LACNIC-ERX|AFRINIC-ERX|ARIN-ERX|NET\d*-ERX|SPECIAL-IPV4|SPECIAL-IPV6)",
    re.IGNORECASE,
)
_REGISTRY_HOLDERS = re.compile(
    r"internet assigned numbers authority|ripe network coordination centre|asia pacific network information|"
    r"latin american and caribbean ip address|african network information cent|american registry for internet numbers",
    re.IGNORECASE,
)
#: Remark lines that describe the registry's service, not the network.
_BOILERPLATE = re.compile(
    r"due to server policy|this (?:object|output|network|range|block|space)|filtered|abuse|please|"
    r"https?://|www\.|@|whois|\bquer(?:y|ied)\b|to obtain|look up|authoritative|for more information|"
    r"inaccura|personal data|has been (?:removed|omitted)|upgrade from|allocation block|assignments and|"
    r"geofeed|^[\s*#=-]*$|^\W",
    re.IGNORECASE,
)
_HANDLE = re.compile(
    r"(?:ORG-[A-Z0-9]+-[A-Z]+|[A-Z0-9]+(?:-[A-Z0-9]+)*-(?:MNT|RIPE|AFRINIC|APNIC|AP|ARIN|LACNIC|JP|KR|NICJP))",
)
_NET_SUFFIX = re.compile(r"[-_ ]?(?:net|lan|wan|nw|network|block|range|v6|\d+)$", re.IGNORECASE)
#: A business customer's assignment is small: at most a /24 (IPv4) or a /48 (IPv6).
SMALL_V4, SMALL_V6 = 256, 1 << 80
#: A network this large is an operator's, not an office's.
LARGE_NETWORK_V4 = 1 << 16  # a /16
LARGE_NETWORK_V6 = 1 << 96  # a /32
#: Distinct visitors per day from one network beyond which it is a shared (NAT, ISP) network.
SHARED_VISITORS_PER_DAY = 25


#: The trade register's industry (TOL 2008 and 2025 codes share these prefixes) decides a Finnish
#: organisation's kind, both ways; any other industry is a company's, whatever its name says.
INDUSTRY_KINDS: tuple[tuple[str, str], ...] = (("631", "hosting"), ("61", "isp"), ("84", "government"),
                                                ("85", "education"))
#: Changes whenever a rule here changes: cached networks are classified again.
RULES_VERSION = "2026-11-26.1"


def industry_kind(code: str | None) -> str | None:
    """The kind a register industry code says (None without a code)."""
    if not code:
        return None
    return next((kind for prefix, kind in INDUSTRY_KINDS if code.startswith(prefix)), "company")


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


def is_registry_handle(text: str | None) -> bool:
    """``ORG-VSA1-AFRINIC``, ``EXAMPLE-MNT``, ``AR123-RIPE``: an object's key, never a name."""
    return bool(text) and _HANDLE.fullmatch(text.strip().upper()) is not None


def remark_lines(remarks: str | None) -> list[str]:
    """The remark lines that describe the network (descriptions first), without the registry's boilerplate."""
    lines = [line.strip() for line in (remarks or "").split(" | ")]
    return [line for line in lines if len(line) > 1 and not _BOILERPLATE.search(line) and not is_registry_handle(line)]


def _words(text: str) -> list[str]:
    return re.findall(r"[0-9a-z]+", fold(text))


def _evidence(network: Network, registrant: str | None, lines: list[str], names: list[str]) -> str:
    """The words that describe the network: netname, remarks and a non-business holder, minus legal names.

    Legal names are cut out of the remark lines where they stand; a netname
    word is dropped when it is a word of a legal name or (netnames squash
    names: ``KAAPELITEHDAS-NET``) a run of at least four of its letters.
    """
    name_words = {w for name in names for w in _words(name)}
    squashed = ["".join(_words(name)) for name in names]
    netname = [w for w in _words(network.netname or "")
               if w not in name_words and not (len(w) >= 4 and any(w in s for s in squashed))]
    texts = list(lines)
    if registrant and not legal_name(registrant):
        texts.append(registrant)
    for name in names:
        texts = [text.replace(name, " ") for text in texts]
    return " ".join([*netname, *(w for text in texts for w in _words(text))])


def _keyword(text: str, table) -> tuple[str, str] | None:
    for kind, pattern in table:
        match = pattern.search(text)
        if match:
            return kind, match.group(0)
    return None


def _known(known: tuple[KnownOrganisation, ...], text: str | None) -> KnownOrganisation | None:
    if not text:
        return None
    return next((entry for entry in known if entry.pattern.search(text)), None)


def _is_registry_block(network: Network, registrant: str | None) -> bool:
    if (network.registry_type or "").upper() == "ALLOCATED UNSPECIFIED":
        return True
    if network.netname and _REGISTRY_BLOCK.match(network.netname):
        return True
    large = LARGE_NETWORK_V4 if network.is_v4 else LARGE_NETWORK_V6
    return bool(registrant and _REGISTRY_HOLDERS.search(registrant) and network.size >= large)


def _netname_as_name(netname: str | None) -> str | None:
    """``TURUNTERAS-NET`` → ``Turunteras``: a last resort for naming a holder."""
    if not netname or is_registry_handle(netname):
        return None
    name = netname
    while (stripped := _NET_SUFFIX.sub("", name)) != name:
        name = stripped
    name = name.replace("-", " ").replace("_", " ").strip()
    return name.title() if len(name) > 2 and not name.isdigit() else None


def _assigned_customer(
    network: Network, registrant: str | None, operator: KnownOrganisation | None, lines: list[str],
    legal: list[str], evidence: str, known: tuple[KnownOrganisation, ...],
) -> str | None:
    """The business customer a small leaf assignment is made to, as its description names it.

    Only when the holder is a known ISP or there is no named holder at all
    (a PA assignment without an organisation object): a named holder of
    its own is the organisation itself. A customer named with a legal form
    is trusted; without one (``Kalliodata``), only inside a known ISP's
    assignment. Access-network words outside the customer's legal name
    (``ELISA-DSL-POOL``) make it a pool, not a customer.
    """
    limit = SMALL_V4 if network.is_v4 else SMALL_V6
    if not network.is_leaf or network.size > limit:
        return None
    isp_holder = operator is not None and operator.kind == "isp"
    if registrant and not isp_holder:
        return None
    candidates = [name for name in legal if name != registrant and not _known(known, name)]
    if not candidates and isp_holder:
        plain = [line for line in lines if not _known(known, line)]
        candidates = plain[:1] or [n for n in [_netname_as_name(network.netname)] if n and not _known(known, n)]
    if not candidates or _keyword(evidence, _ACCESS):
        return None
    return candidates[0]


def classify(network: Network, known: tuple[KnownOrganisation, ...] = ()) -> Network:
    """Decide a network's kind and organisation, recording the rule and the signals."""
    if network.kind in KINDS and network.source in LIST_SOURCES:
        return replace(network, rule=network.rule or f"{network.source}-list",
                       signals=(f"{network.source} list says {network.kind}",))
    registrant = network.registrant if network.registrant and not is_registry_handle(network.registrant) else None
    lines = remark_lines(network.remarks)

    def decided(kind: str, rule: str, signal: str, org_name: str | None = registrant) -> Network:
        return replace(network, kind=kind, rule=rule, signals=(signal,), org_name=org_name)

    if _is_registry_block(network, registrant):
        return decided("unknown", "registry-block",
                       f"{network.netname or registrant} ({network.registry_type or 'no status'}) is a registry's "
                       "administrative block, not an organisation's", None)
    # Legal names of businesses: the holder's, and those the descriptions start with.
    legal = [name for name in [legal_name(registrant) if registrant else None, *map(legal_name, lines)] if name]
    evidence = _evidence(network, registrant, lines, legal)
    operator = _known(known, " ".join(filter(None, [registrant, network.org_handle])) if registrant else None)
    customer = _assigned_customer(network, registrant, operator, lines, legal, evidence, known)
    if customer:
        holder = f"{registrant!r} (a known ISP)" if registrant else "an LIR (no organisation object)"
        public = None if legal_name(customer) else _keyword(" ".join(_words(customer)), _PUBLIC)
        kind = public[0] if public else "company"  # a city or a school is a customer too, but no lead
        return decided(kind, "isp-customer-assignment",
                       f"{holder} assigned {network.cidr} ({network.registry_type}) to {customer!r}", customer)
    if operator:
        return decided(operator.kind, "known-organisation",
                       f"organisation {registrant!r} is a known {operator.kind} ({operator.note})")
    if not registrant or not legal_name(registrant):
        named = _known(known, " ".join(filter(None, [network.netname, network.remarks])))
        if named:
            return decided(named.kind, "known-organisation",
                           f"netname/remarks name a known {named.kind} ({named.note})")
    found = _keyword(evidence, _ACCESS) or _keyword(evidence, _PUBLIC)
    if found:
        return decided(found[0], "keyword", f"{found[0]} keyword {found[1]!r} in name/remarks")
    large = LARGE_NETWORK_V4 if network.is_v4 else LARGE_NETWORK_V6
    if not network.is_leaf or network.size >= large:
        return decided("isp", "broad-allocation",
                       f"registry status {network.registry_type or '?'}, {network.size:,} addresses: "
                       "an operator's allocation, which may hold assignments")
    name = registrant or (legal[0] if legal else None)
    if name is None and network.org_handle:  # an organisation object without a name of its own
        name = (lines[0] if lines else None) or _netname_as_name(network.netname)
    if name:
        how = "holds" if name == registrant else f"(organisation {network.org_handle or 'object'}, named from its description) holds"
        return decided("company", "organisation-entity", f"organisation {name!r} {how} {network.cidr}", name)
    return decided("unknown", "no-organisation", "no organisation entity", None)
