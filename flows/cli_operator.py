"""The ``leadpipe`` commands for data subjects and operators: forget, subject-export, object,
and the network and register lists. Each runs one stage of ``flows/commands.py`` through the engine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from enrich.errors import LeadpipeError
from flows.cli import ConfigOpt, DbOpt, VerboseOpt, app, _one_operation
from flows.console import fail as _fail
from flows.runtime import setup_logging


EmailOpt = Annotated[Optional[str], typer.Option("--email", help="The subject's email address.")]
IpOpt = Annotated[Optional[str], typer.Option("--ip", help="The subject's IP address.")]
BusinessIdOpt = Annotated[Optional[str], typer.Option("--business-id", help="A Business ID (a sole trader is a person).")]


def _subject(**given: str | None) -> tuple[str, str]:
    chosen = [(kind, value) for kind, value in given.items() if value]
    if len(chosen) != 1:
        _fail(LeadpipeError("name exactly one subject: " + " | ".join(f"--{k}" for k in given)))
    return chosen[0]


@app.command()
def forget(
    email: EmailOpt = None, ip: IpOpt = None,
    visitor_key: Annotated[Optional[str], typer.Option("--visitor-key", help="A visitor key from visits.")] = None,
    business_id: BusinessIdOpt = None, db: DbOpt = None, config: ConfigOpt = None, verbose: VerboseOpt = False,
) -> None:
    """Erase every row about a subject, and make sure later runs never import them again."""
    setup_logging(verbose)
    kind, value = _subject(**{"email": email, "ip": ip, "visitor-key": visitor_key, "business-id": business_id})
    _one_operation("forget", [_privacy_stage("forget", kind, value)], db, config)


def _privacy_stage(action: str, kind: str, value: str, out: Path | None = None):
    """The stage for one data-subject request; an identifier that is none is one line, exit 1."""
    from flows import commands

    try:
        return commands.privacy_request(action, kind, value, out)
    except LeadpipeError as exc:
        _fail(exc)


@app.command("subject-export")
def subject_export(
    email: EmailOpt = None, ip: IpOpt = None,
    visitor_key: Annotated[Optional[str], typer.Option("--visitor-key", help="A visitor key from visits.")] = None,
    business_id: BusinessIdOpt = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the JSON here (0600) instead of stdout.")] = None,
    db: DbOpt = None, config: ConfigOpt = None, verbose: VerboseOpt = False,
) -> None:
    """Everything held about a subject, as JSON (the right of access)."""
    setup_logging(verbose)
    kind, value = _subject(**{"email": email, "ip": ip, "visitor-key": visitor_key, "business-id": business_id})
    _one_operation("subject-export", [_privacy_stage("subject-export", kind, value, out)], db, config,
                   quiet=out is None)


@app.command("object")
def object_(
    email: EmailOpt = None, business_id: BusinessIdOpt = None, db: DbOpt = None, config: ConfigOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Flag a contact or company against direct marketing: never again in lead reports or exports."""
    setup_logging(verbose)
    kind, value = _subject(**{"email": email, "business-id": business_id})
    _one_operation("object", [_privacy_stage("object", kind, value)], db, config)


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
