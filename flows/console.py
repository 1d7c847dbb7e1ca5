"""What the operator sees: one-line errors, and a run's summary as tables.

Every value from the data (names, reasons, paths) is shown as plain text
through :func:`shown`: no Rich markup obeyed, no control or bidi character.
"""

from __future__ import annotations


import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from enrich.errors import BusyError
from sinks.rejects import top_reasons
from flows.config import Settings

console = Console()
err = Console(stderr=True)


def fail(exc: BaseException) -> None:
    from sinks.text import one_line

    # Text, not markup: a file name or a server's words with "[...]" must print as they are.
    err.print(Text.assemble(("leadpipe: error:", "bold red"), " ", shown(one_line(exc))), highlight=False,
              soft_wrap=True)
    raise typer.Exit(75 if isinstance(exc, BusyError) else 1)



def shown(value: object, style: str = "") -> Text:
    """A value from the data as terminal text: no Rich markup obeyed, no control or bidi character."""
    from sinks.text import clean_text

    return Text(clean_text("" if value is None else str(value)), style=style)


def print_summary(stats: dict, settings: Settings) -> None:
    """The run's counts and what the database now holds.

    Names and reasons come from registries, exports and visitors: each cell goes through
    :func:`shown`, never Rich markup.
    """
    from sinks import database
    from sinks.report import snapshot_summary

    db = settings.db

    table = Table(title=f"leadpipe run {stats.get('run_id', '')}", show_header=True, header_style="bold")
    table.add_column("count")
    table.add_column("value", justify="right")
    for key in (
        "files", "lines_read", "lines_parsed", "lines_rejected", "duplicate_lines", "lines_out_of_window",
        "bot_requests", "pageviews", "visits", "visits_touched", "addresses", "rdap_requests", "rdap_searches",
        "addresses_pending",
        "register_matches", "leadfeeder_rows", "contacts", "report_companies",
    ):
        if key in stats:
            table.add_row(key, f"{stats[key]:,}")
    console.print(table)
    _print_reject_reasons(stats)
    with database.open_snapshot(db) as con:
        held_now = snapshot_summary(con, settings.timezone)
    counts, daily = held_now["tables"], held_now["days"]
    leads = stats.get("top_leads", [])  # the report's own rows: the score is computed once per run
    console.print(Text.assemble("\n", ("database ", "bold"), shown(db)), soft_wrap=True)  # a path, never wrapped
    held = Table(title="what it holds", header_style="bold")
    held.add_column("table")
    held.add_column("rows", justify="right")
    for name, n in counts.items():
        held.add_row(name, f"{n:,}")
    console.print(held)
    if leads:
        top = Table(title="top leads (the report's period)", header_style="bold")
        for col in ("#", "company", "Business ID", "score", "why"):
            top.add_column(col)
        for lead in leads:
            top.add_row(str(lead["rank"]), shown(lead["name"]), shown(lead["business_id"]), f"{lead['score']:g}",
                        shown(lead["reasons"]))
        console.print(top)
    if daily:
        days = Table(title=shown(f"visits per day ({settings.timezone})"), header_style="bold")
        for col in ("day", "visits", "pageviews"):
            days.add_column(col, justify="right")
        for day in daily:
            days.add_row(str(day["day"]), f"{day['visits']:,}", f"{day['pageviews']:,}")
        console.print(days)


def _print_reject_reasons(stats: dict, top: int = 5) -> None:
    """What was rejected, and why: the ``top`` reasons of every source (logs, exports, forms)."""
    counted: dict[tuple[str, str], int] = {}
    for key, by_reason in stats.items():
        if key.endswith("rejects_by_reason") and isinstance(by_reason, dict):
            source = key.removesuffix("rejects_by_reason").rstrip("_") or "logs"
            for reason, n in by_reason.items():
                counted[(source, reason)] = counted.get((source, reason), 0) + int(n)
    if not counted:
        return
    shown_rows = top_reasons(counted, top).items()
    reasons = Table(title=f"rejected, by reason (top {min(top, len(counted))} of {len(counted)})",
                    header_style="bold")
    for col in ("source", "reason", "count"):
        reasons.add_column(col, justify="right" if col == "count" else "left")
    for (source, reason), n in shown_rows:
        reasons.add_row(source, shown(reason), f"{n:,}")
    console.print(reasons)
