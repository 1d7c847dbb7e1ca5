"""Network classification: every kind, its rule and its signals; a wrong company is worse than none."""

from pathlib import Path

import pytest

from enrich.networks import Network, classify, load_known_organisations, parse_network_list

KNOWN = load_known_organisations(Path(__file__).resolve().parents[1] / "data" / "networks" / "known-organisations.csv")


def net(**kw):
    base = dict(start_ip="185.213.44.0", end_ip="185.213.44.255", source="rdap", registry_type="ASSIGNED PA")
    base.update(kw)
    return Network(**base)


@pytest.mark.parametrize(
    ("network", "kind", "rule"),
    [
        (net(org_name="Kalliodata Oy", netname="KALLIODATA-NET"), "company", "organisation-entity"),
        (net(org_name="Example Oy", netname="EXAMPLE-DSL-POOL"), "isp", "keyword"),
        (net(org_name="Example Oy", remarks="Kiinteän laajakaistan asiakkaat"), "isp", "keyword"),
        (net(org_name="Example Oy", remarks="FTTH residential customers"), "isp", "keyword"),
        (net(org_name="Example Oy", netname="EX-MOBILE-CGNAT"), "mobile", "keyword"),
        (net(org_name="Example Oy", netname="EX-LTE-5G"), "mobile", "keyword"),
        (net(org_name="Example Oy", remarks="Cloud VPS hosting"), "hosting", "keyword"),
        (net(org_name="Example Oy", netname="EX-COLO"), "hosting", "keyword"),
        (net(org_name="Helsingin yliopisto", netname="HY-NET"), "education", "keyword"),
        (net(org_name="Valtiovarainministeriö", netname="VM-NET"), "government", "keyword"),
        (net(org_name="Elisa Oyj", netname="ELISA-BLOCK"), "isp", "known-organisation"),
        (net(org_name="Amazon Technologies Inc."), "hosting", "known-organisation"),
        (net(org_name="UpCloud Ltd"), "hosting", "known-organisation"),
        (net(org_name="Example Telecom Oy", start_ip="84.0.0.0", end_ip="84.255.255.255",
             registry_type="ALLOCATED PA"), "isp", "broad-allocation"),
        (net(netname="SOMETHING"), "unknown", "no-organisation"),
    ],
)
def test_rules(network, kind, rule):
    decided = classify(network, KNOWN)
    assert (decided.kind, decided.rule) == (kind, rule)
    assert decided.signals, "every decision records what it saw"


def test_an_isp_assignment_to_a_business_customer_names_the_customer():
    assignment = net(start_ip="80.248.161.0", end_ip="80.248.161.15", org_name="Elisa Oyj",
                     netname="TURUNTERAS-NET", remarks="Turun Teräs Oyj | Turku")
    decided = classify(assignment, KNOWN)
    assert (decided.kind, decided.rule, decided.org_name) == ("company", "isp-customer-assignment", "Turun Teräs Oyj")
    # ...but an ISP's pool assignment is never a customer
    pool = net(start_ip="80.248.161.0", end_ip="80.248.161.15", org_name="Elisa Oyj", netname="ELISA-DSL-POOL")
    assert classify(pool, KNOWN).kind == "isp"
    # ...nor is a large block
    large = net(start_ip="80.248.0.0", end_ip="80.248.15.255", org_name="Elisa Oyj", netname="CUSTOMER-X")
    assert classify(large, KNOWN).kind == "isp"


def test_operator_list_kind_wins():
    listed = Network(start_ip="84.249.0.0", end_ip="84.249.255.255", source="operator",
                     org_name="Kalliodata Oy", kind="isp")
    assert classify(listed, KNOWN).kind == "isp"


def test_network_list_parsing_with_rejects():
    text = (
        "\ufeff# our customers\nCIDR;Organisation;Business ID;Kind\n"
        "185.213.44.0/24;Kalliodata Oy;3141593-8;company\n"
        "not-a-cidr;Broken Oy;;\n"
        "193.166.220.0/24;Metsä Logistics Ab;;weird\n"
        "91.152.138.0/25;;;\n"
    )
    networks, rejects = parse_network_list(text)
    assert [n.org_name for n in networks] == ["Kalliodata Oy"]
    assert [line for line, _ in rejects] == [4, 5, 6]
    start_end = "start,end,org\n198.51.100.0,198.51.100.63,Example Corp\n"
    (only,), _ = parse_network_list(start_end, "licensed")
    assert (only.cidr, only.source) == ("198.51.100.0/26", "licensed")
