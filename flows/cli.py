"""The ``leadpipe`` command line (Typer). Thin: resolves settings, calls stages or the flow."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.text import Text

from enrich.errors import LeadpipeError
from flows import __version__, preflight, progress
from flows.config import REPO_ROOT, Settings, env_name, load_settings
from flows.console import console, err, fail as _fail, print_summary, shown as _shown
from flows.runtime import prepare_prefect, quiet_prefect, setup_logging, stop_at_once_on_signals, temporary_prefect_api

app = typer.Typer(
    name="leadpipe",
    help="Tell a B2B company which organisations visit its website.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DEMO_DIR = REPO_ROOT / "data" / "demo"


def _env(text: str, key: str) -> str:
    """An option's help with the setting's environment variable (plain text: Rich would eat ``[...]``)."""
    return f"{text} (env {env_name(key)})"


# Options shared by run and the single-stage commands (PRODUCT.md).
DbOpt = Annotated[Optional[Path], typer.Option(
    "--db", help=_env("The analysts' DuckDB file; default ./leadpipe.duckdb.", "db"))]
LogsOpt = Annotated[Optional[list[str]], typer.Option(
    "--logs", help=_env("Access log path, glob or URL; repeatable; the variable is ';'-separated.", "logs"))]
LeadfeederOpt = Annotated[Optional[list[str]], typer.Option(
    "--leadfeeder", help=_env("Leadfeeder-style export (CSV, XLSX, API JSON): path, glob or URL; repeatable.",
                              "leadfeeder"))]
FormsOpt = Annotated[Optional[list[str]], typer.Option(
    "--forms", help=_env("Form, chat and configurator submissions (JSON lines or CSV); repeatable.", "forms"))]
SinceOpt = Annotated[Optional[str], typer.Option(
    "--since", metavar="YYYY-MM-DD", help=_env("First day of log lines to load (configured time zone).", "since"))]
UntilOpt = Annotated[Optional[str], typer.Option(
    "--until", metavar="YYYY-MM-DD", help=_env("Last day of log lines to load.", "until"))]
OfflineOpt = Annotated[bool, typer.Option(
    "--offline", help=_env("No network lookups: local lists and caches only.", "offline"))]
ReportOpt = Annotated[Optional[Path], typer.Option(
    "--report-dir", help=_env("Where lead reports are written; default ./reports.", "report_dir"))]
ConfigOpt = Annotated[Optional[Path], typer.Option(
    "--config", help="leadpipe.toml to read; default ./leadpipe.toml if present (env LEADPIPE_CONFIG).")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging, Prefect's own logs included.")]


def _version(value: bool) -> None:
    if value:
        console.print(f"leadpipe {__version__}")
        raise typer.Exit()


@app.callback()
def _main_options(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Tell a B2B company which organisations visit its website."""


def _overrides(db, logs, since, until, offline, report_dir, leadfeeder=None, forms=None) -> dict:
    return {
        "forms": list(forms) if forms else None,
        "db": str(db) if db else None,
        "logs": list(logs) if logs else None,
        "leadfeeder": list(leadfeeder) if leadfeeder else None,
        "since": since or None,
        "until": until or None,
        "offline": True if offline else None,
        "report_dir": str(report_dir) if report_dir else None,
    }


def _settings(overrides: dict, config: Path | None) -> Settings:
    try:
        return load_settings(overrides, config)
    except LeadpipeError as exc:
        _fail(exc)
        raise  # unreachable


def _checked(overrides: dict, config: Path | None, command: str, *, creates: bool | None = None,
             reads_inputs: bool = False, report: bool = False) -> tuple[Settings, dict]:
    """Settings for ``command``, checked before anything starts (:mod:`flows.preflight`): the
    database's real path goes into the settings and the overrides the flow receives."""
    settings = _settings(overrides, config)
    try:
        db = preflight.check(settings, command, creates=creates, reads_inputs=reads_inputs)
        if report:
            preflight.writable_folder(settings.report_dir, "--report-dir")
    except LeadpipeError as exc:
        _fail(exc)
    return replace(settings, db=db), {**overrides, "db": str(db)}


def _run_flow(settings: Settings, settings_overrides: dict, config: Path | None, command: str,
              verbose: bool = False) -> dict:
    """The nightly flow, in-process, against a temporary local Prefect API (a child that dies with us)
    when none is configured. The flow resolves the same overrides again in its own run.

    The database's lock is taken first: a second run refuses at once, before Prefect starts."""
    from sinks import database

    try:
        with database.exclusive(settings.db, hand_over=True), stop_at_once_on_signals(settings.db):
            prepare_prefect(settings, verbose)
            flow = {}

            def import_flow() -> None:  # Prefect reads its settings on import: after the API's address is set
                from flows.nightly import nightly

                flow["nightly"] = nightly
                quiet_prefect(verbose)  # Prefect configured logging on import: its console is ours again

            with temporary_prefect_api(while_starting=import_flow), progress.shown():
                return flow["nightly"](overrides=settings_overrides, config_file=str(config) if config else None,
                                       command=command)
    except LeadpipeError as exc:
        _fail(exc)
    except Exception as exc:  # anything unexpected is still one line, never a traceback
        if os.environ.get("LEADPIPE_DEBUG"):
            raise
        _fail(exc)
    return {}


def _run_stages(overrides: dict, config: Path | None, command: str, stage_names: list, *,
                creates: bool | None = None) -> dict:
    from flows import engine
    from sinks import database

    settings, _ = _checked(overrides, config, command, creates=creates, reads_inputs=command == "ingest",
                           report=command == "report")
    try:
        with database.exclusive(settings.db, hand_over=True), stop_at_once_on_signals(settings.db), progress.shown():
            return engine.execute(settings, command, stage_names)
    except LeadpipeError as exc:
        _fail(exc)
    except Exception as exc:
        if os.environ.get("LEADPIPE_DEBUG"):
            raise
        _fail(exc)
    return {}


def _one_operation(command: str, stage_list: list, db: Path | None, config: Path | None, *,
                   logs=None, since=None, until=None, offline: bool = False, leadfeeder=None, forms=None,
                   quiet: bool = False) -> None:
    """Run stages as one published operation and print its counts as JSON (to stderr when quiet)."""
    stats = _run_stages(_overrides(db, logs, since, until, offline, None, leadfeeder, forms), config, command, stage_list)
    (err if quiet else console).print_json(json.dumps(stats, default=str))


@app.command()
def run(
    db: DbOpt = None, logs: LogsOpt = None, leadfeeder: LeadfeederOpt = None, forms: FormsOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None, offline: OfflineOpt = False, report_dir: ReportOpt = None, config: ConfigOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """The nightly flow: ingest → leadfeeder → forms → resolve → enrich → load → retention → report → deliver → push, published atomically."""
    setup_logging(verbose)
    settings, overrides = _checked(_overrides(db, logs, since, until, offline, report_dir, leadfeeder, forms),
                                   config, "run", reads_inputs=True, report=True)
    print_summary(_run_flow(settings, overrides, config, "run", verbose), settings)


@app.command()
def ingest(
    db: DbOpt = None, logs: LogsOpt = None, leadfeeder: LeadfeederOpt = None, forms: FormsOpt = None,
    since: SinceOpt = None, until: UntilOpt = None, offline: OfflineOpt = False, config: ConfigOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Stage: read access logs (new lines only), Leadfeeder-style exports and form submissions."""
    setup_logging(verbose)
    _one_operation("ingest", ["ingest", "leadfeeder", "forms"], db, config, logs=logs, since=since, until=until,
                   offline=offline, leadfeeder=leadfeeder, forms=forms)


@app.command()
def resolve(db: DbOpt = None, offline: OfflineOpt = False, config: ConfigOpt = None, verbose: VerboseOpt = False) -> None:
    """Stage: look up the addresses waiting for an answer; re-apply lists and overrides to stored visits."""
    setup_logging(verbose)
    _one_operation("resolve", ["resolve"], db, config, offline=offline)


@app.command()
def enrich(db: DbOpt = None, offline: OfflineOpt = False, config: ConfigOpt = None, verbose: VerboseOpt = False) -> None:
    """Stage: match companies to the trade register (YTJ): Business ID, official name, industry."""
    setup_logging(verbose)
    _one_operation("enrich", ["enrich"], db, config, offline=offline)


@app.command()
def report(
    db: DbOpt = None,
    since: Annotated[Optional[str], typer.Option(
        "--since", metavar="YYYY-MM-DD",
        help=_env("First day of the report; default 29 days before --until.", "since"))] = None,
    until: Annotated[Optional[str], typer.Option(
        "--until", metavar="YYYY-MM-DD", help=_env("Last day of the report; default the last day any source saw a company.", "until"))] = None,
    report_dir: ReportOpt = None,
    feed: Annotated[Optional[str], typer.Option(
        "--feed", help="Write only this feed's CSV (lead-report-YYYY-MM-DD-FEED.csv).")] = None,
    config: ConfigOpt = None, verbose: VerboseOpt = False,
) -> None:
    """Write the lead report (HTML and CSV) for any date range (default: the last 30 days)."""
    setup_logging(verbose)
    overrides = _overrides(db, None, since, until, False, report_dir)
    stage: object = "report"
    if feed is not None:
        from flows import feed_stages

        try:
            feed_stages.checked_feed(_settings(overrides, config).feeds, feed)
        except LeadpipeError as exc:
            _fail(exc)
        stage = feed_stages.report_feed(feed)
    stats = _run_stages(overrides, config, "report", [stage])
    console.print_json(json.dumps(stats, default=str))


@app.command()
def load(db: DbOpt = None, config: ConfigOpt = None, verbose: VerboseOpt = False) -> None:
    """Stage: group pending pageviews into visits (sessions)."""
    setup_logging(verbose)
    _one_operation("load", ["load"], db, config)


@app.command("retention")
def retention_(db: DbOpt = None, config: ConfigOpt = None, verbose: VerboseOpt = False) -> None:
    """Delete visit-level rows older than the retention period (default 13 months); keep aggregates."""
    setup_logging(verbose)
    _one_operation("retention", ["retention"], db, config)


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="Where the demo database goes.")] = Path("demo-output"),
    verbose: VerboseOpt = False,
) -> None:
    """The whole nightly flow, offline, on the bundled synthetic data in data/demo/."""
    setup_logging(verbose)
    logs = sorted(str(p) for p in (DEMO_DIR / "logs").glob("access.log*"))
    if not logs:
        _fail(LeadpipeError(f"no demo logs in {DEMO_DIR / 'logs'}; run python data/demo/generate.py"))
    try:
        preflight.writable_folder(out, "--out")
    except LeadpipeError as exc:
        _fail(exc)
    db = out.resolve() / "leadpipe-demo.duckdb"
    db.unlink(missing_ok=True)  # a demo always starts from nothing and ends the same
    os.environ.setdefault("LEADPIPE_CONFIG_DIR", str(out / "config"))
    overrides = {
        "db": str(db),
        "logs": [str(DEMO_DIR / "logs" / "access.log*")],
        "leadfeeder": [str(DEMO_DIR / "leadfeeder-export.csv")],
        "forms": [str(DEMO_DIR / "forms.jsonl")],
        "offline": True,
        "report_dir": str(out / "reports"),
        "config_dir": os.environ["LEADPIPE_CONFIG_DIR"],
    }
    from flows import commands

    # The demo's operator list (synthetic): resolution runs offline, from it alone.
    _run_stages(overrides, DEMO_DIR / "leadpipe.toml", "networks import",
                [commands.import_network_list(DEMO_DIR / "networks.csv", "operator"),
                 commands.import_register(DEMO_DIR / "register.json")], creates=True)
    settings, overrides = _checked(overrides, DEMO_DIR / "leadpipe.toml", "demo", reads_inputs=True, report=True)
    stats = _run_flow(settings, overrides, DEMO_DIR / "leadpipe.toml", "demo", verbose)
    print_summary(stats, settings)
    console.print(Text.assemble("\nDatabase: ", _shown(db, "bold"), "  (open read-only: duckdb.connect('",
                                _shown(db), "', read_only=True))"))
    if stats.get("report_html"):
        console.print(Text.assemble("Lead report: ", _shown(stats["report_html"], "bold"), " and ",
                                    _shown(stats["report_csv"])))
    for path in stats.get("deliver_files", []):
        console.print(Text.assemble("Morning e-mail (no smtp_host set: written, not sent): ", _shown(path)))


# The data-subject, list and service commands live beside this module and register themselves on ``app``.
from flows import cli_feeds, cli_lists, cli_operator, cli_push, serve  # noqa: E402,F401


def main() -> None:
    """Console-script entry point: every error is one line (usage errors too, exit 2)."""
    from typer._click import exceptions as usage  # Typer's own Click: the errors it raises

    try:
        code = app(standalone_mode=False, prog_name="leadpipe")
    except usage.NoArgsIsHelpError as exc:
        exc.show()
        code = exc.exit_code
    except usage.ClickException as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if getattr(exc, "ctx", None) else ""
        err.print(Text.assemble(("leadpipe: error:", "bold red"), " ", _shown(exc.format_message() + hint)),
                  highlight=False, soft_wrap=True)
        code = exc.exit_code
    except (KeyboardInterrupt, typer.Abort):
        code = 130
    if code == 130:  # Typer turns Ctrl-C into exit status 130, silently: the one line says why
        err.print("leadpipe: interrupted", highlight=False)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":  # python -m flows.cli: the imported module, which holds every command
    from flows.cli import main as imported_main

    imported_main()
