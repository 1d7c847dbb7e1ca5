"""POSTing a message to a webhook: timeouts, 429 with Retry-After, 5xx with backoff, nothing else.

A Slack or Teams webhook URL *is* its credential (the token is in the path or the
query), so no text made here names more of it than its origin (``https://hooks.slack.com``):
not messages, not exceptions (only their class names), and not urllib3's debug line,
which quotes the path (:class:`_HideWebhookPaths`). A redirect is followed only to the
same origin, and only as 307/308 (which keep the POST); the answer's body is read no
further than a few hundred bytes, however large or endless it is.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import requests

from enrich.errors import PermanentError, RetryableError
from enrich.http import retry_after

log = logging.getLogger(__name__)

MAX_REDIRECTS = 3
ERROR_BODY_BYTES = 200  # Slack says why in a word ("invalid_blocks"): that much is read, no more


def origin(url: str) -> str:
    """``scheme://host[:port]``: all of a webhook URL that may be shown."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


class _HideWebhookPaths(logging.Filter):
    """urllib3 logs ``"POST /services/T0/B0/token HTTP/1.1" 200`` at DEBUG: the path is replaced."""

    secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if any(secret in text for secret in self.secrets):
            for secret in sorted(self.secrets, key=len, reverse=True):
                text = text.replace(secret, "/***")
            record.msg, record.args = text, None
        return True


_HIDE = _HideWebhookPaths()
logging.getLogger("urllib3.connectionpool").addFilter(_HIDE)


class WebhookRedirected(PermanentError):
    """The webhook answered with a redirect that is not followed (another origin, or not 307/308)."""


@dataclass
class WebhookSender:
    """Send JSON messages to one webhook URL.

    Args:
        url: the real URL (a secret); never shown beyond :func:`origin`.
        timeout: (connect, read) seconds.
        max_attempts: tries per message for 429, 5xx, timeouts and connection errors.
        backoff: seconds before each retry (429 waits for Retry-After instead).
        max_retry_after: a longer Retry-After gives up the message for this run.
    """

    url: str
    user_agent: str = "leadpipe"
    timeout: tuple[float, float] = (5.0, 15.0)
    max_attempts: int = 3
    backoff: tuple[float, ...] = (1.0, 2.0, 4.0)
    max_retry_after: float = 60.0
    sleep: Callable[[float], None] = time.sleep
    session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise PermanentError("the webhook URL is not an http(s) URL")
        if len(parts.path) > 1:  # with its query, and alone (redact_secrets may have rewritten the query)
            _HIDE.secrets.update({parts.path + (f"?{parts.query}" if parts.query else ""), parts.path})
        self.session.headers.update({"User-Agent": self.user_agent, "Content-Type": "application/json"})
        self.session.trust_env = False  # no .netrc credentials or proxy from the environment for a third party

    @property
    def shown(self) -> str:
        return origin(self.url)

    def _post(self, body: bytes, headers: dict) -> tuple[int, str, str | None]:
        """One POST (same-origin 307/308 redirects followed): the status, a short safe reason word and
        the Retry-After header."""
        url = self.url
        for _ in range(MAX_REDIRECTS + 1):
            response = self.session.post(url, data=body, headers=headers, timeout=self.timeout,
                                         allow_redirects=False, stream=True)
            try:
                if response.is_redirect:
                    target = urljoin(url, response.headers.get("Location", ""))
                    if response.status_code not in (307, 308) or origin(target) != origin(self.url):
                        raise WebhookRedirected(f"{self.shown}: HTTP {response.status_code} redirect to "
                                                f"{origin(target)} not followed")
                    url = target
                    continue
                word = _reason(response) if response.status_code >= 400 else ""
                return response.status_code, word, response.headers.get("Retry-After")
            finally:
                response.close()  # the rest of the body is never read
        raise WebhookRedirected(f"{self.shown}: too many redirects")

    def send(self, payload: dict, key: str | None = None) -> int:
        """POST ``payload`` as JSON; ``key`` goes in ``Idempotency-Key`` (a receiver may drop a repeat).

        Returns:
            the attempts it took.

        Raises:
            RetryableError: 429/5xx/timeouts/connection errors persisted over ``max_attempts``,
                or a Retry-After beyond ``max_retry_after``.
            PermanentError: any other answer (400, 403, 404...), or a redirect not followed.
        """
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        headers = {"Idempotency-Key": key} if key else {}
        for attempt in range(1, self.max_attempts + 1):
            delay = self.backoff[min(attempt - 1, len(self.backoff) - 1)] if self.backoff else 0.0
            try:
                status, word, wait = self._post(body, headers)
            except (requests.Timeout, requests.ConnectionError) as exc:
                reason = exc.__class__.__name__  # its text quotes the URL's path: never shown
            except requests.RequestException as exc:
                raise PermanentError(f"{self.shown}: {exc.__class__.__name__}") from None
            else:
                if 200 <= status < 300:
                    return attempt
                reason = f"HTTP {status}" + (f" {word}" if word else "")
                if status == 429:
                    delay = retry_after(wait, delay)
                    if delay > self.max_retry_after:
                        raise RetryableError(f"{self.shown}: rate limited, Retry-After {delay:.0f} s")
                elif status < 500:
                    raise PermanentError(f"{self.shown}: {reason}")
            if attempt == self.max_attempts:
                raise RetryableError(f"{self.shown}: {reason} after {attempt} attempts")
            log.info("webhook %s: %s; retrying in %.1f s", self.shown, reason, delay)
            self.sleep(delay)
        raise AssertionError("unreachable")


_WORD = re.compile(rb"[A-Za-z_]{1,40}")


def _reason(response: requests.Response) -> str:
    """The first few bytes of an error answer, when they are one plain word (Slack's ``invalid_payload``)."""
    try:
        head = next(response.iter_content(ERROR_BODY_BYTES), b"")
    except requests.RequestException:
        return ""
    head = head.strip()
    return head.decode() if _WORD.fullmatch(head) else ""
