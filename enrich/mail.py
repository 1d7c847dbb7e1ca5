"""The morning e-mail: building a feed's message (pure) and sending it over SMTP (``smtplib``).

The HTML part is rendered from ``sinks/templates/lead_email.html.j2``: table layout and inline
styles (what mail clients render), every value escaped and stripped of control and bidi characters
(:func:`sinks.text.clean`, as the report). A plain-text part goes with it. The full report is
linked (``report_url``) or, without one, attached.

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
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape

from enrich.errors import RetryableError

SECURITY = ("starttls", "ssl", "none")
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}


class MailError(RetryableError):
    """A message could not be sent (connection, TLS, authentication, refusal); one line, no address."""


def render_email(data: dict, report_link: str | None, generated_at: datetime) -> tuple[str, str]:
    """A feed's e-mail as (HTML, plain text).

    Args:
        data: the feed's data (:func:`sinks.feeds.feed_data`): ``feed``, ``period``, ``top``, ``companies``, ``new``.
        report_link: the full report's URL, or None when it is attached.
    """
    from sinks.text import clean, clean_text

    environment = Environment(loader=PackageLoader("sinks", "templates"), autoescape=select_autoescape(["html", "j2"]),
                              finalize=clean)
    period = data["period"]
    values = {
        **data, "report_link": report_link, "period_text": _period_text(period),
        "generated_at": generated_at.astimezone(ZoneInfo(period.zone)).strftime("%-d.%-m.%Y %H:%M"),
    }
    html = environment.get_template("lead_email.html.j2").render(**values)
    lines = [f"{data['feed'].title}: {len(data['companies'])} companies, {len(data['new'])} new ({values['period_text']})",
             ""]
    for row in data["top"]:
        lines.append(f"{row['rank']}. {row['name']}{' [NEW]' if row.get('new') else ''} — score {row['score']:g}")
        details = " · ".join(str(v) for v in (row.get("business_id"), row.get("industry"), row.get("city")) if v)
        if details:
            lines.append(f"   {details}")
        if row.get("reasons"):
            lines.append(f"   Why: {row['reasons']}")
        if row.get("top_pages"):
            lines.append(f"   Pages: {', '.join(row['top_pages'])}")
    if not data["top"]:
        lines.append("No companies in this feed for the period.")
    lines += ["", f"Full report: {report_link}" if report_link else "The full report is attached."]
    return html, "\n".join(clean_text(line) for line in lines) + "\n"


def _period_text(period) -> str:
    return f"{period.start:%-d.%-m.%Y}–{period.end:%-d.%-m.%Y}"


def build_message(data: dict, *, sender: str, recipients: tuple[str, ...], report_link: str | None,
                  attachment: Path | None, generated_at: datetime) -> EmailMessage:
    """The feed's message: plain text and HTML alternatives, the report attached when there is no link."""
    html, text = render_email(data, report_link, generated_at)
    feed, period = data["feed"], data["period"]
    message = EmailMessage()
    new = f", {len(data['new'])} new" if data["new"] else ""
    message["Subject"] = f"Leads: {feed.title} — {len(data['companies'])} companies{new} ({_period_text(period)})"
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = format_datetime(generated_at)
    message["Message-ID"] = make_msgid("leadpipe", domain=sender.rpartition("@")[2] or None)
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    if attachment is not None and report_link is None:
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
