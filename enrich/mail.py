"""The morning e-mail: building a message (pure) and sending it over SMTP (``smtplib``).

Its HTML and text are rendered by ``sinks/deliveries.py`` (the template lives with the report's);
here they become one ``EmailMessage``: plain text and HTML alternatives, the report attached when
it is not linked.

:class:`SmtpClient` only sends; every failure is one :class:`MailError` line that never names
a recipient or a credential.
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

from enrich.errors import RetryableError

SECURITY = ("starttls", "ssl", "none")
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}


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
        context = self.context or ssl.create_default_context()
        try:
            if self.security == "ssl":
                server = smtplib.SMTP_SSL(self.host, port, timeout=self.timeout, context=context)
            else:
                server = smtplib.SMTP(self.host, port, timeout=self.timeout)
            with server:
                if self.security == "starttls":
                    server.starttls(context=context)
                if self.credentials:
                    server.login(*self.credentials)
                refused = server.send_message(message)
        except smtplib.SMTPAuthenticationError as exc:
            raise MailError(f"SMTP {self.host}:{port}: authentication failed ({exc.smtp_code})") from None
        except smtplib.SMTPRecipientsRefused as exc:
            raise MailError(f"SMTP {self.host}:{port}: all {len(exc.recipients)} recipients refused") from None
        except smtplib.SMTPResponseException as exc:
            raise MailError(f"SMTP {self.host}:{port}: the server replied {exc.smtp_code}") from None
        except smtplib.SMTPNotSupportedError:
            raise MailError(f"SMTP {self.host}:{port}: the server does not offer STARTTLS or AUTH") from None
        except ssl.SSLError as exc:
            raise MailError(f"SMTP {self.host}:{port}: TLS failed ({exc.reason or exc.__class__.__name__})") from None
        except (socket.timeout, TimeoutError):
            raise MailError(f"SMTP {self.host}:{port}: timed out after {self.timeout:g} s") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"SMTP {self.host}:{port}: {exc.__class__.__name__}"
                            f"{f' ({exc.strerror})' if getattr(exc, 'strerror', None) else ''}") from None
        return len(refused)
