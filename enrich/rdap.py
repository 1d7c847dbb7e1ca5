"""RDAP (RFC 9083) and its relation searches (RFC 9910): fetching with requests, parsing with ipwhois.

The client only fetches, through :class:`enrich.http.PoliteClient` (keep-alive,
timeouts, bounded rate, 429 with Retry-After, bounded retries, a breaker per
registry). Parsing is pure: :func:`parse_rdap` hands one network object to
ipwhois (``depth=0``: no entity or personal-data lookups) and picks the
holder — the organisation entity, never a ``-MNT`` maintainer that RIPE also
lists as registrant, and never a bare handle as a name.

Relation searches: ``{base}/ips/rirSearch1/rdap-bottom/{prefix}/{length}``
(or the URL-encoded range handle ``a.b.c.d - e.f.g.h``) answers
``{"ipSearchResults": [network objects]}``: the most specific assignments
inside a range. A registry announces them with ``rirSearch1`` in
``rdapConformance`` or ``rdap-bottom``/``rdap-down`` links on its networks.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from urllib.parse import quote
from urllib.request import build_opener

from ipwhois.exceptions import IPDefinedError
from ipwhois.net import Net
from ipwhois.rdap import RDAP

from enrich.classify import is_registry_handle
from enrich.errors import PermanentError
from enrich.http import PoliteClient
from enrich.matching import legal_name
from enrich.networks import Network
from enrich.redact import mask_addresses

log = logging.getLogger(__name__)

#: What ipwhois wants besides the payload; leadpipe asks no ASN service.
_NO_ASN = {"asn_registry": None, "asn": None, "asn_cidr": None, "asn_country_code": None,
           "asn_date": None, "asn_description": None}
#: ipwhois builds a proxy-aware opener per address unless given one; it never uses it here (the
#: payload is fetched already), so one shared opener saves most of the parsing time.
_UNUSED_OPENER = build_opener()
#: Remarks titled as descriptions (RPSL ``descr``) come first: that is where customers are named.
_DESCRIPTION_TITLES = {"description", "descr", ""}


def _holder(objects: dict, entity_order: list[str]) -> tuple[str | None, str | None]:
    """(name, handle) of the organisation entity that holds the network.

    An entity counts when its vCard kind is ``org`` (or, without a vCard, its
    handle is an ``ORG-…`` object); a registrant beats other roles. An
    organisation whose vCard carries only its handle as a name (AFRINIC) is
    still the holder, with no name. LACNIC files registrant businesses as
    ``individual``: such a registrant counts when its name is a business's
    legal name (never a person's, never a maintainer).
    """
    candidates = []
    for position, handle in enumerate(entity_order):
        entity = objects.get(handle) or {}
        contact = entity.get("contact") or {}
        kind = (contact.get("kind") or "").lower()
        name = (contact.get("name") or "").strip() or None
        roles = entity.get("roles") or []
        if handle.upper().endswith("-MNT") or kind == "group":
            continue
        if kind == "individual" and not ("registrant" in roles and name and legal_name(name)):
            continue
        if kind not in {"org", "individual"} and not handle.upper().startswith("ORG-"):
            continue
        if name and is_registry_handle(name):
            name = None
        rank = 0 if "registrant" in roles else 1
        candidates.append((rank, name is None, position, name, handle))
    if not candidates:
        return None, None
    _, _, _, name, handle = min(candidates)
    return name, handle


def _remarks(network: dict) -> str | None:
    """Every remark line, descriptions first, joined with `` | ``."""
    blocks = sorted(network.get("remarks") or [],
                    key=lambda remark: (remark.get("title") or "").strip().lower() not in _DESCRIPTION_TITLES)
    lines = [line.strip() for remark in blocks for line in (remark.get("description") or "").splitlines()]
    return " | ".join(line for line in lines if line) or None


def serves_relation_search(payload: dict) -> bool:
    """Whether the registry that answered announces RFC 9910 relation searches."""
    if "rirSearch1" in (payload.get("rdapConformance") or []):
        return True
    return any("rdap-bottom" in str(link.get("rel") or "") or "rdap-down" in str(link.get("rel") or "")
               for link in payload.get("links") or [] if isinstance(link, dict))


def registry_base(url: str | None) -> str | None:
    """``https://rdap.db.ripe.net/ip/1.2.3.4`` → ``https://rdap.db.ripe.net``: where the answer came from."""
    if not url or "/ip/" not in url:
        return None
    return url.rsplit("/ip/", 1)[0]


def parse_rdap(payload: dict, address: str, url: str | None = None, parent_id: str | None = None) -> Network:
    """The network an RDAP ``ip network`` object describes.

    Args:
        payload: the object (an ``/ip`` answer, or one element of ``ipSearchResults``).
        address: an address inside it (ipwhois needs one).
        url: the URL that answered, after redirects: the registry's base for relation searches.
        parent_id: the network a relation search listed this one in.

    Raises:
        PermanentError: the payload is not an RDAP network object.
    """
    try:
        parsed = RDAP(Net(address, proxy_opener=_UNUSED_OPENER)).lookup(
            response=payload, root_ent_check=False, depth=0, asn_data=dict(_NO_ASN), bootstrap=True
        )
    except IPDefinedError:
        raise PermanentError(f"{mask_addresses(address)} is not a public address") from None
    except Exception as exc:  # ipwhois raises many types on malformed payloads
        raise PermanentError(f"malformed RDAP response: {exc.__class__.__name__}") from None
    network = parsed.get("network") or {}
    # Old responses write the bounds as "a.b.c.d/32" or "2a00::/128", ARIN's with leading zeros.
    try:
        start, end = (str(ipaddress.ip_address(".".join(p.lstrip("0") or "0" for p in bound.split("."))
                                               if bound.count(".") == 3 else bound))
                      for bound in (str(network.get(key) or "").split("/")[0] for key in ("start_address", "end_address")))
    except ValueError:
        raise PermanentError("RDAP response has no address range") from None
    registrant, org_handle = _holder(parsed.get("objects") or {}, parsed.get("entities") or [])
    base = registry_base(url)
    return Network(
        start_ip=start, end_ip=end, source="rdap", netname=network.get("name"), org_name=registrant,
        registrant=registrant, org_handle=org_handle, country=network.get("country"),
        registry_type=network.get("type"), remarks=_remarks(network),
        handle=payload.get("handle") or network.get("handle"), parent_id=parent_id,
        search_base=base if base and serves_relation_search(payload) else None,
    )


@dataclass(frozen=True)
class SearchAnswer:
    """What a relation search said: the objects inside, or why they are not listed."""

    objects: tuple[dict, ...] = ()
    too_many: bool = False  # HTTP 400 "Too Many Rows", or a truncated result: ask smaller ranges
    unsupported: bool = False  # 404/501 or a refusal: look up addresses one by one instead


def _registry_area(address: str) -> str:
    """The IPv4 /8 or IPv6 /32 an address lies in: IANA hands these to one registry."""
    parsed = ipaddress.ip_address(address)
    return f"v4:{int(parsed) >> 24}" if parsed.version == 4 else f"v6:{int(parsed) >> 96}"


def search_path(start: str, end: str) -> str:
    """``{prefix}/{length}`` for a CIDR block, else the URL-encoded range handle."""
    blocks = list(ipaddress.summarize_address_range(ipaddress.ip_address(start), ipaddress.ip_address(end)))
    if len(blocks) == 1:
        return f"{blocks[0].network_address}/{blocks[0].prefixlen}"
    return quote(f"{start} - {end}", safe="")


def _truncated(body: dict) -> bool:
    """RFC 9083 §9 notices ("result set truncated…") or paging metadata that says more exist."""
    for notice in body.get("notices") or []:
        text = " ".join([str(notice.get("type") or ""), str(notice.get("title") or "")]).lower()
        if "truncated" in text:
            return True
    paging = body.get("paging_metadata") or {}
    total = paging.get("totalCount")
    return isinstance(total, int) and total > len(body.get("ipSearchResults") or [])


@dataclass
class RdapClient:
    """Fetches ``{base_url}/ip/{address}`` (redirects followed: the bootstrap answers 302) and relation searches."""

    base_url: str
    user_agent: str = "leadpipe"
    min_interval: float = 1.0
    http: PoliteClient | None = None

    def __post_init__(self) -> None:
        if self.http is None:
            self.http = PoliteClient(user_agent=self.user_agent, accept="application/rdap+json",
                                     min_interval=self.min_interval)
        self._registries: dict[str, str] = {}

    @property
    def requests_sent(self) -> int:
        return self.http.requests_sent

    def fetch(self, address: str) -> tuple[dict, str] | None:
        """(payload, the URL that answered) for ``address``; None when the registry has no network (404).

        The bootstrap redirects each address to its registry; the registry a
        range of addresses (an IPv4 /8, an IPv6 /32) went to is remembered, so
        later addresses there go to it directly: half the requests, and a
        registry that stopped answering is skipped without asking anyone.
        """
        area = _registry_area(address)
        learned = self._registries.get(area)
        try:
            answer = self.http.fetch(f"{(learned or self.base_url).rstrip('/')}/ip/{address}")
            if answer.status == 404 and learned:  # not that registry's after all: ask the bootstrap
                answer = self.http.fetch(f"{self.base_url.rstrip('/')}/ip/{address}")
        finally:
            base = registry_base(self.http.last_url)
            if base and base != self.base_url.rstrip("/"):
                self._registries[area] = base
        if answer.status == 404:
            return None
        if answer.status != 200 or not isinstance(answer.body, dict):
            raise PermanentError(f"RDAP lookup refused: HTTP {answer.status}")
        return answer.body, answer.url

    def parent(self, base: str, start: str, end: str) -> dict | None:
        """The network holding ``start``..``end`` one level up (``rdap-up``); None if none or not served."""
        answer = self.http.fetch(f"{base.rstrip('/')}/ips/rirSearch1/rdap-up/{search_path(start, end)}")
        return answer.body if answer.status == 200 and isinstance(answer.body, dict) else None

    def search(self, base: str, start: str, end: str) -> SearchAnswer:
        """The assignments inside ``start``..``end`` (``rdap-bottom``) at the registry ``base``."""
        answer = self.http.fetch(f"{base.rstrip('/')}/ips/rirSearch1/rdap-bottom/{search_path(start, end)}")
        body = answer.body if isinstance(answer.body, dict) else {}
        if answer.status == 400 and "too many" in " ".join(
                str(body.get(key) or "") for key in ("title", "description", "message")).lower():
            return SearchAnswer(too_many=True)
        if answer.status != 200:
            return SearchAnswer(unsupported=True)
        objects = body.get("ipSearchResults")
        if not isinstance(objects, list):
            return SearchAnswer(unsupported=True)
        if _truncated(body):
            return SearchAnswer(too_many=True)
        return SearchAnswer(objects=tuple(o for o in objects if isinstance(o, dict)))
