"""One company, one picture: the logs, a Leadfeeder-style export and form submissions in one lead list.

A night is built offline from a log, an operator list, an export and a forms file; the lead_scores view,
``lead_scores_for`` and the sales report (HTML and CSV) must show every company of the period from any source,
keep the export's figures apart from the logs', count a submission as the strongest signal and show who sent
it — unless that person, or their company, objected.
"""

import csv
import json
import math
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from flows import commands, engine
from flows.cli import app
from flows.config import load_settings
from tests.conftest import combined, write_log

NETWORKS = "cidr,organisation,business_id,kind,country\n185.213.44.0/24,Kalliodata Oy,3141593-8,company,FI\n"
LINES = [combined(client="185.213.44.10", ts=f"20/Nov/2026:10:0{n}:00 +0200", request=f"GET /page{n} HTTP/1.1")
         for n in range(3)] + [combined(client="185.213.44.77", ts="21/Nov/2026:09:00:00 +0200")]
# Kalliodata: in the logs too (its export figures are its own); Metsä: only in the export
EXPORT = (
    "Company name;Website;Industry;Business ID;Country;City;First visit;Last visit;Visits;Page views;Quality;Source;Medium\n"
    "Kalliodata Oy;kalliodata.example;Software;3141593-8;Finland;Tampere;16.11.2026 09:12;22.11.2026 15:40;9;31;8;google;organic\n"
    "Metsä Logistics Ab;metsalogistics.example;Logistics;2718282-8;Finland;Kotka;17.11.2026 08:30;20.11.2026 11:02;4;15;7;"
    "newsletter;email\n"
)
SUBMISSIONS = [
    # a company the logs saw, by the e-mail's domain and name
    {"time": "2026-11-20T10:30:00", "form": "contact", "name": "Maija Esimerkki", "email": "maija@kalliodata.example",
     "company": "Kalliodata Oy", "position": "CTO"},
    # a company seen nowhere else: its Business ID
    {"time": "2026-11-22T09:05:00", "form": "configurator", "name": "Liisa Kuvitelma",
     "email": "liisa@revontuli.example", "company": "Revontuli Robotics Oy", "business_id": "2357111-3",
     "position": "CEO"},
    # a person who later objects: their submission alone made Pohjantähti a lead
    {"time": "2026-11-21T12:00:00", "form": "demo request", "name": "Olli Vastustaja", "email": "olli@pohjantahti.example",
     "company": "Pohjantähti Oy", "position": "CFO"},
    # nobody's company
    {"time": "2026-11-21T13:00:00", "form": "chat", "name": "Anna Testi", "email": "anna@gmail.com",
     "company": "yksityishenkilö"},
]


def _settings(tmp_path: Path):
    """Offline settings for the files written in ``tmp_path``, its operator list imported."""
    settings = load_settings(
        {"db": str(tmp_path / "leads.duckdb"), "logs": [str(write_log(tmp_path / "access.log", LINES))],
         "leadfeeder": [str(tmp_path / "export.csv")], "forms": [str(tmp_path / "forms.jsonl")],
         "offline": True, "report_dir": str(tmp_path / "reports"), "until": "2026-11-22", "since": "2026-11-01"},
        None, {"LEADPIPE_CONFIG_DIR": str(tmp_path / "cfg")})
    engine.execute(settings, "networks import", [commands.import_network_list(tmp_path / "networks.csv", "operator")])
    return settings


@pytest.fixture
def night(tmp_path):
    (tmp_path / "networks.csv").write_text(NETWORKS)
    (tmp_path / "export.csv").write_text(EXPORT, encoding="utf-8-sig")
    (tmp_path / "forms.jsonl").write_text("".join(json.dumps(s, ensure_ascii=False) + "\n" for s in SUBMISSIONS))
    settings = _settings(tmp_path)
    stats = engine.execute(settings, "run", ["ingest", "leadfeeder", "forms", "resolve", "load", "report"])
    return settings, stats


@pytest.fixture
def cli(night, monkeypatch) -> CliRunner:
    """The command line, pointed at the night's database and key."""
    settings, _ = night
    monkeypatch.setenv("LEADPIPE_DB", str(settings.db))
    monkeypatch.setenv("LEADPIPE_CONFIG_DIR", str(settings.config_dir))
    return CliRunner()


def _leads(settings) -> dict[str, dict]:
    with duckdb.connect(str(settings.db), read_only=True) as con:
        result = con.execute("SELECT * FROM lead_scores")
        names = [d[0] for d in result.description]
        return {row[names.index("name")]: dict(zip(names, row)) for row in result.fetchall()}


def _csv(stats) -> dict[str, dict]:
    with open(stats["report_csv"], encoding="utf-8-sig", newline="") as handle:
        return {row["Company"]: row for row in csv.DictReader(handle, delimiter=";")}


def test_every_source_s_companies_are_leads(night):
    settings, stats = night
    leads = _leads(settings)
    assert set(leads) == {"Kalliodata Oy", "Metsä Logistics Ab", "Revontuli Robotics Oy", "Pohjantähti Oy"}
    assert leads["Kalliodata Oy"]["sources"] == "logs, leadfeeder, forms"
    assert leads["Metsä Logistics Ab"]["sources"] == "leadfeeder"
    assert leads["Revontuli Robotics Oy"]["sources"] == "forms"
    assert leads["Revontuli Robotics Oy"]["business_id"] == "2357111-3"
    assert set(_csv(stats)) == set(leads)  # the report is the view


def test_the_export_s_figures_are_its_own_never_added_to_the_logs(night):
    settings, _ = night
    kallio, metsa = _leads(settings)["Kalliodata Oy"], _leads(settings)["Metsä Logistics Ab"]
    # Kalliodata: the logs saw 2 visits (one per address) of 4 pageviews; the export's 9 visits stay apart
    assert (kallio["visits"], kallio["pageviews"], kallio["people"]) == (2, 4, 2)
    assert (kallio["export_visits"], kallio["export_pageviews"], kallio["export_quality"]) == (9, 31, 8)
    assert kallio["visit_points"] == round(30 * (1 - math.exp(-2 / 5)), 1)  # the logs' visits, not 9 or 11
    # Metsä: the logs saw nothing, so the export's figures are the ones scored, and shown as the export's
    assert (metsa["visits"], metsa["pageviews"], metsa["export_visits"]) == (0, 0, 4)
    assert metsa["visit_points"] == round(30 * (1 - math.exp(-4 / 5)), 1)
    assert metsa["pageview_points"] == round(20 * (1 - math.exp(-15 / 15)), 1)
    assert metsa["recency_points"] == 30 - 2  # its export's last visit, 20.11., two days before the period's end
    assert "Leadfeeder: 4 visits, 15 pageviews, quality 7, last 20.11.2026" in metsa["reasons"]
    assert "last visit" not in metsa["reasons"]  # our logs saw no visit


def test_a_submission_is_the_strongest_signal_and_documented(night):
    settings, _ = night
    leads = _leads(settings)
    revontuli = leads["Revontuli Robotics Oy"]
    assert revontuli["form_points"] == 40 and revontuli["forms"] == 1 and revontuli["form_names"] == "configurator"
    assert revontuli["score"] == 40 + 30  # the form and its day, the period's last
    assert revontuli["reasons"] == "submitted the configurator form 22.11.2026"
    assert leads["Kalliodata Oy"]["reasons"].startswith("submitted the contact form 20.11.2026; 2 visits")
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    assert "form, chat or configurator submission | 40" in readme


def test_the_view_has_no_personal_data(night):
    settings, _ = night
    text = json.dumps(list(_leads(settings).values()), default=str)
    for person in ("Maija", "maija@", "Liisa", "CTO", "CEO"):
        assert person not in text


def test_the_report_shows_who_contacted_the_company(night):
    _, stats = night
    html = Path(stats["report_html"]).read_text()
    assert "Contacted us: configurator form, 22.11.2026 09:05" in html
    assert "Liisa Kuvitelma, CEO, <a href=\"mailto:liisa@revontuli.example\">" in html
    assert "Leadfeeder's figures: 4 visits, 15 pageviews, quality 7" in html
    rows = _csv(stats)
    assert rows["Revontuli Robotics Oy"]["Contacted us"] == "configurator 22.11.2026 09:05, Liisa Kuvitelma, CEO, liisa@revontuli.example"
    assert rows["Metsä Logistics Ab"]["Leadfeeder visits"] == "4" and rows["Metsä Logistics Ab"]["Visits"] == "0"
    assert rows["Revontuli Robotics Oy"]["Seen in"] == "forms" and rows["Revontuli Robotics Oy"]["New"] == "yes"
    assert "Anna" not in html and "yksityis" not in html  # a private person's chat names no company


def test_objecting_people_and_companies_never_appear(night, cli):
    settings, _ = night
    runner = cli
    assert runner.invoke(app, ["object", "--email", "olli@pohjantahti.example"]).exit_code == 0
    assert runner.invoke(app, ["object", "--business-id", "2718282-8"]).exit_code == 0
    stats = engine.execute(settings, "report", ["report"])
    html = Path(stats["report_html"]).read_text()
    for gone in ("Olli", "olli@", "Pohjantähti", "Metsä"):
        assert gone not in html
    assert set(_csv(stats)) == {"Kalliodata Oy", "Revontuli Robotics Oy"} == set(_leads(settings))


def test_a_rerun_changes_nothing(night):
    settings, _ = night
    with duckdb.connect(str(settings.db), read_only=True) as con:
        before = con.execute("SELECT * FROM companies ORDER BY company_id").fetchall()
    engine.execute(settings, "run", ["ingest", "leadfeeder", "forms", "resolve", "load"])
    with duckdb.connect(str(settings.db), read_only=True) as con:
        assert con.execute("SELECT * FROM companies ORDER BY company_id").fetchall() == before
        assert con.execute("SELECT count(*) FROM contacts").fetchall() == [(4,)]


def test_forgetting_a_person_lists_the_reports_that_name_them(night, cli):
    settings, stats = night
    # a morning e-mail kept beside the report, the report attached (base64: read through its parts)
    message = EmailMessage()
    message.set_content("The feed's companies.")
    message.add_attachment(Path(stats["report_html"]).read_bytes(), maintype="text", subtype="html",
                           filename="report.html")
    kept = Path(stats["report_html"]).with_name(Path(stats["report_html"]).stem + "-software.eml")
    kept.write_bytes(message.as_bytes())
    assert b"Liisa" not in kept.read_bytes()
    result = cli.invoke(app, ["forget", "--email", "Liisa@Revontuli.example"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)["forgotten"]["report_files_still_naming_the_subject"]
    assert sorted(listed) == sorted([stats["report_html"], stats["report_csv"], str(kept)])
    stats = engine.execute(settings, "report", ["report"])
    assert "Liisa" not in Path(stats["report_html"]).read_text()


def test_no_company_is_made_of_a_person_a_placeholder_or_an_operator(tmp_path):
    """A wrong company is worse than a missing one: what people type in a form's company field, a mailbox
    provider's domain, "Private person" in an export and an operator an export names are never leads."""
    networks = NETWORKS + "37.33.0.0/16,Esimerkki Mobiili Oy (mobile CGNAT),,mobile,FI\n"
    (tmp_path / "networks.csv").write_text(networks)
    (tmp_path / "export.csv").write_text(
        "Company name;Website;Country;Last visit;Visits\n"
        "Esimerkki Mobiili Oy (mobile CGNAT);;Finland;21.11.2026 10:00;3\n"  # the list's mobile operator
        "Amazon Data Services;;Germany;21.11.2026 10:00;2\n"  # the curated list's cloud
        "Private person;gmail.com;Finland;21.11.2026 10:00;1\n"
        "Private Person (Finland);;Finland;21.11.2026 10:00;1\n"
        "Yksityinen asiakas;;Finland;21.11.2026 10:00;1\n"
        "Residential;;Finland;21.11.2026 10:00;1\n"
        "Mobile network;;Finland;21.11.2026 10:00;1\n"
        "Ålcom Ab;;Finland;21.11.2026 10:00;1\n"
        "Järvi Systems Oy;gmail.com;Finland;21.11.2026 10:00;1\n"  # a real one, not its mailbox
        "Skripti Oy;javascript:alert(1);Finland;21.11.2026 10:00;1\n", encoding="utf-8")  # nor a script
    people = [("Yksityinen henkilö", "pb@gmail.com"), ("Private individual", "x@gmail.com"),
              ("Yksityishenkilö.", "y@yahoo.fi"), ("none.", "z@outlook.fi"), ("—", "w@gmail.com"),
              ("n.a.", "v@yahoo.fi"), ("Pekka Virtanen", "pekka.virtanen@outlook.fi"),  # his own name
              ("Matin Puutyö Tmi", "matti@pp.inet.fi"),  # a sole trader: a company, but pp.inet.fi is no website
              (None, "liisa@pp.inet.fi"),  # his neighbour, on the same operator's mail
              ("Veikko Kuusi Tmi", "veikko@iki.fi"), (None, "liisa.toinen@iki.fi"),  # a domain no list has
              ("Quality Tools Oy", "q@mail.suomi24.fi")]  # a host under a mailbox provider
    (tmp_path / "forms.jsonl").write_text("".join(
        json.dumps({"time": f"2026-11-21T{10 + n:02d}:00:00", "form": "chat", "name": f"Person {n}", "email": email,
                    **({"company": company} if company else {})}, ensure_ascii=False) + "\n"
        for n, (company, email) in enumerate(people)))
    settings = _settings(tmp_path)
    for _ in range(2):  # the same inputs twice: nothing more is linked or made
        engine.execute(settings, "run", ["ingest", "leadfeeder", "forms", "resolve", "load", "report"])
    leads = _leads(settings)
    assert set(leads) == {"Kalliodata Oy", "Järvi Systems Oy", "Matin Puutyö Tmi", "Veikko Kuusi Tmi", "Quality Tools Oy",
                          "Skripti Oy"}
    assert leads["Matin Puutyö Tmi"]["forms"] == 1  # the neighbour's chat is not his company's
    assert leads["Veikko Kuusi Tmi"]["forms"] == 1
    with duckdb.connect(str(settings.db), read_only=True) as con:
        kinds = dict(con.execute("SELECT name, kind FROM companies WHERE name LIKE 'Esim%' OR name LIKE 'Amazon%'")
                     .fetchall())
        websites = con.execute("SELECT website FROM companies WHERE website IS NOT NULL").fetchall()
        unlinked = con.execute("SELECT count(*) FROM contacts WHERE company_id IS NULL").fetchall()[0][0]
    assert kinds == {"Esimerkki Mobiili Oy (mobile CGNAT)": "mobile", "Amazon Data Services": "hosting"}
    assert websites == []  # no mailbox provider's domain is anybody's website
    assert unlinked == len(people) - 3


def test_forgetting_the_only_person_behind_a_form_made_company_forgets_the_company(night, cli):
    settings, _ = night
    runner = cli
    assert runner.invoke(app, ["forget", "--email", "liisa@revontuli.example"]).exit_code == 0
    assert runner.invoke(app, ["forget", "--email", "maija@kalliodata.example"]).exit_code == 0
    with duckdb.connect(str(settings.db), read_only=True) as con:
        names = {name for (name,) in con.execute("SELECT name FROM companies").fetchall()}
    assert "Revontuli Robotics Oy" not in names  # only Liisa's form named it
    assert "Kalliodata Oy" in names  # the logs and the export saw it too


def test_a_sole_trader_s_access_request_shows_the_customer_lists_and_crm_pushes(night, cli):
    settings, _ = night
    with duckdb.connect(str(settings.db)) as con:
        con.execute("INSERT INTO customers VALUES ('business_id', '2357111-3', '/crm/export.csv', now())")
    result = cli.invoke(app, ["subject-export", "--business-id", "2357111-3"])
    data = json.loads(result.stdout)
    assert [row["source_file"] for row in data["customer_lists"]] == ["/crm/export.csv"] and data["crm_pushes"] == []
    assert cli.invoke(app, ["forget", "--business-id", "2357111-3"]).exit_code == 0
    with duckdb.connect(str(settings.db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM customers").fetchall() == [(0,)]


def test_an_export_s_operators_stored_as_companies_by_an_earlier_version_are_not_leads(night):
    """A database from before these rules holds "Elisa Oyj" and "Private person" as companies an export
    made: the next report settles their kinds before reading the leads."""
    settings, _ = night
    with duckdb.connect(str(settings.db)) as con:
        for n, name in enumerate(["Elisa Oyj", "Private person", "Amazon Web Services"]):
            con.execute("INSERT INTO companies (company_id, name, country, kind) VALUES (?, ?, 'FI', 'company')",
                        [f"src-old{n}", name])
            con.execute("INSERT INTO company_sources (source, source_key, company_id, name, last_visit, visits, "
                        "updated_at) VALUES ('leadfeeder', ?, ?, ?, '2026-11-21 10:00+02', 5, now())",
                        [f"old{n}", f"src-old{n}", name])
    stats = engine.execute(settings, "report", ["report"])
    assert not {"Elisa Oyj", "Private person", "Amazon Web Services"} & (set(_csv(stats)) | set(_leads(settings)))
    with duckdb.connect(str(settings.db), read_only=True) as con:
        assert dict(con.execute("SELECT name, kind FROM companies WHERE company_id LIKE 'src-old%'").fetchall()) == {
            "Elisa Oyj": "isp", "Private person": "unknown", "Amazon Web Services": "hosting"}


def test_a_form_made_company_goes_with_its_only_person_after_any_number_of_nights(tmp_path, monkeypatch):
    (tmp_path / "networks.csv").write_text(NETWORKS)
    (tmp_path / "forms.jsonl").write_text(json.dumps(
        {"time": "2026-11-21T10:00:00", "form": "contact", "name": "Matti Puu", "email": "matti@matinpuutyo.fi",
         "company": "Matin Puutyö Tmi"}, ensure_ascii=False) + "\n")
    settings = load_settings(
        {"db": str(tmp_path / "leads.duckdb"), "logs": [str(write_log(tmp_path / "access.log", LINES))],
         "forms": [str(tmp_path / "forms.jsonl")], "offline": True, "report_dir": str(tmp_path / "reports")},
        None, {"LEADPIPE_CONFIG_DIR": str(tmp_path / "cfg")})
    engine.execute(settings, "networks import", [commands.import_network_list(tmp_path / "networks.csv", "operator")])
    for _ in range(2):  # the second night's enrich stage rewrites match_method: origin says who made it
        engine.execute(settings, "run", ["ingest", "forms", "resolve", "enrich", "load", "report"])
    assert "Matin Puutyö Tmi" in _leads(settings)
    monkeypatch.setenv("LEADPIPE_DB", str(settings.db))
    monkeypatch.setenv("LEADPIPE_CONFIG_DIR", str(settings.config_dir))
    exported = json.loads(CliRunner().invoke(app, ["subject-export", "--email", "matti@matinpuutyo.fi"]).stdout)
    assert [c["name"] for c in exported["companies_made_by_their_forms"]] == ["Matin Puutyö Tmi"]
    assert CliRunner().invoke(app, ["forget", "--email", "matti@matinpuutyo.fi"]).exit_code == 0
    with duckdb.connect(str(settings.db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM companies WHERE name LIKE 'Matin%' OR website LIKE '%matinpuutyo%'"
                           ).fetchall() == [(0,)]


def test_a_name_of_ten_thousand_characters_is_cut(night, tmp_path):
    """A form's company field or an export's name of 10,000 characters never reaches the report whole."""
    settings, _ = night
    (tmp_path / "long.jsonl").write_text(json.dumps(
        {"time": "2026-11-21T10:00:00", "form": "contact", "name": "N", "email": "n@example.org",
         "company": "A" * 10000 + " Oy"}) + "\n")
    (tmp_path / "long.csv").write_text("Company name;Country;Last visit;Visits\n" + "B" * 10000 + " Oy;Finland;"
                                       "21.11.2026 10:00;2\n")
    settings = replace(settings, forms=(str(tmp_path / "long.jsonl"),), leadfeeder=(str(tmp_path / "long.csv"),))
    stats = engine.execute(settings, "run", ["leadfeeder", "forms", "load", "report"])
    assert [len(name) for name in _csv(stats) if name.startswith("BBBB")] == [200]
    assert not [name for name in _csv(stats) if name.startswith("AAAA")]  # cut, it has no legal form left
    with duckdb.connect(str(settings.db), read_only=True) as con:
        assert con.execute("SELECT max(length(company_name)) FROM contacts").fetchall() == [(200,)]
