"""YTJ v3: parsing the full company object, and the client against a local v3 server."""

import json
from datetime import date, datetime

import pytest

from enrich.errors import RetryableError
from enrich.http import PoliteClient
from enrich.ytj import YtjClient, parse_company, parse_last_modified, parse_search
from tests.conftest import SHARED
from tests.register_set import METSA, REGISTER, SAIMAA, bid
from tests.ytj_fixtures import YtjServer, company

REFERENCE = SHARED / "reference" / "ytj"


def test_parse_nokia_as_captured_from_the_live_api(shared):
    total, (nokia,) = parse_search(json.loads((REFERENCE / "v3_companies_businessId_0112038-9_nokia.json").read_text()))
    assert total == 1
    assert (nokia.business_id, nokia.name, nokia.company_form) == ("0112038-9", "Nokia Oyj", "Public limited company")
    assert nokia.former_names == ("Oy Nokia Ab",)
    assert "Nokia Corporation" in nokia.parallel_names and "Vertu" in nokia.auxiliary_names
    assert (nokia.industry_code, nokia.industry_code_set, nokia.city, nokia.website) == ("70100", "TOIMI4", "Espoo", "www.nokia.com")
    assert nokia.active and nokia.last_modified == datetime(2026, 5, 4, 7, 31, 50)


def test_parse_search_and_not_found(shared):
    total, found = parse_search(json.loads((REFERENCE / "v3_companies_name_Supercell.json").read_text()))
    assert total == 3 and {c.name for c in found} >= {"Supercell Oy"}
    assert parse_search(json.loads((REFERENCE / "v3_companies_businessId_not_found.json").read_text())) == (0, [])


def test_parse_every_field_of_the_fixture_shape():
    entry = company(SAIMAA, "Saimaa Analytics Oy", former=("Lappeenrannan Datapalvelu Oy",),
                    parallel=("Saimaa Analytics Ltd",), auxiliary=("SA Data",), industry=("62010", "Ohjelmistot"),
                    code_set="TOIMI3", situations=("Yrityssaneeraus",), last_modified="2025-01-02 03:04:05")
    parsed = parse_company(entry)
    assert parsed.former_names == ("Lappeenrannan Datapalvelu Oy",)
    assert parsed.parallel_names == ("Saimaa Analytics Ltd",) and parsed.auxiliary_names == ("SA Data",)
    assert (parsed.industry_code, parsed.industry_code_set) == ("62010", "TOIMI3")
    assert parsed.situations == ("Yrityssaneeraus",) and parsed.active  # restructuring is not the end
    assert parsed.website is None and parsed.post_code == "00100"
    assert parsed.last_modified == datetime(2025, 1, 2, 3, 4, 5)
    ended = parse_company(company(bid(1), "Vanha Oy", end_date="2009-12-31"))
    assert not ended.active and ended.end_date == date(2009, 12, 31) and ended.register_status == "ended 2009-12-31"
    assert not parse_company(company(bid(2), "Konkurssi Oy", situations=("Konkurssi",))).active


@pytest.mark.parametrize("text", ["2026-05-04 07:31:50", "2026-05-04T07:31:50"])
def test_last_modified_in_both_formats(text):
    assert parse_last_modified(text) == datetime(2026, 5, 4, 7, 31, 50)


def _client(httpserver, server, **kw):
    httpserver.expect_request("/v3/companies").respond_with_handler(server)
    slept = []
    return YtjClient(httpserver.url_for("/v3"), http=PoliteClient(min_interval=0, sleep=slept.append, **kw)), slept


def test_paging_stops_at_the_last_page(httpserver):
    many = [company(bid(5000000 + i * 11), f"Paging Test {i} Oy") for i in range(250)]
    server = YtjServer(many)
    client, _ = _client(httpserver, server)
    found = client.search("Paging Test")
    assert len(found) == 250 and len({c.business_id for c in found}) == 250
    assert [r.get("page") for r in server.requests] == [None, "2", "3"]  # never page 4: it would answer page 1


def test_by_business_id_and_unknown_business_id(httpserver):
    server = YtjServer(REGISTER)
    client, _ = _client(httpserver, server)
    assert client.by_business_id(METSA).name == "Metsä Logistics Ab"
    assert client.by_business_id(bid(7777777)) is None
    assert server.requests[-1] == {"businessId": bid(7777777)}


def test_429_text_plain_and_5xx_json_are_retried(httpserver):
    server = YtjServer(REGISTER, fail={
        1: (429, "Too Many Requests", {"Retry-After": "3"}),
        2: (503, json.dumps({"timestamp": "2026-11-25T10:00:00", "message": "Service Unavailable", "errorcode": 503}), {}),
    })
    client, slept = _client(httpserver, server)
    assert client.by_business_id(METSA).business_id == METSA
    assert len(server.requests) == 3 and slept == [3.0, 2.0]


def test_persistent_errors_give_up(httpserver):
    server = YtjServer(REGISTER, fail={n: (500, '{"message": "boom", "errorcode": 500}', {}) for n in range(1, 10)})
    client, _ = _client(httpserver, server, max_attempts=3)
    with pytest.raises(RetryableError, match="HTTP 500 after 3 attempts"):
        client.search("Kalliodata")


def test_name_search_is_a_literal_substring(httpserver):
    server = YtjServer(REGISTER)
    client, _ = _client(httpserver, server)
    assert client.search("Metsa Logistics") == [] or all("Metsa" in " ".join(c.all_names) for c in client.search("Metsa Logistics"))
    assert any(c.business_id == METSA for c in client.search("Mets"))
