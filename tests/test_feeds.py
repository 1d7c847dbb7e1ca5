"""Feeds: their configuration, each filter, customers import, the report's sections and CSVs, report --feed."""

import csv
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from enrich.customers import read_customers
from enrich.errors import ConfigError
from flows import engine
from flows.cli import app
from flows.config import load_settings
from flows.feed_stages import import_customers
from sinks.feeds import Feed, feed_data, parse_feeds, select
from sinks.leads import Period, report_data
from sinks.report import write_report
from tests.conftest import combined, offline_night

NETWORKS = (
    "cidr,organisation,business_id,kind\n"
    "185.213.44.0/24,Kalliodata Oy,3141593-8,company\n"
    "193.166.220.0/24,Metsä Logistics Ab,2718282-8,company\n"
)
FEEDS = """
[leadpipe.feeds.software]
title = "Software companies"
industries = ["62"]
recipients = ["sales@example.fi"]

[leadpipe.feeds.pricing]
pages = ["^/pricing/enterprise$"]
exclude_customers = false
"""


def _config(tmp_path: Path, text: str = FEEDS) -> Path:
    path = tmp_path / "leadpipe.toml"
    path.write_text("[leadpipe]\n" + text)
    return path


def _row(company_id="c1", **values) -> dict:
    return {"company_id": company_id, "name": company_id, "business_id": None, "industry": None, "city": None,
            "website": None, "score": 50.0, "new": False, **values}


# --- configuration ---------------------------------------------------------------------------------------------

def test_feeds_are_read_from_leadpipe_toml(tmp_path):
    settings = load_settings(None, _config(tmp_path), {})
    software, pricing = settings.feeds
    assert software.name == "software" and software.industries == ("62",) and software.exclude_customers
    assert pricing.pages == ("^/pricing/enterprise$",) and not pricing.exclude_customers and pricing.title == "pricing"
    assert "sales@example.fi" not in repr(settings)  # recipients are never in a log line


@pytest.mark.parametrize("table, message", [
    ("[leadpipe.feeds.x]\nindustry = ['62']", "feed 'x': unknown key 'industry'"),
    ("[leadpipe.feeds.x]\nmin_score = 'high'", "feed 'x': min_score must be a number"),
    ("[leadpipe.feeds.x]\nnew_only = 'yes'", "feed 'x': new_only must be true or false"),
    ("[leadpipe.feeds.x]\ncities = [1]", "feed 'x': cities must be a list"),
    ("[leadpipe.feeds.x]\npages = ['(unclosed']", "feed 'x': pages: '(unclosed' is not a regular expression"),
    ("[leadpipe.feeds.x]\nrecipients = ['secret.person@example.fi', 'nobody']",
     "feed 'x': recipients: entry 2 is not an e-mail address"),
    ("[leadpipe.feeds.'Bad Name']\ncities = ['Oulu']", "a name is 1-40 lowercase letters"),
    ("feeds = 3", "expected [leadpipe.feeds.NAME] tables"),
])
def test_a_bad_feed_is_one_line_naming_the_feed_and_key(tmp_path, table, message):
    with pytest.raises(ConfigError) as caught:
        load_settings(None, _config(tmp_path, table), {})
    text = str(caught.value)
    assert message in text and "\n" not in text and "secret.person" not in text


def test_smtp_host_without_a_sender_is_refused():
    with pytest.raises(ConfigError, match="smtp_sender"):
        load_settings(None, None, {"LEADPIPE_SMTP_HOST": "127.0.0.1"})


# --- each filter (pure) ----------------------------------------------------------------------------------------

def test_industries_match_code_prefixes_or_words():
    rows = [_row("soft", industry_code="62100"), _row("words", industry="Software publishing"),
            _row("coded", industry="Freight"), _row("none")]
    feed = Feed("f", "f", industries=("62", "software"))
    assert [r["company_id"] for r in select(rows, feed, {}, set(), {"coded": "49410"})] == ["soft", "words"]
    # a row without industry_code takes the companies table's
    assert [r["company_id"] for r in select(rows, Feed("f", "f", industries=("494",)), {}, set(),
                                            {"coded": "49410"})] == ["coded"]


def test_regions_take_the_cities_in_them_by_any_of_their_names():
    rows = [_row("tre", city="TAMPERE"), _row("nokia", city="Nokia"), _row("esp", city="Espoo"),
            _row("ax", city="Mariehamn"), _row("nowhere", city="Atlantis"), _row("none")]
    feed = parse_feeds({"pirkanmaa": {"regions": ["Birkaland", "åland"]}})[0]
    assert feed.regions == ("Pirkanmaa", "Ahvenanmaa")
    assert [r["company_id"] for r in select(rows, feed, {}, set(), {})] == ["tre", "nokia", "ax"]
    # a city listed or one in a listed region
    both = Feed("f", "f", cities=("Espoo",), regions=("Pirkanmaa",))
    assert [r["company_id"] for r in select(rows, both, {}, set(), {})] == ["tre", "nokia", "esp"]
    with pytest.raises(ValueError, match="feed 'f': regions: 'Pirkkala' is not a region of Finland .*Uusimaa"):
        parse_feeds({"f": {"regions": ["Pirkkala"]}})


def test_every_region_has_its_seat_and_places():
    from enrich.regions import REGIONS, regions_of

    seats = {"Uusimaa": "Helsinki", "Varsinais-Suomi": "Turku", "Satakunta": "Pori", "Kanta-Häme": "Hämeenlinna",
             "Pirkanmaa": "Tampere", "Päijät-Häme": "Lahti", "Kymenlaakso": "Kouvola", "Etelä-Karjala": "Imatra",
             "Etelä-Savo": "Savonlinna", "Pohjois-Savo": "Iisalmi", "Pohjois-Karjala": "Lieksa",
             "Keski-Suomi": "Jämsä", "Etelä-Pohjanmaa": "Lapua", "Pohjanmaa": "Vaasa", "Keski-Pohjanmaa": "Kannus",
             "Pohjois-Pohjanmaa": "Raahe", "Kainuu": "Sotkamo", "Lappi": "Kemi", "Ahvenanmaa": "Mariehamn"}
    assert set(seats) == set(REGIONS)
    for region, town in seats.items():  # towns other than the seats generate.py derived the divisions from
        assert regions_of(town) == {region}, town


def test_cities_min_score_and_new_only():
    rows = [_row("tre", city="Tampere", score=80.0, new=True), _row("hki", city="Helsinki", score=90.0),
            _row("low", city="tampere ", score=5.0, new=True)]
    assert [r["company_id"] for r in select(rows, Feed("f", "f", cities=("TAMPERE",)), {}, set(), {})] == ["tre", "low"]
    assert [r["company_id"] for r in select(rows, Feed("f", "f", min_score=50), {}, set(), {})] == ["tre", "hki"]
    assert [r["company_id"] for r in select(rows, Feed("f", "f", new_only=True), {}, set(), {})] == ["tre", "low"]


def test_pages_match_any_path_of_the_period():
    rows = [_row("a"), _row("b"), _row("c")]
    paths = {"a": {"/", "/pricing/enterprise"}, "b": {"/pricing"}}
    feed = Feed("f", "f", pages=("^/pricing/enterprise$",))
    assert [r["company_id"] for r in select(rows, feed, paths, set(), {})] == ["a"]


def test_customers_are_left_out_by_business_id_or_domain_unless_told():
    rows = [_row("a", business_id="3141593-8"), _row("b", website="https://www.Example.fi/x"), _row("c")]
    customers = {("business_id", "3141593-8"), ("domain", "example.fi")}
    assert [r["company_id"] for r in select(rows, Feed("f", "f"), {}, customers, {})] == ["c"]
    assert len(select(rows, Feed("f", "f", exclude_customers=False), {}, customers, {})) == 3


# --- customers files -------------------------------------------------------------------------------------------

def test_hubspot_and_pipedrive_exports_and_rejects(tmp_path):
    hubspot = tmp_path / "hubspot.csv"
    hubspot.write_text("Record ID,Company name,Company Domain Name,Y-tunnus\n"
                       "1,Kalliodata,kalliodata.example,3141593-8\n"
                       "2,Nobody,,\n"
                       "3,Wrong,,3141593-1\n"
                       "4,Site,https://www.Metsa.example/fi,\n")
    keys, rejects = read_customers(hubspot)
    assert keys == {("domain", "kalliodata.example"), ("business_id", "3141593-8"), ("domain", "metsa.example")}
    assert rejects == [(3, "no Business ID or domain"), (4, "invalid Business ID: wrong check digit")]
    pipedrive = tmp_path / "pipedrive.csv"
    pipedrive.write_bytes("Organization - Name;Organization - Website\nJärvi;www.jarvi.example\n".encode("cp1252"))
    assert read_customers(pipedrive)[0] == {("domain", "jarvi.example")}
    nothing = tmp_path / "names.csv"
    nothing.write_text("Name\nKalliodata\n")
    with pytest.raises(Exception, match="no Business ID column"):
        read_customers(nothing)


# --- against a database ----------------------------------------------------------------------------------------

@pytest.fixture
def night(tmp_path):
    lines = [
        combined(client="185.213.44.10", ts="20/Nov/2026:10:00:00 +0200", request="GET /pricing/enterprise HTTP/1.1"),
        combined(client="185.213.44.10", ts="20/Nov/2026:10:01:00 +0200", request="GET /a HTTP/1.1"),
        combined(client="185.213.44.10", ts="20/Nov/2026:10:02:00 +0200", request="GET /b HTTP/1.1"),
        combined(client="185.213.44.10", ts="20/Nov/2026:10:03:00 +0200", request="GET /c HTTP/1.1"),
        combined(client="185.213.44.10", ts="20/Nov/2026:10:04:00 +0200", request="GET /d HTTP/1.1"),
        combined(client="185.213.44.10", ts="20/Nov/2026:10:05:00 +0200", request="GET /e HTTP/1.1"),
        combined(client="185.213.44.10", ts="20/Nov/2026:10:06:00 +0200", request="GET /e HTTP/1.1"),
        combined(client="193.166.220.7", ts="21/Nov/2026:12:00:00 +0200", request="GET /pricing HTTP/1.1"),
    ]
    networks = tmp_path / "networks.csv"
    networks.write_text(NETWORKS)

    def industries(settings) -> None:
        with duckdb.connect(str(settings.db)) as con:
            con.execute("UPDATE companies SET industry_code = '62100', industry = 'Computer programming activities', "
                        "city = 'Tampere' WHERE business_id = '3141593-8'")
            con.execute("UPDATE companies SET industry_code = '52100', city = 'Kotka' WHERE business_id = '2718282-8'")

    settings, stats = offline_night(tmp_path, lines, networks, industries)
    return load_settings({"db": str(settings.db), "report_dir": str(tmp_path / "reports"), "offline": True},
                         _config(tmp_path), {"LEADPIPE_CONFIG_DIR": str(tmp_path / "cfg")})


def test_pages_filter_reads_every_path_not_the_top_five(night):
    with duckdb.connect(str(night.db)) as con:
        data = report_data(con, Period(date(2026, 11, 1), date(2026, 11, 22), "Europe/Helsinki"))
        kallio = next(r for r in data["companies"] if r["name"] == "Kalliodata Oy")
        assert "/pricing/enterprise (1)" not in kallio["top_pages"]  # out of the report's top five
        picked = feed_data(con, data, night.feeds[1])
    assert [r["name"] for r in picked["companies"]] == ["Kalliodata Oy"]


def test_the_report_has_a_section_and_a_csv_per_feed(night):
    stats = engine.execute(night, "report", ["report"])
    assert stats["report_feeds"] == {"software": 1, "pricing": 1}
    html = Path(stats["report_html"]).read_text()
    assert 'id="feed-software"' in html and "Feed: Software companies" in html and 'id="feed-pricing"' in html
    feed_csv = Path(stats["report_html"]).with_name("lead-report-2026-11-21-software.csv")
    with feed_csv.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle, delimiter=";"))
    main = Path(stats["report_csv"]).read_text(encoding="utf-8-sig").splitlines()[0]
    assert ";".join(f'"{c}"' for c in rows[0]) == main  # the main CSV's format
    assert [r[1] for r in rows[1:]] == ["Kalliodata Oy"]


def test_imported_customers_leave_a_feed(night, tmp_path):
    crm = tmp_path / "crm.csv"
    crm.write_text("Business ID\n3141593-8\n")
    stats = engine.execute(night, "customers import", [import_customers(crm)])
    assert stats["customers_imported"] == 1 and stats["rows_rejected"] == 0
    assert engine.execute(night, "report", ["report"])["report_feeds"] == {"software": 0, "pricing": 1}
    crm.write_text("Business ID\n2718282-8\n")  # the same file again: replaces what it gave
    assert engine.execute(night, "customers import", [import_customers(crm)])["customers_removed"] == 1
    assert engine.execute(night, "report", ["report"])["report_feeds"]["software"] == 1


def test_report_feed_writes_only_that_feed_and_an_unknown_one_is_one_line(night, tmp_path, monkeypatch):
    monkeypatch.setenv("LEADPIPE_CONFIG_DIR", str(tmp_path / "cfg"))
    runner = CliRunner()
    args = ["report", "--db", str(night.db), "--config", str(_config(tmp_path)), "--report-dir",
            str(tmp_path / "only")]
    result = runner.invoke(app, [*args, "--feed", "software"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "only").iterdir()) == ["lead-report-2026-11-21-software.csv"]
    result = runner.invoke(app, [*args, "--feed", "hardware"])
    assert result.exit_code == 1
    assert "no feed 'hardware'; defined feeds: software, pricing" in result.output


def test_customers_import_and_list_commands(night, tmp_path, monkeypatch):
    monkeypatch.setenv("LEADPIPE_CONFIG_DIR", str(tmp_path / "cfg"))
    crm = tmp_path / "crm.csv"
    crm.write_text("Website,Business ID\nkalliodata.example,3141593-8\n,1234567-0\n")
    runner = CliRunner()
    result = runner.invoke(app, ["customers", "import", str(crm), "--db", str(night.db)])
    assert result.exit_code == 0, result.output
    assert '"customers_imported": 2' in result.output and "row 3: invalid Business ID" in result.output
    listed = runner.invoke(app, ["customers", "list", "--db", str(night.db)])
    assert '"business_ids": 1' in listed.output and '"domains": 1' in listed.output


def test_write_report_without_feeds_is_as_before(con, tmp_path):
    stats = write_report(con, tmp_path, Period(date(2026, 11, 1), date(2026, 11, 2), "Europe/Helsinki"),
                         datetime.now(timezone.utc))
    assert stats["report_feeds"] == {} and sorted(p.name for p in tmp_path.iterdir()) == [
        "lead-report-2026-11-02.csv", "lead-report-2026-11-02.html"]
