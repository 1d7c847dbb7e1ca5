"""Stages for feeds, customers and the morning e-mail: the nightly ``deliver`` and the one-off commands.

Thin: settings in, ``enrich/`` and ``sinks/`` do the work (``sinks/feeds.py``, ``sinks/customers.py``,
``sinks/deliveries.py``, ``enrich/mail.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from enrich.customers import read_customers
from enrich.errors import ConfigError, InputError
from enrich.mail import SmtpClient
from flows.context import RunContext
from sinks import database, erasure
from sinks.customers import store_customers
from sinks.deliveries import deliver_feeds as send_feeds
from sinks.feeds import feed_csv_path, feed_data, find_feed
from sinks.rejects import reason_lines, record_rejects, top_reasons
from sinks.report import write_csv, write_report
from sinks.text import one_line

Stage = Callable[[RunContext], dict]
log = logging.getLogger("leadpipe")


def checked_feed(feeds: tuple, name: str):
    """The feed ``name`` of the settings' feeds.

    Raises:
        ConfigError: no such feed (one line listing the defined ones).
    """
    try:
        return find_feed(feeds, name)
    except KeyError as exc:
        raise ConfigError(exc.args[0]) from None


def deliver_feeds(ctx: RunContext, only: str | None = None) -> dict:
    """The report period's feed e-mails that are due: sent over SMTP, or — with no ``smtp_host`` —
    written as ``.eml`` files beside the report. A failure is recorded and counted, never raised."""
    settings = ctx.settings
    feeds = [f for f in settings.feeds if only is None or f.name == only]
    if not feeds:
        return {"deliver_feeds": 0}
    try:
        with database.transaction(ctx.con):
            period, now = ctx.report_period(), ctx.now()
            html, data = settings.report_dir / f"lead-report-{period.end.isoformat()}.html", ctx.leads(period)
            if not html.exists():  # `leadpipe deliver` for a period no report was written for
                write_report(ctx.con, settings.report_dir, period, now, settings.feeds, data)
            client = SmtpClient(settings.smtp_host, settings.smtp_port, settings.smtp_security, settings.smtp_auth,
                                settings.smtp_timeout) if settings.smtp_host else None
            stats = send_feeds(ctx.con, [feed_data(ctx.con, data, feed) for feed in feeds],
                               send=client.send if client else None,
                               sender=settings.smtp_sender or "leadpipe@localhost", html_path=html,
                               report_url=settings.report_url, outbox=settings.report_dir, now=now)
    except Exception as exc:  # the morning e-mail never fails the night
        log.warning("the morning e-mail was not prepared: %s", one_line(exc))
        return {"deliver_feeds": len(feeds), "deliver_error": one_line(exc)}
    files = stats.pop("deliver_files")
    if files:
        log.info("no smtp_host set: %d feed e-mail(s) written as .eml beside the report", len(files))
        ctx.outputs["deliver_files"] = files
    return {"deliver_feeds": len(feeds), **stats}


def deliver_stage(feed: str | None) -> Stage:
    """``leadpipe deliver [--feed NAME]``: the nightly ``deliver`` for all feeds or one."""

    def deliver(ctx: RunContext) -> dict:
        if feed is not None:
            checked_feed(ctx.settings.feeds, feed)
        return deliver_feeds(ctx, feed)

    return deliver


def report_feed(name: str) -> Stage:
    """``leadpipe report --feed NAME``: only that feed's CSV (``lead-report-YYYY-MM-DD-NAME.csv``)."""

    def report(ctx: RunContext) -> dict:
        feed = checked_feed(ctx.settings.feeds, name)
        with database.transaction(ctx.con):
            period = ctx.report_period()
            data = feed_data(ctx.con, ctx.leads(period), feed)
        path = feed_csv_path(ctx.settings.report_dir, period, feed)
        write_csv(data, path)
        return {"report_csv": str(path), "report_companies": len(data["companies"]),
                "report_new_companies": len(data["new"])}

    return report


def import_customers(path: Path, replace: bool = False) -> Stage:
    """``leadpipe customers import FILE``: Business IDs and domains of existing customers (a CRM export)
    in place of the rows the same file gave before (``replace``: of every file's)."""

    def customers_import(ctx: RunContext) -> dict:
        try:
            keys, rejects = read_customers(path)
        except (InputError, OSError) as exc:
            raise ConfigError(f"customers file {path}: {one_line(exc)}") from None
        with database.transaction(ctx.con):
            erased = erasure.erased_business(ctx.con, ctx.secret)  # a forgotten sole trader is no customer row
            keys = {(kind, value) for kind, value in keys if not (kind == "business_id" and erased(value, None))}
            stored = store_customers(ctx.con, keys, str(path.resolve()), ctx.now(), replace)
            record_rejects(ctx.con, ctx.run_id, str(path), rejects)
        return {**stored, "rows_rejected": len(rejects), "reject_reasons": top_reasons(rejects),
                "rejected_lines": reason_lines(rejects, "row")}

    return customers_import
