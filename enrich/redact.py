"""Keeping personal data out of texts that leave the pipeline's tables: log lines and error messages.

A client address is personal data. Messages about registry lookups name
URLs that contain one (``…/ip/185.213.44.10``), so every such text passes
through :func:`mask_addresses` before it is logged or raised.
"""

from __future__ import annotations

import logging
import re

# Glued to letters, slashes or ports too ("ip/1.2.3.4", "x1.2.3.4:80"); digits around an
# IPv4 address would make it another token, so those are left alone.
_V4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.]*\d)")
# An IPv6 address: hex groups and colons with a "::" or at least five colons (times such as
# 10:00:00 have two), possibly ending in an embedded IPv4 address ("::ffff:1.2.3.4").
_V6 = re.compile(r"(?<![0-9A-Fa-f:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){1,7}(?::(?:\d{1,3}\.){3}\d{1,3})?"
                 r"(?![0-9A-Fa-f:]|\.\d)")
MASK_V4 = "x.x.x.x"
MASK_V6 = "x:x::x"


def mask_addresses(text: str) -> str:
    """``"…/ip/185.213.44.10 timed out"`` → ``"…/ip/x.x.x.x timed out"``; IPv6 likewise."""
    def v6(match: re.Match[str]) -> str:
        token = match.group(0)
        return MASK_V6 if "::" in token or token.count(":") >= 5 else token

    return _V4.sub(MASK_V4, _V6.sub(v6, text))


# Credentials in URLs: the operator's --logs/--leadfeeder URLs may carry ``user:pass@`` or a
# signed or tokened query (``?token=``, ``sig=``, ``X-Amz-Signature=``...). Which query values are
# secret cannot be known, so every value goes (names stay, to say which URL it was), and so does
# every fragment value (OAuth puts ``#access_token=`` there).
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/?#@]*(?:@[^\s/?#@]*)*@")
# A URL, or the path-and-query urllib3 puts in its messages ("url: /a.gz?sig=abc"), up to a space,
# a quote or a bracket; only its query and fragment are rewritten.
_URL = re.compile(r"(?i)(?:\b[a-z][a-z0-9+.-]*://|(?<![\w.~-])/)[^\s'\"<>()]*?([?#][^\s'\"<>()]*)")
REDACTED = "***"


def _params(text: str) -> str:
    """``a=1&b`` → ``a=***&***``."""
    return "&".join(part.split("=", 1)[0] + "=" + REDACTED if "=" in part else REDACTED if part else ""
                    for part in text.split("&"))


def _query_and_fragment(match: re.Match[str]) -> str:
    head, tail = match.group(0)[: match.start(1) - match.start(0)], match.group(1)
    query, hash_, fragment = tail.partition("#")
    if query.startswith("?"):
        query = "?" + _params(query[1:])
    return head + query + (hash_ + _params(fragment) if hash_ and fragment else hash_)


def redact_secrets(text: str) -> str:
    """Every URL credential in ``text`` replaced by ``***``: userinfo, query and fragment values.

    ``"cannot fetch https://u:p@host/a.gz?token=abc"`` → ``"cannot fetch https://***@host/a.gz?token=***"``;
    also the bare path-and-query that urllib3 puts in its messages (``url: /a.gz?sig=abc``).
    """
    return _URL.sub(_query_and_fragment, _USERINFO.sub(lambda m: m.group(1) + REDACTED + "@", text))


def redact_url(url: str) -> str:
    """One URL as it may be shown, logged or stored (see :func:`redact_secrets`)."""
    return redact_secrets(url)


class SecretURL(str):
    """A URL whose text is its redacted form; only :meth:`reveal` gives the one to request.

    Locations travel far: into ``rejects.source``, ``company_sources.file``, log lines,
    progress bars and error messages. As this string *is* the redacted text, each of
    those gets no credential without having to remember to redact; only the download
    asks for the real URL. Anything derived from it (``+``, ``format``) is redacted too.
    """

    def __new__(cls, url: str) -> SecretURL:
        real = reveal(url)
        shown = super().__new__(cls, redact_url(real))
        shown._real = real
        return shown

    def reveal(self) -> str:
        return self._real


def reveal(url: str) -> str:
    """The URL to request: a :class:`SecretURL`'s real one, any other string as it is."""
    return url.reveal() if isinstance(url, SecretURL) else str(url)


class SafeLogMessages(logging.Filter):
    """A log record's text with URL credentials and query values redacted and client addresses masked.

    On a handler it covers every record the handler prints; on the logger that creates records
    (``urllib3.connectionpool``, which logs each request's path and query at DEBUG) it covers them
    wherever they go, whoever configured logging.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact_secrets(mask_addresses(record.getMessage())), None
        return True


# urllib3 logs "GET /logs/access.log?token=… HTTP/1.1" at DEBUG: redacted where it is made.
logging.getLogger("urllib3.connectionpool").addFilter(SafeLogMessages())
