"""Fault storms from the registries: the run finishes, nothing is attributed wrongly, failures are
counted in runs, and the next run resolves what was left (from the private file of pending addresses)."""

import json
import re
import time

import duckdb
from werkzeug.wrappers import Response

from flows import context, engine
from flows.config import load_settings
from tests.conftest import combined, write_log
from tests.rdap_fixtures import ripe_network
from tests.test_resolve import Registry

NETWORKS = [ripe_network(f"185.213.{i}.0", f"185.213.{i}.255", f"CUSTOMER-{i}-NET", org=f"Asiakas {i} Oy",
                         org_handle=f"ORG-C{i}-RIPE") for i in range(12)] + [
    ripe_network("84.249.0.0", "84.249.255.255", "EXAMPLE-DSL-POOL", org="Esimerkki Laajakaista Oy",
                 remarks=("Dynamic DSL customers",))]


class Stormy(Registry):
    """Answers like a registry having a bad night, request by request."""

    def __init__(self, networks, healthy=False):
        super().__init__(networks)
        self.healthy = healthy
        self.arrivals = 0  # counted on arrival (a slow answer completes after the client gave up)

    def __call__(self, request):
        self.arrivals += 1
        n = len(self.requests) + 1
        if not self.healthy:
            kind = n % 6
            if kind == 1:
                self.requests.append("429")
                return Response("slow down", status=429, headers={"Retry-After": "0"}, content_type="text/plain")
            if kind == 2:
                self.requests.append("503")
                return Response('{"errorCode": 503}', status=503, content_type="application/json")
            if kind == 3:
                self.requests.append("bad json")
                return Response('{"objectClassName": "ip net', content_type="application/rdap+json")
            if kind == 4:
                self.requests.append("slow")
                time.sleep(0.4)
        return super().__call__(request)


def test_a_bad_night_loses_nothing_and_misattributes_nothing(tmp_path, httpserver):
    storm = Stormy(NETWORKS)
    httpserver.expect_request(re.compile(r"^/rdap/ip/.+$")).respond_with_handler(lambda r: storm(r))
    lines = [combined(client=f"185.213.{i}.9", ts=f"24/Nov/2026:10:{i:02d}:00 +0200") for i in range(12)]
    lines += [combined(client="84.249.7.7", ts="24/Nov/2026:11:00:00 +0200")]
    logs = write_log(tmp_path / "access.log", lines)
    settings = load_settings(
        {"db": str(tmp_path / "leads.duckdb"), "logs": [str(logs)], "rdap_url": httpserver.url_for("/rdap"),
         "rdap_min_interval": 0, "retry_backoff": "0,0", "request_timeout": "1,0.2"},
        None, {"LEADPIPE_CONFIG_DIR": str(tmp_path / "cfg")},
    )
    first = engine.execute(settings, "run", ["ingest", "resolve", "load"])
    assert first["rdap_failed"] > 0 and first["unresolved"] == first["rdap_failed"]
    with duckdb.connect(str(settings.db), read_only=True) as con:
        attributed = con.execute(
            "SELECT n.netname, c.name FROM visits v JOIN networks n USING (network_id) "
            "JOIN companies c ON c.company_id = v.company_id").fetchall()
        stats = json.loads(con.execute("SELECT stats FROM runs WHERE command = 'run'").fetchall()[0][0])
        assert con.execute("SELECT count(*) FROM visits").fetchall() == [(13,)]  # every visit kept
    # whatever was attributed is right: CUSTOMER-i-NET belongs to Asiakas i Oy, and no pool is a company
    assert all(name == f"Asiakas {net.split('-')[1]} Oy" for net, name in attributed)
    assert stats["rdap_failed"] == first["rdap_failed"]
    # the next (healthy) night resolves what was left, from the private retry queue
    waiting = context.pending_addresses(settings).path
    assert waiting.exists() and waiting.stat().st_mode & 0o777 == 0o600
    time.sleep(0.5)  # let the last slow answer of the bad night finish
    storm.healthy = True
    before = storm.arrivals
    second = engine.execute(settings, "run", ["resolve", "load"])
    assert second["retried"] == first["rdap_failed"] and second["rdap_failed"] == 0
    assert storm.arrivals - before <= first["rdap_failed"]  # at most one request per address left
    with duckdb.connect(str(settings.db), read_only=True) as con:
        rows = con.execute(
            "SELECT n.netname, n.kind, c.name FROM visits v JOIN networks n USING (network_id) "
            "LEFT JOIN companies c ON c.company_id = v.company_id ORDER BY 1").fetchall()
    assert len(rows) == 13  # every visit now has its network
    assert all((kind == "company") == (name is not None) for _, kind, name in rows)
    assert ("EXAMPLE-DSL-POOL", "isp", None) in rows
    assert not waiting.exists()  # emptied: nothing kept longer than needed
    # and a rerun of the same logs asks nothing at all
    third = engine.execute(settings, "run", ["ingest", "resolve", "load"])
    assert third["pageviews"] == 0 and third["rdap_requests"] == 0
