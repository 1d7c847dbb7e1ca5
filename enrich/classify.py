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

Later decisions, taken after the record was read, are decided here too and
applied set-based by the sinks (:data:`PRECEDENCE`): the operator's override,
an erasure, a shared network found in the data (:data:`SHARED_VISITORS_PER_DAY`)
and the trade register's industry (:data:`INDUSTRY_KINDS`).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, replace
from pathlib import Path

from enrich.matching import fold, legal_name
from enrich.networks import KINDS, LIST_SOURCES, Network
from enrich.ytj import Company

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
                   r"\bmunicipal|kunta\b|\bkunnan\b|kuntayhtym|\bcity of\b|\bstadt\b|\bkommune\b|\bkommun\b|"
                   r"virasto\b|hallinto\b|laitos\b|\btilastokeskus|\bpuolustusvoimat|\bvaltori\b|"
                   r"hyvinvointialue|sairaanhoitopiiri|\bpolice\b|\bpoliisi\b"),
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
    r"geofeed|^[\s*#=-]*$|^\W|^\s*c\s*/\s*o\b",
    re.IGNORECASE,
)
_HANDLE = re.compile(
    r"(?:ORG-[A-Z0-9]+-[A-Z]+|[A-Z0-9]+(?:-[A-Z0-9]+)*-(?:MNT|RIPE|AFRINIC|APNIC|AP|ARIN|LACNIC|JP|KR|NICJP)|AS\d+)",
)
#: Names registries and ISPs write where an organisation's would stand: never an organisation.
_PLACEHOLDER = re.compile(
    r"^\W*(?:private|residential|anonymous|redacted|not disclosed|withheld|customer|asiakas|yksityis|"
    r"n/?a|none|unknown|data protected|c\s*/\s*o)\b|\bprivate (?:customer|residence|person)\b",
    re.IGNORECASE,
)
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
RULES_VERSION = "2026-11-26.2"


def industry_kind(code: str | None) -> str | None:
    """The kind a register industry code says (None without a code)."""
    if not code:
        return None
    return next((kind for prefix, kind in INDUSTRY_KINDS if code.startswith(prefix)), "company")


# --- decisions after the record: who may replace whose kind --------------------------------

OPERATOR_OVERRIDE, ERASED, MANY_VISITORS, REGISTER_INDUSTRY = (
    "operator-override", "erased", "many-visitors", "register-industry")
#: Rules of the decisions taken after a network's record was read, strongest first. A decision
#: replaces a kind only where no stronger one stands: the operator's override beats everything,
#: an erasure every finding, a shared network seen in the data the register, and the register's
#: industry whatever the registry's record said (any rule of :func:`classify`).
PRECEDENCE = (OPERATOR_OVERRIDE, ERASED, MANY_VISITORS, REGISTER_INDUSTRY)
#: Findings from the data and the register: classifying the record again never undoes them
#: (the operator's override is applied again afterwards instead).
FINDINGS = (ERASED, MANY_VISITORS, REGISTER_INDUSTRY)
#: Findings decide ranges a registry answered for; the operator's lists are the operator's word.
FINDINGS_SOURCES = ("rdap",)
#: What a shared network (NAT, an ISP's pool) is, once more than SHARED_VISITORS_PER_DAY share it.
SHARED_KIND = "isp"
#: Rules resting on a name alone, which the trade register confirms or overturns for holders there.
REGISTER_DECIDES = ("name-keyword", "unconfirmed-name")
REGISTER_COUNTRY = "FI"


def stronger_than(rule: str) -> tuple[str, ...]:
    """The rules a decision by ``rule`` leaves alone."""
    return PRECEDENCE[: PRECEDENCE.index(rule)]


def register_decision(company: Company, named: str) -> tuple[str, str] | None:
    """(kind, signal) for a network whose holder ``named`` is ``company`` in the trade register:
    its industry decides, whatever words its name contains. None without an industry."""
    kind = industry_kind(company.industry_code)
    if kind is None:
        return None
    return kind, (f"{named!r} is {company.name} ({company.business_id}) in the trade register, industry "
                  f"{company.industry_code} {company.industry or ''}: {kind}, whatever words its name contains")


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


def known_kind(known: tuple[KnownOrganisation, ...], name: str | None) -> str | None:
    """The kind of an organisation the curated list names (``isp``, ``mobile``, ``hosting``…), or None."""
    entry = _known(known, name)
    return entry.kind if entry else None


def is_registry_handle(text: str | None) -> bool:
    """``ORG-VSA1-AFRINIC``, ``EXAMPLE-MNT``, ``AR123-RIPE``: an object's key, never a name."""
    return bool(text) and _HANDLE.fullmatch(text.strip().upper()) is not None


def remark_lines(remarks: str | None) -> list[str]:
    """The remark lines that describe the network (descriptions first), without the registry's boilerplate."""
    lines = [line.strip() for line in (remarks or "").split(" | ")]
    return [line for line in lines if len(line) > 1 and not _BOILERPLATE.search(line) and not is_registry_handle(line)]


def _words(text: str) -> list[str]:
    return re.findall(r"[0-9a-z]+", fold(text))


def _evidence(network: Network, registrant: str | None, lines: list[str], names: list[str]) -> tuple[str, str]:
    """(words that describe the network, words of its holder's own name), legal names left out of both.

    The network's words are its netname and remarks; the holder's are the
    name of a holder that is no business (``Helsingin kaupunki``) and the
    netname words that spell it. Legal names are cut out of the remark lines
    where they stand; a netname word is a name's when it is one of its words
    or (netnames squash names: ``KAAPELITEHDAS-NET``) a run of at least four
    of its letters.
    """
    holder = [registrant] if registrant and not legal_name(registrant) else []

    def spells(word: str, of: list[str]) -> bool:
        return word in {w for name in of for w in _words(name)} or (
            len(word) >= 4 and any(word in "".join(_words(name)) for name in of))

    netname = [w for w in _words(network.netname or "") if not spells(w, names)]
    texts = list(lines)
    for name in names:
        texts = [text.replace(name, " ") for text in texts]
    network_words = [w for w in netname if not spells(w, holder)] + [w for t in texts for w in _words(t)]
    holder_words = [w for w in netname if spells(w, holder)] + [w for name in holder for w in _words(name)]
    return " ".join(network_words), " ".join(holder_words)


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


def _legal_lines(lines: list[str]) -> list[str]:
    """The legal names the description lines start with; a name cut from a longer line must not
    itself carry access-network words ("Static pool for Oy customers" names no business)."""
    names = []
    for line in lines:
        name = legal_name(line)
        if name and (name == line.strip() or not _keyword(" ".join(_words(name)), _ACCESS)):
            names.append(name)
    return names


def customer_names(remarks: str | None, known: tuple[KnownOrganisation, ...] = ()) -> list[str]:
    """Description lines that may name a network's organisation but carry no legal form: only the
    trade register can confirm one (``enrich`` asks it); never a name by themselves."""
    return [line for line in remark_lines(remarks)
            if not legal_name(line) and not _known(known, line) and not _PLACEHOLDER.search(line)
            and not re.search(r"\d", line) and len(_words(line)) <= 6]


def _assigned_customer(
    network: Network, registrant: str | None, operator: KnownOrganisation | None, legal: list[str],
    evidence: str, known: tuple[KnownOrganisation, ...],
) -> str | None:
    """The business customer a small leaf assignment is made to, as its description names it.

    Only when the holder is a known ISP or there is no named holder at all
    (a PA assignment without an organisation object): a named holder of its
    own is the organisation itself. Only a name with a legal form counts
    here (``Kaapelitehdas Oy``); access-network words outside it
    (``ELISA-DSL-POOL``) make the range a pool, not a customer.
    """
    limit = SMALL_V4 if network.is_v4 else SMALL_V6
    if not network.is_leaf or network.size > limit:
        return None
    if registrant and not (operator is not None and operator.kind == "isp"):
        return None
    candidates = [name for name in legal if name != registrant and not _known(known, name)]
    if not candidates or _keyword(evidence, _ACCESS):
        return None
    return candidates[0]


def classify(network: Network, known: tuple[KnownOrganisation, ...] = ()) -> Network:
    """Decide a network's kind and organisation, recording the rule and the signals."""
    if network.kind in KINDS and network.source in LIST_SOURCES:
        return replace(network, rule=network.rule or f"{network.source}-list",
                       signals=(f"{network.source} list says {network.kind}",))
    registrant = network.registrant
    if registrant and (is_registry_handle(registrant) or _PLACEHOLDER.search(registrant)):
        registrant = None  # "ORG-VSA1-AFRINIC", "Private Customer": no organisation's name
    lines = remark_lines(network.remarks)

    def decided(kind: str, rule: str, signal: str, org_name: str | None = registrant) -> Network:
        return replace(network, kind=kind, rule=rule, signals=(signal,), org_name=org_name)

    if _is_registry_block(network, registrant):
        return decided("unknown", "registry-block",
                       f"{network.netname or registrant} ({network.registry_type or 'no status'}) is a registry's "
                       "administrative block, not an organisation's", None)
    # Legal names of businesses: the holder's, and those the descriptions start with.
    legal = [name for name in [legal_name(registrant) if registrant else None] if name] + _legal_lines(lines)
    evidence, holder_words = _evidence(network, registrant, lines, legal)
    operator = _known(known, " ".join(filter(None, [registrant, network.org_handle])) if registrant else None)
    customer = _assigned_customer(network, registrant, operator, legal, evidence, known)
    if customer:
        holder = f"{registrant!r} (a known ISP)" if registrant else "an LIR (no organisation object)"
        return decided("company", "isp-customer-assignment",
                       f"{holder} assigned {network.cidr} ({network.registry_type}) to {customer!r}", customer)
    # Without a named business holding it, a range's netname and remarks may name its operator.
    named = None if registrant and legal_name(registrant) else _known(
        known, " ".join(filter(None, [network.netname, network.remarks])))
    if named and not registrant:
        return decided(named.kind, "known-organisation", f"netname/remarks name a known {named.kind} ({named.note})")
    small = network.size <= (SMALL_V4 if network.is_v4 else SMALL_V6)
    if (network.is_leaf and small and (not registrant or (operator and operator.kind == "isp"))
            and not _keyword(evidence, _ACCESS) and customer_names(network.remarks, known)):
        return decided("unknown", "unconfirmed-name",
                       f"{network.cidr} ({network.registry_type}) is assigned to someone its description names "
                       "without a legal form; only the trade register can confirm who", None)
    if operator:
        return decided(operator.kind, "known-organisation",
                       f"organisation {registrant!r} is a known {operator.kind} ({operator.note})")
    if named:
        return decided(named.kind, "known-organisation", f"netname/remarks name a known {named.kind} ({named.note})")
    found = _keyword(evidence, _ACCESS) or _keyword(evidence, _PUBLIC)
    if found:
        return decided(found[0], "keyword", f"{found[0]} keyword {found[1]!r} in the netname or remarks")
    found = _keyword(holder_words, _ACCESS) or _keyword(holder_words, _PUBLIC)
    if found:  # only the holder's own name says so: the trade register may say otherwise (enrich)
        return decided(found[0], "name-keyword", f"{found[0]} keyword {found[1]!r} in the holder's name")
    large = LARGE_NETWORK_V4 if network.is_v4 else LARGE_NETWORK_V6
    if not network.is_leaf or network.size >= large:
        return decided("isp", "broad-allocation",
                       f"registry status {network.registry_type or '?'}, {network.size:,} addresses: "
                       "an operator's allocation, which may hold assignments")
    name = registrant or (legal[0] if legal else None)
    if name:
        how = "holds" if name == registrant else "(named with its legal form in the description) holds"
        return decided("company", "organisation-entity", f"organisation {name!r} {how} {network.cidr}", name)
    if customer_names(network.remarks, known):
        return decided("unknown", "unconfirmed-name",
                       f"{network.cidr}'s description names no business with a legal form; "
                       "only the trade register can confirm who", None)
    return decided("unknown", "no-organisation", "no organisation named", None)
