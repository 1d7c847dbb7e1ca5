"""``leadpipe push``: the CRM push (the night's last stage, on demand) and the CRM import file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from enrich.errors import LeadpipeError
from flows import preflight
from flows.cli import ConfigOpt, DbOpt, VerboseOpt, _env, _one_operation, _overrides, _settings, app
from flows.console import fail as _fail
from flows.runtime import setup_logging

CRMS = ("hubspot", "pipedrive")  # sinks/crm.py


@app.command()
def push(
    db: DbOpt = None,
    since: Annotated[Optional[str], typer.Option(
        "--since", metavar="YYYY-MM-DD", help=_env("First day of the leads' period; default 29 days before --until.",
                                                   "since"))] = None,
    until: Annotated[Optional[str], typer.Option(
        "--until", metavar="YYYY-MM-DD", help=_env("Last day of the leads' period; default the last day with visits.",
                                                   "until"))] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Count what would be pushed; send and record nothing.")] = False,
    crm: Annotated[Optional[str], typer.Option(
        "--crm", metavar="hubspot|pipedrive",
        help="Instead of pushing, write the period's leads as this CRM's company import file (with --out).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="The CRM import file to write (0600).")] = None,
    config: ConfigOpt = None, verbose: VerboseOpt = False,
) -> None:
    """Push new or changed leads to the CRM webhook (LEADPIPE_WEBHOOK_URL): once per company and day.

    Each lead of the period (the report's: the last 30 days by default) that the webhook has not had,
    or that has new activity since it had it (a later visit or form submission), is sent as one message: generic JSON, Slack
    or Teams (webhook_format). Failed sends are recorded and retried by the next run. With --crm and
    --out, nothing is sent: the leads are written as a HubSpot or Pipedrive import CSV.
    """
    from flows import crm_push

    setup_logging(verbose)
    if crm is not None:
        if crm not in CRMS:
            _fail(LeadpipeError("--crm must be hubspot or pipedrive"))
        if out is None:
            _fail(LeadpipeError("--crm needs --out FILE: where the import file goes"))
        try:
            preflight.output_file(out, "--out")
        except LeadpipeError as exc:
            _fail(exc)
        _one_operation("push --crm", [crm_push.crm_export(crm, out)], db, config, since=since, until=until)
        return
    if out is not None:
        _fail(LeadpipeError("--out goes with --crm hubspot|pipedrive"))
    settings = _settings(_overrides(db, None, since, until, False, None), config)
    if not settings.webhook_url:
        _fail(LeadpipeError("no webhook configured: set LEADPIPE_WEBHOOK_URL (environment only), "
                            "or write an import file with --crm hubspot|pipedrive --out FILE"))
    _one_operation("push", [crm_push.push_dry_run if dry_run else crm_push.push], db, config,
                   since=since, until=until)
