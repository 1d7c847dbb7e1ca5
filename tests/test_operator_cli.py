"""How every command behaves for an operator who mistypes, an analyst, and a data-protection contact:
one-line errors found before anything starts, nothing created by a typo, the lock before Prefect,
the database's own secret, and help that tells the truth."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows import __version__, engine
from flows.cli import app
from flows.config import env_name, load_or_create_secret, load_settings
from sinks import database
from tests.conftest import combined, write_log

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
LEADPIPE = [sys.executable, "-m", "flows.cli"]


def _invoke(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


def _cli(*args, env=None, timeout=120):
    return subprocess.run([*LEADPIPE, *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def _tree(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*")}


# 1. Errors are one line, found before the flow starts.

def test_a_typod_log_glob_is_one_line_before_prefect_or_any_file(tmp_path):
    before = _tree(tmp_path)
    result = _invoke("run", "--db", tmp_path / "new" / "leads.duckdb", "--logs", tmp_path / "acess*.log", "--offline")
    assert result.exit_code == 1
    assert "matches no file" in _one_line(result.stderr)
    assert _tree(tmp_path) == before  # no database, no folder, no Prefect home, no lock


def test_a_typod_leadfeeder_or_forms_path_is_one_line(tmp_path):
    for option in ("--leadfeeder", "--forms"):
        result = _invoke("run", "--db", tmp_path / "leads.duckdb", option, tmp_path / "export.csv", "--offline")
        assert result.exit_code == 1
        assert option in _one_line(result.stderr)
    assert not (tmp_path / "leads.duckdb").exists()


@pytest.mark.skipif(os.geteuid() != 0 and not Path("/proc").exists(), reason="needs /proc")
def test_an_unwritable_db_or_demo_folder_is_one_line(tmp_path):
    result = _invoke("run", "--db", "/proc/leadpipe-x/leads.duckdb", "--offline")
    assert result.exit_code == 1 and "cannot write there" in _one_line(result.stderr)
    result = _invoke("demo", "--out", "/proc/leadpipe-x")
    assert result.exit_code == 1 and "--out" in _one_line(result.stderr)


@pytest.mark.parametrize("day, reason", [("2026-11-31", "out of range"), ("31.11.2026", "YYYY-MM-DD"),
                                         ("yesterday", "YYYY-MM-DD")])
def test_a_bad_day_is_one_line_naming_the_option(tmp_path, day, reason):
    result = _invoke("run", "--db", tmp_path / "leads.duckdb", "--since", day, "--offline")
    assert result.exit_code == 1
    line = _one_line(result.stderr)
    assert "--since" in line and reason in line


def test_usage_errors_are_one_line_with_exit_2(tmp_path):
    result = _cli("report", "--bogus")
    assert result.returncode == 2
    assert "--bogus" in _one_line(result.stderr) and "leadpipe report --help" in result.stderr
    result = _cli("report", "--since")
    assert result.returncode == 2 and "requires an argument" in _one_line(result.stderr)


def test_a_second_run_refuses_at_once_before_prefect_starts(tmp_path):
    db = tmp_path / "leads.duckdb"
    config_dir = tmp_path / "config"
    with database.exclusive(db):
        result = _cli("run", "--db", db, "--offline", env={"LEADPIPE_CONFIG_DIR": str(config_dir)})
    assert result.returncode == 75
    assert "another leadpipe run" in _one_line(result.stderr)
    assert not (config_dir / "prefect").exists()  # Prefect never started


def test_a_failure_inside_the_flow_is_one_line_without_prefects_tracebacks(tmp_path):
    """The engine fails inside Prefect's flow (a damaged database file): the operator sees
    leadpipe's line; Prefect's task and flow logs (with their tracebacks) stay out of the terminal."""
    db = tmp_path / "leads.duckdb"
    db.write_bytes(b"\0" * 8 + b"DUCK" + b"damaged beyond the header\n" * 1000)
    result = _cli("run", "--db", db, "--offline", env={"LEADPIPE_CONFIG_DIR": str(tmp_path / "config")})
    assert result.returncode == 1, result.stderr
    _one_line(result.stderr)


def test_an_unknown_time_zone_is_one_line_before_anything_starts(tmp_path, monkeypatch):
    monkeypatch.setenv("LEADPIPE_TIMEZONE", "Mars/Olympus_Mons")
    result = _invoke("run", "--db", tmp_path / "leads.duckdb", "--offline")
    assert result.exit_code == 1 and "LEADPIPE_TIMEZONE" in _one_line(result.stderr)


# 2. Typos never create things.

NOT_CREATING = [
    ["report"], ["subject-export", "--email", "a@b.fi"], ["forget", "--email", "a@b.fi"],
    ["object", "--email", "a@b.fi"], ["resolve"], ["enrich", "--offline"], ["load"], ["retention"],
    ["networks", "classify", "10.0.0.0/8", "isp"],
]


@pytest.mark.parametrize("args", NOT_CREATING, ids=lambda a: " ".join(a[:2]))
def test_commands_that_read_a_database_never_create_one(tmp_path, args):
    before = _tree(tmp_path)
    result = _invoke(*args, "--db", tmp_path / "typo" / "leads.duckdb")
    assert result.exit_code == 1
    assert "no database at" in _one_line(result.stderr)
    assert _tree(tmp_path) == before


def test_without_db_the_default_is_named_in_help_and_in_the_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = _invoke("report")
    assert result.exit_code == 1
    assert str(tmp_path / "leadpipe.duckdb") in _one_line(result.stderr)
    assert "./leadpipe.duckdb" in _invoke("report", "--help").stdout
    assert _tree(tmp_path) == set()


def test_a_folder_given_as_db_is_one_line(tmp_path):
    result = _invoke("report", "--db", tmp_path)
    assert result.exit_code == 1 and "is a folder" in _one_line(result.stderr)


def test_a_file_that_is_no_database_is_one_line_and_left_alone(tmp_path):
    mistaken = tmp_path / "access.log"
    mistaken.write_text(combined() + "\n")
    for command in ("run", "report"):
        result = _invoke(command, "--db", mistaken, "--offline" if command == "run" else "--verbose")
        assert result.exit_code == 1 and "is not a DuckDB database" in _one_line(result.stderr)
    assert mistaken.read_text() == combined() + "\n"


# 4. The privacy commands can never silently miss.

FORM = json.dumps({"time": "2026-11-20T10:00:00", "form": "contact", "name": "Maija Meikäläinen",
                   "email": "Maija.Meikalainen@kalliodata.fi", "company": "Kalliodata Oy"}) + "\n"


@pytest.fixture
def contact_db(tmp_path):
    forms = tmp_path / "forms.jsonl"
    forms.write_text(FORM)
    db = tmp_path / "leads.duckdb"
    settings = load_settings({"db": str(db), "forms": [str(forms)], "offline": True}, None, None)
    engine.execute(settings, "run", ["forms"])
    return db


def test_another_secret_key_is_refused_instead_of_finding_nobody(contact_db, tmp_path, monkeypatch):
    found = _invoke("subject-export", "--email", "MAIJA.meikalainen@KALLIODATA.fi", "--db", contact_db)
    assert found.exit_code == 0
    assert json.loads(found.stdout)["contacts"]  # e-mail case never matters
    monkeypatch.setenv("LEADPIPE_CONFIG_DIR", str(tmp_path / "another-user"))
    load_or_create_secret(load_settings({}, None))  # another user, with a key of their own
    for args in (["subject-export", "--email", "maija.meikalainen@kalliodata.fi"], ["forget", "--ip", "192.0.2.1"],
                 ["report"]):
        result = _invoke(*args, "--db", contact_db)
        assert result.exit_code == 1
        assert "another secret.key" in _one_line(result.stderr)
    assert not (tmp_path / "another-user" / "secret.key").read_text() == (tmp_path / "config" / "secret.key").read_text()


def test_the_fingerprint_says_nothing_about_the_key(contact_db, tmp_path):
    import duckdb

    key = (tmp_path / "config" / "secret.key").read_text().strip()
    with duckdb.connect(str(contact_db), read_only=True) as con:
        stored = con.execute("SELECT value FROM pipeline_state WHERE key = 'secret_fingerprint'").fetchall()
    assert len(stored) == 1 and key not in stored[0][0] and len(stored[0][0]) == 64


def test_a_database_older_than_fingerprints_records_its_key_on_the_next_run(contact_db, tmp_path):
    import duckdb

    with duckdb.connect(str(contact_db)) as con:
        con.execute("DELETE FROM pipeline_state WHERE key = 'secret_fingerprint'")
    assert _invoke("subject-export", "--email", "maija.meikalainen@kalliodata.fi", "--db", contact_db).exit_code == 0
    with duckdb.connect(str(contact_db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM pipeline_state WHERE key = 'secret_fingerprint'").fetchall() == [(1,)]


@pytest.mark.parametrize("args, reason", [
    (["--ip", "999.1.1.1"], "not an IP address"), (["--email", "not-an-address"], "not an e-mail"),
    (["--business-id", "1234567-8"], "not a valid Business ID"), (["--visitor-key", "xyz"], "not a visitor key"),
])
def test_privacy_commands_refuse_an_identifier_that_is_none_without_quoting_it(contact_db, args, reason):
    for command in ("forget", "subject-export"):
        result = _invoke(command, *args, "--db", contact_db)
        assert result.exit_code == 1
        line = _one_line(result.stderr)
        assert reason in line and args[1] not in line


def test_subject_export_takes_a_business_id_and_a_visitor_key(contact_db):
    for args in (["--business-id", "2468025-8"], ["--visitor-key", "0" * 32]):
        result = _invoke("subject-export", *args, "--db", contact_db)
        assert result.exit_code == 0, result.stderr
        assert isinstance(json.loads(result.stdout), dict)


# 9. Help and README tell the truth.

def test_help_names_each_options_environment_variable():
    text = _invoke("run", "--help").stdout
    for key in ("db", "logs", "leadfeeder", "forms", "since", "until", "offline", "report_dir"):
        assert env_name(key) in text, key
    assert "LEADPIPE_CONFIG" in text


def test_reports_since_describes_the_report():
    text = _invoke("report", "--help").stdout
    assert "First day of the report" in text and "to load" not in text
    assert "LEADPIPE_SINCE" in text and "LEADPIPE_UNTIL" in text


def test_version():
    result = _invoke("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"leadpipe {__version__}"


def test_a_creating_command_still_creates_its_database(tmp_path):
    logs = write_log(tmp_path / "access.log", [combined()])
    db = tmp_path / "new" / "folder" / "leads.duckdb"
    assert _invoke("ingest", "--db", db, "--logs", logs).exit_code == 0
    assert db.exists()
    assert _invoke("networks", "classify", "10.0.0.0/8", "isp", "--db", db).exit_code == 0


def test_a_runs_summary_shows_the_top_reject_reasons_of_every_source(tmp_path, monkeypatch):
    import io

    from rich.console import Console

    from flows import console as console_module

    out = io.StringIO()
    monkeypatch.setattr(console_module, "console", Console(file=out, width=200, force_terminal=False))
    stats = {"lines_read": 10, "rejects_by_reason": {"not an access log line": 7, "implausible timestamp": 1},
             "leadfeeder_rejects_by_reason": {"invalid Business ID": 3},
             "forms_rejects_by_reason": {"no e-mail address": 2, "a": 1, "b": 1}}
    console_module._print_reject_reasons(stats)
    text = out.getvalue()
    assert "top 5 of 6" in text
    lines = [line for line in text.splitlines() if "not an access log line" in line or "invalid Business ID" in line]
    assert "7" in lines[0] and "leadfeeder" in lines[1] and "3" in lines[1]


@pytest.mark.parametrize("command", [["networks", "import"], ["register", "import"]])
def test_a_typod_list_or_register_file_is_one_line_before_the_run(contact_db, tmp_path, command):
    before = contact_db.read_bytes()
    for given, words in ((tmp_path / "networks.cvs", "no such file"), (tmp_path, "is a folder")):
        result = _invoke(*command, given, "--db", contact_db)
        assert result.exit_code == 1 and words in _one_line(result.stderr)
    assert contact_db.read_bytes() == before  # no failed run recorded: nothing started


def test_serve_checks_its_options_when_it_starts_not_at_the_first_night(tmp_path):
    config_dir = tmp_path / "config"
    result = _cli("serve", "--db", tmp_path / "leads.duckdb", "--logs", tmp_path / "acess*.log", "--port", "9",
                  env={"LEADPIPE_CONFIG_DIR": str(config_dir)})
    assert result.returncode == 1 and "matches no file" in _one_line(result.stderr)
    assert not (config_dir / "prefect").exists()  # no Prefect server was started


def test_a_misspelt_config_dir_creates_no_key_and_no_folder(contact_db, tmp_path, monkeypatch):
    misspelt = tmp_path / "confg"
    monkeypatch.setenv("LEADPIPE_CONFIG_DIR", str(misspelt))
    for args in (["subject-export", "--email", "maija.meikalainen@kalliodata.fi"],
                 ["report", "--report-dir", tmp_path / "new-reports"]):
        result = _invoke(*args, "--db", contact_db)
        assert result.exit_code == 1 and "there is no secret.key in" in _one_line(result.stderr)
    assert not misspelt.exists() and not (tmp_path / "new-reports").exists()


def test_a_refused_run_creates_no_report_or_database_folder(tmp_path):
    db = tmp_path / "new" / "leads.duckdb"
    with database.exclusive(tmp_path / "held.duckdb"):
        pass
    result = _invoke("run", "--db", db, "--report-dir", tmp_path / "reports-new", "--logs", tmp_path / "x*.log",
                     "--offline")
    assert result.exit_code == 1
    assert not (tmp_path / "new").exists() and not (tmp_path / "reports-new").exists()


@pytest.mark.parametrize("out, words", [("/proc/leadpipe-nope/x.json", "cannot write there"), (".", "is a folder")])
def test_subject_export_checks_its_out_file_before_it_starts(contact_db, out, words):
    before = contact_db.read_bytes()
    result = _invoke("subject-export", "--email", "maija.meikalainen@kalliodata.fi", "--out", out, "--db", contact_db)
    assert result.exit_code == 1 and words in _one_line(result.stderr)
    assert contact_db.read_bytes() == before


def test_a_file_name_that_is_not_utf8_is_one_line_naming_the_option(tmp_path):
    odd = os.fsdecode(bytes(tmp_path) + b"/log\x1b]0;TITLE\x07\x9b31m.log")
    Path(odd).write_text(combined() + "\n")
    result = _invoke("run", "--db", tmp_path / "leads.duckdb", "--logs", str(tmp_path / "log*"), "--offline")
    assert result.exit_code == 1
    line = _one_line(result.stderr)
    assert "--logs" in line and "not UTF-8" in line and "\x1b" not in line and "\x9b" not in line


def test_a_file_named_like_a_glob_is_that_file(tmp_path):
    literal = tmp_path / "[x]access.log"
    literal.write_text(combined() + "\n")
    result = _invoke("ingest", "--db", tmp_path / "leads.duckdb", "--logs", literal)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["pageviews"] == 1


def test_a_lost_key_is_replaced_only_on_purpose_and_audited(contact_db, tmp_path, monkeypatch):
    import duckdb

    monkeypatch.setenv("LEADPIPE_CONFIG_DIR", str(tmp_path / "new-machine"))
    assert "leadpipe secret adopt" in _one_line(_invoke("report", "--db", contact_db).stderr)
    refused = _invoke("secret", "adopt", "--db", contact_db)
    assert refused.exit_code == 1 and "--the-old-key-is-lost" in _one_line(refused.stderr)
    adopted = _invoke("secret", "adopt", "--the-old-key-is-lost", "--db", contact_db)
    assert adopted.exit_code == 0, adopted.stderr
    assert _invoke("report", "--db", contact_db).exit_code == 0  # the new key is the database's now
    with duckdb.connect(str(contact_db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM audit_log WHERE action = 'adopt-secret'").fetchall() == [(1,)]


@pytest.mark.parametrize("signum, status", [(2, 130), (15, 143)])
def test_an_interrupted_run_stops_at_once_says_so_and_leaves_the_database_as_it_was(tmp_path, signum, status):
    """Ctrl-C (or SIGTERM) mid-run: stopped like a kill (safe anywhere, tests/test_crash.py), not unwound
    through DuckDB and Prefect; the working copy goes, the published file stays, one line says so."""
    import time

    db = tmp_path / "leads.duckdb"
    env = {"LEADPIPE_CONFIG_DIR": str(tmp_path / "config")}
    assert _cli("ingest", "--db", db, "--logs", write_log(tmp_path / "a.log", [combined()]), env=env).returncode == 0
    before = db.read_bytes()
    fifo = tmp_path / "endless.log"
    os.mkfifo(fifo)  # a log nobody writes: the run waits in its reading stage
    run = subprocess.Popen([*LEADPIPE, "ingest", "--db", str(db), "--logs", str(fifo)], cwd=ROOT, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **env})
    deadline = time.monotonic() + 60
    while not database.work_path(db).exists():
        assert time.monotonic() < deadline and run.poll() is None, run.communicate()
        time.sleep(0.05)
    time.sleep(0.3)
    run.send_signal(signum)
    _, stderr = run.communicate(timeout=10)
    assert run.returncode == status
    assert stderr.strip().splitlines()[-1] == "leadpipe: interrupted; the published database is as it was"
    assert "Traceback" not in stderr
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".leads")) == [".leads.duckdb.lock"]


@pytest.mark.parametrize("damage", ["empty", "cut short"])
def test_an_empty_or_cut_short_database_is_one_line_and_leaves_no_copy(contact_db, tmp_path, damage):
    damaged = tmp_path / "damaged.duckdb"
    damaged.write_bytes(b"" if damage == "empty" else contact_db.read_bytes()[:5000])
    for args in (["report"], ["load"], ["networks", "list"], ["ingest", "--logs", write_log(tmp_path / "a.log",
                                                                                            [combined()])]):
        result = _invoke(*args, "--db", damaged)
        assert result.exit_code == 1, (args, result.output)
        line = _one_line(result.stderr)
        assert "DuckDB database" in line, line
    assert not database.work_path(damaged).exists()


@pytest.mark.parametrize("kind", ["device", "fifo", "symlink"])
def test_subject_export_never_replaces_a_device_a_pipe_or_a_link(contact_db, tmp_path, kind):
    target = tmp_path / "out.json"
    if kind == "device":
        target = Path("/dev/null")
    elif kind == "fifo":
        os.mkfifo(target)
    else:
        (tmp_path / "elsewhere.json").write_text("{}")
        target.symlink_to(tmp_path / "elsewhere.json")
    result = _invoke("subject-export", "--email", "maija.meikalainen@kalliodata.fi", "--out", target, "--db", contact_db)
    assert result.exit_code == 1 and "is not a regular file" in _one_line(result.stderr)
    assert Path("/dev/null").is_char_device() and (kind != "fifo" or not target.is_file())


def test_subject_export_out_dash_is_standard_output(contact_db, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = _invoke("subject-export", "--email", "maija.meikalainen@kalliodata.fi", "--out", "-", "--db", contact_db)
    assert result.exit_code == 0 and json.loads(result.stdout)["contacts"]
    assert not (tmp_path / "-").exists()


def test_a_signal_while_publishing_waits_for_the_pending_addresses(tmp_path):
    """Between the rename of the database and the write of the private pending-address file, a Ctrl-C
    waits: stopping there would publish a night whose addresses never get a network."""
    from flows.runtime import PUBLISHING, stop_at_once_on_signals

    stopped: list[int] = []
    with stop_at_once_on_signals(tmp_path / "leads.duckdb"):
        PUBLISHING.start()
        os.kill(os.getpid(), 2)  # handled at once, in this thread: deferred
        assert PUBLISHING.signum == 2
        import flows.runtime as runtime

        original = runtime._say_and_exit
        runtime._say_and_exit = lambda signum, what: stopped.append(signum)
        try:
            PUBLISHING.end()
        finally:
            runtime._say_and_exit = original
    assert stopped == [2] and PUBLISHING.signum is None and not PUBLISHING.active


@pytest.mark.parametrize("env, words", [({"LEADPIPE_MEMORY_LIMIT": "lots"}, "not an amount of memory"),
                                        ({"LEADPIPE_SINCE": "0001-01-01"}, "1970")])
def test_settings_duckdb_or_the_window_cannot_hold_are_one_line_before_the_run(tmp_path, monkeypatch, env, words):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = _invoke("run", "--db", tmp_path / "leads.duckdb", "--offline")
    assert result.exit_code == 1 and words in _one_line(result.stderr)
    assert not (tmp_path / "leads.duckdb").exists()
