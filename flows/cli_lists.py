"""The ``leadpipe networks`` and ``leadpipe register`` commands: the operator's lists.
Each runs one stage of ``flows/commands.py`` through the engine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from enrich.errors import LeadpipeError
from flows.cli import ConfigOpt, DbOpt, VerboseOpt, app, _one_operation
from flows.console import fail as _fail
from flows.runtime import setup_logging


networks_app = typer.Typer(help="The network cache: operator and licensed lists, overrides.", no_args_is_help=True)
app.add_typer(networks_app, name="networks")


@networks_app.command("import")
def networks_import(
    file: Annotated[Path, typer.Argument(help="CSV: cidr (or start,end), organisation[, business_id, kind, country].")],
    source: Annotated[str, typer.Option("--source", help="operator (your own knowledge) or licensed (a bought dataset).")] = "operator",
    db: DbOpt = None, config: ConfigOpt = None, verbose: VerboseOpt = False,
) -> None:
    """Load a network→organisation list; it is tried before the RDAP cache."""
    from flows import commands

    setup_logging(verbose)
    if source not in {"operator", "licensed"}:
        _fail(LeadpipeError("--source must be operator or licensed"))
    _one_operation("networks import", [commands.import_network_list(file, source)], db, config)


@networks_app.command("classify")
def networks_classify(
    cidr: Annotated[str, typer.Argument(help="The block, e.g. 193.166.220.0/24.")],
    kind: Annotated[str, typer.Argument(help="company, isp, mobile, hosting, education, government or unknown.")],
    db: DbOpt = None, config: ConfigOpt = None, verbose: VerboseOpt = False,
) -> None:
    """The operator's kind for a network: wins over every rule; visits are re-attributed."""
    from flows import commands

    setup_logging(verbose)
    try:
        stage = commands.classify_network(cidr, kind)
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
    """Load the register's bulk file: enrichment then matches locally, asking the API only for misses."""
    from flows import commands

    setup_logging(verbose)
    _one_operation("register import", [commands.import_register(file)], db, config)
