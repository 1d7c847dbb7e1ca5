"""A polite HTTP client for the public registries (RDAP, YTJ): fetching only, no parsing.

One ``requests.Session`` (keep-alive), connect and read timeouts, a
User-Agent naming leadpipe, a minimum interval between requests to one host,
HTTP 429 honoured with Retry-After, and 5xx, timeouts, connection errors and
malformed JSON retried a bounded number of times with backoff.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import requests

from enrich.errors import PermanentError, RetryableError

log = logging.getLogger(__name__)


@dataclass
class PoliteClient:
    """GET JSON with bounded rate and bounded retries.

    Args:
        user_agent: names the project and its version.
        min_interval: seconds between two requests to the same host.
        max_attempts: attempts per request for 429/5xx/network errors/bad JSON.
        max_retry_after: a longer Retry-After gives up for this run instead of waiting.
        sleep: injectable for tests.
    """

    user_agent: str = "leadpipe"
    accept: str = "application/json"
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
        self.session.headers.update({"User-Agent": self.user_agent, "Accept": self.accept})

    def _pace(self, host: str) -> None:
        wait = self._last.get(host, -1e9) + self.min_interval - time.monotonic()
        if wait > 0:
            self.sleep(wait)
        self._last[host] = time.monotonic()

    def get_json(self, url: str, params: dict | None = None) -> dict | None:
        """The JSON body of ``url``; None for HTTP 404.

        Raises:
            RetryableError: 429/5xx/timeouts/bad JSON persisted over ``max_attempts``,
                or a Retry-After beyond ``max_retry_after``.
            PermanentError: any other refusal (400, 401, 403...).
        """
        host = urlsplit(url).netloc
        for attempt in range(1, self.max_attempts + 1):
            self._pace(host)
            self.requests_sent += 1
            delay = self.backoff[min(attempt - 1, len(self.backoff) - 1)]
            try:
                response = self.session.get(url, params=params, timeout=self.timeout, allow_redirects=True)
            except (requests.Timeout, requests.ConnectionError) as exc:
                reason = exc.__class__.__name__
            else:
                if response.status_code == 404:
                    return None
                if response.ok:
                    try:
                        return response.json()
                    except ValueError:
                        reason = "malformed JSON"
                elif response.status_code == 429:
                    reason = "HTTP 429"
                    delay = retry_after(response.headers.get("Retry-After"), delay)
                    if delay > self.max_retry_after:
                        raise RetryableError(f"rate limited by {host}: Retry-After {delay:.0f} s")
                elif response.status_code >= 500:
                    reason = f"HTTP {response.status_code}"
                else:
                    raise PermanentError(f"{url}: HTTP {response.status_code}")
            if attempt == self.max_attempts:
                raise RetryableError(f"{url}: {reason} after {attempt} attempts")
            log.info("%s: %s; retrying in %.1f s", url, reason, delay)
            self.sleep(delay)
        raise AssertionError("unreachable")


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
