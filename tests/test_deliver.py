"""The morning e-mail against a real SMTP server on 127.0.0.1 (aiosmtpd): received, parsed, sent once per feed
and period, retried after a failure, authenticated with the environment's credentials, rendered by Chromium."""

import email
import json
import os
import socket
import subprocess
import sys
from datetime import date, datetime, timezone
from email import policy
from pathlib import Path

import duckdb
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from flows import engine
from flows.config import REPO_ROOT, load_settings
from sinks.deliveries import MAX_ATTEMPTS, deliver_feeds
from sinks.feeds import Feed
from sinks.leads import Period
from tests.conftest import combined, offline_night
from tests.test_report import _chromium, _png_is_not_blank

pytest.importorskip("aiosmtpd")

NETWORKS = (
    "cidr,organisation,business_id,kind\n"
    "185.213.44.0/24,Kalliodata Oy,3141593-8,company\n"
    "193.166.220.0/24,Metsä Logistics Ab,2718282-8,company\n"
)
CONFIG = """[leadpipe]
[leadpipe.feeds.software]
title = "Software companies"
industries = ["62"]
recipients = ["sales@example.fi", "boss@example.fi"]
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Inbox:
    """aiosmtpd's handler: every message the server accepted, parsed."""

    def __init__(self):
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((list(envelope.rcpt_tos), email.message_from_bytes(envelope.content,
                                                                                  policy=policy.default)))
        return "250 OK"


def _server(port: int, credentials: tuple[str, str] | None = None):
    inbox = Inbox()
    extra = {}
    if credentials:
        def authenticator(server, session, envelope, mechanism, auth_data):
            # handled=False: aiosmtpd answers a failure itself (535)
            return AuthResult(success=(auth_data.login.decode(), auth_data.password.decode()) == credentials,
                              handled=False)

        extra = {"authenticator": authenticator, "auth_required": True, "auth_require_tls": False}
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **extra)
    controller.start()
    return controller, inbox


@pytest.fixture
def smtp():
    controller, inbox = _server(_free_port())
    yield controller.port, inbox
    controller.stop()


@pytest.fixture
def built(tmp_path):
    lines = [
        combined(client="185.213.44.10", ts="20/Nov/2026:10:00:00 +0200", request="GET /pricing HTTP/1.1"),
        combined(client="185.213.44.11", ts="21/Nov/2026:09:00:00 +0200", request="GET /contact HTTP/1.1"),
        combined(client="193.166.220.7", ts="21/Nov/2026:12:00:00 +0200", request="GET /blog HTTP/1.1"),
    ]
    networks = tmp_path / "networks.csv"
    networks.write_text(NETWORKS)

    def industries(settings) -> None:
        with duckdb.connect(str(settings.db)) as con:
            con.execute("UPDATE companies SET industry_code = '62100', industry = 'Computer programming activities'"
                        " WHERE business_id = '3141593-8'")

    settings, _ = offline_night(tmp_path, lines, networks, industries)
    (tmp_path / "leadpipe.toml").write_text(CONFIG)
    return tmp_path, settings.db


def _settings(tmp_path: Path, db: Path, port: int | None, **env):
    environment = {"LEADPIPE_CONFIG_DIR": str(tmp_path / "cfg"), **env}
    if port is not None:
        environment.update(LEADPIPE_SMTP_HOST="127.0.0.1", LEADPIPE_SMTP_PORT=str(port),
                           LEADPIPE_SMTP_SECURITY="none", LEADPIPE_SMTP_SENDER="leadpipe@example.fi")
    return load_settings({"db": str(db), "report_dir": str(tmp_path / "reports"), "offline": True},
                         tmp_path / "leadpipe.toml", environment)


def _deliveries(db: Path) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("SELECT feed, status, attempts, recipients, companies, last_error FROM deliveries").fetchall()


def _html(message) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def test_the_feed_email_is_received_with_its_companies_and_the_report_attached(built, smtp):
    tmp_path, db = built
    port, inbox = smtp
    stats = engine.execute(_settings(tmp_path, db, port), "run", ["report", "deliver"])
    assert stats["deliver_sent"] == 1 and stats["deliver_failed"] == 0
    (recipients, message), = inbox.messages
    assert sorted(recipients) == ["boss@example.fi", "sales@example.fi"]
    assert message["Subject"].startswith("Leads: Software companies — 1 companies, 1 new")
    assert message["From"] == "leadpipe@example.fi"
    html = _html(message)
    assert "Kalliodata Oy" in html and "Metsä" not in html  # only the feed's companies
    assert "viewed pricing" in html and ">NEW</span>" in html  # the reasons, the new one marked
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "Kalliodata Oy [NEW]" in text and "The full report is attached." in text
    attachment, = message.iter_attachments()
    assert attachment.get_filename() == "lead-report-2026-11-21.html"
    assert "Kalliodata Oy" in attachment.get_content()
    # the deliveries table: how many recipients, never who
    assert _deliveries(db) == [("software", "sent", 1, 2, 1, None)]
    with duckdb.connect(str(db), read_only=True) as con:
        stored = json.dumps(con.execute("SELECT * FROM deliveries").fetchall(), default=str)
        stored += json.dumps(con.execute("SELECT stats FROM runs").fetchall(), default=str)
    assert "example.fi" not in stored.replace("leadpipe@example.fi", "") and "sales@" not in stored


def test_a_rerun_sends_nothing_twice(built, smtp):
    tmp_path, db = built
    port, inbox = smtp
    settings = _settings(tmp_path, db, port)
    engine.execute(settings, "run", ["report", "deliver"])
    again = engine.execute(settings, "run", ["report", "deliver"])
    assert again["deliver_sent"] == 0 and again["deliver_already_sent"] == 1
    assert engine.execute(settings, "deliver", ["deliver"])["deliver_already_sent"] == 1
    assert len(inbox.messages) == 1


def test_with_report_url_the_email_links_the_report(built, smtp):
    tmp_path, db = built
    port, inbox = smtp
    engine.execute(_settings(tmp_path, db, port, LEADPIPE_REPORT_URL="https://intra.example/leads/"), "run",
                   ["report", "deliver"])
    (_, message), = inbox.messages
    assert 'href="https://intra.example/leads/lead-report-2026-11-21.html"' in _html(message)
    assert not list(message.iter_attachments())


def test_smtp_down_is_recorded_the_night_succeeds_and_the_next_run_sends(built):
    tmp_path, db = built
    port = _free_port()  # nothing listens there
    failed = engine.execute(_settings(tmp_path, db, port), "run", ["report", "deliver"])
    assert failed["deliver_failed"] == 1 and failed["deliver_sent"] == 0
    (feed, status, attempts, _, _, error), = _deliveries(db)
    assert (status, attempts) == ("failed", 1) and f":{port}: ConnectionRefusedError" in error and "\n" not in error
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT status FROM runs ORDER BY run_id DESC LIMIT 1").fetchall() == [("success",)]
    controller, inbox = _server(port)
    try:
        sent = engine.execute(_settings(tmp_path, db, port), "run", ["report", "deliver"])
    finally:
        controller.stop()
    assert sent["deliver_sent"] == 1 and len(inbox.messages) == 1
    assert _deliveries(db)[0][1:3] == ("sent", 2)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # 127.0.0.1, test credentials
def test_authentication_with_the_environments_credentials(built):
    tmp_path, db = built
    controller, inbox = _server(_free_port(), ("leads", "s3cret-pass"))
    try:
        wrong = engine.execute(_settings(tmp_path, db, controller.port, LEADPIPE_SMTP_USER="leads",
                                         LEADPIPE_SMTP_PASSWORD="nope"), "deliver", ["deliver"])
        assert wrong["deliver_failed"] == 1 and "authentication failed" in _deliveries(db)[0][5]
        right = engine.execute(_settings(tmp_path, db, controller.port, LEADPIPE_SMTP_USER="leads",
                                         LEADPIPE_SMTP_PASSWORD="s3cret-pass"), "deliver", ["deliver"])
    finally:
        controller.stop()
    assert right["deliver_sent"] == 1 and len(inbox.messages) == 1
    assert "s3cret" not in repr(_settings(tmp_path, db, 25, LEADPIPE_SMTP_USER="leads",
                                          LEADPIPE_SMTP_PASSWORD="s3cret-pass"))


def test_without_smtp_host_the_message_is_written_as_eml(built):
    tmp_path, db = built
    stats = engine.execute(_settings(tmp_path, db, None), "run", ["report", "deliver"])
    eml, = stats["deliver_files"]
    assert stats["deliver_written"] == 1 and "deliver_files" not in _run_stats(db)
    message = email.message_from_bytes(Path(eml).read_bytes(), policy=policy.default)
    assert "Kalliodata Oy" in _html(message)
    assert _deliveries(db) == []  # not sent: a later run with an SMTP server sends it


def _run_stats(db: Path) -> dict:
    with duckdb.connect(str(db), read_only=True) as con:
        return json.loads(con.execute("SELECT stats FROM runs ORDER BY run_id DESC LIMIT 1").fetchall()[0][0])


def test_a_failing_feed_is_given_up_after_its_attempts(con, tmp_path):
    period = Period(date(2026, 11, 1), date(2026, 11, 2), "Europe/Helsinki")
    feed = Feed("f", "F", recipients=("a@example.fi",))
    data = {"feed": feed, "period": period, "new": [], "top": [], "companies": [{"rank": 1}]}

    def down(message):
        raise OSError("connection refused")

    html = tmp_path / "r.html"
    html.write_text("<p>report</p>")
    calls = []
    for _ in range(MAX_ATTEMPTS + 2):
        stats = deliver_feeds(con, [data], send=lambda m: calls.append(m) or down(m), sender="x@example.fi",
                              html_path=html, report_url=None, outbox=tmp_path, now=datetime.now(timezone.utc))
    assert len(calls) == MAX_ATTEMPTS and stats["deliver_gave_up"] == 1
    assert con.execute("SELECT status, attempts FROM deliveries").fetchall() == [("gave_up", MAX_ATTEMPTS)]


@pytest.mark.skipif(not _chromium(), reason="Debian's chromium is not installed (.ci/run installs it)")
def test_the_email_html_renders_in_headless_chromium(built, smtp):
    tmp_path, db = built
    port, inbox = smtp
    engine.execute(_settings(tmp_path, db, port), "run", ["report", "deliver"])
    page = tmp_path / "email.html"
    page.write_text(_html(inbox.messages[0][1]))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'chromium-profile'}"]
    dom = subprocess.run([_chromium(), *flags, "--dump-dom", f"file://{page}"], capture_output=True, text=True,
                         timeout=120)
    assert "Kalliodata Oy" in dom.stdout and 'id="feed-companies">1<' in dom.stdout
    shot = tmp_path / "email.png"
    subprocess.run([_chromium(), *flags, f"--screenshot={shot}", "--window-size=700,900", f"file://{page}"],
                   capture_output=True, timeout=120)
    assert shot.exists() and _png_is_not_blank(shot)


def test_the_demo_feed_writes_its_csv_and_its_email_reaches_the_smtp_server(tmp_path, smtp):
    port, inbox = smtp
    env = {**os.environ, "LEADPIPE_CONFIG_DIR": str(tmp_path / "config"), "LEADPIPE_SMTP_HOST": "127.0.0.1",
           "LEADPIPE_SMTP_PORT": str(port), "LEADPIPE_SMTP_SECURITY": "none",
           "LEADPIPE_SMTP_SENDER": "leadpipe@example.fi", "PYTHONDONTWRITEBYTECODE": "1"}
    for name in ("LEADPIPE_DB", "LEADPIPE_LOGS", "LEADPIPE_REPORT_DIR", "PREFECT_API_URL", "LEADPIPE_CONFIG"):
        env.pop(name, None)
    demo = subprocess.run([sys.executable, "-m", "flows.cli", "demo", "--out", str(tmp_path / "out")], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    assert demo.returncode == 0, demo.stderr
    reports = tmp_path / "out" / "reports"
    feed_csv, = reports.glob("lead-report-*-software.csv")
    assert "Kalliodata Oy" in feed_csv.read_text(encoding="utf-8-sig")
    (recipients, message), = inbox.messages
    assert recipients == ["myynti@example.fi"] and "Kalliodata Oy" in _html(message)
    assert not list(reports.glob("*.eml"))  # sent, so not written
