"""RDAP: parsing with ipwhois (own fixtures and recorded registry responses) and the client's manners."""

import json
import re
import time

import pytest
from werkzeug.wrappers import Response

from enrich.errors import PermanentError, RetryableError
from enrich.http import PoliteClient
from enrich.rdap import RdapClient, parse_rdap
from tests.conftest import SHARED
from tests.rdap_fixtures import arin_network, ripe_network

REFERENCE = SHARED / "reference" / "rdap"


def test_the_organisation_is_the_org_entity_never_the_maintainer():
    payload = ripe_network("185.213.44.0", "185.213.44.255", "KALLIODATA-NET", org="Kalliodata Oy")
    network = parse_rdap(payload, "185.213.44.10")
    assert (network.org_name, network.org_handle) == ("Kalliodata Oy", "ORG-EX1-RIPE")
    assert (network.start_ip, network.end_ip, network.cidr) == ("185.213.44.0", "185.213.44.255", "185.213.44.0/24")
    assert (network.netname, network.registry_type, network.country) == ("KALLIODATA-NET", "ASSIGNED PA", "FI")


def test_without_an_org_entity_name_and_remarks_remain():
    payload = ripe_network("84.249.0.0", "84.249.255.255", "EXAMPLE-DSL-POOL", remarks=("Dynamic DSL customers",))
    network = parse_rdap(payload, "84.249.1.1")
    assert network.org_name is None
    assert network.remarks == "Dynamic DSL customers"


def test_arin_and_ipv6_shapes():
    network = parse_rdap(arin_network("198.51.0.0", "198.51.255.255", "EXAMPLE-NET", "Example Corp"), "198.51.1.1")
    assert network.org_name == "Example Corp" and network.cidr == "198.51.0.0/16"
    v6 = parse_rdap(ripe_network("2a00:1234::", "2a00:1234:ffff:ffff:ffff:ffff:ffff:ffff", "EX-V6",
                                 org="Kalliodata Oy", ipv6=True), "2a00:1234::1")
    assert v6.cidr == "2a00:1234::/32" and v6.org_name == "Kalliodata Oy"


def test_malformed_payload_is_a_permanent_error():
    with pytest.raises(PermanentError):
        parse_rdap({"errorCode": 404, "title": "Not Found"}, "185.213.44.10")


@pytest.mark.parametrize(
    ("name", "address", "org"),
    [
        ("rdap_ripe_86.54.11.1_Whalebone_s.r.o._2025.json", "86.54.11.1", "Whalebone, s.r.o."),
        ("rdap_ripe_62.239.237.1_BT-CORPORATE.json", "62.239.237.1", None),
        ("rdap_arin_74.125.225.229_GOOGLE.json", "74.125.225.229", None),
        ("rdap_lacnic_200.57.141.161_Triara.json", "200.57.141.161", None),
        ("rdap_afrinic_196.11.240.215_ORG-VSA1.json", "196.11.240.215", None),
        ("rdap_ripe_2a00-2381-ffff--1_BT.json", "2a00:2381:ffff::1", None),
        ("rdap_lacnic_2801-10-c000--_UCO-university.json", "2801:10:c000::", None),
    ],
)
def test_recorded_registry_responses_parse(shared, name, address, org):
    payload = json.loads((REFERENCE / name).read_text())
    payload = payload.get("response", payload)
    network = parse_rdap(payload, address)
    assert network.start_num <= network.end_num
    assert network.start_num <= __import__("enrich.networks", fromlist=["to_number"]).to_number(address) <= network.end_num
    if org:
        assert network.org_name == org
    assert not (network.org_handle or "").upper().endswith("-MNT")


# --- the client against a real HTTP server on 127.0.0.1 ---------------------------------------

def _client(httpserver, **kw):
    slept = []
    http = PoliteClient(min_interval=0, sleep=slept.append, **kw)
    return RdapClient(httpserver.url_for("/rdap"), http=http), slept


def test_404_is_a_value_not_an_error(httpserver):
    httpserver.expect_request("/rdap/ip/192.0.2.1").respond_with_json({"errorCode": 404}, status=404)
    client, _ = _client(httpserver)
    assert client.fetch("192.0.2.1") is None
    assert client.requests_sent == 1


def test_429_honours_retry_after_then_succeeds(httpserver):
    payload = ripe_network("185.213.44.0", "185.213.44.255", "X", org="Kalliodata Oy")
    httpserver.expect_ordered_request("/rdap/ip/185.213.44.1").respond_with_response(
        Response("slow down", status=429, headers={"Retry-After": "7"}, content_type="text/plain"))
    httpserver.expect_ordered_request("/rdap/ip/185.213.44.1").respond_with_json(payload)
    client, slept = _client(httpserver)
    assert client.fetch("185.213.44.1")[0]["name"] == "X"
    assert slept == [7.0] and client.requests_sent == 2


def test_a_long_retry_after_gives_up_for_this_run(httpserver):
    httpserver.expect_request("/rdap/ip/185.213.44.1").respond_with_response(
        Response("later", status=429, headers={"Retry-After": "3600"}))
    client, slept = _client(httpserver)
    with pytest.raises(RetryableError, match="Retry-After"):
        client.fetch("185.213.44.1")
    assert slept == []


def test_5xx_is_retried_a_bounded_number_of_times(httpserver):
    httpserver.expect_request("/rdap/ip/185.213.44.1").respond_with_data("oops", status=503)
    client, slept = _client(httpserver, max_attempts=3)
    with pytest.raises(RetryableError, match="HTTP 503 after 3 attempts"):
        client.fetch("185.213.44.1")
    assert client.requests_sent == 3 and len(httpserver.log) == 3 and slept == [1.0, 2.0]


def test_malformed_json_is_retried_then_given_up(httpserver):
    httpserver.expect_request("/rdap/ip/185.213.44.1").respond_with_data("{not json", content_type="application/json")
    client, _ = _client(httpserver, max_attempts=2)
    with pytest.raises(RetryableError, match="malformed JSON"):
        client.fetch("185.213.44.1")


def test_timeouts_are_retried_then_given_up(httpserver):
    def slow(request):
        time.sleep(0.6)
        return Response("{}", content_type="application/json")

    httpserver.expect_request("/rdap/ip/185.213.44.1").respond_with_handler(slow)
    client, _ = _client(httpserver, timeout=(1.0, 0.2), max_attempts=2)
    with pytest.raises(RetryableError, match="ReadTimeout"):
        client.fetch("185.213.44.1")


def test_redirects_are_followed(httpserver):
    payload = arin_network("198.51.0.0", "198.51.255.255", "EXAMPLE-NET", "Example Corp")
    httpserver.expect_request("/rdap/ip/198.51.1.1").respond_with_response(
        Response("", status=302, headers={"Location": httpserver.url_for("/registry/ip/198.51.1.1")}))
    httpserver.expect_request("/registry/ip/198.51.1.1").respond_with_json(payload)
    client, _ = _client(httpserver)
    assert client.fetch("198.51.1.1")[0]["name"] == "EXAMPLE-NET"


def test_other_refusals_are_permanent(httpserver):
    httpserver.expect_request("/rdap/ip/185.213.44.1").respond_with_data("no", status=403)
    client, _ = _client(httpserver)
    with pytest.raises(PermanentError, match="403"):
        client.fetch("185.213.44.1")


def test_requests_are_paced(httpserver):
    httpserver.expect_request("/rdap/ip/185.213.44.1").respond_with_json({"errorCode": 404}, status=404)
    slept = []
    client = RdapClient(httpserver.url_for("/rdap"), http=PoliteClient(min_interval=5.0, sleep=slept.append))
    client.fetch("185.213.44.1")
    client.fetch("185.213.44.1")
    assert len(slept) == 1 and 4.0 < slept[0] <= 5.0


def test_user_agent_names_the_project(httpserver):
    httpserver.expect_request("/rdap/ip/185.213.44.1").respond_with_json({"errorCode": 404}, status=404)
    client = RdapClient(httpserver.url_for("/rdap"), user_agent="leadpipe/0.1.0", min_interval=0)
    client.fetch("185.213.44.1")
    request, _ = httpserver.log[0]
    assert request.headers["User-Agent"] == "leadpipe/0.1.0"


def test_errors_never_carry_the_address(httpserver):
    httpserver.expect_request("/rdap/ip/185.213.44.1").respond_with_data("no", status=403)
    client, _ = _client(httpserver)
    with pytest.raises(PermanentError) as raised:
        client.fetch("185.213.44.1")
    assert "185.213.44.1" not in str(raised.value)


def test_a_registry_that_stops_answering_is_given_up_for_the_run(httpserver):
    import socket

    from enrich.http import RegistryUnavailable

    with socket.socket() as closed:  # the registry the bootstrap redirects to refuses every connection
        closed.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{closed.getsockname()[1]}"
    httpserver.expect_request(re.compile(r"^/rdap/ip/.+$")).respond_with_handler(
        lambda r: Response("", status=302, headers={"Location": dead + r.path}))
    client, _ = _client(httpserver, max_attempts=4, max_consecutive_failures=3)
    with pytest.raises(RegistryUnavailable) as raised:
        client.fetch("185.213.44.1")
    assert client.requests_sent == 6  # three redirects, three refused connections
    assert "185.213.44.1" not in str(raised.value)
    with pytest.raises(RegistryUnavailable):
        client.fetch("185.213.44.2")
    assert client.requests_sent == 6  # the address's registry is known and given up: nobody is asked


def test_relation_search_answers(httpserver):
    from tests.rdap_registry import RdapRegistry, inetnum

    registry = RdapRegistry([inetnum("88.120.0.0/14", "ISP", "ALLOCATED PA", "Elisa Oyj"),
                             inetnum("88.120.10.0/29", "A", "ASSIGNED PA", "A Oy"),
                             inetnum("88.121.0.0/16", "B", "SUB-ALLOCATED PA", "B Oy"),
                             inetnum("88.121.5.0/29", "C", "ASSIGNED PA", "C Oy")], base="/rdap", max_rows=2)
    httpserver.expect_request(re.compile(r"^/rdap/.+$")).respond_with_handler(registry)
    client, _ = _client(httpserver)
    payload, url = client.fetch("88.120.200.1")
    parent = parse_rdap(payload, "88.120.200.1", url)
    assert parent.search_base == httpserver.url_for("/rdap") and not parent.is_leaf
    assert client.search(parent.search_base, "88.120.0.0", "88.123.255.255").too_many
    block = client.search(parent.search_base, "88.121.0.0", "88.121.255.255")
    assert [o["name"] for o in block.objects] == ["C"]  # what lies inside B's own range
    assert client.search(parent.search_base, "88.122.0.0", "88.122.0.255").objects == ()
    odd = client.search(parent.search_base, "88.120.10.0", "88.120.12.255")  # not one CIDR block: a range handle
    assert [o["name"] for o in odd.objects] == ["A"]
    assert registry.requests[-1] == ("rdap-bottom", "88.120.10.0 - 88.120.12.255")
    registry.relation_search = False
    assert client.search(parent.search_base, "88.121.0.0", "88.121.255.255").unsupported


def test_addresses_are_masked_in_texts():
    from enrich.redact import mask_addresses

    text = "GET http://127.0.0.1:8080/rdap/ip/185.213.44.10 and /ip/2a00:1234:5678::77, [2001:db8::1]:443 at 10:00:00"
    masked = mask_addresses(text)
    assert "185.213.44.10" not in masked and "2a00:1234" not in masked and "2001:db8" not in masked
    assert masked.endswith("at 10:00:00")


def test_huge_and_endless_answers_are_refused(httpserver):
    httpserver.expect_request("/rdap/ip/185.213.44.1").respond_with_data("x" * 5000, content_type="application/json")

    def trickle(request):
        def body():  # a byte every 50 ms for 2 s: no read timeout ever fires (and the server is free again after)
            for _ in range(40):
                time.sleep(0.05)
                yield b" "
        return Response(body(), content_type="application/json")

    httpserver.expect_request("/rdap/ip/185.213.44.2").respond_with_handler(trickle)
    client, _ = _client(httpserver, max_body_bytes=1000, max_read_seconds=0.3, max_attempts=2)
    with pytest.raises(PermanentError, match="larger than"):
        client.fetch("185.213.44.1")
    started = time.monotonic()
    with pytest.raises(RetryableError, match="Timeout after 2 attempts"):
        client.fetch("185.213.44.2")
    assert time.monotonic() - started < 5
