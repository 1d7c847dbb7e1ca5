"""Privacy by design: each promise of the operator's notice, as a command or a default, proved."""

import json
import os
import stat
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from flows import commands, engine
from flows.cli import app
from flows.config import load_settings
from tests.conftest import combined, write_log

FORMS = "\n".join(json.dumps(s, ensure_ascii=False) for s in [
    {"time": "2026-11-20T10:00:00", "form": "contact", "name": "Maija Meikäläinen", "email": "Maija.Meikalainen@kalliodata.fi",
     "phone": "+358 40 123 4567", "company": "Kalliodata Oy", "position": "CTO", "message": "Call me", "marketing_consent": "kyllä"},
    {"time": "2026-11-21T11:00:00", "form": "configurator", "name": "Teppo Testaaja", "email": "teppo@gmail.com",
     "company": "Testaajan Toiminimi", "business_id": "2468025-8", "marketing_consent": False},
    {"form": "chat"},  # nobody: rejected
]) + "\n"
NETWORKS = "cidr,organisation,business_id,kind\n185.213.44.0/24,Kalliodata Oy,3141593-8,company\n"
LINES = [
    combined(client="185.213.44.10", ts="20/Nov/2026:10:00:00 +0200", request="GET /pricing HTTP/1.1"),
    combined(client="185.213.44.10", ts="20/Nov/2026:10:05:00 +0200"),
    combined(client="85.76.1.10", ts="20/Nov/2026:11:00:00 +0200"),
]


@pytest.fixture
def world(tmp_path, monkeypatch):
    """A database with visits, a company, contacts; the CLI pointed at it."""
    forms = tmp_path / "forms.jsonl"
    forms.write_text(FORMS)
    networks = tmp_path / "networks.csv"
    networks.write_text(NETWORKS)
    logs = write_log(tmp_path / "access.log", LINES)
    db = tmp_path / "private" / "leads.duckdb"
    monkeypatch.setenv("LEADPIPE_DB", str(db))
    settings = load_settings({"db": str(db), "logs": [str(logs)], "forms": [str(forms)], "offline": True,
                              "report_dir": str(tmp_path / "reports")}, None, None)
    engine.execute(settings, "networks import", [commands.import_network_list(networks, "operator")])
    engine.execute(settings, "run", ["ingest", "forms", "resolve", "load"])
    return settings


def _rows(settings, sql, params=()):
    with duckdb.connect(str(settings.db), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def _cli(*args):
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_contacts_are_linked_to_companies(world):
    # Maija wrote the name of a company the logs saw (the list gives it no country); Teppo a Business ID of a
    # company nothing else saw: it is a lead of its own (a submission is the strongest signal), found by it
    rows = _rows(world, "SELECT name, company_id, marketing_consent FROM contacts ORDER BY name")
    assert rows == [("Maija Meikäläinen", "3141593-8", True), ("Teppo Testaaja", "2468025-8", False)]
    assert _rows(world, "SELECT company_id, name, kind, website FROM companies ORDER BY company_id") == [
        ("2468025-8", "Testaajan Toiminimi", "company", None),  # gmail.com says nothing
        ("3141593-8", "Kalliodata Oy", "company", None)]
    with duckdb.connect(str(world.db)) as con:  # linked by the e-mail's domain once the website is known
        con.execute("UPDATE contacts SET company_id = NULL")
        con.execute("UPDATE companies SET website = 'https://www.kalliodata.fi/' WHERE company_id = '3141593-8'")
    engine.execute(world, "run", ["forms"])
    rows = _rows(world, "SELECT name, company_id FROM contacts ORDER BY name")
    assert rows == [("Maija Meikäläinen", "3141593-8"), ("Teppo Testaaja", "2468025-8")]
    assert _rows(world, "SELECT reason FROM rejects WHERE reason LIKE 'unreadable submission%'") != []


def test_no_client_address_in_any_column_of_any_table(world):
    tables = [t for (t,) in _rows(world, "SELECT table_name FROM duckdb_tables()")]
    for table in tables:
        text = _rows(world, f"SELECT string_agg(CAST(t AS VARCHAR), '|') FROM {table} t")[0][0] or ""
        assert "185.213.44.10" not in text and "85.76.1.10" not in text, table


def test_files_are_private(world):
    assert stat.S_IMODE(os.stat(world.db).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(world.db.parent).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(world.secret_path).st_mode) == 0o600


def test_forget_by_ip_erases_and_survives_a_full_rerun(world):
    before = _rows(world, "SELECT count(*) FROM visits")[0][0]
    result = _cli("forget", "--ip", "185.213.44.10")
    assert '"visits": 1' in result.stdout
    assert _rows(world, "SELECT count(*) FROM visits")[0][0] == before - 1
    assert _rows(world, "SELECT count(*) FROM pageviews WHERE company_id IS NOT NULL") == [(0,)]
    # the same logs again, from scratch: the ledger forgets nothing, and even re-read lines are suppressed
    with duckdb.connect(str(world.db)) as con:
        con.execute("DELETE FROM log_lines")
    engine.execute(world, "run", ["ingest", "forms", "resolve", "load"])
    assert _rows(world, "SELECT count(*) FROM visits") == [(before - 1,)]
    audit = _rows(world, "SELECT action, subject_kind, rows_affected FROM audit_log")
    assert audit[0][:2] == ("forget", "ip") and "185.213" not in audit[0][2]


def test_forget_by_email_and_by_visitor_key(world):
    _cli("forget", "--email", "maija.meikalainen@KALLIODATA.fi")
    assert _rows(world, "SELECT count(*) FROM contacts WHERE name LIKE 'Maija%'") == [(0,)]
    engine.execute(world, "run", ["forms"])  # the same form export again
    assert _rows(world, "SELECT count(*) FROM contacts WHERE name LIKE 'Maija%'") == [(0,)]
    (key,), = _rows(world, "SELECT visitor_key FROM visits WHERE company_id IS NULL LIMIT 1")
    _cli("forget", "--visitor-key", key)
    assert _rows(world, "SELECT count(*) FROM visits WHERE visitor_key = ?", [key]) == [(0,)]
    for (rows,) in _rows(world, "SELECT rows_affected FROM audit_log"):
        assert "maija" not in rows.lower() and "@" not in rows and key not in rows


def test_forget_a_sole_trader_by_business_id(world):
    _cli("forget", "--business-id", "3141593-8")
    assert _rows(world, "SELECT business_id FROM companies") == [("2468025-8",)]  # Teppo's, from his form
    assert _rows(world, "SELECT count(*) FROM visits WHERE company_id IS NOT NULL") == [(0,)]
    assert _rows(world, "SELECT count(*) FROM contacts WHERE business_id = '3141593-8' OR company_id = '3141593-8'") == [(0,)]
    # the operator's list still names them, and the same logs come again: they stay erased
    networks = Path(world.logs[0]).parent / "networks.csv"
    engine.execute(world, "networks import", [commands.import_network_list(networks, "operator")])
    with duckdb.connect(str(world.db)) as con:
        con.execute("DELETE FROM log_lines")
    engine.execute(world, "run", ["ingest", "forms", "resolve", "load"])
    assert _rows(world, "SELECT count(*) FROM companies WHERE business_id = '3141593-8'") == [(0,)]


def test_subject_export_by_email_and_ip(world, tmp_path):
    result = _cli("subject-export", "--email", "Maija.Meikalainen@kalliodata.fi")
    data = json.loads(result.stdout)
    assert data["contacts"][0]["phone"] == "+358 40 123 4567" and "email_key" not in data["contacts"][0]
    out = tmp_path / "subject.json"
    _cli("subject-export", "--ip", "185.213.44.10", "--out", str(out))
    exported = json.loads(out.read_text())
    assert len(exported["visits"]) == 1 and exported["visits"][0]["company"] == "Kalliodata Oy"
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert [a for (a,) in _rows(world, "SELECT action FROM audit_log")] == ["subject-export", "subject-export"]


def test_objection_keeps_a_company_out_of_reports_for_good(world):
    _cli("object", "--business-id", "3141593-8")
    stats = engine.execute(world, "report", ["report"])
    assert stats["report_companies"] == 1  # Teppo's company, from his form
    assert "Kalliodata" not in Path(stats["report_html"]).read_text()
    assert "Maija" not in Path(stats["report_html"]).read_text()
    # re-created from scratch (e.g. after a merge), the company is flagged again
    with duckdb.connect(str(world.db)) as con:
        con.execute("UPDATE companies SET marketing_objection = false")
    assert engine.execute(world, "report", ["report"])["report_companies"] == 1
    _cli("object", "--email", "teppo@gmail.com")
    assert _rows(world, "SELECT name FROM contacts WHERE marketing_objection") == [("Teppo Testaaja",)]
    # a person who objected is never shown, nor counted: his submission alone made that company a lead
    stats = engine.execute(world, "report", ["report"])
    assert stats["report_companies"] == 0 and "Teppo" not in Path(stats["report_html"]).read_text()


def test_retention_deletes_old_visits_keeps_aggregates_and_compacts(world):
    with duckdb.connect(str(world.db)) as con:  # make the visits 14 months old
        for table, column in (("visits", "started_at"), ("visits", "ended_at"), ("pageviews", "ts")):
            con.execute(f"UPDATE {table} SET {column} = {column} - INTERVAL 14 MONTH")
    size_before = os.path.getsize(world.db)
    result = _cli("retention")
    assert '"retention_deleted_visits": 2' in result.stdout
    assert _rows(world, "SELECT count(*) FROM visits") == [(0,)]
    assert _rows(world, "SELECT company_id, visits, pageviews FROM company_daily_totals") == [("3141593-8", 1, 2)]
    assert os.path.getsize(world.db) <= size_before


def test_one_subject_at_a_time():
    result = CliRunner().invoke(app, ["forget", "--email", "a@b.fi", "--ip", "1.2.3.4"])
    assert result.exit_code == 1 and "exactly one subject" in result.stderr
