"""The resolve stage end to end against a local RDAP registry on 127.0.0.1.

Asserts attribution (only company networks attribute visits), provenance, and
how many requests the registry received: one per network, none on a rerun.
"""

import ipaddress

import duckdb
import pytest
from werkzeug.wrappers import Response

from flows import commands, engine
from flows.config import load_settings
from tests.conftest import combined, write_log
from tests.rdap_fixtures import ripe_network

NETWORKS = [
    ripe_network("185.213.44.0", "185.213.44.255", "KALLIODATA-NET", org="Kalliodata Oy"),
    ripe_network("84.249.0.0", "84.249.255.255", "EXAMPLE-DSL-POOL", org="Esimerkki Laajakaista Oy",
                 remarks=("Dynamic DSL customers",)),
    ripe_network("176.72.0.0", "176.72.255.255", "EX-MOBILE-CGNAT", org="Esimerkki Mobiili Oy"),
    ripe_network("95.216.0.0", "95.216.255.255", "HETZNER-CLOUD", org="Hetzner Online GmbH"),
    # an ISP allocation with a business customer's /28 inside it
    ripe_network("80.248.0.0", "80.248.255.255", "EXAMPLE-ISP", type_="ALLOCATED PA", org="Example Telecom Oy"),
    ripe_network("80.248.161.0", "80.248.161.15", "TURUNTERAS-NET", org="Turun Teräs Oyj"),
    ripe_network("2a00:1234:5678::", "2a00:1234:5678:ffff:ffff:ffff:ffff:ffff", "KALLIODATA-V6",
                 org="Kalliodata Oy", ipv6=True),
]


class Registry:
    """Answers /rdap/ip/ADDRESS with the most specific network holding it; counts requests."""

    def __init__(self, networks):
        self.networks = networks
        self.requests = []

    def __call__(self, request):
        address = ipaddress.ip_address(request.path.rsplit("/", 1)[1])
        self.requests.append(str(address))
        holding = [n for n in self.networks
                   if ipaddress.ip_address(n["startAddress"]).version == address.version
                   and ipaddress.ip_address(n["startAddress"]) <= address <= ipaddress.ip_address(n["endAddress"])]
        if not holding:
            return Response('{"errorCode": 404, "title": "Not Found"}', status=404, content_type="application/rdap+json")
        best = min(holding, key=lambda n: int(ipaddress.ip_address(n["endAddress"])) - int(ipaddress.ip_address(n["startAddress"])))
        import json
        return Response(json.dumps(best), content_type="application/rdap+json")


@pytest.fixture
def registry(httpserver):
    import re

    handler = Registry(NETWORKS)
    httpserver.expect_request(re.compile(r"^/rdap/ip/.+$")).respond_with_handler(handler)
    return handler


def _settings(tmp_path, httpserver, logs, **extra):
    values = {"db": str(tmp_path / "leads.duckdb"), "logs": [str(logs)], "rdap_url": httpserver.url_for("/rdap"),
              "rdap_min_interval": 0, **extra}
    return load_settings(values, None, {"LEADPIPE_CONFIG_DIR": str(tmp_path / "cfg")})


def _run(settings):
    return engine.execute(settings, "run", ["ingest", "resolve", "load"])


LOG_LINES = [
    combined(client="185.213.44.10", request="GET /pricing HTTP/1.1"),
    combined(client="185.213.44.11", request="GET / HTTP/1.1", ts="24/Nov/2026:10:01:00 +0200"),
    combined(client="84.249.3.4", ts="24/Nov/2026:10:02:00 +0200"),
    combined(client="84.249.200.9", ts="24/Nov/2026:10:03:00 +0200"),
    combined(client="176.72.5.5", ts="24/Nov/2026:10:04:00 +0200"),
    combined(client="95.216.1.1", ts="24/Nov/2026:10:05:00 +0200"),
    combined(client="80.248.161.5", ts="24/Nov/2026:10:06:00 +0200"),
    combined(client="2a00:1234:5678::77", ts="24/Nov/2026:10:07:00 +0200"),
    combined(client="10.1.2.3", ts="24/Nov/2026:10:08:00 +0200"),  # private: never looked up
    combined(client="198.18.0.1", ts="24/Nov/2026:10:09:00 +0200"),  # reserved: never looked up
    combined(client="203.0.113.99", ts="24/Nov/2026:10:10:00 +0200", agent="curl/8"),  # a bot: never looked up
]


def test_company_networks_attribute_visits_and_nothing_else_does(tmp_path, httpserver, registry):
    logs = write_log(tmp_path / "access.log", LOG_LINES)
    settings = _settings(tmp_path, httpserver, logs)
    stats = _run(settings)
    with duckdb.connect(str(settings.db), read_only=True) as con:
        rows = con.execute(
            """
            SELECT n.cidr, n.kind, n.kind_rule, c.name
            FROM visits v JOIN networks n USING (network_id) LEFT JOIN companies c ON c.company_id = v.company_id
            ORDER BY n.cidr, c.name
            """
        ).fetchall()
        unattributed = con.execute("SELECT count(*) FROM visits WHERE network_id IS NULL").fetchall()[0][0]
    by_cidr = {}
    for cidr, kind, rule, name in rows:
        by_cidr.setdefault(cidr, set()).add((kind, rule, name))
    assert by_cidr["185.213.44.0/24"] == {("company", "organisation-entity", "Kalliodata Oy")}
    assert by_cidr["80.248.161.0/28"] == {("company", "organisation-entity", "Turun Teräs Oyj")}
    assert by_cidr["2a00:1234:5678::/48"] == {("company", "organisation-entity", "Kalliodata Oy")}
    assert by_cidr["84.249.0.0/16"] == {("isp", "keyword", None)}
    assert by_cidr["176.72.0.0/16"] == {("mobile", "keyword", None)}
    assert by_cidr["95.216.0.0/16"] == {("hosting", "known-organisation", None)}
    assert unattributed == 2  # the private and the reserved address
    # one request per network: two Kalliodata addresses and two DSL addresses cost one each
    assert len(registry.requests) == 6 == stats["rdap_requests"]
    assert stats["rdap_networks"] == 6 and stats["rdap_failed"] == 0
    assert not any(a.startswith(("10.", "198.18.", "203.0.113.")) for a in registry.requests)


def test_a_rerun_sends_no_request_and_changes_nothing(tmp_path, httpserver, registry):
    logs = write_log(tmp_path / "access.log", LOG_LINES)
    settings = _settings(tmp_path, httpserver, logs)
    _run(settings)
    sent = len(registry.requests)
    with duckdb.connect(str(settings.db), read_only=True) as con:
        before = con.execute("SELECT visit_id, company_id, network_id FROM visits ORDER BY 1").fetchall()
    stats = _run(settings)
    assert len(registry.requests) == sent and stats["rdap_requests"] == 0
    with duckdb.connect(str(settings.db), read_only=True) as con:
        assert con.execute("SELECT visit_id, company_id, network_id FROM visits ORDER BY 1").fetchall() == before


def test_new_addresses_in_cached_networks_cost_nothing(tmp_path, httpserver, registry):
    first = write_log(tmp_path / "access.log.1", LOG_LINES[:2])
    settings = _settings(tmp_path, httpserver, first)
    _run(settings)
    assert len(registry.requests) == 1
    second = write_log(tmp_path / "access.log", [combined(client="185.213.44.99", ts="25/Nov/2026:09:00:00 +0200")])
    stats = _run(_settings(tmp_path, httpserver, second))
    assert len(registry.requests) == 1 and stats["resolved_from_lists_or_cache"] == 1


def test_offline_sends_nothing_and_leaves_addresses_unresolved(tmp_path, httpserver, registry):
    logs = write_log(tmp_path / "access.log", LOG_LINES)
    stats = _run(_settings(tmp_path, httpserver, logs, offline=True))
    assert registry.requests == [] and stats["unresolved"] == stats["addresses"] == 8


def test_registry_failures_leave_addresses_for_a_later_run(tmp_path, httpserver):
    httpserver.expect_request("/rdap/ip/185.213.44.10").respond_with_data("down", status=403)
    logs = write_log(tmp_path / "access.log", LOG_LINES[:1])
    settings = _settings(tmp_path, httpserver, logs)
    stats = _run(settings)
    assert stats["rdap_failed"] == 1 and stats["unresolved"] == 1
    with duckdb.connect(str(settings.db), read_only=True) as con:
        assert con.execute("SELECT count(*), count(company_id) FROM visits").fetchall() == [(1, 0)]


def test_operator_list_is_tried_first_and_override_wins(tmp_path, httpserver, registry):
    listed = tmp_path / "ours.csv"
    listed.write_text("cidr,organisation,business_id,kind\n185.213.44.0/24,Kalliodata Oy,3141593-8,company\n")
    logs = write_log(tmp_path / "access.log", LOG_LINES[:2])
    settings = _settings(tmp_path, httpserver, logs)
    engine.execute(settings, "networks import", [commands.import_network_list(listed, "operator")])
    stats = _run(settings)
    assert registry.requests == [] and stats["resolved_from_lists_or_cache"] == 2
    with duckdb.connect(str(settings.db), read_only=True) as con:
        assert con.execute("SELECT DISTINCT company_id FROM visits").fetchall() == [("3141593-8",)]
    engine.execute(settings, "networks classify", [commands.classify_network("185.213.44.0/24", "isp")])
    with duckdb.connect(str(settings.db), read_only=True) as con:
        assert con.execute("SELECT DISTINCT company_id FROM visits").fetchall() == [(None,)]
        assert con.execute("SELECT kind, kind_rule FROM networks").fetchall() == [("isp", "operator-override")]


def test_many_visitors_from_one_network_make_it_shared(tmp_path, httpserver, registry):
    lines = [combined(client=f"185.213.44.{i}", ts=f"24/Nov/2026:10:{i % 60:02d}:00 +0200") for i in range(1, 40)]
    logs = write_log(tmp_path / "access.log", lines)
    settings = _settings(tmp_path, httpserver, logs)
    _run(settings)
    with duckdb.connect(str(settings.db), read_only=True) as con:
        assert con.execute("SELECT kind, kind_rule FROM networks").fetchall() == [("isp", "many-visitors")]
        assert con.execute("SELECT count(company_id) FROM visits").fetchall() == [(0,)]


def test_inside_a_cached_allocation_each_new_address_is_asked_never_its_whole_block(tmp_path, httpserver, registry):
    """This registry serves no relation searches: inside an ISP's allocation, one address says nothing
    about its neighbours, so each new visitor address is asked once (and never again)."""
    first = write_log(tmp_path / "access.log.1", [combined(client="80.248.1.1")])
    _run(_settings(tmp_path, httpserver, first))
    assert registry.requests == ["80.248.1.1"]  # the ISP's allocation: it may hold customers
    second = write_log(tmp_path / "access.log", [
        combined(client="80.248.161.5", ts="25/Nov/2026:09:00:00 +0200"),
        combined(client="80.248.161.6", ts="25/Nov/2026:09:01:00 +0200"),
        combined(client="80.248.1.2", ts="25/Nov/2026:09:02:00 +0200"),
    ])
    settings = _settings(tmp_path, httpserver, second)
    _run(settings)
    # the customer's /28 settles its second address; the allocation's neighbour is asked on its own
    assert sorted(registry.requests[1:]) == ["80.248.1.2", "80.248.161.5"]
    with duckdb.connect(str(settings.db), read_only=True) as con:
        rows = con.execute(
            "SELECT n.cidr, n.kind, c.name FROM visits v JOIN networks n USING (network_id) "
            "LEFT JOIN companies c ON c.company_id = v.company_id ORDER BY n.cidr"
        ).fetchall()
    assert ("80.248.161.0/28", "company", "Turun Teräs Oyj") in rows
    assert ("80.248.0.0/16", "isp", None) in rows
    # the next night, addresses already answered cost nothing; a new one costs one request
    third = write_log(tmp_path / "access.log.0", [
        combined(client="80.248.161.7", ts="26/Nov/2026:09:00:00 +0200"),
        combined(client="80.248.1.2", ts="26/Nov/2026:09:01:00 +0200"),
        combined(client="80.248.1.1", ts="26/Nov/2026:09:02:00 +0200"),
        combined(client="80.248.1.9", ts="26/Nov/2026:09:03:00 +0200"),
    ])
    stats = _run(_settings(tmp_path, httpserver, third))
    assert stats["rdap_requests"] == 1 and registry.requests[-1] == "80.248.1.9"
