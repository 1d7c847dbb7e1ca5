"""Leadfeeder-style exports: every shape, one company row per organisation, idempotent updates."""

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import duckdb
import pytest
from openpyxl import Workbook

from enrich.errors import InputError
from enrich.leadfeeder import parse_datetime, parse_table, read_csv_export, read_xlsx_export
from enrich.leadfeeder_api import parse_api_json
from flows import commands, engine
from flows.config import load_settings
from tests.conftest import combined, write_log
from tests.register_set import KALLIO, METSA, REGISTER
from tests.ytj_fixtures import YtjServer

HELSINKI = ZoneInfo("Europe/Helsinki")
HEADER_FI = "Yrityksen nimi;Verkkosivut;Toimiala;Henkilöstö;Y-tunnus;Maa;Kaupunki;Ensimmäinen käynti;Viimeisin käynti;Käynnit;Sivunäytöt;Laatu;Lähde;Omistaja"


def _csv(*lines, bom=True, sep=";"):
    text = "\r\n".join(line.replace(";", sep) for line in lines) + "\r\n"
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")


def test_finnish_excel_csv_with_bom_semicolons_and_dates():
    header, rows = read_csv_export(_csv(
        HEADER_FI,
        "Kalliodata Oy;www.kalliodata.fi;Ohjelmistot;11-50;3141593-8;Suomi;Tampere;16.11.2026 09:12;22.11.2026 15:40;9;31;8;google;Sanna",
        "Metsä Logistics Ab;;Logistiikka;;;Finland;Kotka;17.11.2026;20.11.2026 11:02;4;15;7,5;;",
    ))
    parsed, rejects = parse_table(header, rows, HELSINKI)
    assert rejects == []
    first, second = parsed
    assert (first.name, first.business_id, first.country, first.city) == ("Kalliodata Oy", "3141593-8", "FI", "Tampere")
    assert first.last_visit == datetime(2026, 11, 22, 15, 40, tzinfo=HELSINKI)
    assert (first.visits, first.pageviews, first.quality) == (9, 31, 8.0)
    assert first.extra == {}  # an unknown column (here the account owner, a person) is not kept
    assert second.name == "Metsä Logistics Ab" and second.business_id is None and second.quality == 7.5
    assert second.first_visit == datetime(2026, 11, 17, tzinfo=HELSINKI)


def test_comma_csv_without_bom_and_iso_dates_in_english():
    header, rows = read_csv_export(_csv(
        "Company Name,Website URL,Business ID,Country,First Visit,Last Visit,Visits,Page Views,Lead Score",
        "Kalliodata Oy,kalliodata.fi,,FI,2026-11-16T09:12:00Z,2026-11-22,2,5,40", bom=False, sep=","))
    (row,), _ = parse_table(header, rows)
    assert row.first_visit == datetime(2026, 11, 16, 9, 12, tzinfo=timezone.utc) and row.quality == 40.0


def test_bad_rows_are_rejected_and_bad_fields_are_counted_rejects():
    header, rows = read_csv_export(_csv(
        "Company;Visits;Last visit", ";3;1.1.2026", "Good Oy;many;yesterday", ";;"))
    parsed, rejects = parse_table(header, rows)
    assert sorted(rejects) == [(2, "no company name"), (3, "unreadable last_visit"), (3, "unreadable visits")]
    (good,) = parsed  # the company is kept without the fields it could not read
    assert good.visits is None and set(good.unreadable) == {"visits", "last_visit"}
    assert good.extra == {}  # never the values: they may be anything, a person's e-mail too


def test_no_name_column_is_one_line_error():
    header, rows = read_csv_export(_csv("foo;bar", "1;2"))
    with pytest.raises(InputError, match="no company-name column"):
        parse_table(header, rows)


def test_xlsx_with_real_dates(tmp_path):
    book = Workbook()
    sheet = book.active
    sheet.append(["Company name", "Website", "Business ID", "First visit", "Last visit", "Visits"])
    sheet.append(["Kalliodata Oy", "www.kalliodata.fi", "3141593-8", datetime(2026, 11, 16, 9, 12), "22.11.2026 15:40", 9])
    path = tmp_path / "export.xlsx"
    book.save(path)
    (row,), rejects = parse_table(*read_xlsx_export(path), zone=HELSINKI)
    assert rejects == [] and row.first_visit == datetime(2026, 11, 16, 9, 12, tzinfo=HELSINKI) and row.visits == 9


def test_api_json_leads_and_visits():
    payload = {
        "data": [
            {"id": "lead-1", "type": "leads", "attributes": {
                "name": "Kalliodata Oy", "website_url": "https://www.kalliodata.fi", "business_id": "3141593-8",
                "employee_count": 40, "first_visit_date": "2026-11-16", "last_visit_date": "2026-11-22",
                "visits": 2, "quality": 8}},
            {"id": "lead-2", "type": "leads", "attributes": {"name": ""}},
        ],
        "included": [
            {"type": "visits", "id": "v1", "attributes": {"source": "google", "medium": "organic",
             "referring_url": "https://www.google.com/", "visit_route": [{"page_path": "/"}, {"page_path": "/pricing"}]},
             "relationships": {"lead": {"data": {"id": "lead-1", "type": "leads"}}}},
            {"type": "visits", "id": "v2", "attributes": {"lead_id": "lead-1", "visit_route": [{"page_path": "/contact"}]}},
        ],
    }
    (row,), rejects = parse_api_json(payload)
    assert rejects == [(2, "lead without a name")]
    assert (row.visits, row.pageviews, row.source, row.medium) == (2, 3, "google", "organic")
    assert row.extra["top_pages"] == ["/", "/contact", "/pricing"]


@pytest.mark.parametrize("text", ["24.11.2026 14:05", "24.11.2026 14.05", "2026-11-24T14:05:00", "2026-11-24 14:05"])
def test_dates(text):
    assert parse_datetime(text, HELSINKI) == datetime(2026, 11, 24, 14, 5, tzinfo=HELSINKI)


# --- end to end: logs + export + register ----------------------------------------------------------

@pytest.fixture
def ytj(httpserver):
    server = YtjServer(REGISTER)
    httpserver.expect_request("/ytj/v3/companies").respond_with_handler(server)
    return server


def _settings(tmp_path, httpserver, **values):
    base = {"db": str(tmp_path / "leads.duckdb"), "ytj_url": httpserver.url_for("/ytj/v3"), "ytj_min_interval": 0}
    return load_settings({**base, **values}, None, {"LEADPIPE_CONFIG_DIR": str(tmp_path / "cfg")})


def test_a_company_in_logs_and_export_is_one_row_and_reruns_change_nothing(tmp_path, httpserver, ytj):
    networks = tmp_path / "networks.csv"
    networks.write_text("cidr,organisation,business_id\n185.213.44.0/24,Kalliodata Oy,\n")
    logs = write_log(tmp_path / "access.log", [combined(client="185.213.44.10")])
    export = tmp_path / "export.csv"
    export.write_bytes(_csv(
        HEADER_FI,
        f"Kalliodata Oy;www.kalliodata.fi;;;{KALLIO};Suomi;Tampere;16.11.2026 09:12;22.11.2026 15:40;9;31;8;;",
        "Metsa Logistics;;;;;Finland;Kotka;17.11.2026;20.11.2026 11:02;4;15;7;;",
        "Acme Industrie GmbH;acme.example;;;;Germany;Stuttgart;19.11.2026;19.11.2026;1;4;3;;",
        ";;;;;;;;;;;;;",
        ";www.nameless.example;;;;;;;;3;;;;",  # a row without a company name
    ))
    settings = _settings(tmp_path, httpserver, logs=[str(logs)], leadfeeder=[str(export)], offline=False,
                         rdap_url="http://127.0.0.1:9/rdap")
    engine.execute(settings, "networks import", [commands.import_network_list(networks, "operator")])
    run = ["ingest", "leadfeeder", "resolve", "enrich", "load"]
    first = engine.execute(settings, "run", run)
    assert first["leadfeeder_rows"] == 3 and first["leadfeeder_rejected"] == 1

    def snapshot():
        with duckdb.connect(str(settings.db), read_only=True) as con:
            return (
                con.execute("SELECT company_id, business_id, name, country FROM companies ORDER BY name").fetchall(),
                con.execute("SELECT source, source_key, company_id, visits, last_visit, updated_at FROM company_sources ORDER BY 2").fetchall(),
                con.execute("SELECT count(*) FROM visits WHERE company_id IS NOT NULL").fetchall(),
            )

    companies, sources, attributed = snapshot()
    by_name = {name: (cid, bid, country) for cid, bid, name, country in companies}
    assert by_name["Kalliodata Oy"][1] == KALLIO
    assert by_name["Metsä Logistics Ab"][1] == METSA  # export-only, matched to the register
    assert by_name["Acme Industrie GmbH"][1:] == (None, "DE")  # foreign: no Business ID
    assert len([c for c in companies if c[1] == KALLIO]) == 1  # logs and export: one row
    assert {s[2] for s in sources} <= {cid for cid, *_ in companies}
    assert attributed == [(1,)]
    # Leadfeeder's counts live apart: log visits are not inflated by them
    with duckdb.connect(str(settings.db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM visits").fetchall() == [(1,)]
    asked = len(ytj.requests)
    second = engine.execute(settings, "run", run)
    assert snapshot() == (companies, sources, attributed)
    assert second["leadfeeder_unchanged"] == 3 and len(ytj.requests) == asked


def test_a_newer_export_updates_last_visit_and_counts_an_older_one_does_not(tmp_path, httpserver, ytj):
    def export(name, last, visits):
        path = tmp_path / name
        path.write_bytes(_csv(HEADER_FI, f"Kalliodata Oy;;;;{KALLIO};FI;;1.11.2026;{last};{visits};;;;"))
        return str(path)

    settings = _settings(tmp_path, httpserver, leadfeeder=[export("a.csv", "20.11.2026", 5)], offline=True)
    engine.execute(settings, "ingest", ["leadfeeder"])
    newer = _settings(tmp_path, httpserver, leadfeeder=[export("b.csv", "24.11.2026", 7)], offline=True)
    assert engine.execute(newer, "ingest", ["leadfeeder"])["leadfeeder_updated"] == 1
    older = _settings(tmp_path, httpserver, leadfeeder=[export("c.csv", "18.11.2026", 3)], offline=True)
    assert engine.execute(older, "ingest", ["leadfeeder"])["leadfeeder_unchanged"] == 1
    with duckdb.connect(str(settings.db), read_only=True) as con:
        assert con.execute("SELECT visits, CAST(last_visit AT TIME ZONE 'Europe/Helsinki' AS DATE) FROM company_sources").fetchall() \
            == [(7, datetime(2026, 11, 24).date())]


def test_unreadable_export_is_a_reject_and_a_missing_one_an_error(tmp_path, httpserver):
    from enrich.errors import InputError as Missing

    junk = tmp_path / "junk.csv"
    junk.write_bytes(b"\x00\x01 not an export at all")
    piped = tmp_path / "piped.csv"  # the wrong delimiter: no column can be told apart
    piped.write_bytes(b"Company name|Website\nKalliodata Oy|kalliodata.fi\n")
    headless = tmp_path / "headless.csv"  # no header row: the first company is taken for one, and found wanting
    headless.write_bytes(b"Kalliodata Oy;kalliodata.fi;3141593-8\n")
    settings = _settings(tmp_path, httpserver, leadfeeder=[str(junk), str(piped), str(headless)], offline=True)
    stats = engine.execute(settings, "ingest", ["leadfeeder"])
    assert stats["leadfeeder_rejected"] == 3 and stats["leadfeeder_rows"] == 0
    with duckdb.connect(str(settings.db), read_only=True) as con:
        reasons = [r for (r,) in con.execute("SELECT reason FROM rejects").fetchall()]
    assert len(reasons) == 3 and all(r.startswith("not a readable export") for r in reasons)
    missing = _settings(tmp_path, httpserver, leadfeeder=[str(tmp_path / "nope.csv")], offline=True)
    with pytest.raises(Missing, match="no such file"):
        engine.execute(missing, "ingest", ["leadfeeder"])


def test_export_pulled_from_a_url_with_its_own_token_only(tmp_path, httpserver, monkeypatch):
    export = _csv(HEADER_FI, f"Kalliodata Oy;;;;{KALLIO};FI;;1.11.2026;20.11.2026;5;;;;")
    httpserver.expect_request("/api/export.csv").respond_with_data(export)
    settings = load_settings(
        {"db": str(tmp_path / "leads.duckdb"), "leadfeeder": [httpserver.url_for("/api/export.csv")]},
        None, {"LEADPIPE_CONFIG_DIR": str(tmp_path / "cfg"), "LEADPIPE_LEADFEEDER_TOKEN": "lf-secret",
               "LEADPIPE_HTTP_TOKEN": "web-server-secret"},
    )
    assert engine.execute(settings, "ingest", ["leadfeeder"])["leadfeeder_rows"] == 1
    request, _ = httpserver.log[0]
    assert request.headers["Authorization"] == "Token token=lf-secret"  # the web server's token stays home
