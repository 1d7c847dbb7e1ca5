"""The morning e-mail against a real SMTP server on 127.0.0.1 (aiosmtpd): received, parsed, sent once per feed
and period, retried after a failure, authenticated with the environment's credentials, rendered by Chromium."""

import email
import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
from datetime import date, datetime, timezone
from email import policy
from pathlib import Path

import duckdb
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from flows import engine
from flows.config import REPO_ROOT, load_settings
from enrich.mail import DEADLINE_FACTOR, MailError, SmtpClient, build_message
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
    # it names the recipients in its To: header (the README says so), so it is private to its owner
    assert "sales@example.fi" in message["To"] and stat.S_IMODE(os.stat(eml).st_mode) == 0o600
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


class SlowServer:
    """A tiny SMTP server on 127.0.0.1 that answers normally until ``phase`` ("greeting", "ehlo",
    "starttls": a TLS handshake, "data": the reply after the message), then trickles one byte every
    ``gap`` seconds for up to ``limit`` seconds; ``phase="silent"``: accepts and says nothing."""

    def __init__(self, phase: str, gap: float = 0.2, limit: float = 10.0):
        self.phase, self.gap, self.limit = phase, gap, limit
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.listener.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            with conn:
                try:
                    self._session(conn)
                except OSError:
                    pass  # the client hung up

    def _trickle(self, conn: socket.socket, data: bytes) -> None:
        until = time.monotonic() + self.limit
        for byte in data * 1000:
            if self.stop.is_set() or time.monotonic() > until:
                return
            conn.sendall(bytes([byte]))
            time.sleep(self.gap)

    def _session(self, conn: socket.socket) -> None:
        if self.phase == "silent":
            self.stop.wait(self.limit)
            return
        if self.phase == "greeting":
            return self._trickle(conn, b"220-x")
        conn.sendall(b"220 x ESMTP\r\n")
        reader = conn.makefile("rb")
        for line in reader:
            command = line.strip().upper()
            if command.startswith(b"EHLO"):
                if self.phase == "ehlo":
                    return self._trickle(conn, b"250-x")
                conn.sendall(b"250-x\r\n250 STARTTLS\r\n")
            elif command == b"STARTTLS":
                conn.sendall(b"220 go ahead\r\n")
                return self._trickle(conn, b"\x16\x03\x03\x01\x00")  # a handshake record of 256 bytes, slowly
            elif command == b"DATA":
                conn.sendall(b"354 go ahead\r\n")
                for body in reader:
                    if body == b".\r\n":
                        break
                if self.phase == "data":
                    return self._trickle(conn, b"250-x")
                conn.sendall(b"250 OK\r\n")
            elif command == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                return
            else:
                conn.sendall(b"250 OK\r\n")

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.listener.close()


def _message():
    return build_message(subject="s", html="<p>x</p>", text="x", sender="leadpipe@example.fi",
                         recipients=("sales@example.fi",), attachment=None, generated_at=datetime.now(timezone.utc))


@pytest.mark.parametrize(("security", "phase"), [("none", "greeting"), ("starttls", "greeting"),
                                                 ("none", "ehlo"), ("starttls", "starttls"), ("none", "data")])
def test_a_trickling_smtp_server_is_given_up_at_the_sends_deadline(security, phase):
    server = SlowServer(phase)
    client = SmtpClient("127.0.0.1", server.port, security, timeout=0.3)
    started = time.monotonic()
    try:
        with pytest.raises(MailError) as failed:
            client.send(_message())
    finally:
        server.close()
    took, deadline = time.monotonic() - started, 0.3 * DEADLINE_FACTOR
    assert took < deadline + 1.5, took
    if phase == "starttls":  # ssl bounds a whole handshake by the timeout itself
        assert str(failed.value) == f"SMTP 127.0.0.1:{server.port}: timed out after 0.3 s"
    else:  # each byte came within the timeout: only the deadline stopped it
        assert took >= deadline and str(failed.value) == (
            f"SMTP 127.0.0.1:{server.port}: timed out after {deadline:g} s (the deadline for a whole send)")


def test_a_trickling_server_is_recorded_the_night_succeeds_and_the_next_run_retries(built):
    tmp_path, db = built
    server = SlowServer("greeting")
    try:
        settings = _settings(tmp_path, db, server.port, LEADPIPE_SMTP_TIMEOUT="0.3")
        started = time.monotonic()
        failed = engine.execute(settings, "run", ["report", "deliver"])
        assert time.monotonic() - started < 8
    finally:
        server.close()
    assert failed["deliver_failed"] == 1 and failed["deliver_sent"] == 0
    (_, status, attempts, _, _, error), = _deliveries(db)
    assert (status, attempts) == ("failed", 1) and "timed out after 1.2 s" in error and "example.fi" not in error
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT status FROM runs ORDER BY run_id DESC LIMIT 1").fetchall() == [("success",)]
    controller, inbox = _server(server.port)
    try:
        sent = engine.execute(_settings(tmp_path, db, server.port), "deliver", ["deliver"])
    finally:
        controller.stop()
    assert sent["deliver_sent"] == 1 and len(inbox.messages) == 1 and _deliveries(db)[0][1:3] == ("sent", 2)


def test_a_listener_that_says_nothing_is_a_timeout():
    server = SlowServer("silent")
    started = time.monotonic()
    try:
        with pytest.raises(MailError) as failed:
            SmtpClient("127.0.0.1", server.port, "none", timeout=0.3).send(_message())
    finally:
        server.close()
    assert time.monotonic() - started < 1
    assert str(failed.value) == f"SMTP 127.0.0.1:{server.port}: timed out after 0.3 s"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1, and a client context that trusts only it."""
    import ipaddress
    import ssl
    from datetime import timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    client = ssl.create_default_context(cafile=str(folder / "cert.pem"))
    return server, client


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_encrypted_smtp_sends_with_login_and_verifies_the_server(certificate, security):
    """The default (STARTTLS) and implicit TLS against a real server: the login goes only over TLS, and a
    server whose certificate the client does not trust is one line, nothing sent."""
    server_context, client_context = certificate
    inbox = Inbox()

    def authenticator(server, session, envelope, mechanism, auth_data):
        return AuthResult(success=(auth_data.login, auth_data.password) == (b"leadpipe", b"s3cret"), handled=False)

    # aiosmtpd counts only STARTTLS as TLS for offering AUTH: with implicit TLS the whole session is TLS
    tls = ({"tls_context": server_context, "require_starttls": True, "auth_require_tls": True}
           if security == "starttls" else {"ssl_context": server_context, "auth_require_tls": False})
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port(), authenticator=authenticator,
                            auth_required=True, **tls)
    controller.start()
    try:
        client = SmtpClient("127.0.0.1", controller.port, security, ("leadpipe", "s3cret"), timeout=5,
                            context=client_context)
        assert client.send(_message()) == 0
        assert [to for to, _ in inbox.messages] == [["sales@example.fi"]]
        untrusting = SmtpClient("127.0.0.1", controller.port, security, ("leadpipe", "s3cret"), timeout=5)
        with pytest.raises(MailError, match=r"^SMTP 127\.0\.0\.1:\d+: TLS failed") as failed:
            untrusting.send(_message())
        assert "s3cret" not in str(failed.value) and len(inbox.messages) == 1
    finally:
        controller.stop()
