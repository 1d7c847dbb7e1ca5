"""A polite HTTP client for the public registries (RDAP, YTJ): fetching only, no parsing.

One ``requests.Session`` (keep-alive), connect and read timeouts, a
User-Agent naming leadpipe, a minimum interval between requests to one host,
HTTP 429 honoured with Retry-After, and 5xx, timeouts, connection errors and
malformed JSON retried a bounded number of times with backoff. Redirects
(the RDAP bootstrap answers 302) are followed here, hop by hop, so that a
registry that stopped answering is known by its own name: after a few
consecutive connection failures or timeouts, a host is not asked again in
this run (:class:`RegistryUnavailable`), and the caller queues the rest.

Every message names URLs with their client addresses masked.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import requests

from enrich.errors import PermanentError, RetryableError
from enrich.redact import mask_addresses

log = logging.getLogger(__name__)

#: Statuses that are answers, not failures: the caller decides what they mean.
ANSWERS = frozenset({200, 400, 404, 422, 501})
MAX_REDIRECTS = 5


class RegistryUnavailable(RetryableError):
    """A host failed too many times in a row in this run: not asked again until the next one."""


class BudgetSpent(RetryableError):
    """The run's request budget is spent: what is left waits for the next run."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: object  # parsed JSON, or None
    url: str  # the URL that answered, after redirects


@dataclass
class PoliteClient:
    """GET JSON with bounded rate, bounded retries and a breaker per host.

    Args:
        user_agent: names the project and its version.
        min_interval: seconds between two requests to the same host.
        max_attempts: attempts per request for 429/5xx/network errors/bad JSON.
        max_retry_after: a longer Retry-After gives up for this run instead of waiting.
        max_consecutive_failures: connection failures or timeouts in a row after which a host
            is given up for the run.
        max_body_bytes: a larger answer is refused (RIPE's 10,000-row searches are about 30 MB).
        max_read_seconds: however slowly a server trickles its answer, reading stops after this.
        max_requests: requests this client may send in all (None: no limit).
        sleep: injectable for tests.
    """

    user_agent: str = "leadpipe"
    accept: str = "application/json"
    timeout: tuple[float, float] = (5.0, 20.0)
    min_interval: float = 1.0
    max_attempts: int = 4
    backoff: tuple[float, ...] = (1.0, 2.0, 4.0)
    max_retry_after: float = 120.0
    max_consecutive_failures: int = 3
    max_body_bytes: int = 64 << 20
    max_read_seconds: float = 120.0
    max_requests: int | None = None  # the run's budget, retries and redirect hops included
    last_url: str | None = None  # the last URL asked, after redirects: which server answered (or failed)
    sleep: Callable[[float], None] = time.sleep
    session: requests.Session = field(default_factory=requests.Session)
    requests_sent: int = 0
    _last: dict[str, float] = field(default_factory=dict)
    _failures: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.session.headers.update({"User-Agent": self.user_agent, "Accept": self.accept})

    @property
    def unavailable(self) -> set[str]:
        """Hosts given up for this run."""
        return {host for host, n in self._failures.items() if n >= self.max_consecutive_failures}

    def _pace(self, host: str) -> None:
        wait = self._last.get(host, -1e9) + self.min_interval - time.monotonic()
        if wait > 0:
            self.sleep(wait)
        self._last[host] = time.monotonic()

    def _get(self, url: str, params: dict | None) -> requests.Response:
        """One request, following redirects hop by hop (each hop paced and guarded by its host's breaker).

        A hop goes only where :func:`redirect_allowed` says, judged against the URL first asked.
        """
        first = url
        for hop in range(MAX_REDIRECTS + 1):
            if hop and not redirect_allowed(first, url):
                raise PermanentError(f"redirect to {mask_addresses(_origin(url))} refused: not a registry")
            parts = urlsplit(url)
            if parts.scheme not in {"http", "https"}:
                raise PermanentError(f"not an HTTP URL: {mask_addresses(url)}")
            host = parts.netloc
            if host in self.unavailable:
                raise RegistryUnavailable(f"{host} gave up answering in this run")
            if self.max_requests is not None and self.requests_sent >= self.max_requests:
                raise BudgetSpent(f"the budget of {self.max_requests} requests is spent")
            self._pace(host)
            self.requests_sent += 1
            self.last_url = url
            try:
                response = self.session.get(url, params=params, timeout=self.timeout, allow_redirects=False,
                                            stream=True)
                if not response.is_redirect:
                    _read_bounded(response, self.max_body_bytes, self.max_read_seconds)
            except (requests.Timeout, requests.ConnectionError):
                self._failures[host] = self._failures.get(host, 0) + 1
                raise
            self._failures[host] = 0
            if response.is_redirect and response.headers.get("Location"):
                url, params = urljoin(response.url, response.headers["Location"]), None
                response.close()
                continue
            return response
        raise PermanentError(f"too many redirects from {mask_addresses(url)}")

    def fetch(self, url: str, params: dict | None = None) -> Answer:
        """The answer to GET ``url``: 200 with its JSON, or one of the other :data:`ANSWERS`.

        Raises:
            RegistryUnavailable: the host is given up for this run.
            RetryableError: 429/5xx/timeouts/bad JSON persisted over ``max_attempts``,
                or a Retry-After beyond ``max_retry_after``.
            PermanentError: any other refusal (401, 403...).
        """
        shown = mask_addresses(url)
        for attempt in range(1, self.max_attempts + 1):
            delay = self.backoff[min(attempt - 1, len(self.backoff) - 1)]
            try:
                response = self._get(url, params)
            except (requests.Timeout, requests.ConnectionError) as exc:
                reason = exc.__class__.__name__
                if (_host_of(exc) or urlsplit(url).netloc) in self.unavailable:
                    raise RegistryUnavailable(f"{shown}: {reason}; registry given up for this run") from None
            except requests.RequestException as exc:  # a bad encoding, an invalid URL in a redirect...
                raise PermanentError(f"{shown}: {exc.__class__.__name__}") from None
            else:
                if response.status_code in ANSWERS:
                    try:
                        return Answer(response.status_code, response.json(), response.url)
                    except RecursionError:  # nested beyond reason: asking again changes nothing
                        raise PermanentError(f"{shown}: an answer nested too deeply") from None
                    except ValueError:
                        if response.status_code != 200:
                            return Answer(response.status_code, None, response.url)
                    reason = "malformed JSON"
                elif response.status_code == 429:
                    reason = "HTTP 429"
                    delay = retry_after(response.headers.get("Retry-After"), delay)
                    if delay > self.max_retry_after:
                        raise RetryableError(f"rate limited by {urlsplit(url).netloc}: Retry-After {delay:.0f} s")
                elif response.status_code >= 500:
                    reason = f"HTTP {response.status_code}"
                else:
                    raise PermanentError(f"{shown}: HTTP {response.status_code}")
            if attempt == self.max_attempts:
                raise RetryableError(f"{shown}: {reason} after {attempt} attempts")
            log.info("%s: %s; retrying in %.1f s", shown, reason, delay)
            self.sleep(delay)
        raise AssertionError("unreachable")

    def get_json(self, url: str, params: dict | None = None) -> dict | None:
        """The JSON body of ``url``; None for HTTP 404.

        Raises:
            RetryableError, PermanentError: as :meth:`fetch`; any answer but 200 and 404 is permanent.
        """
        answer = self.fetch(url, params)
        if answer.status == 404:
            return None
        if answer.status != 200:
            raise PermanentError(f"{mask_addresses(url)}: HTTP {answer.status}")
        return answer.body


#: Where the registries answer: RDAP (the RIRs' servers, IANA's bootstrap) and the Finnish trade
#: register (PRH). A redirect may lead to these hosts or their subdomains, over https only.
REGISTRY_DOMAINS = ("arin.net", "ripe.net", "apnic.net", "lacnic.net", "afrinic.net", "iana.org", "prh.fi")


def redirect_allowed(first: str, target: str) -> bool:
    """Whether a registry's redirect from a request for ``first`` may be followed to ``target``.

    A redirect is the answering server's word, not the operator's: it may point at
    ``file://``, a cloud's metadata address or an internal service. Followed are https
    redirects to a registry's host (:data:`REGISTRY_DOMAINS`) and redirects to the host
    first asked (the configured base); to loopback only when that host is itself loopback
    (local test registries). Never to a private, link-local or reserved address.
    """
    base, hop = urlsplit(first), urlsplit(target)
    if hop.scheme not in {"http", "https"} or not hop.hostname:
        return False
    if hop.hostname == base.hostname:
        return True
    if _is_loopback(base.hostname) and _is_loopback(hop.hostname):
        return True
    if hop.scheme != "https" or _ip(hop.hostname) is not None:
        return False
    return any(hop.hostname == domain or hop.hostname.endswith("." + domain) for domain in REGISTRY_DOMAINS)


def _ip(host: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host or "")
    except ValueError:
        return None


def _is_loopback(host: str | None) -> bool:
    address = _ip(host)
    return host == "localhost" or (address is not None and address.is_loopback)


def _origin(url: str) -> str:
    """``scheme://host[:port]`` of a URL: where it leads, without a path that may carry an address."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def _read_bounded(response: requests.Response, max_bytes: int, max_seconds: float) -> None:
    """Read the body now, refusing one that is too large or that never ends.

    Raises:
        PermanentError: more than ``max_bytes``.
        requests.Timeout: still arriving after ``max_seconds``.
    """
    deadline = time.monotonic() + max_seconds
    chunks, size = [], 0
    try:
        for chunk in response.iter_content(1 << 16):
            chunks.append(chunk)
            size += len(chunk)
            if size > max_bytes:
                raise PermanentError(f"an answer larger than {max_bytes:,} bytes was refused")
            if time.monotonic() > deadline:
                raise requests.Timeout(f"answer still arriving after {max_seconds:.0f} s", request=response.request)
    except requests.exceptions.ChunkedEncodingError as exc:
        raise requests.ConnectionError(str(exc), request=response.request) from None
    finally:
        response.close()
    response._content = b"".join(chunks)  # what .json() and .text read


def _host_of(exc: requests.RequestException) -> str | None:
    request = getattr(exc, "request", None)
    return urlsplit(request.url).netloc if request is not None and request.url else None


def retry_after(value: str | None, default: float) -> float:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date)."""
    if value is None:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return default
        return max(0.0, moment.timestamp() - time.time())
