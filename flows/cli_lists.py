"""The ``leadpipe networks`` and ``leadpipe register`` commands: the operator's lists.
Each change runs one stage of ``flows/commands.py`` through the engine; ``networks list`` reads the
published snapshot, as analysts do."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from enrich.errors import LeadpipeError
from flows import preflight
from flows.cli import ConfigOpt, DbOpt, VerboseOpt, _one_operation, _overrides, _settings, app
from flows.console import fail as _fail
from flows.runtime import setup_logging

networks_app = typer.Typer(help="The network cache: operator and licensed lists, overrides.", no_args_is_help=True)
app.add_typer(networks_app, name="networks")

SourceOpt = Annotated[str, typer.Option(
    "--source", help="operator (your own knowledge) or licensed (a bought dataset).")]


def _checked_file(path: Path, what: str) -> Path:
    try:
        return preflight.input_file(path, what)
    except LeadpipeError as exc:
        _fail(exc)
        raise  # unreachable


@networks_app.command("import")
def networks_import(
    file: Annotated[Path, typer.Argument(help="CSV: cidr (or start,end), organisation[, business_id, kind, country].")],
    source: SourceOpt = "operator",
    replace: Annotated[bool, typer.Option(
        "--replace", help="Let a re-import remove half of the list or more (their visits lose their network).")
    ] = False,
    db: DbOpt = None, config: ConfigOpt = None, verbose: VerboseOpt = False,
) -> None:
    """Load a network→organisation list; it is tried before the RDAP cache.

    Importing the same file (same --source) again replaces its rows: ranges it no longer holds are
    removed and their visits re-attributed — only when no row was rejected, and half of the list or more
    only with --replace. A bad row (block, kind, Business ID check digit...) is rejected with its
    line number; a private or reserved range is stored with a warning.
    """
    from flows import commands

    setup_logging(verbose)
    if source not in {"operator", "licensed"}:
        _fail(LeadpipeError("--source must be operator or licensed"))
    _one_operation("networks import",
                   [commands.import_network_list(_checked_file(file, "network list"), source, replace)], db, config)


@networks_app.command("list")
def networks_list(
    as_json: Annotated[bool, typer.Option("--json", help="JSON (one object a row) instead of a table.")] = False,
    db: DbOpt = None, config: ConfigOpt = None, verbose: VerboseOpt = False,
) -> None:
    """The operator's and licensed list rows: cidr, organisation, Business ID, kind, source, list file."""
    from sinks import database, network_lists
    from sinks.text import clean_text

    setup_logging(verbose)
    settings = _settings(_overrides(db, None, None, None, False, None), config)
    try:
        with database.open_snapshot(preflight.database_path(settings, creates=False)) as con:
            rows = network_lists.list_entries(con)
    except LeadpipeError as exc:
        _fail(exc)
    if as_json:
        typer.echo(json.dumps(rows, indent=1))  # ASCII: no control or bidi character reaches a terminal
        return
    if not rows:
        typer.echo("no operator or licensed list rows")
        return
    header = ["cidr", "organisation", "business id", "kind", "source", "list file"]
    cells = [[clean_text("" if value is None else str(value)) for value in (
        row["cidr"], row["organisation"], row["business_id"],
        f"{row['kind']} (override)" if row["overridden"] else row["kind"], row["source"], row["list_file"])]
        for row in rows]
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(len(header))]
    for line in [header, *cells]:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())


@networks_app.command("remove")
def networks_remove(
    cidr: Annotated[str, typer.Argument(help="The list row's block, e.g. 193.166.220.0/24 (or start-end).")],
    source: Annotated[Optional[str], typer.Option(
        "--source", help="Only the operator's or only the licensed row (default: both).")] = None,
    db: DbOpt = None, config: ConfigOpt = None, verbose: VerboseOpt = False,
) -> None:
    """Remove an operator or licensed list row; the visits it carried are re-attributed.

    Fix the list file too: importing it again brings the row back.
    """
    from flows import commands

    setup_logging(verbose)
    try:
        stage = commands.remove_network(cidr, source)
    except LeadpipeError as exc:
        _fail(exc)
    _one_operation("networks remove", [stage], db, config)


@networks_app.command("classify")
def networks_classify(
    cidr: Annotated[str, typer.Argument(help="The block, e.g. 193.166.220.0/24.")],
    kind: Annotated[Optional[str], typer.Argument(
        help="company, isp, mobile, hosting, education, government or unknown.")] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the operator's kind for this block.")] = False,
    db: DbOpt = None, config: ConfigOpt = None, verbose: VerboseOpt = False,
) -> None:
    """The operator's kind for a network: wins over every rule; visits are re-attributed.
    With --clear (and no kind), the override is removed and the rules (or the list's kind) apply again."""
    from flows import commands

    setup_logging(verbose)
    try:
        stage = commands.classify_network(cidr, kind, clear)
    except LeadpipeError as exc:
        _fail(exc)
    _one_operation("networks classify", [stage], db, config)


register_app = typer.Typer(help="The trade register (YTJ) kept locally.", no_args_is_help=True)
app.add_typer(register_app, name="register")


@register_app.command("import")
def register_import(
    file: Annotated[Path, typer.Argument(help="PRH's /all_companies zip, or the JSON inside it.")],
    db: DbOpt = None, config: ConfigOpt = None, verbose: VerboseOpt = False,
) -> None:
    """Load the register's bulk file: enrichment then matches locally, asking the API only for misses.

    A file that is not the register's (not a zip, not JSON, no register entry) is refused with one
    line; an entry that is not one, or whose Business ID fails its check digit, is a reject.
    """
    from flows import commands

    setup_logging(verbose)
    _one_operation("register import", [commands.import_register(_checked_file(file, "register file"))], db, config)
