"""Every company behind the visits, on a realistic registry (tests/registry_world.py) served on 127.0.0.1.

With RFC 9910 relation searches, one search lists a range's customer
assignments; a registry that caps its answers is asked per /24 block; one
without relation searches is asked per visitor address, within a budget,
over as many nights as it takes. In every case the same companies are found,
nothing else is attributed, and a rerun asks nothing.
"""

import re

import duckdb
import pytest

from flows import engine
from flows.config import load_settings
from tests.conftest import combined, write_log
from tests.rdap_registry import RdapRegistry
from tests.registry_world import COMPANIES, NOT_COMPANIES, OBJECTS, VISITORS


def _lines(visitors, day=24):
    lines = []
    for index, (address, views) in enumerate(visitors):
        for view in range(views):
            minute = (index * 7 + view) % 60
            lines.append(combined(client=address, ts=f"{day}/Nov/2026:{8 + index % 10:02d}:{minute:02d}:00 +0200",
                                  request=f"GET /page-{view} HTTP/1.1"))
    return lines


def _serve(httpserver, **options) -> RdapRegistry:
    registry = RdapRegistry(OBJECTS, base="/rdap", **options)
    httpserver.expect_request(re.compile(r"^/rdap/.+$")).respond_with_handler(registry)
    return registry


def _settings(tmp_path, httpserver, logs, **extra):
    values = {"db": str(tmp_path / "leads.duckdb"), "logs": [str(logs)], "rdap_url": httpserver.url_for("/rdap"),
              "rdap_min_interval": 0, **extra}
    return load_settings(values, None, {"LEADPIPE_CONFIG_DIR": str(tmp_path / "cfg")})


def _run(settings, stage_names=("ingest", "resolve", "load")):
    return engine.execute(settings, "run", list(stage_names))


def _attributed(db) -> dict[str, set[str]]:
    """Each organisation visits were attributed to (or whose network is public), with its network's kind."""
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            """
            SELECT coalesce(c.name, n.org_name), n.kind, c.company_id IS NOT NULL
            FROM visits v JOIN networks n USING (network_id) LEFT JOIN companies c ON c.company_id = v.company_id
            """
        ).fetchall()
    found: dict[str, set[str]] = {}
    for name, kind, is_company in rows:
        assert is_company == (kind == "company"), (name, kind)
        found.setdefault(kind, set()).add(name)
    return found


def _companies_found(db) -> set[str]:
    return _attributed(db).get("company", set())


def test_relation_searches_find_every_customer_with_one_request_per_network(tmp_path, httpserver):
    registry = _serve(httpserver)
    settings = _settings(tmp_path, httpserver, write_log(tmp_path / "access.log", _lines(VISITORS)))
    stats = _run(settings)
    found = _attributed(settings.db)
    assert found["company"] == COMPANIES
    assert found.get("government", set()) | found.get("education", set()) == set(NOT_COMPANIES)
    assert stats["rdap_searches"] > 0 and stats["rdap_search_results"] > 0
    assert stats["rdap_requests"] == len(registry.requests) <= stats["rdap_networks"]
    assert stats["addresses_pending"] == 0 and stats["rdap_deferred"] == 0
    with duckdb.connect(str(settings.db), read_only=True) as con:
        listed = con.execute("SELECT count(*) FROM networks WHERE parent_id IS NOT NULL").fetchall()[0][0]
        run_stats = con.execute("SELECT stats->>'rdap_searches', stats->>'rdap_search_results' FROM runs "
                                "WHERE status = 'success'").fetchall()
        explained = con.execute(
            "SELECT kind_rule, kind_signals FROM networks WHERE org_name = 'Kaapelitehdas Oy'").fetchall()
    assert listed > 0 and run_stats == [(str(stats["rdap_searches"]), str(stats["rdap_search_results"]))]
    assert explained[0][0] == "isp-customer-assignment" and "Elisa Oyj" in explained[0][1]
    # a rerun of the same night asks nothing and changes nothing
    sent = len(registry.requests)
    again = _run(settings)
    assert again["rdap_requests"] == 0 and len(registry.requests) == sent
    assert _attributed(settings.db) == found


def test_the_next_night_resolves_inside_listed_ranges_without_asking(tmp_path, httpserver):
    registry = _serve(httpserver)
    first = [v for v in VISITORS if v[0] in {"88.120.200.9", "88.112.200.1"}]  # only the allocations answer
    settings = _settings(tmp_path, httpserver, write_log(tmp_path / "access.log.1", _lines(first, day=23)))
    _run(settings)
    asked = len(registry.requests)
    second = [v for v in VISITORS if v[0].startswith(("88.120.", "88.112."))]
    stats = _run(_settings(tmp_path, httpserver, write_log(tmp_path / "access.log", _lines(second))))
    assert {"Kalliodata Oy", "Kaapelitehdas Oy", "Asiakastieto Oy", "Mobiilivarmenne Oy",
            } <= _companies_found(settings.db)
    assert stats["rdap_requests"] == len(registry.requests) - asked <= 2  # searches already covered the ranges


def test_a_registry_that_caps_its_answers_is_asked_block_by_block(tmp_path, httpserver):
    registry = _serve(httpserver, max_rows=3)
    settings = _settings(tmp_path, httpserver, write_log(tmp_path / "access.log", _lines(VISITORS)))
    stats = _run(settings)
    assert _companies_found(settings.db) == COMPANIES
    searched = [target for kind, target in registry.requests if kind == "rdap-bottom"]
    blocks = [target for target in searched if target.endswith(("/24", "/48"))]
    too_many = [target for target in searched if target not in blocks]  # whole ranges, answered "Too Many Rows"
    assert too_many and blocks, registry.requests
    assert stats["rdap_requests"] <= stats["rdap_networks"] + len(too_many)
    assert _run(settings)["rdap_requests"] == 0


@pytest.mark.parametrize("status", [501, 404])
def test_without_relation_searches_each_visitor_address_is_asked(tmp_path, httpserver, status):
    registry = _serve(httpserver, relation_search=False, search_status=status)
    settings = _settings(tmp_path, httpserver, write_log(tmp_path / "access.log", _lines(VISITORS)))
    stats = _run(settings)
    assert _companies_found(settings.db) == COMPANIES
    assert registry.count("rdap-bottom") == 0  # never announced: never asked
    assert registry.count("ip") == stats["rdap_requests"] <= len({address for address, _ in VISITORS})
    assert _run(settings)["rdap_requests"] == 0


def test_a_search_refused_after_being_announced_falls_back_to_addresses(tmp_path, httpserver):
    registry = _serve(httpserver)
    registry.relation_search = True
    original = registry.__call__

    def refusing(request):  # announces relation searches, then answers them 501
        if "/ips/rirSearch1/" in request.path:
            registry.requests.append(("refused", request.path))
            from werkzeug.wrappers import Response
            return Response('{"errorCode": 501}', status=501, content_type="application/rdap+json")
        return original(request)

    httpserver.clear()
    httpserver.expect_request(re.compile(r"^/rdap/.+$")).respond_with_handler(refusing)
    settings = _settings(tmp_path, httpserver, write_log(tmp_path / "access.log", _lines(VISITORS)))
    stats = _run(settings)
    assert _companies_found(settings.db) == COMPANIES
    assert registry.count("refused") == 1  # one refusal: the registry is not asked to search again this run
    assert stats["rdap_searches"] == 1


def test_within_a_budget_the_most_valuable_first_and_the_rest_on_later_nights(tmp_path, httpserver):
    registry = _serve(httpserver, relation_search=False)
    logs = write_log(tmp_path / "access.log", _lines(VISITORS))
    settings = _settings(tmp_path, httpserver, logs, rdap_max_requests=8)
    first = _run(settings)
    assert first["rdap_requests"] == 8 and first["rdap_deferred"] > 0
    assert first["addresses_pending"] == first["rdap_deferred"]
    asked_first = [address for _, address in registry.requests]
    assert asked_first[:5] == [address for address, _ in VISITORS[:5]]  # most pageviews first
    nights, stats = 1, first
    while stats["addresses_pending"]:  # later nights (here: `leadpipe resolve`) take what waits
        stats = _run(_settings(tmp_path, httpserver, logs, rdap_max_requests=8), ["resolve"])
        nights += 1
        assert stats["rdap_requests"] <= 8 and nights < 10
    assert nights == 4 and _companies_found(settings.db) == COMPANIES
    # each address was asked at most once over all the nights
    asked = [address for kind, address in registry.requests if kind == "ip"]
    assert len(asked) == len(set(asked))


def test_classification_rules_apply_to_the_cache_when_they_change(tmp_path, httpserver):
    _serve(httpserver)
    settings = _settings(tmp_path, httpserver, write_log(tmp_path / "access.log", _lines(VISITORS[:20])))
    _run(settings)
    with duckdb.connect(str(settings.db)) as con:  # as an older leadpipe left it: a trap word misread
        con.execute("UPDATE networks SET kind = 'isp', kind_rule = 'keyword', company_id = NULL "
                    "WHERE org_name = 'Mobiilitiimi Oy'")
        con.execute("DELETE FROM pipeline_state")
        con.execute("UPDATE visits SET company_id = NULL")
    stats = engine.execute(settings, "resolve", ["resolve"])
    assert stats["networks_reclassified"] >= 1 and stats["rdap_requests"] == 0
    assert "Mobiilitiimi Oy" in _companies_found(settings.db)
    assert engine.execute(settings, "resolve", ["resolve"])["networks_reclassified"] == 0
