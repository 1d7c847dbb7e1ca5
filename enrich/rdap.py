"""RDAP (RFC 9083): fetching with requests, parsing with ipwhois.

The client only fetches, through :class:`enrich.http.PoliteClient` (keep-alive,
timeouts, bounded rate, 429 with Retry-After, bounded retries). Parsing is pure:
:func:`parse_rdap` hands the payload to ipwhois (``depth=0``: no entity or
personal-data lookups) and picks the organisation — the entity of vCard kind
``org``, never a ``-MNT`` maintainer that RIPE also lists as registrant.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ipwhois.exceptions import IPDefinedError
from ipwhois.net import Net
from ipwhois.rdap import RDAP

from enrich.errors import PermanentError
from enrich.http import PoliteClient
from enrich.networks import Network

log = logging.getLogger(__name__)

#: What ipwhois wants besides the payload; leadpipe asks no ASN service.
_NO_ASN = {"asn_registry": None, "asn": None, "asn_cidr": None, "asn_country_code": None,
           "asn_date": None, "asn_description": None}


def _org_entity(objects: dict, entity_order: list[str]) -> tuple[str | None, str | None]:
    """(name, handle) of the organisation entity, or (None, None)."""
    candidates = []
    for handle in entity_order:
        entity = objects.get(handle) or {}
        contact = entity.get("contact") or {}
        if handle.upper().endswith("-MNT") or (contact.get("kind") or "").lower() != "org":
            continue
        roles = entity.get("roles") or []
        rank = 0 if "registrant" in roles else 1
        candidates.append((rank, contact.get("name"), handle))
    candidates.sort(key=lambda item: item[0])
    for _, name, handle in candidates:
        if name:
            return name.strip(), handle
    return None, None


def parse_rdap(payload: dict, address: str) -> Network:
    """The network an RDAP ``ip`` response describes.

    Raises:
        PermanentError: the payload is not an RDAP network object.
    """
    try:
        parsed = RDAP(Net(address)).lookup(
            response=payload, root_ent_check=False, depth=0, asn_data=dict(_NO_ASN), bootstrap=True
        )
    except IPDefinedError as exc:
        raise PermanentError(f"{address} is not a public address: {exc}") from None
    except Exception as exc:  # ipwhois raises many types on malformed payloads
        raise PermanentError(f"malformed RDAP response for {address}: {exc.__class__.__name__}: {exc}") from None
    network = parsed.get("network") or {}
    # Old responses write the bounds as "a.b.c.d/32" or "2a00::/128".
    start, end = (str(network.get(key) or "").split("/")[0] or None for key in ("start_address", "end_address"))
    if not start or not end:
        raise PermanentError(f"RDAP response for {address} has no address range")
    org_name, org_handle = _org_entity(parsed.get("objects") or {}, parsed.get("entities") or [])
    remarks = " | ".join(
        (remark.get("description") or "").replace("\n", " ") for remark in (network.get("remarks") or [])
    ) or None
    return Network(
        start_ip=start, end_ip=end, source="rdap", netname=network.get("name"), org_name=org_name,
        org_handle=org_handle, country=network.get("country"), registry_type=network.get("type"),
        remarks=remarks, handle=payload.get("handle") or network.get("handle"),
    )


@dataclass
class RdapClient:
    """Fetches ``{base_url}/ip/{address}``; follows redirects (the bootstrap answers 302)."""

    base_url: str
    user_agent: str = "leadpipe"
    min_interval: float = 1.0
    http: PoliteClient | None = None

    def __post_init__(self) -> None:
        if self.http is None:
            self.http = PoliteClient(user_agent=self.user_agent, accept="application/rdap+json",
                                     min_interval=self.min_interval)

    @property
    def requests_sent(self) -> int:
        return self.http.requests_sent

    def fetch(self, address: str) -> dict | None:
        """The RDAP payload for ``address``; None when the registry has no network (404)."""
        return self.http.get_json(f"{self.base_url.rstrip('/')}/ip/{address}")
