"""The ``leadpipe`` commands for data subjects: forget, subject-export, object.
Each runs one stage of ``flows/commands.py`` through the engine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from enrich.errors import LeadpipeError
from flows import preflight
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
    if out == Path("-"):  # the usual name of standard output
        out = None
    if out is not None:
        try:
            preflight.output_file(out, "--out")
        except LeadpipeError as exc:
            _fail(exc)
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


secret_app = typer.Typer(help="The keyed-hash secret (config_dir/secret.key) the database was built with.",
                         no_args_is_help=True)
app.add_typer(secret_app, name="secret")


@secret_app.command("adopt")
def secret_adopt(
    lost: Annotated[bool, typer.Option("--the-old-key-is-lost", help="Say that you know what this means.")] = False,
    db: DbOpt = None, config: ConfigOpt = None, verbose: VerboseOpt = False,
) -> None:
    """Make this config dir's secret.key the database's, when the one it was built with is lost.

    Everything keyed with the lost key — visitors, e-mail keys, the line ledger — can then no longer be
    found by address or e-mail: erasure and access requests reach it only through retention, and log
    lines read before count again. Restore the old secret.key from a backup instead if you can.
    """
    from flows import commands
    from sinks.state import ADOPT_SECRET

    setup_logging(verbose)
    if not lost:
        _fail(LeadpipeError("a database's secret is replaced only when the old one is lost: "
                            "say so with --the-old-key-is-lost (see --help)"))
    _one_operation(ADOPT_SECRET, [commands.adopt_secret], db, config)
