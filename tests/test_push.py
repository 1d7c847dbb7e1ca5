"""Issue 15 item 5: the CRM push reaches a webhook exactly once per company and day, across reruns.

A real HTTP server on 127.0.0.1 (threaded stdlib) receives the pushes and answers as told:
200, 429 with Retry-After, 500, a redirect elsewhere, or too slowly.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import shutil
import socketserver
import threading
import time
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import duckdb
import pytest
from typer.testing import CliRunner

from enrich.webhooks import lead_message, render, slack, teams
from flows import cli, commands, engine
from flows.context import RunContext
from sinks import pushes
from tests.conftest import combined, offline_night, write_log

TOKEN = "T000/B000/XoXsEcReTtOkEn"
SIG = "sIgNaTuReSeCrEt"
HOSTILE = "<!channel> *Bold* & [Win](http://evil.example) Oy"
NETWORKS = (
    "cidr,organisation,business_id,kind\n"
    "185.213.44.0/24,Kalliodata Oy,1234567-1,company\n"
    f"193.166.220.0/24,\"{HOSTILE}\",,company\n"
    "80.248.161.0/24,=HYPERLINK(\"http://evil.example\") Ab,,company\n"
)
CLIENTS = ("185.213.44.7", "193.166.220.7", "80.248.161.7")


class Webhook:
    """A local webhook: records every request; answers from ``script`` (a function of the request number)."""

    def __init__(self):
        self.requests: list[dict] = []
        self.script = lambda n: (200, {}, b"ok", 0.0)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.requests.append({"path": self.path, "headers": dict(self.headers), "json": json.loads(body)})
                status, headers, answer, delay = outer.script(len(outer.requests))
                time.sleep(delay)
                try:
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:  # the client gave up (a timeout)
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.url = f"{self.base}/services/{TOKEN}?sig={SIG}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def shown(self) -> str:
        """The origin as errors show it (addresses are masked in every one line)."""
        return self.base.replace("127.0.0.1", "x.x.x.x")

    def companies(self) -> list[str]:
        return [r["json"]["company"] for r in self.requests]


@pytest.fixture
def webhook():
    hook = Webhook()
    yield hook
    hook.server.shutdown()
    hook.server.server_close()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Three companies' visits (21–22 Nov 2026), resolved offline and reported, once for the module."""
    base = tmp_path_factory.mktemp("push-base")
    networks = base / "networks.csv"
    networks.write_text(NETWORKS)
    lines = [combined(client=client, ts=f"2{1 + i % 2}/Nov/2026:1{i}:00:00 +0200", request="GET /pricing HTTP/1.1")
             for i, client in enumerate(CLIENTS)]
    settings, _ = offline_night(base, lines, networks)
    return base, settings


@pytest.fixture
def night(built, tmp_path, webhook):
    """A copy of the built database, with the webhook configured (as from LEADPIPE_WEBHOOK_URL)."""
    base, settings = built
    shutil.copytree(base, tmp_path / "night")
    root = tmp_path / "night"
    return replace(settings, db=root / "leads.duckdb", config_dir=root / "cfg", report_dir=root / "reports",
                   offline=False, webhook_url=webhook.url, retry_backoff=(0.0,), request_timeout=(1.0, 1.0),
                   report_url="https://intra.example/leads/", logs=())


def _rows(settings, sql: str, params=()):
    with duckdb.connect(str(settings.db), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def _push(settings, stage: str = "push") -> dict:
    return engine.execute(settings, "push", [stage])


def test_a_push_reaches_the_server_once_per_company_and_day_across_reruns(night, webhook):
    first = _push(night)
    assert first["push_sent"] == 3 and first["push_failed"] == 0
    assert sorted(webhook.companies()) == sorted(["Kalliodata Oy", HOSTILE, '=HYPERLINK("http://evil.example") Ab'])
    again = _push(night)
    engine.execute(night, "run", ["report", "push"])  # a whole rerun of the night's end
    assert again["push_due"] == 0 and again["push_sent"] == 0
    assert len(webhook.requests) == 3, "a rerun sends nothing twice"
    keys = {r["headers"]["Idempotency-Key"] for r in webhook.requests}
    assert len(keys) == 3
    message = next(r["json"] for r in webhook.requests if r["json"]["company"] == "Kalliodata Oy")
    assert message["schema"] == "leadpipe.lead/1" and message["business_id"] == "1234567-1"
    assert message["last_visit"].endswith("+02:00") and message["day"] == RunContext(night, None, 0, None, b"",
                                                                                        None, None).today().isoformat()
    assert message["report_url"] == "https://intra.example/leads/lead-report-2026-11-22.html"
    assert message["ytj_url"].endswith("1234567-1") and isinstance(message["score"], (int, float))
    assert _rows(night, "SELECT status, attempts, count(*) FROM pushes GROUP BY ALL") == [("sent", 1, 3)]


def test_a_changed_lead_is_pushed_again_the_next_day_and_only_then(night, webhook, monkeypatch, tmp_path):
    _push(night)
    later = write_log(tmp_path / "later.log", [combined(client=CLIENTS[0], ts="22/Nov/2026:18:00:00 +0200",
                                                        request="GET /contact HTTP/1.1")])
    engine.execute(replace(night, logs=(str(later),)), "run", ["ingest", "resolve", "load", "report"])
    assert _push(night)["push_sent"] == 0, "changed, but already pushed today"
    tomorrow = datetime.now(timezone.utc).date() + timedelta(days=1)
    monkeypatch.setattr(RunContext, "today", lambda self: tomorrow)
    assert _push(night)["push_sent"] == 1
    assert webhook.companies()[-1] == "Kalliodata Oy" and len(webhook.requests) == 4
    assert _push(night)["push_sent"] == 0
    assert webhook.requests[-1]["json"]["day"] == tomorrow.isoformat()


def test_429_with_retry_after_is_waited_for_then_sent(night, webhook):
    webhook.script = lambda n: (429, {"Retry-After": "1"}, b"rate_limited", 0.0) if n == 1 else (200, {}, b"ok", 0.0)
    started = time.monotonic()
    stats = _push(night)
    assert stats["push_sent"] == 3 and stats["push_failed"] == 0
    assert time.monotonic() - started >= 1.0
    assert len(webhook.requests) == 4  # the refused one, sent again, and the two others


def test_500_is_recorded_the_night_succeeds_and_the_next_run_retries(night, webhook):
    webhook.script = lambda n: (500, {}, b"oops", 0.0)
    stats = engine.execute(night, "run", ["report", "push"])
    assert stats["push_failed"] == 3 and stats["push_sent"] == 0
    assert _rows(night, "SELECT status FROM runs ORDER BY run_id DESC LIMIT 1") == [("success",)]
    errors = _rows(night, "SELECT DISTINCT status, attempts, last_error FROM pushes")
    assert errors == [("failed", 1, f"{webhook.shown}: HTTP 500 oops after 3 attempts")]
    webhook.script = lambda n: (200, {}, b"ok", 0.0)
    assert _push(night)["push_sent"] == 3
    assert _rows(night, "SELECT DISTINCT status, attempts, last_error FROM pushes") == [("sent", 2, None)]


def test_a_webhook_that_keeps_failing_is_given_up_for_the_run_and_bounded_over_the_day(night, webhook, monkeypatch):
    monkeypatch.setattr(pushes, "FAILURES_IN_A_ROW", 1)
    webhook.script = lambda n: (404, {}, b"no_service", 0.0)
    stats = _push(night)
    assert (stats["push_failed"], stats["push_deferred"]) == (1, 2)
    assert _rows(night, "SELECT last_error FROM pushes") == [(f"{webhook.shown}: HTTP 404 no_service",)]
    for _ in range(pushes.MAX_ATTEMPTS + 2):
        _push(night)
    assert max(a for (a,) in _rows(night, "SELECT attempts FROM pushes")) == pushes.MAX_ATTEMPTS


def test_a_timeout_is_a_failure_not_a_hang(night, webhook):
    webhook.script = lambda n: (200, {}, b"ok", 1.5)
    started = time.monotonic()
    stats = _push(replace(night, request_timeout=(1.0, 0.3)))
    assert stats["push_failed"] == 3 and time.monotonic() - started < 20
    assert {e for (e,) in _rows(night, "SELECT last_error FROM pushes")} == {
        f"{webhook.shown}: ReadTimeout after 3 attempts"}


def test_a_redirect_to_another_host_is_not_followed(night, webhook):
    elsewhere = Webhook()
    try:
        target = elsewhere.base.replace("127.0.0.1", "localhost") + "/steal"
        webhook.script = lambda n: (307, {"Location": target}, b"", 0.0)
        stats = _push(night)
        assert stats["push_failed"] == 3 and elsewhere.requests == []
        (error,) = {e for (e,) in _rows(night, "SELECT last_error FROM pushes")}
        assert "redirect to http://localhost" in error and "not followed" in error
    finally:
        elsewhere.server.shutdown()
        elsewhere.server.server_close()


def test_a_huge_answer_is_not_read(night, webhook):
    webhook.script = lambda n: (200, {}, b"x" * (8 << 20), 0.0)
    assert _push(night)["push_sent"] == 3


def test_slack_and_teams_messages_have_their_shapes_and_escape_markup(night, webhook):
    stats = _push(replace(night, webhook_format="slack"))
    assert stats["push_sent"] == 3
    bodies = [r["json"] for r in webhook.requests]
    assert all(set(b) == {"text", "blocks"} and b["blocks"][0]["type"] == "section" for b in bodies)
    hostile = next(b for b in bodies if "channel" in b["text"])
    shown = json.dumps(hostile)
    assert "<!channel>" not in shown and "&lt;!channel&gt;" in shown and "&amp;" in shown
    assert "<https://intra.example/leads/lead-report-2026-11-22.html|Lead report>" in shown

    message = lead_message({"company_id": "x", "name": HOSTILE, "score": 12.5, "new": True, "website": "evil|x.fi",
                            "last_visit": datetime(2026, 11, 22, 8, tzinfo=timezone.utc)},
                           day=date(2026, 11, 26), zone="Europe/Helsinki", report_url=None)
    card = teams(message)
    assert card["type"] == "message" and len(card["attachments"]) == 1
    attachment = card["attachments"][0]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    content = attachment["content"]
    assert content["type"] == "AdaptiveCard" and content["version"] == "1.4"
    title = content["body"][0]["text"]
    assert r"\[Win\](http://evil.example)" in title and "[Win](" not in title
    assert "Last visit" in json.dumps(content) and "22.11.2026 10:00" in json.dumps(content)
    assert "evil|x" not in json.dumps(slack(message)), "a link target with | is shown as text, not linked"
    assert render(message, "generic") == message


def test_form_submissions_are_pushed_without_the_person():
    row = {"company_id": "x", "name": "Kalliodata Oy", "score": 40, "new": False,
           "last_visit": datetime(2026, 11, 22, 8, tzinfo=timezone.utc),
           "forms": [{"form": "configurator", "submitted_at": datetime(2026, 11, 20, 9, tzinfo=timezone.utc),
                      "name": "Maija Meikäläinen", "email": "maija@kalliodata.fi", "message": "call me"},
                     "Maija Meikäläinen <maija@kalliodata.fi>"]}
    message = lead_message(row, day=date(2026, 11, 26), zone="Europe/Helsinki", report_url=None)
    assert message["forms"] == ["form submitted: configurator, 20.11.2026"]
    for fmt in ("generic", "slack", "teams"):
        text = json.dumps(render(message, fmt), ensure_ascii=False)
        assert "Maija" not in text and "maija@" not in text and "call me" not in text


def test_the_webhook_token_is_never_in_logs_runs_or_errors(night, webhook, caplog):
    webhook.script = lambda n: (500, {}, b"", 0.0)
    caplog.set_level(logging.DEBUG)
    stats = _push(night)
    assert stats["push_failed"] == 3
    webhook.script = lambda n: (200, {}, b"ok", 0.0)
    _push(night)
    stored = json.dumps(_rows(night, "SELECT * FROM runs"), default=str) + json.dumps(
        _rows(night, "SELECT * FROM pushes"), default=str)
    for secret in (TOKEN, "XoXsEcReTtOkEn", SIG):
        assert secret not in caplog.text and secret not in stored and secret not in repr(night)
        assert secret not in json.dumps(stats, default=str)
    assert "POST /***" in caplog.text or "/services/" not in caplog.text  # urllib3's debug line, path hidden


def test_an_objecting_company_is_never_pushed(night, webhook):
    engine.execute(night, "object", [commands.privacy_request("object", "business-id", "1234567-1")])
    assert _push(night)["push_sent"] == 2
    assert "Kalliodata Oy" not in webhook.companies()


def test_a_forgotten_company_leaves_no_push_row(night, webhook):
    _push(night)
    engine.execute(night, "forget", [commands.privacy_request("forget", "business-id", "1234567-1")])
    # a sole trader's Business ID is a person's: forget removes its push rows at once
    assert _rows(night, "SELECT count(*) FROM pushes WHERE company_id = ?", ["1234567-1"]) == [(0,)]
    stats = _push(replace(night, webhook_url=None))
    assert stats["push_orphans_removed"] == 0
    assert _rows(night, "SELECT count(*) FROM pushes") == [(2,)]


def test_no_webhook_is_one_log_line_and_a_count(night, webhook, caplog):
    caplog.set_level(logging.INFO, logger="leadpipe")
    stats = _push(replace(night, webhook_url=None))
    assert stats["push_skipped"] == 1 and webhook.requests == []
    assert [r.message for r in caplog.records if r.message.startswith("push")] == [
        "push: no webhook configured (LEADPIPE_WEBHOOK_URL): nothing pushed"]


def test_a_dry_run_sends_and_records_nothing(night, webhook):
    stats = engine.execute(night, "push", [_dry()])
    assert stats["push_due"] == 3 and stats["push_sent"] == 0 and webhook.requests == []
    assert _rows(night, "SELECT count(*) FROM pushes") == [(0,)]


def _dry():
    from flows.crm_push import push_dry_run

    return push_dry_run


def _cli(night, *args, env=None):
    return CliRunner().invoke(cli.app, ["push", "--db", str(night.db), *args],
                              env={"LEADPIPE_CONFIG_DIR": str(night.config_dir), **(env or {})})


@pytest.mark.parametrize("crm, headers", [
    ("hubspot", ["Name", "Company Domain Name", "Website URL", "City", "Country/Region", "Description",
                 "Business ID", "Lead score", "Last visit", "Lead report"]),
    ("pipedrive", ["Organization - Name", "Organization - Address", "Organization - Website",
                   "Organization - Business ID", "Organization - Lead score", "Organization - Last visit",
                   "Organization - Lead report", "Note - Content"]),
])
def test_crm_import_files_have_the_importers_headers_and_no_formula(night, webhook, tmp_path, crm, headers):
    out = tmp_path / f"{crm}.csv"
    result = _cli(night, "--crm", crm, "--out", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_bytes().decode("utf-8")
    assert not text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == headers and len(rows) == 4
    names = [row[0] for row in rows[1:]]
    assert "'=HYPERLINK(\"http://evil.example\") Ab" in names
    assert not any(cell[:1] in "=+-@" for row in rows[1:] for cell in row if cell)
    kallio = next(row for row in rows[1:] if row[0] == "Kalliodata Oy")
    assert "1234567-1" in kallio and "2026-11-21" in kallio and "Finland" in ", ".join(kallio)
    assert webhook.requests == []


def test_push_command_lines(night, webhook, tmp_path):
    missing = CliRunner().invoke(cli.app, ["push", "--db", str(tmp_path / "nope.duckdb")],
                                 env={"LEADPIPE_WEBHOOK_URL": webhook.url})
    assert missing.exit_code == 1 and "no database at" in missing.output and TOKEN not in missing.output
    unset = _cli(night, env={"LEADPIPE_WEBHOOK_URL": ""})
    assert unset.exit_code == 1 and "LEADPIPE_WEBHOOK_URL" in unset.output
    assert _cli(night, "--crm", "salesforce", "--out", str(tmp_path / "x.csv")).exit_code == 1
    sent = _cli(night, env={"LEADPIPE_WEBHOOK_URL": webhook.url, "LEADPIPE_WEBHOOK_FORMAT": "teams"})
    assert sent.exit_code == 0, sent.output
    assert json.loads(sent.stdout)["push_sent"] == 3 and TOKEN not in sent.output
    assert all(r["json"]["type"] == "message" for r in webhook.requests)


def test_messages_clean_text_as_every_other_output_does():
    """enrich/webhooks.py keeps its own copy of sinks/text.py's rule (enrich imports no sinks): the same."""
    from enrich import webhooks
    from sinks.text import clean_text

    hostile = "Esc\x1b[2J\x1b]8;;http://evil\x1b\\Oy\tInvoice\u202egnp.exe\x00\x9b31m\r\n\u2028\u2066x\u2069"
    assert webhooks.clean_text(hostile) == clean_text(hostile)
    assert webhooks._UNSAFE.pattern == __import__("sinks.text", fromlist=["_UNSAFE"])._UNSAFE.pattern


# --- the adversarial review's defects: a malformed URL, a trickling answer, a decaying score, a form's day ---

@pytest.mark.parametrize("url", ["http://[::1/SECRETTOKEN", "http://127.0.0.1:99999/SECRETTOKEN",
                                 "http://127.0.0.1:x/SECRETTOKEN", "http://exa mple.fi/SECRETTOKEN"])
def test_a_malformed_webhook_url_is_one_line_and_the_night_succeeds(night, webhook, caplog, url):
    caplog.set_level(logging.INFO, logger="leadpipe")
    stats = engine.execute(replace(night, webhook_url=url), "run", ["report", "push"])
    assert stats["push_skipped"] == 1 and webhook.requests == []
    assert _rows(night, "SELECT status FROM runs ORDER BY run_id DESC LIMIT 1") == [("success",)]
    assert [r.message for r in caplog.records if r.message.startswith("push")] == [
        "push: the webhook URL is not a valid http(s) URL: nothing pushed"]
    assert "SECRETTOKEN" not in caplog.text
    result = _cli(night, env={"LEADPIPE_WEBHOOK_URL": url})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["push_skipped"] == 1 and "SECRETTOKEN" not in result.output


def test_a_redirect_to_a_malformed_url_is_a_failed_push_not_a_failed_night(night, webhook):
    webhook.script = lambda n: (307, {"Location": "http://[::1/SECRETTOKEN"}, b"", 0.0)
    stats = engine.execute(night, "run", ["report", "push"])
    assert stats["push_failed"] == 3
    assert _rows(night, "SELECT status FROM runs ORDER BY run_id DESC LIMIT 1") == [("success",)]
    assert {e for (e,) in _rows(night, "SELECT last_error FROM pushes")} == {
        f"{webhook.shown}: redirect to an invalid URL not followed"}


class Trickler:
    """A webhook that reads the POST, then answers a little every 0.2 s (under any read timeout) for 8 s:
    its status line, its headers or (a 500's) body."""

    PARTS = {"status": (b"HTTP/1.1 200 O", b"K"), "headers": (b"HTTP/1.1 200 OK\r\n", b"X-Slow: 1\r\n"),
             "body": (b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 100000\r\n\r\n", b"x")}

    def __init__(self, part: str):
        self.requests = 0
        outer, (head, drip) = self, self.PARTS[part]

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                outer.requests += 1
                length = 0
                while (line := self.rfile.readline()) not in (b"\r\n", b"\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                self.rfile.read(length)
                started = time.monotonic()
                try:
                    self.wfile.write(head)
                    while time.monotonic() - started < 8:
                        time.sleep(0.2)
                        self.wfile.write(drip)
                        self.wfile.flush()
                except OSError:  # the client gave up
                    pass

        socketserver.ThreadingTCPServer.daemon_threads = True
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("part", ["status", "headers", "body"])
def test_a_trickling_webhook_is_given_up_at_the_deadline(night, monkeypatch, part):
    monkeypatch.setattr(pushes, "FAILURES_IN_A_ROW", 1)
    slow = Trickler(part)
    try:
        settings = replace(night, webhook_url=f"{slow.base}/services/{TOKEN}", request_timeout=(1.0, 0.5))
        started = time.monotonic()
        stats = engine.execute(settings, "run", ["push"])
        elapsed = time.monotonic() - started
    finally:
        slow.close()
    assert (stats["push_failed"], stats["push_deferred"]) == (1, 2) and slow.requests == 3
    assert elapsed < 3 * 1.0 + 3, "three attempts, each given up at its deadline (twice the read timeout)"
    assert _rows(night, "SELECT last_error FROM pushes") == [
        (f"{slow.base.replace('127.0.0.1', 'x.x.x.x')}: no answer within 1 s after 3 attempts",)]
    assert _rows(night, "SELECT status FROM runs ORDER BY run_id DESC LIMIT 1") == [("success",)]


def _yesterdays_pushes(settings):
    """The pushes so far, as if made the day before (the next push is another day's)."""
    with duckdb.connect(str(settings.db)) as con:
        con.execute("UPDATE pushes SET day = day - 1")


def _visit(settings, tmp_path, client, ts):
    log = write_log(tmp_path / f"visit-{time.monotonic_ns()}.log",
                    [combined(client=client, ts=ts, request="GET /contact HTTP/1.1")])
    engine.execute(replace(settings, logs=(str(log),)), "run", ["ingest", "resolve", "load", "report"])


def _form(settings, tmp_path, when):
    forms = tmp_path / f"forms-{time.monotonic_ns()}.jsonl"
    forms.write_text(json.dumps({"time": when, "form": "configurator", "name": "Maija Meikäläinen",
                                 "email": "maija@kalliodata.fi", "position": "CTO", "business_id": "1234567-1",
                                 "message": "call me"}) + "\n")
    stats = engine.execute(replace(settings, forms=(str(forms),)), "run", ["forms", "report"])
    assert stats["contacts"] == 1


def test_changed_means_new_activity_not_a_score_that_decays(night, webhook, tmp_path):
    assert _push(night)["push_sent"] == 3
    _yesterdays_pushes(night)
    assert _push(night)["push_sent"] == 0, "no new activity: nothing to push"
    # another company's visit a day later moves the period's last day: the others' recency drops a point
    _visit(night, tmp_path, CLIENTS[1], "23/Nov/2026:10:00:00 +0200")
    _yesterdays_pushes(night)
    assert _push(night)["push_sent"] == 1 and webhook.companies()[3:] == [HOSTILE]
    assert webhook.requests[-1]["json"]["event"] == "lead.changed"
    _visit(night, tmp_path, CLIENTS[0], "23/Nov/2026:12:00:00 +0200")
    _yesterdays_pushes(night)
    assert _push(night)["push_sent"] == 1 and webhook.companies()[4:] == ["Kalliodata Oy"]
    assert webhook.requests[-1]["json"]["event"] == "lead.changed"
    assert _push(night)["push_sent"] == 0, "once per company and day"
    _form(night, tmp_path, "2026-11-23T09:05:00")
    assert _push(night)["push_sent"] == 0, "a new form, but Kalliodata had its push today"
    _yesterdays_pushes(night)
    assert _push(night)["push_sent"] == 1 and webhook.companies()[5:] == ["Kalliodata Oy"]
    _yesterdays_pushes(night)
    assert _push(night)["push_sent"] == 0 and len(webhook.requests) == 6


def test_a_pushed_form_names_its_kind_and_day_never_the_person(night, webhook, tmp_path):
    _form(night, tmp_path, "2026-11-22T23:30:00")  # the configured zone's day (Helsinki)
    assert _push(night)["push_sent"] == 3
    message = next(r["json"] for r in webhook.requests if r["json"]["company"] == "Kalliodata Oy")
    assert message["forms"] == ["form submitted: configurator, 22.11.2026"]
    sent = json.dumps([r["json"] for r in webhook.requests], ensure_ascii=False)
    assert "Maija" not in sent and "maija@" not in sent and "CTO" not in sent and "call me" not in sent


# --- the second review: leads a webhook rejects, the platforms' limits, lead.new once per webhook ---

LONG = [f"Lomake {i} " + "Pitkä Yritysnimi Oy " * 9 for i in range(3)]  # 200 characters: as long as lists keep
REAL = ["Real Customer Oy", "Toinen Asiakas Oy", "Kolmas Asiakas Ab"]
CROWD = [(f"185.213.{50 + i}.0/24", name) for i, name in enumerate(LONG + REAL)]


@pytest.fixture(scope="module")
def crowded(tmp_path_factory):
    """Six companies: three with ~4,000-character names (busy visitors, ranked first), three real ones."""
    base = tmp_path_factory.mktemp("push-crowd")
    networks = base / "networks.csv"
    networks.write_text("cidr,organisation,business_id,kind\n"
                        + "".join(f'{cidr},"{name}",,company\n' for cidr, name in CROWD))
    lines = [combined(client=cidr.replace(".0/24", ".7"), ts=f"22/Nov/2026:1{hour}:00:00 +0200",
                      request=f"GET {page} HTTP/1.1")
             for i, (cidr, _) in enumerate(CROWD)
             for hour, page in enumerate(["/pricing", "/contact", "/demo", "/pricing"] if i < 3 else ["/blog"])]
    settings, _ = offline_night(base, lines, networks)
    return base, settings


@pytest.fixture
def crowd(crowded, tmp_path, webhook, monkeypatch):
    """The six, the first three's names ~4,000 characters long as the leads reach the push (a source that
    keeps longer names than the lists' and the forms' 200: the push must not rely on that cut)."""
    from flows import crm_push

    leads = crm_push._leads
    monkeypatch.setattr(crm_push, "_leads", lambda ctx, period: [
        {**row, "name": row["name"] * 20} if row["name"].startswith("Lomake") else row for row in leads(ctx, period)])
    base, settings = crowded
    shutil.copytree(base, tmp_path / "crowd")
    root = tmp_path / "crowd"
    return replace(settings, db=root / "leads.duckdb", config_dir=root / "cfg", report_dir=root / "reports",
                   offline=False, webhook_url=webhook.url, retry_backoff=(0.0,), request_timeout=(1.0, 1.0), logs=())


def _crm_like(webhook, otherwise=(200, {}, b"ok", 0.0)):
    """A CRM whose company column holds 255 characters: 422 for a longer name, else ``otherwise``."""
    def answer(n):
        long = len(webhook.requests[n - 1]["json"].get("company") or "") > 255
        return (422, {}, b"name_too_long", 0.0) if long else otherwise
    return answer


def _slack_like(webhook):
    """Slack's answer to a section text over 3,000 characters: 400 invalid_blocks."""
    def answer(n):
        body = webhook.requests[n - 1]["json"]
        texts = [b["text"]["text"] for b in body["blocks"] if b["type"] == "section"]
        too_long = any(len(t) > 3000 for t in texts) or len(body["text"]) > 4000
        return (400, {}, b"invalid_blocks", 0.0) if too_long else (200, {}, b"ok", 0.0)
    return answer


def test_leads_the_webhook_rejects_do_not_block_the_leads_below_them(crowd, webhook, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="leadpipe")
    webhook.script = _crm_like(webhook)
    stats = _push(crowd)
    assert (stats["push_due"], stats["push_sent"], stats["push_failed"], stats["push_rejected"],
            stats["push_deferred"]) == (6, 3, 0, 3, 0)
    assert [c[:8] for c in webhook.companies()[:3]] == ["Lomake 0", "Lomake 1", "Lomake 2"], "ranked first"
    assert sorted(webhook.companies()[3:]) == sorted(REAL)
    assert "6 due, 3 sent, 0 failed, 3 rejected, 0 wait" in caplog.text
    assert _rows(crowd, "SELECT status, attempts, last_error, count(*) FROM pushes GROUP BY ALL ORDER BY 1") == [
        ("rejected", 1, f"{webhook.shown}: HTTP 422 name_too_long", 3), ("sent", 1, None, 3)]
    assert "Pitkä" not in caplog.text, "a rejection's line names no company"
    assert _push(crowd)["push_due"] == 0, "a rejected lead is not retried the same day"
    _yesterdays_pushes(crowd)
    assert _push(crowd)["push_due"] == 0 and len(webhook.requests) == 6, "nor the next day, without new activity"
    _visit(crowd, tmp_path, "185.213.51.7", "22/Nov/2026:20:00:00 +0200")  # Lomake 1 is active again
    _yesterdays_pushes(crowd)
    stats = _push(crowd)
    assert (stats["push_due"], stats["push_rejected"]) == (1, 1) and webhook.companies()[-1].startswith("Lomake 1")


def test_a_webhook_outage_still_stops_the_run_and_rejections_do_not_count_toward_it(crowd, webhook, monkeypatch):
    monkeypatch.setattr(pushes, "FAILURES_IN_A_ROW", 2)
    webhook.script = _crm_like(webhook, otherwise=(503, {}, b"unavailable", 0.0))
    stats = _push(crowd)
    assert (stats["push_rejected"], stats["push_failed"], stats["push_deferred"]) == (3, 2, 1)
    assert _rows(crowd, "SELECT status, count(*) FROM pushes GROUP BY ALL ORDER BY 1") == [
        ("failed", 2), ("rejected", 3)]
    webhook.script = lambda n: (403, {}, b"invalid_token", 0.0)  # a revoked webhook refuses every lead: failing
    stats = _push(crowd)
    assert (stats["push_due"], stats["push_failed"], stats["push_deferred"]) == (3, 2, 1)
    assert _rows(crowd, "SELECT count(*) FROM pushes WHERE status = 'rejected'") == [(3,)]


def test_a_slack_webhook_takes_every_lead_however_long_its_name(crowd, webhook):
    webhook.script = _slack_like(webhook)
    stats = _push(replace(crowd, webhook_format="slack"))
    assert (stats["push_sent"], stats["push_failed"], stats["push_rejected"]) == (6, 0, 0)
    first = webhook.requests[0]["json"]
    assert first["text"].startswith("New lead: Lomake 0") and "…" in first["text"] and len(first["text"]) <= 300


def _hostile_row(**values):
    many = [{"form": "<&>*_[" * 50, "submitted_at": datetime(2026, 11, 20, 9, tzinfo=timezone.utc)}] * 60
    return {"company_id": "x", "name": "&<>[]*" * 1000, "score": 40, "first_push": True, "new": True,
            "website": "https://x.fi/" + "&a=b" * 400, "industry": "&" * 5000, "city": "<" * 5000,
            "reasons": "&*\\" * 3000, "last_visit": datetime(2026, 11, 22, 8, tzinfo=timezone.utc), "forms": many,
            "business_id": "1234567-1", "ytj_url": "https://tietopalvelu.ytj.fi/yritys/1234567-1", **values}


def test_every_text_is_cut_to_the_platforms_limits_without_splitting_an_escape():
    message = lead_message(_hostile_row(), day=date(2026, 11, 26), zone="Europe/Helsinki",
                           report_url="https://intra.example/leads/r.html")
    assert len(message["company"]) == 300 and message["company"].endswith("…")
    assert len(message["reasons"]) == 2000 and len(message["industry"]) == 200 and len(message["forms"]) == 20

    payload = slack(message)
    section = payload["blocks"][0]["text"]["text"]
    assert len(section.encode("utf-16-le")) // 2 <= 3000 and len(payload["text"]) <= 300
    for text in (section, payload["text"], payload["blocks"][1]["elements"][0]["text"]):
        assert re.fullmatch(r"(?:[^&<>]|&(?:amp|lt|gt);|<https://[^<>]+\|[^<>]+>)*", text), "a whole entity each"
    name = re.match(r"\*(.*?)\*\n", section).group(1)
    assert len(name) <= 150 and name.endswith("…")
    assert "<!" not in section and "&lt;" in section

    card = teams(message)
    size = len(json.dumps(card, ensure_ascii=False).encode("utf-8"))
    assert size <= 20_000 < 28_000
    title = card["attachments"][0]["content"]["body"][0]["text"]
    assert len(title) <= 150 and title.endswith("…") and title.startswith(r"New lead: &\<\>\[\]\*")
    for block in card["attachments"][0]["content"]["body"]:
        for text in [block.get("text", "")] + [f["value"] for f in block.get("facts", [])]:
            assert re.fullmatch(r"(?:[^\\`*_\[\]<>~|]|\\[\\`*_\[\]<>~|])*…?", text), "no escape split, none lost"


def test_lead_new_goes_to_a_webhook_once_per_company(night, webhook, tmp_path):
    assert _push(night)["push_sent"] == 3
    assert {r["json"]["event"] for r in webhook.requests} == {"lead.new"}
    _yesterdays_pushes(night)
    _visit(night, tmp_path, CLIENTS[0], "22/Nov/2026:18:00:00 +0200")  # the same period: still "new" in its report
    assert _push(night)["push_sent"] == 1
    last = webhook.requests[-1]["json"]
    assert last["company"] == "Kalliodata Oy" and last["new"] is True and last["event"] == "lead.changed"
    # a merged company: the webhook had it under its old id (an alias), so it is not new to it
    with duckdb.connect(str(night.db)) as con:
        (hostile,) = con.execute("SELECT company_id FROM companies WHERE name = ?", [HOSTILE]).fetchone()
        con.execute("UPDATE pushes SET company_id = 'old-id' WHERE company_id = ?", [hostile])
        con.execute("INSERT INTO company_aliases VALUES ('old-id', ?)", [hostile])
    _yesterdays_pushes(night)
    _visit(night, tmp_path, CLIENTS[1], "22/Nov/2026:19:00:00 +0200")
    assert _push(replace(night, webhook_format="slack"))["push_sent"] == 1
    assert webhook.requests[-1]["json"]["text"].startswith("Lead: "), "not 'New lead' in a chat either"


def test_a_failed_or_rejected_push_leaves_the_lead_new_to_the_webhook(night, webhook, tmp_path):
    webhook.script = lambda n: ((500, {}, b"", 0.0) if n <= 3 else (422, {}, b"bad", 0.0) if n <= 5
                                else (200, {}, b"ok", 0.0))  # lead 1 fails (3 tries), leads 2 and 3 are rejected
    stats = _push(night)
    assert (stats["push_failed"], stats["push_rejected"]) == (1, 2)
    first = webhook.requests[0]["json"]["company"]
    assert _push(night)["push_sent"] == 1, "the failed one, retried; the rejected ones wait for new activity"
    assert (webhook.requests[-1]["json"]["company"], webhook.requests[-1]["json"]["event"]) == (first, "lead.new")
    for client in CLIENTS:  # new activity for all three: the rejected ones are due again
        _visit(night, tmp_path, client, "22/Nov/2026:20:00:00 +0200")
    _yesterdays_pushes(night)
    assert _push(night)["push_sent"] == 3
    events = {r["json"]["company"]: r["json"]["event"] for r in webhook.requests[-3:]}
    assert events == {name: "lead.changed" if name == first else "lead.new" for name in events} and len(events) == 3
