"""The ``push`` stage: the period's new or changed leads to the CRM webhook; and the CRM import file.

The night's last stage (:data:`flows.stages.PIPELINE`), and ``leadpipe push``'s. Which leads
and what was sent: ``sinks/pushes.py``; the message: ``enrich/webhooks.py``; the POST:
``enrich/webhook_client.py``. A webhook that fails never fails the night: the stage returns
its counts and the failed leads are tried again by the next run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from enrich.errors import LeadpipeError
from enrich.webhook_client import WebhookSender
from enrich.webhooks import lead_message, render
from flows.context import USER_AGENT, RunContext
from sinks import database, pushes
from sinks.crm import write_crm_csv
from sinks.leads import Period

log = logging.getLogger("leadpipe")

Stage = Callable[[RunContext], dict]


def _leads(ctx: RunContext, period: Period) -> list[dict]:
    """The period's leads at ``push_min_score`` or above, best first (objections applied first:
    :meth:`RunContext.leads`); an objecting company is never among them."""
    return [row for row in ctx.leads(period)["companies"]
            if (row.get("score") or 0) >= ctx.settings.push_min_score]


def _push(ctx: RunContext, dry_run: bool) -> dict:
    settings = ctx.settings
    removed = 0
    if not dry_run:  # an erased company's rows go, webhook or not (its id may be a sole trader's Business ID)
        with database.transaction(ctx.con):
            removed = pushes.forget_orphans(ctx.con)
        ctx.compact = ctx.compact or removed > 0  # erased rows must not linger in free blocks
    if not settings.webhook_url:
        log.info("push: no webhook configured (LEADPIPE_WEBHOOK_URL): nothing pushed")
        return {"push_skipped": 1, "push_orphans_removed": removed}
    try:
        sender = WebhookSender(settings.webhook_url, user_agent=USER_AGENT, timeout=tuple(settings.request_timeout),
                               backoff=settings.retry_backoff)
    except LeadpipeError as exc:  # a night is never failed by its webhook: counted, one line
        log.warning("push: %s: nothing pushed", exc)
        return {"push_skipped": 1, "push_orphans_removed": removed}
    period, day, fmt = ctx.report_period(), ctx.today(), settings.webhook_format
    link = pushes.report_link(ctx.con, period, settings.report_url)

    def send(row: dict, key: str) -> None:
        message = lead_message(row, day=day, zone=settings.timezone, report_url=link)
        sender.send(render(message, fmt), key)

    with database.transaction(ctx.con):
        counts = pushes.push_leads(ctx.con, _leads(ctx, period), send,
                                   target=pushes.target_key(ctx.secret, settings.webhook_url), fmt=fmt, day=day,
                                   now=ctx.now, limit=settings.push_max, dry_run=dry_run)
    log.info("push to %s (%s): %d due, %d sent, %d failed, %d rejected, %d wait", sender.shown, fmt,
             counts["push_due"], counts["push_sent"], counts["push_failed"], counts["push_rejected"],
             counts["push_deferred"])
    return {**counts, "push_orphans_removed": removed, **({"push_dry_run": True} if dry_run else {})}


def push(ctx: RunContext) -> dict:
    """New or changed leads → the CRM webhook (one push per company and day); nothing without a webhook."""
    return _push(ctx, dry_run=False)


def push_dry_run(ctx: RunContext) -> dict:
    """What ``push`` would send now: counted, nothing sent or recorded."""
    return _push(ctx, dry_run=True)


def crm_export(crm: str, out: Path) -> Stage:
    """A stage writing the period's leads as ``crm``'s import file (``sinks/crm.py``) to ``out``."""

    def crm_file(ctx: RunContext) -> dict:
        period = ctx.report_period()
        written = write_crm_csv(out, _leads(ctx, period), crm, ctx.settings.timezone,
                                pushes.report_link(ctx.con, period, ctx.settings.report_url))
        return {"crm_file": str(out), "crm_companies": written}

    return crm_file
