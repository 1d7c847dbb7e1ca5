"""The ``leadpipe customers`` and ``leadpipe deliver`` commands: feeds' existing customers and the morning e-mail.
Each change runs one stage of ``flows/feed_stages.py`` through the engine; ``customers list`` reads the
published snapshot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from enrich.errors import LeadpipeError
from flows import preflight
from flows.cli import (ConfigOpt, DbOpt, ReportOpt, VerboseOpt, _env, _one_operation, _overrides, _run_stages,
                       _settings, app)
from flows.cli_lists import _checked_file
from flows.console import console, fail as _fail
from flows.runtime import setup_logging

customers_app = typer.Typer(help="Existing customers, left out of feeds (exclude_customers).", no_args_is_help=True)
app.add_typer(customers_app, name="customers")


@customers_app.command("import")
def customers_import(
    file: Annotated[Path, typer.Argument(help="CSV or XLSX with a Business ID column or a domain/website column "
                                              "(HubSpot's and Pipedrive's exports are read as they are).")],
    replace: Annotated[bool, typer.Option(
        "--replace", help="Replace the customers of every file imported before, not only this file's.")] = False,
    db: DbOpt = None, config: ConfigOpt = None, verbose: VerboseOpt = False,
) -> None:
    """Mark existing customers (Business IDs or domains, e.g. a CRM export): feeds leave them out.

    Importing the same file again replaces what it gave before. A row with no Business ID and no
    domain, or an invalid Business ID (check digit), is rejected with its row number and reason.
    """
    from flows import feed_stages

    setup_logging(verbose)
    _one_operation("customers import",
                   [feed_stages.import_customers(_checked_file(file, "customers file"), replace)], db, config)


@customers_app.command("list")
def customers_list(db: DbOpt = None, config: ConfigOpt = None, verbose: VerboseOpt = False) -> None:
    """Each imported customers file: how many Business IDs and domains it gave, and when."""
    from sinks import customers, database

    setup_logging(verbose)
    settings = _settings(_overrides(db, None, None, None, False, None), config)
    try:
        with database.open_snapshot(preflight.database_path(settings, creates=False)) as con:
            rows = customers.list_customers(con)
    except LeadpipeError as exc:
        _fail(exc)
    typer.echo(json.dumps(rows, indent=1))  # ASCII: no control or bidi character reaches a terminal


@app.command()
def deliver(
    db: DbOpt = None,
    feed: Annotated[Optional[str], typer.Option("--feed", help="Only this feed (default: every feed).")] = None,
    since: Annotated[Optional[str], typer.Option(
        "--since", metavar="YYYY-MM-DD", help=_env("First day of the report period.", "since"))] = None,
    until: Annotated[Optional[str], typer.Option(
        "--until", metavar="YYYY-MM-DD", help=_env("Last day of the report period.", "until"))] = None,
    report_dir: ReportOpt = None, config: ConfigOpt = None, verbose: VerboseOpt = False,
) -> None:
    """Send each feed's morning e-mail for the report period, once (the nightly deliver task).

    Over SMTP (smtp_host, smtp_port, smtp_security, smtp_sender; LEADPIPE_SMTP_USER and
    LEADPIPE_SMTP_PASSWORD from the environment); without smtp_host, written as .eml files beside
    the report. A feed already sent for the period is not sent again; a failed send is tried again.
    """
    from flows import feed_stages

    setup_logging(verbose)
    overrides = _overrides(db, None, since, until, False, report_dir)
    if feed is not None:
        try:
            feed_stages.checked_feed(_settings(overrides, config).feeds, feed)
        except LeadpipeError as exc:
            _fail(exc)
    stats = _run_stages(overrides, config, "deliver", [feed_stages.deliver_stage(feed)])
    console.print_json(json.dumps(stats, default=str))
