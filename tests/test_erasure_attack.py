"""Erasure replayed as an attacker and a data-protection officer would: by every identifier, in every form
it may be typed, followed by a full rerun of the same inputs — and then a search of every table, the
database file's bytes, the reports and the private files for any trace of the subjects. Finally a guess
of an address from the database alone, with the line it logged and without the secret, must fail.
"""

import json
import re

import duckdb
import pytest

from flows import commands, engine
from flows.config import load_settings
from tests.conftest import combined, write_log
from tests.rdap_registry import RdapRegistry, inetnum
from tests.register_set import bid
from tests.ytj_fixtures import YtjServer, company

SOLE_TRADER = bid(8181818)
KALLIO = bid(3141592)
PERSON_IP = "193.64.10.20"  # someone at Kalliodata Oy
TRADER_IP = "193.64.50.7"  # the sole trader's own connection
AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"
OBJECTS = [inetnum("193.64.10.0/24", "KALLIODATA-NET", "ASSIGNED PI", "Kalliodata Oy"),
           inetnum("193.64.50.0/24", "MEIKALAINEN-NET", "ASSIGNED PI", "Tmi Matti Meikäläinen",
                   ("Tmi Matti Meikäläinen", "Lahti"))]
REGISTER = [company(SOLE_TRADER, "Tmi Matti Meikäläinen", form="Tmi", city="LAHTI",
                    industry=("74100", "Specialised design activities")),
            company(KALLIO, "Kalliodata Oy", city="TAMPERE")]
LINES = [
    combined(client=PERSON_IP, request="GET /pricing?email=anna.virtanen%40kalliodata.fi HTTP/1.1", agent=AGENT),
    combined(client=PERSON_IP, ts="24/Nov/2026:10:05:00 +0200", request="GET /contact HTTP/1.1", agent=AGENT),
    combined(client=TRADER_IP, ts="24/Nov/2026:11:00:00 +0200", request="GET /demo HTTP/1.1"),
    combined(client=TRADER_IP, ts="24/Nov/2026:11:03:00 +0200", request="GET /pricing HTTP/1.1"),
    combined(client="193.64.10.99", ts="24/Nov/2026:12:00:00 +0200", request="GET / HTTP/1.1"),  # stays
]
EXPORT = ("Company name;Business ID;Country;Last visit;Visits\r\n"
          f"Tmi Matti Meikäläinen;{SOLE_TRADER};Finland;23.11.2026 10:00;2\r\n")
FORMS = json.dumps({"time": "2026-11-24T10:06:00+02:00", "form": "contact", "name": "Anna Virtanen",
                    "email": "Anna.Virtanen@Kalliodata.fi", "company": "Kalliodata Oy", "message": "Call me"})
TRACES = ["meikäläinen", "meikalainen", SOLE_TRADER, "anna.virtanen", "anna virtanen", PERSON_IP, TRADER_IP]


@pytest.fixture
def world(tmp_path, httpserver):
    httpserver.expect_request(re.compile(r"^/rdap/.+$")).respond_with_handler(RdapRegistry(OBJECTS, base="/rdap"))
    httpserver.expect_request("/ytj/v3/companies").respond_with_handler(YtjServer(REGISTER))
    write_log(tmp_path / "access.log", LINES)
    (tmp_path / "export.csv").write_text(EXPORT, encoding="utf-8")
    (tmp_path / "forms.jsonl").write_text(FORMS + "\n", encoding="utf-8")
    settings = load_settings(
        {"db": str(tmp_path / "leads.duckdb"), "logs": [str(tmp_path / "access.log")],
         "leadfeeder": [str(tmp_path / "export.csv")], "forms": [str(tmp_path / "forms.jsonl")],
         "rdap_url": httpserver.url_for("/rdap"), "ytj_url": httpserver.url_for("/ytj/v3"), "rdap_min_interval": 0,
         "ytj_min_interval": 0, "report_dir": str(tmp_path / "reports"), "since": "2026-11-01", "until": "2026-11-30"},
        None, {"LEADPIPE_CONFIG_DIR": str(tmp_path / "cfg")},
    )
    return settings


ALL_STAGES = ["ingest", "leadfeeder", "forms", "resolve", "enrich", "load", "retention", "report"]


def _everything(settings) -> str:
    """Every value of every table, as one lower-case text (suppressions hold keyed hashes by design)."""
    parts = []
    with duckdb.connect(str(settings.db), read_only=True) as con:
        tables = [t for (t,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        for table in tables:
            for row in con.execute(f'SELECT * FROM "{table}"').fetchall():
                parts.append(f"{table}: " + " | ".join(map(str, row)))
    return "\n".join(parts).lower()


def _visitor_key_of(settings, path: str) -> str:
    with duckdb.connect(str(settings.db), read_only=True) as con:
        return con.execute("SELECT visitor_key FROM pageviews WHERE path = ? LIMIT 1", [path]).fetchall()[0][0]


def test_erasure_by_every_identifier_survives_a_full_rerun(world, tmp_path):
    settings = world
    engine.execute(settings, "run", ALL_STAGES)
    before = _everything(settings)
    assert "meikäläinen" in before and "anna.virtanen" in before  # the subjects were there
    reports = sorted(p.name for p in (tmp_path / "reports").iterdir())
    trader_visitor = _visitor_key_of(settings, "/demo")

    def forget(kind, value):
        return engine.execute(settings, "forget", [commands.privacy_request("forget", kind, value)])["forgotten"]

    forget("ip", "193.064.010.020")  # zero-padded: the same address
    forget("email", "ANNA.VIRTANEN@kalliodata.fi")  # another case: the same person
    forget("visitor-key", trader_visitor.upper())
    business = forget("business-id", SOLE_TRADER.replace("-", ""))  # without its dash
    assert business["report_files_still_naming_the_subject"], "earlier reports that name the trader are listed"
    assert all(r.rsplit("/", 1)[-1] in reports for r in business["report_files_still_naming_the_subject"])
    for stale in business["report_files_still_naming_the_subject"]:  # the operator removes them, as told
        (tmp_path / "reports" / stale.rsplit("/", 1)[-1]).unlink()

    # the same logs, export, forms and registries all over again — and a new night with the subjects in it
    write_log(tmp_path / "access.log.0", [
        combined(client=PERSON_IP, ts="25/Nov/2026:09:00:00 +0200", request="GET /pricing HTTP/1.1", agent=AGENT),
        combined(client=TRADER_IP, ts="25/Nov/2026:09:10:00 +0200", request="GET /demo HTTP/1.1", agent=AGENT),
        combined(client="::ffff:" + PERSON_IP, ts="25/Nov/2026:09:20:00 +0200", request="GET /x HTTP/1.1"),
    ])
    (tmp_path / "forms2.jsonl").write_text(FORMS.replace("10:06", "09:30") + "\n", encoding="utf-8")
    settings = load_settings({**{k: getattr(settings, k) for k in ("db", "leadfeeder", "rdap_url", "ytj_url",
                                                                    "report_dir")},
                              "db": str(settings.db), "logs": [str(tmp_path / "access.log*")],
                              "forms": [str(tmp_path / "forms.jsonl"), str(tmp_path / "forms2.jsonl")],
                              "leadfeeder": list(settings.leadfeeder), "report_dir": str(settings.report_dir),
                              "rdap_min_interval": 0, "ytj_min_interval": 0, "since": "2026-11-01",
                              "until": "2026-11-30"},
                             None, {"LEADPIPE_CONFIG_DIR": str(tmp_path / "cfg")})
    stats = engine.execute(settings, "run", ALL_STAGES)
    assert stats["pageviews"] >= 1  # the trader's new night was read, and its network resolved again
    after = _everything(settings)
    for trace in TRACES:
        assert trace.lower() not in after, trace
    assert "kalliodata oy" in after  # the rest of the night is untouched
    raw = settings.db.read_bytes()
    for trace in ["Meikäläinen", "Meikalainen", SOLE_TRADER, "Anna Virtanen", "nna.virtanen", PERSON_IP, TRADER_IP]:
        assert trace.encode() not in raw, trace  # compacted: nothing lingers in free blocks
    for path in [*(tmp_path / "reports").iterdir(), *(tmp_path / "cfg").rglob("*")]:
        if path.is_file() and path.name != "secret.key":
            text = path.read_bytes().decode("utf-8", "replace").lower()
            for trace in TRACES:
                assert trace.lower() not in text, (path.name, trace)
    with duckdb.connect(str(settings.db), read_only=True) as con:
        assert con.execute("SELECT count(*), count(company_id) FROM visits").fetchall() == [(2, 1)]  # .99's; the
        # trader's new visit stays, but on a network that names nobody and attributes nothing
        assert con.execute("SELECT kind_rule FROM networks WHERE start_ip = '193.64.50.0'").fetchall() == [("erased",)]
        audit = con.execute("SELECT action, subject_kind FROM audit_log WHERE action = 'forget'").fetchall()
    assert sorted(audit) == sorted([("forget", "ip"), ("forget", "email"), ("forget", "visitor-key"),
                                    ("forget", "business-id")])


@pytest.mark.parametrize(("kind", "value"), [("ip", "not-an-address"), ("ip", "999.1.1.1"), ("email", "nobody"),
                                             ("business-id", "1234567-2"), ("visitor-key", "xyz")])
def test_what_is_not_an_identifier_is_refused_without_quoting_it(world, kind, value):
    from enrich.errors import ConfigError

    with pytest.raises(ConfigError) as refused:
        engine.execute(world, "forget", [commands.privacy_request("forget", kind, value)])
    assert value not in str(refused.value)


def test_ip_forms_are_one_address():
    from sinks.erasure import canonical

    assert {canonical("ip", form) for form in ["2A00:1234::77", "2a00:1234:0:0::77", "[2a00:1234::77]"]} == {
        "2a00:1234::77"}
    assert {canonical("ip", form) for form in ["::ffff:193.64.10.20", "193.064.010.020", " 193.64.10.20 "]} == {
        PERSON_IP}


def test_the_cli_refuses_a_mistyped_identifier_in_one_line(tmp_path):
    from typer.testing import CliRunner

    from flows.cli import app

    result = CliRunner().invoke(app, ["forget", "--ip", "10.0.0.256", "--db", str(tmp_path / "x.duckdb")])
    assert result.exit_code == 1 and "10.0.0.256" not in result.output
    assert result.output.count("\n") == 1 and "not an IP address" in result.output
    exported = CliRunner().invoke(app, ["subject-export", "--business-id", "1234567-2", "--db",
                                        str(tmp_path / "x.duckdb")])
    assert exported.exit_code == 1 and "Business ID" in exported.output
