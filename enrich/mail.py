"""The morning e-mail: building a message (pure) and sending it over SMTP (``smtplib``).

Its HTML and text are rendered by ``sinks/deliveries.py`` (the template lives with the report's);
here they become one ``EmailMessage``: plain text and HTML alternatives, the report attached when
it is not linked.

:class:`SmtpClient` only sends; every failure is one :class:`MailError` line that never names
a recipient or a credential. ``smtplib``'s timeout bounds each socket operation, so a server that
trickles its replies a byte at a time would never time out: each send also has an overall deadline
(:data:`DEADLINE_FACTOR` times the timeout), after which a watchdog shuts the connection down
(``enrich/deadline.py``).
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from enrich.deadline import SocketDeadline
from enrich.errors import RetryableError

SECURITY = ("starttls", "ssl", "none")
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
DEADLINE_FACTOR = 4  # a whole send (connect, greeting, EHLO, STARTTLS, login, DATA) gets 4 x smtp_timeout


class MailError(RetryableError):
    """A message could not be sent (connection, TLS, authentication, refusal); one line, no address."""


def build_message(*, subject: str, html: str, text: str, sender: str, recipients: tuple[str, ...],
                  attachment: Path | None, generated_at: datetime) -> EmailMessage:
    """A message with plain-text and HTML alternatives, and ``attachment`` (an HTML file) when given."""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = format_datetime(generated_at)
    message["Message-ID"] = make_msgid("leadpipe", domain=sender.rpartition("@")[2] or None)
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    if attachment is not None:
        message.add_attachment(attachment.read_bytes(), maintype="text", subtype="html", filename=attachment.name)
    return message


class _WatchedContext:
    """An ``SSLContext`` stand-in whose sockets are watched from before their handshake."""

    def __init__(self, context: ssl.SSLContext, watchdog: SocketDeadline):
        self._context, self._watchdog = context, watchdog

    def wrap_socket(self, sock: socket.socket, server_hostname: str | None = None) -> ssl.SSLSocket:
        wrapped = self._context.wrap_socket(sock, server_hostname=server_hostname, do_handshake_on_connect=False)
        self._watchdog.watch(wrapped)
        wrapped.do_handshake()
        return wrapped


class _Smtp(smtplib.SMTP):
    """``smtplib.SMTP`` whose socket is watched from its connect on; with ``tls``, implicit TLS (SMTP_SSL)."""

    def __init__(self, host: str, port: int, *, timeout: float, watchdog: SocketDeadline, tls: _WatchedContext | None):
        self._watchdog, self._tls = watchdog, tls
        super().__init__(host, port, timeout=timeout)

    def _get_socket(self, host, port, timeout):
        sock = super()._get_socket(host, port, timeout)
        self._watchdog.watch(sock)
        return self._tls.wrap_socket(sock, server_hostname=self._host) if self._tls else sock


def _timed_out(exc: BaseException) -> bool:
    """A socket timeout, or smtplib's disconnect raised while handling one."""
    while exc is not None:
        if isinstance(exc, TimeoutError):  # socket.timeout is TimeoutError
            return True
        exc = exc.__context__
    return False


@dataclass(frozen=True)
class SmtpClient:
    """Sends messages to one SMTP server: STARTTLS, SSL (implicit TLS) or none; optional login."""

    host: str
    port: int = 0  # 0: the security's usual port (587, 465, 25)
    security: str = "starttls"
    credentials: tuple[str, str] | None = field(default=None, repr=False)
    timeout: float = 30.0
    context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)

    def send(self, message: EmailMessage) -> int:
        """Send ``message`` to its To recipients.

        Returns:
            How many recipients the server refused while accepting the others (the message was sent).

        Raises:
            MailError: one line (the server's reply code and a fixed reason, never an address).
        """
        port = self.port or DEFAULT_PORTS[self.security]
        deadline = self.timeout * DEADLINE_FACTOR
        server = None
        with SocketDeadline(deadline) as watchdog:
            context = _WatchedContext(self.context or ssl.create_default_context(), watchdog)
            try:
                server = _Smtp(self.host, port, timeout=self.timeout, watchdog=watchdog,
                               tls=context if self.security == "ssl" else None)
                if self.security == "starttls":
                    server.starttls(context=context)
                if self.credentials:
                    server.login(*self.credentials)
                refused = server.send_message(message)
                try:
                    server.quit()
                except (OSError, smtplib.SMTPException):
                    pass  # the message was accepted: a failed goodbye does not unsend it
            except Exception as exc:
                if not watchdog.fired and not isinstance(exc, (OSError, smtplib.SMTPException)):
                    raise
                raise self._error(exc, port, watchdog.fired, deadline) from None
            finally:
                watchdog.stop()  # before the socket is closed, so it never shuts down a reused one
                if server is not None:
                    server.close()
        return len(refused)

    def _error(self, exc: Exception, port: int, deadline_passed: bool, deadline: float) -> MailError:
        """One line for ``exc``: the reply code and a fixed reason, never an address or a credential."""
        where = f"SMTP {self.host}:{port}"
        if deadline_passed:
            return MailError(f"{where}: timed out after {deadline:g} s (the deadline for a whole send)")
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            return MailError(f"{where}: authentication failed ({exc.smtp_code})")
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            return MailError(f"{where}: all {len(exc.recipients)} recipients refused")
        if isinstance(exc, smtplib.SMTPResponseException):
            return MailError(f"{where}: the server replied {exc.smtp_code}")
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            return MailError(f"{where}: the server does not offer STARTTLS or AUTH")
        if _timed_out(exc):
            return MailError(f"{where}: timed out after {self.timeout:g} s")
        if isinstance(exc, ssl.SSLError):
            return MailError(f"{where}: TLS failed ({exc.reason or exc.__class__.__name__})")
        return MailError(f"{where}: {exc.__class__.__name__}"
                         f"{f' ({exc.strerror})' if getattr(exc, 'strerror', None) else ''}")
