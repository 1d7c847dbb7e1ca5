"""Enrichment end to end: RDAP and YTJ servers on 127.0.0.1, logs in, Business IDs out."""

import re

import duckdb
import pytest

from flows import commands, engine
from flows.config import load_settings
from tests.conftest import combined, write_log
from tests.rdap_fixtures import ripe_network
from tests.register_set import KALLIO, METSA, REGISTER, TELE
from tests.test_resolve import Registry
from tests.ytj_fixtures import YtjServer

NETWORKS = [
    ripe_network("185.213.44.0", "185.213.44.255", "KALLIODATA-NET", org="Kalliodata Ltd"),
    ripe_network("2a00:1234:5678::", "2a00:1234:5678:ffff:ffff:ffff:ffff:ffff", "KALLIODATA-V6",
                 org="Kalliodata Oy", ipv6=True, org_handle="ORG-KD2-RIPE"),
    ripe_network("193.166.220.0", "193.166.220.255", "METSA-LOG", org="Metsa Logistics", org_handle="ORG-ML1-RIPE"),
    ripe_network("91.200.10.0", "91.200.10.255", "ESIMERKKI-TELE-HQ", org="Esimerkki Tele Oyj", org_handle="ORG-ET1-RIPE"),
    ripe_network("194.100.40.0", "194.100.40.31", "NORDICFIN", org="Nordic Fintech Ltd", country="GB",
                 org_handle="ORG-NF1-RIPE"),
]
LINES = [
    combined(client="185.213.44.10", request="GET /pricing HTTP/1.1"),
    combined(client="2a00:1234:5678::9", ts="24/Nov/2026:10:01:00 +0200"),
    combined(client="193.166.220.7", ts="24/Nov/2026:10:02:00 +0200"),
    combined(client="91.200.10.4", ts="24/Nov/2026:10:03:00 +0200"),
    combined(client="194.100.40.5", ts="24/Nov/2026:10:04:00 +0200"),
]


@pytest.fixture
def servers(httpserver):
    rdap = Registry(NETWORKS)
    httpserver.expect_request(re.compile(r"^/rdap/ip/.+$")).respond_with_handler(rdap)
    ytj = YtjServer(REGISTER)
    httpserver.expect_request("/ytj/v3/companies").respond_with_handler(ytj)
    return rdap, ytj


def _settings(tmp_path, httpserver, logs):
    return load_settings(
        {"db": str(tmp_path / "leads.duckdb"), "logs": [str(logs)], "rdap_url": httpserver.url_for("/rdap"),
         "ytj_url": httpserver.url_for("/ytj/v3"), "rdap_min_interval": 0, "ytj_min_interval": 0},
        None, {"LEADPIPE_CONFIG_DIR": str(tmp_path / "cfg")},
    )


def _run(settings):
    return engine.execute(settings, "run", ["ingest", "resolve", "enrich", "load"])


def test_companies_get_their_business_ids_once_and_a_rerun_asks_nothing(tmp_path, httpserver, servers):
    rdap, ytj = servers
    settings = _settings(tmp_path, httpserver, write_log(tmp_path / "access.log", LINES))
    stats = _run(settings)
    assert stats["register_failed"] == 0
    with duckdb.connect(str(settings.db), read_only=True) as con:
        companies = con.execute(
            "SELECT business_id, name, match_method, industry_code, city FROM companies ORDER BY name"
        ).fetchall()
        duplicated = con.execute(
            "SELECT business_id FROM companies WHERE business_id IS NOT NULL GROUP BY 1 HAVING count(*) > 1"
        ).fetchall()
        attributed = con.execute(
            "SELECT c.business_id, count(*) FROM visits v JOIN companies c USING (company_id) GROUP BY 1 ORDER BY 1"
        ).fetchall()
        tele_network = con.execute(
            "SELECT kind, kind_rule FROM networks WHERE netname = 'ESIMERKKI-TELE-HQ'"
        ).fetchall()
    by_id = {row[0]: row for row in companies}
    assert by_id[KALLIO][1:] == ("Kalliodata Oy", "name-exact", "62100", "Tampere")
    assert by_id[METSA][1] == "Metsä Logistics Ab"  # found despite the lost dots
    assert duplicated == []
    # Kalliodata's two networks (IPv4 "Kalliodata Ltd", IPv6 "Kalliodata Oy") are one company with both visits
    assert (KALLIO, 2) in attributed and (METSA, 1) in attributed
    # the telecom operator is a registered company, but its network is an ISP's: never a lead
    assert tele_network == [("isp", "register-industry")]
    assert TELE not in {bid for bid, _ in attributed}
    # the foreign company stays a company without a Business ID
    assert any(name == "Nordic Fintech Ltd" and bid is None for bid, name, *_ in companies)
    asked = len(ytj.requests)
    assert asked > 0
    again = _run(settings)
    assert len(ytj.requests) == asked and again["register_requests"] == 0


def test_bulk_register_means_no_api_calls(tmp_path, httpserver, servers):
    import json

    rdap, ytj = servers
    bulk = tmp_path / "all_companies.json"
    bulk.write_text(json.dumps(REGISTER))
    settings = _settings(tmp_path, httpserver, write_log(tmp_path / "access.log", LINES))
    imported = engine.execute(settings, "register import", [commands.import_register(bulk)])
    assert imported["register_entries"] == len(REGISTER)
    _run(settings)
    assert ytj.requests == []
    with duckdb.connect(str(settings.db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM companies WHERE business_id = ?", [KALLIO]).fetchall() == [(1,)]


def test_offline_enrichment_uses_only_the_local_register(tmp_path, httpserver, servers):
    rdap, ytj = servers
    settings = _settings(tmp_path, httpserver, write_log(tmp_path / "access.log", LINES))
    engine.execute(settings, "run", ["ingest", "resolve", "load"])
    offline = load_settings({"db": str(settings.db), "offline": True}, None, {"LEADPIPE_CONFIG_DIR": str(tmp_path / "cfg")})
    stats = engine.execute(offline, "enrich", ["enrich"])
    assert ytj.requests == [] and stats["register_matches"] == 0 and stats["register_unchecked"] == 3
    # ...and the next online run still asks
    stats = engine.execute(_settings(tmp_path, httpserver, tmp_path / "access.log"), "enrich", ["enrich"])
    assert stats["register_matches"] == 3 and ytj.requests  # Kalliodata Ltd and Oy: one organisation


def test_register_import_reads_the_zip_and_the_wrapped_json_and_rejects_junk(tmp_path, httpserver, servers):
    import json
    import zipfile

    bundle = tmp_path / "all_companies.zip"
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.writestr("all_companies.json", json.dumps(REGISTER[:5] + [{"names": []}]))
    wrapped = tmp_path / "companies.json"
    wrapped.write_text(json.dumps({"totalResults": 3, "companies": REGISTER[5:8]}))
    settings = _settings(tmp_path, httpserver, write_log(tmp_path / "access.log", LINES))
    first = engine.execute(settings, "register import", [commands.import_register(bundle, batch_size=2)])
    second = engine.execute(settings, "register import", [commands.import_register(wrapped)])
    assert (first["register_entries"], first["register_rejected"]) == (5, 1)
    assert second["register_entries"] == 3
    again = engine.execute(settings, "register import", [commands.import_register(bundle)])
    with duckdb.connect(str(settings.db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM register_companies").fetchall() == [(8,)]
    assert again["register_entries"] == 5


def test_register_import_reads_a_wrapped_json_inside_a_zip(tmp_path, httpserver, servers):
    import json
    import zipfile

    bundle = tmp_path / "companies.zip"
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.writestr("companies.json", json.dumps({"totalResults": 2, "companies": REGISTER[:2]}))
    settings = _settings(tmp_path, httpserver, write_log(tmp_path / "access.log", LINES))
    assert engine.execute(settings, "register import", [commands.import_register(bundle)])["register_entries"] == 2


def test_the_register_decides_both_ways_whatever_words_a_name_contains(tmp_path, httpserver):
    """A Finnish holder that only words made a non-company (a netname and a name without a legal form)
    is a company when the register knows it with an ordinary industry; a telecom stays an ISP."""
    from tests.register_set import bid
    from tests.ytj_fixtures import company

    kaapeli, tele = bid(4141414), bid(5151515)
    register = [company(kaapeli, "Kaapelitalo Oy", industry=("68200", "Renting and operating of real estate"),
                        city="HELSINKI"),
                company(tele, "Kaupunkiverkko Oy", industry=("61100", "Wired telecommunications activities"),
                        city="TAMPERE")]
    networks = [ripe_network("185.213.50.0", "185.213.50.255", "KAAPELITALO-NET", org="Kaapelitalo",
                             org_handle="ORG-KT1-RIPE"),
                ripe_network("185.213.51.0", "185.213.51.255", "KAUPUNKIVERKKO-CABLE", org="Kaupunkiverkko",
                             org_handle="ORG-KV1-RIPE")]
    httpserver.expect_request(re.compile(r"^/rdap/ip/.+$")).respond_with_handler(Registry(networks))
    httpserver.expect_request("/ytj/v3/companies").respond_with_handler(YtjServer(register))
    lines = [combined(client="185.213.50.9"), combined(client="185.213.51.9", ts="24/Nov/2026:10:05:00 +0200")]
    settings = _settings(tmp_path, httpserver, write_log(tmp_path / "access.log", lines))
    stats = _run(settings)
    assert stats["networks_by_register"] == 1
    with duckdb.connect(str(settings.db), read_only=True) as con:
        rows = con.execute("SELECT netname, kind, kind_rule FROM networks ORDER BY netname").fetchall()
        attributed = con.execute("SELECT c.business_id FROM visits v JOIN companies c USING (company_id)").fetchall()
    assert rows == [("KAAPELITALO-NET", "company", "register-industry"), ("KAUPUNKIVERKKO-CABLE", "isp", "keyword")]
    assert attributed == [(kaapeli,)]


def test_a_name_without_a_legal_form_becomes_a_company_only_when_the_register_confirms_it(tmp_path, httpserver):
    from tests.register_set import bid
    from tests.ytj_fixtures import company

    konepaja, city = bid(6161616), bid(7171717)
    register = [company(konepaja, "Konepaja Virtanen Oy", industry=("28990", "Manufacture of machinery"),
                        city="TAMPERE"),
                company(city, "Helsingin kaupunki", industry=("84110", "General public administration"),
                        city="HELSINKI")]
    elisa = dict(org="Elisa Oyj", org_handle="ORG-EA1-RIPE")
    networks = [ripe_network("88.120.14.0", "88.120.14.7", "ELISA-CUST-4711", remarks=("Konepaja Virtanen",), **elisa),
                ripe_network("88.120.15.0", "88.120.15.7", "ELISA-CUST-4712", remarks=("Helsingin kaupunki",), **elisa),
                ripe_network("88.120.16.0", "88.120.16.7", "ELISA-CUST-4713", remarks=("Matti Meikäläinen",), **elisa)]
    httpserver.expect_request(re.compile(r"^/rdap/ip/.+$")).respond_with_handler(Registry(networks))
    httpserver.expect_request("/ytj/v3/companies").respond_with_handler(YtjServer(register))
    lines = [combined(client=f"88.120.{n}.3", ts=f"24/Nov/2026:10:0{n - 14}:00 +0200") for n in (14, 15, 16)]
    settings = _settings(tmp_path, httpserver, write_log(tmp_path / "access.log", lines))
    stats = _run(settings)
    assert stats["networks_by_register"] == 2
    with duckdb.connect(str(settings.db), read_only=True) as con:
        rows = con.execute("SELECT netname, kind, kind_rule, org_name FROM networks ORDER BY netname").fetchall()
        attributed = con.execute("SELECT c.business_id, c.name FROM visits v JOIN companies c USING (company_id)").fetchall()
    assert rows == [("ELISA-CUST-4711", "company", "register-industry", "Konepaja Virtanen Oy"),
                    ("ELISA-CUST-4712", "government", "register-industry", "Helsingin kaupunki"),
                    ("ELISA-CUST-4713", "unknown", "unconfirmed-name", None)]  # a person: never a company
    assert attributed == [(konepaja, "Konepaja Virtanen Oy")]
