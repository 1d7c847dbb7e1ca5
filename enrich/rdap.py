"""RDAP (RFC 9083): fetching with requests, parsing with ipwhois.

The client only fetches: one ``requests.Session`` (keep-alive), connect and
read timeouts, a bounded request rate, 429 honoured with Retry-After, 5xx and
network errors retried a bounded number of times. Parsing is pure:
:func:`parse_rdap` hands the payload to ipwhois (``depth=0``: no entity or
personal-data lookups) and picks the organisation — the entity of vCard kind
``org``, never a ``-MNT`` maintainer that RIPE also lists as registrant.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests
from ipwhois.exceptions import IPDefinedError
from ipwhois.net import Net
from ipwhois.rdap import RDAP

from enrich.errors import PermanentError, RetryableError
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
    """Fetches ``{base_url}/ip/{address}``; follows redirects (the bootstrap answers 302).

    Args:
        base_url: the RDAP base URL (``LEADPIPE_RDAP_URL``).
        min_interval: seconds between two requests to the same host.
        max_attempts: attempts per address for 429/5xx/network errors.
        max_retry_after: a longer Retry-After gives up on this run instead of waiting.
    """

    base_url: str
    user_agent: str = "leadpipe"
    timeout: tuple[float, float] = (5.0, 20.0)
    min_interval: float = 1.0
    max_attempts: int = 4
    backoff: tuple[float, ...] = (1.0, 2.0, 4.0)
    max_retry_after: float = 120.0
    sleep: Callable[[float], None] = time.sleep
    session: requests.Session = field(default_factory=requests.Session)
    requests_sent: int = 0
    _last: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.session.headers.update({"User-Agent": self.user_agent, "Accept": "application/rdap+json"})

    def _pace(self, host: str) -> None:
        wait = self._last.get(host, -1e9) + self.min_interval - time.monotonic()
        if wait > 0:
            self.sleep(wait)
        self._last[host] = time.monotonic()

    def fetch(self, address: str) -> dict | None:
        """The RDAP payload for ``address``; None when the registry has no network (404).

        Raises:
            RetryableError: 429/5xx/timeouts persisted over ``max_attempts``.
            PermanentError: any other refusal, or a body that is not JSON.
        """
        url = f"{self.base_url.rstrip('/')}/ip/{address}"
        host = urlsplit(url).netloc
        for attempt in range(1, self.max_attempts + 1):
            self._pace(host)
            self.requests_sent += 1
            try:
                response = self.session.get(url, timeout=self.timeout, allow_redirects=True)
            except (requests.Timeout, requests.ConnectionError) as exc:
                reason = f"{exc.__class__.__name__}"
                delay = self._delay(attempt)
            else:
                if response.status_code == 404:
                    return None
                if response.ok:
                    try:
                        return response.json()
                    except ValueError:
                        reason, delay = "malformed JSON", self._delay(attempt)
                elif response.status_code == 429:
                    reason = "HTTP 429"
                    delay = _retry_after(response.headers.get("Retry-After"), self._delay(attempt))
                    if delay > self.max_retry_after:
                        raise RetryableError(f"RDAP rate limit for {host}: Retry-After {delay:.0f} s")
                elif response.status_code >= 500:
                    reason, delay = f"HTTP {response.status_code}", self._delay(attempt)
                else:
                    raise PermanentError(f"RDAP {url}: HTTP {response.status_code}")
            if attempt == self.max_attempts:
                raise RetryableError(f"RDAP {url}: {reason} after {attempt} attempts")
            log.info("RDAP %s: %s; retrying in %.1f s", url, reason, delay)
            self.sleep(delay)
        raise AssertionError("unreachable")

    def _delay(self, attempt: int) -> float:
        return self.backoff[min(attempt - 1, len(self.backoff) - 1)]


def _retry_after(value: str | None, default: float) -> float:
    if value is None:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return default
        return max(0.0, moment.timestamp() - time.time())
