"""Remote inputs as local files: a run's downloads, and the date templates in their names.

Logs and exports may be URLs (``https://web/logs/access.log-{yesterday:%Y%m%d}.gz``).
A run fetches each into its private scratch folder (0600) within a deadline
and a size cap; ``--offline`` refuses every URL, decided once per run.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import requests

from enrich.errors import ConfigError, InputError
from enrich.redact import redact_secrets, redact_url, reveal
from enrich.weblogs import MAX_FILE_BYTES, LogSource


def expand_templates(patterns: tuple[str, ...] | list[str], today: date) -> list[str]:
    """Fill ``{yesterday:%Y%m%d}`` / ``{today:...}`` in paths and URLs (yesterday's rotated file).

    Raises:
        ConfigError: a template that is not a date format.
    """
    values = {"today": today, "yesterday": today - timedelta(days=1)}
    out = []
    for pattern in patterns:
        if "{today" in pattern or "{yesterday" in pattern:
            try:
                pattern = pattern.format_map(values)
            except (KeyError, ValueError, IndexError) as exc:
                raise ConfigError(f"bad date template in {pattern!r}: {exc}") from None
        out.append(pattern)
    return out


@dataclass(frozen=True)
class Downloads:
    """Where a run's inputs come from: local paths as they are, URLs fetched into ``scratch``.

    Credentials come from the environment only: the web server's (``auth``,
    ``token``) for log URLs, or headers given by the caller instead — never one
    host's credentials sent to another. ``offline`` refuses every URL.
    """

    scratch: Path
    user_agent: str
    auth: tuple[str, str] | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    offline: bool = False

    def local_file(self, location: str, is_url: bool, name: str, headers: dict | None = None) -> Path:
        """A path to read ``location`` from: itself, or its download into the scratch folder as ``name``.

        Raises:
            ConfigError: a URL under ``--offline``.
            InputError: the download failed (one line).
        """
        if not is_url:
            return Path(location)
        if self.offline:
            raise ConfigError(f"--offline: not fetching {redact_url(location)}")
        with requests.Session() as session:
            session.headers["User-Agent"] = self.user_agent
            target = self.scratch / name
            if headers is not None:
                return download(location, target, session, headers=headers)
            return download(location, target, session, auth=self.auth, token=self.token)

    def log_files(self, sources: list[LogSource]) -> list[tuple[LogSource, Path]]:
        """Local files for every log source."""
        return [(source, self.local_file(source.location, source.is_url, f"log-{index}"))
                for index, source in enumerate(sources)]


def download(
    url: str,
    target: Path,
    session: requests.Session,
    *,
    auth: tuple[str, str] | None = None,
    token: str | None = None,
    headers: dict | None = None,
    timeout: tuple[float, float] = (10, 120),
    deadline_seconds: float = 3600.0,
    max_bytes: int = MAX_FILE_BYTES,
) -> Path:
    """Fetch ``url`` into ``target`` (created 0600), within ``deadline_seconds`` and ``max_bytes``:
    a server that trickles a byte now and then must not hold the night (and its lock) for ever.

    Credentials given by the caller (the environment's: ``auth``, ``token``, an
    ``Authorization`` header) win over a ``user:pass@`` in the URL, which is used
    only without them. Messages name the URL redacted (``url`` may be a
    :class:`~enrich.redact.SecretURL`; its real form is used for the request only).

    Raises:
        InputError: HTTP error status or network failure, as one line.
    """
    shown = redact_url(str(url))
    request_url, url_auth = _split_userinfo(reveal(url))
    headers = {**({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})}
    if auth is None and not any(name.lower() == "authorization" for name in headers):
        auth = url_auth
    try:
        with session.get(request_url, stream=True, timeout=timeout, auth=auth, headers=headers) as response:
            if response.status_code >= 400:
                raise InputError(f"cannot fetch {shown}: HTTP {response.status_code} {response.reason}")
            started, size = time.monotonic(), 0
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as out:
                for block in response.raw.stream(1 << 20, decode_content=False):
                    out.write(block)
                    size += len(block)
                    if size > max_bytes:
                        raise InputError(f"cannot fetch {shown}: larger than {max_bytes:,} bytes")
                    if time.monotonic() - started > deadline_seconds:
                        raise InputError(f"cannot fetch {shown}: still arriving after {deadline_seconds:.0f} s")
    except requests.RequestException as exc:
        # requests and urllib3 quote the URL (path and query) in their messages.
        raise InputError(f"cannot fetch {shown}: {exc.__class__.__name__}: {redact_secrets(str(exc))}") from None
    return target


def _split_userinfo(url: str) -> tuple[str, tuple[str, str] | None]:
    """``https://u:p@host/x`` → (``https://host/x``, (u, p)): requests would otherwise apply the
    URL's userinfo over an ``Authorization`` header given by the caller."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, host = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    return urlunsplit(parts._replace(netloc=host)), (unquote(user), unquote(password))
