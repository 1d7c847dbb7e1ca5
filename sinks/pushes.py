"""Which leads go to the CRM webhook, and what was sent: the ``pushes`` table (migration 019).

The rule: a lead is pushed when it is new to the target or has new activity since its last
successful push to it: a later last visit (the logs' or an export's) or a later form submission
(each push records the three moments). Not its score, whose recency part drops a point
a day with no activity at all. A company goes to a target at most once a day (the configured
zone's), however often the night reruns. A failed send (the webhook failing: a timeout, 429, 5xx, a
revoked or moved webhook) is recorded and tried again by the next run while its attempts are under
:data:`MAX_ATTEMPTS`; it never fails the run. A lead the webhook refuses as such (400, 413, 422...) is
``rejected``: not sent again until it has new activity, and the leads below it are sent. A target is a keyed
hash of the webhook URL: the URL, a credential, is never stored. Sending itself is the caller's
(``send``): this module only selects and records.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable
from datetime import date, datetime

import duckdb

from enrich.errors import LeadpipeError, PermanentError
from enrich.webhook_client import WebhookRefused
from sinks import report
from sinks.leads import Period
from sinks.text import one_line

log = logging.getLogger("leadpipe")

MAX_ATTEMPTS = 5  # per company, day and target: then it waits for the next day (or the next change)
FAILURES_IN_A_ROW = 3  # a webhook that failed this many leads in a row is not asked again in this run
STATUSES = ("sent", "failed", "rejected")  # pushes.status (migration 019)


def target_key(secret: bytes, url: str) -> str:
    """The target's name in ``pushes``: a keyed hash of the webhook URL (a new URL is a new target)."""
    return hmac.new(secret, b"webhook\x00" + url.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


#: A lead's activity moments: a later one than the target had makes the lead worth pushing again.
ACTIVITY = ("last_visit", "last_form_at", "export_last_visit")


def _moment(value: object) -> datetime | None:
    return value if isinstance(value, datetime) else None


def idempotency_key(target: str, company_id: str, day: date) -> str:
    """The ``Idempotency-Key`` of a company's push of a day: the same on every retry and rerun."""
    return hashlib.sha256(f"{target}|{company_id}|{day.isoformat()}".encode("utf-8")).hexdigest()[:40]


def forget_orphans(con: duckdb.DuckDBPyConnection) -> int:
    """Rows of companies that no longer exist (erased) are deleted; merged ones keep theirs (aliases)."""
    return con.execute(
        """
        DELETE FROM pushes WHERE company_id NOT IN (SELECT company_id FROM companies)
          AND company_id NOT IN (SELECT alias_id FROM company_aliases)
        """
    ).fetchall()[0][0]


def due(con: duckdb.DuckDBPyConnection, leads: list[dict], target: str, day: date,
        max_attempts: int = MAX_ATTEMPTS) -> list[dict]:
    """The leads to push today to ``target``, in ``leads``' order (their rank), each a copy with
    ``first_push``: True when the target never had a successful push of the company.

    Selected in one query: not sent to the target today, not failed today :data:`MAX_ATTEMPTS`
    times, and new to it or with an activity moment (:data:`ACTIVITY`) later than every one its
    successful or rejected pushes had (an alias's pushes count as its company's).
    """
    if not leads:
        return []
    moments = {key: [_moment(row.get(key)) for row in leads] for key in ACTIVITY}
    rows = con.execute(
        """
        WITH lead AS (
            SELECT unnest($ids) AS company_id, unnest(CAST($last_visit AS TIMESTAMPTZ[])) AS last_visit,
                   unnest(CAST($last_form_at AS TIMESTAMPTZ[])) AS last_form_at,
                   unnest(CAST($export_last_visit AS TIMESTAMPTZ[])) AS export_last_visit
        ), sent AS (
            SELECT coalesce(a.company_id, p.company_id) AS company_id, p.day, p.status, p.attempts,
                   p.last_visit, p.last_form_at, p.export_last_visit
            FROM pushes p LEFT JOIN company_aliases a ON a.alias_id = p.company_id
            WHERE p.target = $target
        ), had AS (
            SELECT company_id, max(last_visit) AS last_visit, max(last_form_at) AS last_form_at,
                   max(export_last_visit) AS export_last_visit, bool_or(status = 'sent') AS pushed
            FROM sent WHERE status IN ('sent', 'rejected') GROUP BY company_id
        ), today AS (
            SELECT company_id, bool_or(status = 'sent') AS sent, max(attempts) AS attempts FROM sent
            WHERE day = $day GROUP BY company_id
        )
        SELECT lead.company_id, coalesce(had.pushed, false) FROM lead
        LEFT JOIN had USING (company_id) LEFT JOIN today USING (company_id)
        WHERE (had.company_id IS NULL
               OR coalesce(lead.last_visit > coalesce(had.last_visit, '-infinity'), false)
               OR coalesce(lead.last_form_at > coalesce(had.last_form_at, '-infinity'), false)
               OR coalesce(lead.export_last_visit > coalesce(had.export_last_visit, '-infinity'), false))
          AND NOT coalesce(today.sent, false) AND coalesce(today.attempts, 0) < $max_attempts
        """,
        {"ids": [row["company_id"] for row in leads], **moments,
         "target": target, "day": day, "max_attempts": max_attempts},
    ).fetchall()
    pushed = dict(rows)
    return [{**row, "first_push": not pushed[row["company_id"]]} for row in leads if row["company_id"] in pushed]


def record(con: duckdb.DuckDBPyConnection, row: dict, target: str, fmt: str, day: date, now: datetime,
           status: str, error: str | None = None) -> None:
    """One send's outcome (:data:`STATUSES`) and its one-line ``error``; attempts add up over the day's runs."""
    if status not in STATUSES:
        raise ValueError(f"expected one of {', '.join(STATUSES)}")
    con.execute(
        """
        INSERT INTO pushes VALUES ($company_id, $day, $target, $format, $status, 1, $now, $score, $last_visit,
                                   $last_form_at, $export_last_visit, $error)
        ON CONFLICT (company_id, day, target) DO UPDATE SET
            format = excluded.format, status = excluded.status, attempts = pushes.attempts + 1,
            pushed_at = excluded.pushed_at, score = excluded.score, last_visit = excluded.last_visit,
            last_form_at = excluded.last_form_at, export_last_visit = excluded.export_last_visit,
            last_error = excluded.last_error
        """,
        {"company_id": row["company_id"], "day": day, "target": target, "format": fmt,
         "status": status, "now": now, "score": row.get("score"),
         **{key: _moment(row.get(key)) for key in ACTIVITY}, "error": error},
    )


def report_link(con: duckdb.DuckDBPyConnection, period: Period, report_url: str | None) -> str | None:
    """``report_url`` joined with the file name of the period's last written HTML report; None when
    ``report_url`` is unset or no report of the period was written."""
    if not report_url:
        return None
    found = con.execute(
        "SELECT html_path FROM reports WHERE period_end = ? AND html_path IS NOT NULL ORDER BY report_id DESC LIMIT 1",
        [period.end],
    ).fetchall()
    return report.report_link(report_url, found[0][0]) if found else None


def push_leads(con: duckdb.DuckDBPyConnection, leads: list[dict], send: Callable[[dict, str], object],
               *, target: str, fmt: str, day: date, now: Callable[[], datetime], min_score: float = 0.0,
               limit: int | None = None, dry_run: bool = False) -> dict:
    """Send the due leads (:func:`due`) one by one with ``send(lead, idempotency key)`` and record each.

    A send that raises a :class:`PermanentError` about the lead (not a :class:`WebhookRefused`) is a
    ``rejected`` row with its one line (the sender names the webhook's origin only): says nothing about the
    webhook, so the next lead is sent. Any other :class:`LeadpipeError` (a timeout, 429, 5xx, a refusing
    webhook) is a ``failed`` row; after :data:`FAILURES_IN_A_ROW` of them in a row the rest wait for the next run.

    Returns:
        counts: ``push_candidates`` (the period's leads at ``min_score`` or above), ``push_due``,
        ``push_sent``, ``push_failed``, ``push_rejected``, ``push_deferred`` (the limit or a failing
        webhook); with ``dry_run`` nothing is sent or recorded.
    """
    candidates = [row for row in leads if (row.get("score") or 0) >= min_score]
    chosen = due(con, candidates, target, day)
    counts = {"push_candidates": len(candidates), "push_due": len(chosen), "push_sent": 0, "push_failed": 0,
              "push_rejected": 0, "push_deferred": 0}
    if dry_run:
        return counts
    in_a_row = 0
    for index, row in enumerate(chosen):
        if (limit is not None and index >= limit) or in_a_row >= FAILURES_IN_A_ROW:
            counts["push_deferred"] = len(chosen) - index
            break
        status, error = "sent", None
        try:
            send(row, idempotency_key(target, row["company_id"], day))
        except WebhookRefused as exc:  # a PermanentError, but about the webhook: every lead would fail
            status, error = "failed", one_line(exc)
        except PermanentError as exc:  # about this lead only (400 invalid_blocks, 413, 422...)
            status, error = "rejected", one_line(exc)
        except LeadpipeError as exc:  # RetryableError: a timeout, a dropped connection, 429, 5xx
            status, error = "failed", one_line(exc)
        record(con, row, target, fmt, day, now(), status, error)
        counts[f"push_{status}"] += 1
        if status == "failed":
            in_a_row += 1
            log.warning("push failed (tried again by the next run): %s", error)
        elif status == "rejected":  # neither a failure of the webhook nor proof of its health
            log.warning("push rejected (not sent again until the lead has new activity): %s", error)
        else:
            in_a_row = 0
    if counts["push_deferred"] and in_a_row >= FAILURES_IN_A_ROW:
        log.warning("webhook failed %d leads in a row: %d wait for the next run", in_a_row, counts["push_deferred"])
    return counts


__all__ = ["MAX_ATTEMPTS", "STATUSES", "due", "forget_orphans", "idempotency_key",
           "push_leads", "record", "report_link", "target_key"]
