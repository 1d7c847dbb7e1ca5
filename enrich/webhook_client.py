"""POSTing a message to a webhook: timeouts, 429 with Retry-After, 5xx with backoff, nothing else.

A Slack or Teams webhook URL *is* its credential (the token is in the path or the
query), so no text made here names more of it than its origin (``https://hooks.slack.com``):
not messages, not exceptions (only their class names), and not urllib3's debug line,
which quotes the path (:class:`_HideWebhookPaths`). A redirect is followed only to the
same origin, and only as 307/308 (which keep the POST); the answer's body is read no
further than a few hundred bytes, however large or endless it is. A POST has a deadline however
slowly the server trickles its status line, headers or body (``requests``' read timeout is per
socket read): a watchdog shuts the connection's socket down when it passes (``enrich/deadline.py``).
A URL that does not parse is refused in one fixed line (:class:`WebhookURLInvalid`).

What failed decides what the caller does: :class:`RetryableError` (429, 5xx, timeouts, connection
errors) and :class:`WebhookRefused` (401, 403, 404, 410, a redirect not followed: the webhook refuses
every message) are about the webhook; any other :class:`PermanentError` (400, 413, 422...) is about
the one message, which the webhook will refuse however often it is sent.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from enrich.deadline import SocketDeadline
from enrich.errors import PermanentError, RetryableError
from enrich.http import retry_after

log = logging.getLogger(__name__)

MAX_REDIRECTS = 3
ERROR_BODY_BYTES = 200  # Slack says why in a word ("invalid_blocks"): that much is read, no more
DEADLINE_FACTOR = 2.0  # a POST's deadline: twice the read timeout, however the answer trickles


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


class WebhookRefused(PermanentError):
    """The webhook refuses any message (revoked, deleted, archived, moved), not just this one."""


#: Answers about the webhook itself (Slack: 403 invalid_token, 404 no_service, 410 channel_is_archived).
REFUSING = frozenset({401, 403, 404, 410})


class WebhookRedirected(WebhookRefused):
    """The webhook answered with a redirect that is not followed (another origin, or not 307/308)."""


class WebhookURLInvalid(WebhookRefused):
    """The webhook URL does not parse as an http(s) URL (its text, a credential, is never quoted)."""


#: The POSTing thread's deadline, which its connections' sockets register with.
_current = threading.local()


def _watch(sock: socket.socket | None) -> None:
    deadline = getattr(_current, "value", None)
    if deadline is not None:
        deadline.watch(sock)


class _Watched:
    """A urllib3 connection whose socket (new, or kept alive) is registered with the thread's deadline."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()  # type: ignore[misc]
        _watch(sock)  # before TLS: the handshake is bounded too
        return sock

    def request(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        _watch(self.sock)  # type: ignore[attr-defined]
        return super().request(*args, **kwargs)  # type: ignore[misc]


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _DeadlineAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


class _TooLate(requests.Timeout):
    """The deadline passed: whatever was read (a status, some headers) is not an answer."""


@dataclass
class WebhookSender:
    """Send JSON messages to one webhook URL.

    Args:
        url: the real URL (a secret); never shown beyond :func:`origin`.
        timeout: (connect, read) seconds.
        max_attempts: tries per message for 429, 5xx, timeouts and connection errors.
        backoff: seconds before each retry (429 waits for Retry-After instead).
        max_retry_after: a longer Retry-After gives up the message for this run.
        deadline: seconds a POST may take in all, however slowly the answer arrives
            (default: :data:`DEADLINE_FACTOR` times the read timeout).
    """

    url: str
    user_agent: str = "leadpipe"
    timeout: tuple[float, float] = (5.0, 15.0)
    max_attempts: int = 3
    backoff: tuple[float, ...] = (1.0, 2.0, 4.0)
    max_retry_after: float = 60.0
    deadline: float | None = None
    sleep: Callable[[float], None] = time.sleep
    session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        try:
            parts = urlsplit(self.url)
            valid = parts.scheme in {"http", "https"} and bool(parts.hostname) and parts.port != 0
        except ValueError:  # "Invalid IPv6 URL", a port out of range or not a number
            valid = False
        if not valid or any(c.isspace() or not c.isprintable() for c in self.url):
            raise WebhookURLInvalid("the webhook URL is not a valid http(s) URL")
        if self.deadline is None:
            self.deadline = DEADLINE_FACTOR * self.timeout[1]
        if len(parts.path) > 1:  # with its query, and alone (redact_secrets may have rewritten the query)
            _HIDE.secrets.update({parts.path + (f"?{parts.query}" if parts.query else ""), parts.path})
        self.session.headers.update({"User-Agent": self.user_agent, "Content-Type": "application/json"})
        self.session.trust_env = False  # no .netrc credentials or proxy from the environment for a third party
        adapter = _DeadlineAdapter(max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    @property
    def shown(self) -> str:
        return origin(self.url)

    def _post(self, body: bytes, headers: dict, deadline: SocketDeadline) -> tuple[int, str, str | None]:
        """One POST (same-origin 307/308 redirects followed) within ``deadline``: the status, a short
        safe reason word and the Retry-After header.

        Raises:
            _TooLate: the deadline passed (what was read by then is not an answer).
        """
        url = self.url
        for _ in range(MAX_REDIRECTS + 1):
            try:
                response = self.session.post(url, data=body, headers=headers, timeout=self.timeout,
                                             allow_redirects=False, stream=True)
            except ValueError:  # requests parses a redirect's Location even when not following it
                raise WebhookRedirected(f"{self.shown}: redirect to an invalid URL not followed") from None
            try:
                if deadline.fired:
                    raise _TooLate()
                if response.is_redirect:
                    target = _redirect(url, response.headers.get("Location", ""))
                    if target is None:
                        raise WebhookRedirected(f"{self.shown}: redirect to an invalid URL not followed")
                    if response.status_code not in (307, 308) or origin(target) != origin(self.url):
                        raise WebhookRedirected(f"{self.shown}: HTTP {response.status_code} redirect to "
                                                f"{origin(target)} not followed")
                    url = target
                    continue
                word = _reason(response) if response.status_code >= 400 else ""
                if deadline.fired:
                    raise _TooLate()
                return response.status_code, word, response.headers.get("Retry-After")
            finally:
                response.close()  # the rest of the body is never read
        raise WebhookRedirected(f"{self.shown}: too many redirects")

    def send(self, payload: dict, key: str | None = None) -> int:
        """POST ``payload`` as JSON; ``key`` goes in ``Idempotency-Key`` (a receiver may drop a repeat).

        Returns:
            the attempts it took.

        Raises:
            RetryableError: 429/5xx/timeouts/connection errors/answers past the deadline persisted
                over ``max_attempts``, or a Retry-After beyond ``max_retry_after``.
            WebhookRefused: 401, 403, 404 or 410, or a redirect not followed: the webhook refuses any message.
            PermanentError: any other answer (400, 413, 422...): this message is refused.
        """
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        headers = {"Idempotency-Key": key} if key else {}
        for attempt in range(1, self.max_attempts + 1):
            delay = self.backoff[min(attempt - 1, len(self.backoff) - 1)] if self.backoff else 0.0
            deadline = SocketDeadline(self.deadline)
            try:
                with deadline:
                    _current.value = deadline
                    try:
                        status, word, wait = self._post(body, headers, deadline)
                    finally:
                        _current.value = None
            except requests.RequestException as exc:
                if deadline.fired:  # whatever broke, it broke because the watchdog shut the socket
                    reason = f"no answer within {self.deadline:g} s"
                elif isinstance(exc, (requests.Timeout, requests.ConnectionError)):
                    reason = exc.__class__.__name__  # its text quotes the URL's path: never shown
                else:
                    raise WebhookRefused(f"{self.shown}: {exc.__class__.__name__}") from None
            else:
                if 200 <= status < 300:
                    return attempt
                reason = f"HTTP {status}" + (f" {word}" if word else "")
                if status == 429:
                    delay = retry_after(wait, delay)
                    if delay > self.max_retry_after:
                        raise RetryableError(f"{self.shown}: rate limited, Retry-After {delay:.0f} s")
                elif status < 500:
                    raise (WebhookRefused if status in REFUSING else PermanentError)(f"{self.shown}: {reason}")
            if attempt == self.max_attempts:
                raise RetryableError(f"{self.shown}: {reason} after {attempt} attempts")
            log.info("webhook %s: %s; retrying in %.1f s", self.shown, reason, delay)
            self.sleep(delay)
        raise AssertionError("unreachable")


_WORD = re.compile(rb"[A-Za-z_]{1,40}")


def _redirect(url: str, location: str) -> str | None:
    """Where a redirect leads; None for a Location that does not parse (or its port)."""
    try:
        target = urljoin(url, location)
        urlsplit(target).port
    except ValueError:
        return None
    return target


def _reason(response: requests.Response) -> str:
    """The first few bytes of an error answer, when they are one plain word (Slack's ``invalid_payload``)."""
    try:
        head = next(response.iter_content(ERROR_BODY_BYTES), b"")
    except requests.RequestException:
        return ""
    head = head.strip()
    return head.decode() if _WORD.fullmatch(head) else ""
