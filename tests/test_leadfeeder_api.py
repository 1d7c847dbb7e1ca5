"""The Leadfeeder API's real shapes (fixtures' field names: tests/fixtures/leadfeeder_api/PROVENANCE.txt)."""

import json
from datetime import date, datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from openpyxl import Workbook

from enrich.leadfeeder import parse_table, read_csv_export, read_export

FIXTURES = Path(__file__).parent / "fixtures" / "leadfeeder_api"
HELSINKI = ZoneInfo("Europe/Helsinki")
NOW = datetime(2026, 11, 26, 12, tzinfo=timezone.utc)


def _load(name):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def _read(tmp_path, payload, zone=HELSINKI):
    path = tmp_path / "export.json"
    path.write_text(json.dumps(payload), encoding="utf-8")
    return read_export(path, zone=zone, now=NOW)


def test_v1_leads_take_city_and_country_from_the_included_location(tmp_path):
    rows, rejects = _read(tmp_path, _load("leads_v1.json"))
    assert rejects == []
    fi, se = rows
    assert (fi.name, fi.city, fi.country, fi.industry, fi.employees) == ("Kalliodata Oy", "Espoo", "FI", "Software", "40")
    # a Swedish company keeps its country: register matching only looks up FI (sinks/register_matching.py)
    assert (se.name, se.city, se.country) == ("Fjordsoft AB", "Stockholm", "SE")


def test_industries_list_is_the_industry_column(tmp_path):
    rows, _ = _read(tmp_path, _load("leads_v1.json"))
    assert rows[1].industry == "IT Services, Consulting"


def test_placeholders_in_api_json_are_not_values(tmp_path):
    (_, se), rejects = _read(tmp_path, _load("leads_v1.json"))
    assert rejects == [] and se.employees is None and se.quality is None and se.unreadable == ()


def test_visits_endpoint_joins_each_visit_to_its_lead_with_utm_and_pages(tmp_path):
    rows, rejects = _read(tmp_path, [_load("leads_v1.json"), _load("visits_v1.json")])
    assert rejects == []
    fi, se = rows
    assert (fi.source, fi.medium, fi.extra["campaign"], fi.extra["campaigns"]) == ("google", "cpc", "winter-sale", ["winter-sale"])
    assert fi.extra["top_pages"] == ["/contact", "/pricing"] and fi.pageviews == 2 and fi.visits == 3
    assert fi.extra["referring_urls"] == ["https://www.google.com/search"]  # no query string
    assert (se.source, se.medium, se.pageviews) == ("linkedin", "social", 1)
    assert "campaign" not in se.extra and "referring_urls" not in se.extra  # N/A and "" are no values


def test_web_visits_companies_shape_reads_the_company_relationship(tmp_path):
    (row,), rejects = _read(tmp_path, _load("web_visits_companies.json"))
    assert rejects == []
    assert (row.name, row.website, row.industry, row.employees) == (
        "Baltic Widgets OU", "https://balticwidgets.ee", "Computer programming", "25")
    assert (row.city, row.country) == ("Tallinn", "EE")
    assert row.last_visit == datetime(2026, 11, 21, tzinfo=HELSINKI)


def test_visits_alone_give_their_lead_first_and_last_visit_when_the_lead_has_none(tmp_path):
    leads = {"data": [{"id": "L", "type": "leads", "attributes": {"name": "Solo Oy"}}]}
    visits = {"data": [{"id": "v", "type": "visits", "attributes": {"lead_id": "L", "started_at": "2026-11-20T10:00:00Z"}},
                       {"id": "w", "type": "visits", "attributes": {"lead_id": "L", "started_at": "2026-11-21T10:00:00Z"}}]}
    (row,), rejects = _read(tmp_path, [leads, visits])
    assert rejects == [] and row.visits == 2
    assert (row.first_visit, row.last_visit) == (datetime(2026, 11, 20, 10, tzinfo=timezone.utc),
                                                 datetime(2026, 11, 21, 10, tzinfo=timezone.utc))


def test_date_only_values_are_the_same_instant_from_every_format(tmp_path):
    midnight = datetime(2026, 11, 16, tzinfo=HELSINKI)
    (api,), _ = _read(tmp_path, _load("leads_v1.json") | {"data": [_load("leads_v1.json")["data"][0]]})
    csv_rows, _ = parse_table(*read_csv_export(
        b"Company name;First visit;Last visit\r\nA Oy;2026-11-16;16.11.2026\r\n"), zone=HELSINKI, now=NOW)
    book = Workbook()
    book.active.append(["Company name", "First visit", "Last visit"])
    book.active.append(["B Oy", date(2026, 11, 16), datetime(2026, 11, 16)])
    book.save(tmp_path / "export.xlsx")
    (xlsx,), _ = read_export(tmp_path / "export.xlsx", zone=HELSINKI, now=NOW)
    assert api.first_visit == csv_rows[0].first_visit == csv_rows[0].last_visit == midnight
    assert xlsx.first_visit == xlsx.last_visit == midnight


def test_placeholders_and_empty_headers_in_tables_are_not_values():
    header, rows = read_csv_export(
        b"Company name;;Industry;Employees;Business ID;Country;Visits;Quality\r\n"
        b"A Oy;secret;N/A;-;n/a;-;N/A;-\r\n"
        b"N/A;x;y;1;;;;\r\n")
    (row,), rejects = parse_table(header, rows, zone=HELSINKI, now=NOW)
    assert rejects == [(3, "no company name")]
    assert (row.industry, row.employees, row.business_id, row.country, row.visits, row.quality) == (None,) * 6
    assert row.unreadable == () and "secret" not in repr(row)
