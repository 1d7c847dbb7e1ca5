"""The morning e-mail's deliveries: each feed's message sent once per report period (``deliveries``).

A feed with recipients and companies gets one message per period. A sent one is never sent again
(a rerun, ``leadpipe deliver`` after the night); a failed one is recorded with its one-line error
and tried again by the next run, up to :data:`MAX_ATTEMPTS` times. Nothing here raises for a send:
the night never fails because a mail server is down. Without an SMTP server the message is written
as an ``.eml`` file next to the report instead (and nothing is recorded, so a later run with one
configured sends it). Recipients' addresses are never stored or logged: only how many (an ``.eml``
file, 0600, names them in its ``To:`` header, as any message does).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
from jinja2 import Environment, PackageLoader, select_autoescape

from enrich.mail import build_message
from sinks.feeds import Feed
from sinks.files import private_writer
from sinks.leads import Period
from sinks.report import report_link
from sinks.text import clean, clean_text, one_line

log = logging.getLogger("leadpipe")

MAX_ATTEMPTS = 5  # a failing feed is tried on this many runs, then given up (status gave_up)
Send = Callable[[EmailMessage], int]  # sends one message; returns recipients refused; raises on failure


def render_email(data: dict, report_link: str | None, generated_at: datetime) -> tuple[str, str]:
    """A feed's e-mail as (HTML, plain text).

    Args:
        data: the feed's data (:func:`sinks.feeds.feed_data`): ``feed``, ``period``, ``top``, ``companies``, ``new``.
        report_link: the full report's URL, or None when it is attached.
    """
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


def feed_message(data: dict, *, sender: str, report_link: str | None, attachment: Path,
                 generated_at: datetime) -> EmailMessage:
    """The feed's message to its recipients: HTML and text, the report linked or attached."""
    html, text = render_email(data, report_link, generated_at)
    feed = data["feed"]
    new = f", {len(data['new'])} new" if data["new"] else ""
    subject = f"Leads: {feed.title} — {len(data['companies'])} companies{new} ({_period_text(data['period'])})"
    return build_message(subject=clean_text(subject), html=html, text=text, sender=sender,
                         recipients=feed.recipients, attachment=None if report_link else attachment,
                         generated_at=generated_at)


def previous(con: duckdb.DuckDBPyConnection, feed: str, period: Period) -> tuple[str, int] | None:
    """``(status, attempts)`` of the feed's delivery for ``period``, or None when never tried."""
    rows = con.execute(
        "SELECT status, attempts FROM deliveries WHERE feed = ? AND period_start = ? AND period_end = ?",
        [feed, period.start, period.end],
    ).fetchall()
    return rows[0] if rows else None


def _record(con: duckdb.DuckDBPyConnection, feed: Feed, period: Period, status: str, attempts: int, now: datetime,
            companies: int, message_id: str | None = None, error: str | None = None) -> None:
    con.execute(
        """
        INSERT INTO deliveries VALUES ($feed, $start, $end, $status, $attempts, $sent_at, $recipients, $companies,
                                       $message_id, $error, $now)
        ON CONFLICT (feed, period_start, period_end) DO UPDATE SET
            status = excluded.status, attempts = excluded.attempts, sent_at = excluded.sent_at,
            recipients = excluded.recipients, companies = excluded.companies, message_id = excluded.message_id,
            last_error = excluded.last_error, updated_at = excluded.updated_at
        """,
        {"feed": feed.name, "start": period.start, "end": period.end, "status": status, "attempts": attempts,
         "sent_at": now if status == "sent" else None, "recipients": len(feed.recipients), "companies": companies,
         "message_id": message_id, "error": error, "now": now},
    )


def deliver_feeds(con: duckdb.DuckDBPyConnection, feeds: list[dict], *, send: Send | None, sender: str,
                  html_path: Path, report_url: str | None, outbox: Path, now: datetime) -> dict:
    """Send each feed's message that is due; record what happened.

    Args:
        feeds: each feed's data (:func:`sinks.feeds.feed_data`).
        send: sends one message (:meth:`enrich.mail.SmtpClient.send`); None: write ``.eml`` files to ``outbox``.
        html_path: the period's HTML report, linked under ``report_url`` or attached.

    Returns:
        Counts: ``deliver_sent``, ``deliver_failed``, ``deliver_already_sent``, ``deliver_gave_up``,
        ``deliver_written`` (``.eml`` files), ``deliver_empty`` (feeds without companies),
        ``deliver_no_recipients``; and ``deliver_files``: the ``.eml`` paths written.
    """
    counts = dict.fromkeys(("deliver_sent", "deliver_failed", "deliver_already_sent", "deliver_gave_up",
                            "deliver_written", "deliver_empty", "deliver_no_recipients"), 0)
    files: list[str] = []
    link = report_link(report_url, html_path)
    for data in feeds:
        feed, period = data["feed"], data["period"]
        if not feed.recipients:
            counts["deliver_no_recipients"] += 1
            continue
        if not data["companies"]:
            counts["deliver_empty"] += 1
            continue
        status, attempts = previous(con, feed.name, period) or ("new", 0)
        if status in {"sent", "gave_up"}:
            counts["deliver_already_sent" if status == "sent" else "deliver_gave_up"] += 1
            continue
        try:
            message = feed_message(data, sender=sender, report_link=link, attachment=html_path, generated_at=now)
            if send is None:
                path = outbox / f"lead-report-{period.end.isoformat()}-{feed.name}.eml"
                with private_writer(path, "wb") as handle:
                    handle.write(bytes(message))
                counts["deliver_written"] += 1
                files.append(str(path))
                continue
            refused = send(message)
        except Exception as exc:  # a send never fails the night: recorded, tried again next run
            attempts += 1
            error = one_line(exc)
            status = "failed" if attempts < MAX_ATTEMPTS else "gave_up"
            _record(con, feed, period, status, attempts, now, len(data["companies"]), error=error)
            counts["deliver_failed"] += 1
            log.warning("feed %s: e-mail not sent (attempt %d of %d%s): %s", feed.name, attempts, MAX_ATTEMPTS,
                        "; given up" if status == "gave_up" else ", tried again next run", error)
            continue
        error = f"{refused} of {len(feed.recipients)} recipients refused" if refused else None
        _record(con, feed, period, "sent", attempts + 1, now, len(data["companies"]), message["Message-ID"], error)
        counts["deliver_sent"] += 1
        log.info("feed %s: e-mail sent to %d recipient(s)", feed.name, len(feed.recipients) - refused)
    return {**counts, "deliver_files": files}
