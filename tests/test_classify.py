"""Network classification: every kind, its rule and its signals; a wrong company is worse than none."""

from pathlib import Path

import pytest

from enrich.classify import classify, industry_kind, is_registry_handle, load_known_organisations, remark_lines
from enrich.matching import legal_name
from enrich.networks import Network, parse_network_list, status_is_leaf

KNOWN = load_known_organisations(Path(__file__).resolve().parents[1] / "data" / "networks" / "known-organisations.csv")


def net(holder=None, **kw):
    """A registry network; ``holder`` is the organisation object's name."""
    base = dict(start_ip="185.213.44.0", end_ip="185.213.44.255", source="rdap", registry_type="ASSIGNED PA",
                registrant=holder, org_name=holder)
    base.update(kw)
    return Network(**base)


@pytest.mark.parametrize(
    ("network", "kind", "rule"),
    [
        (net("Kalliodata Oy", netname="KALLIODATA-NET"), "company", "organisation-entity"),
        (net("Example Oy", netname="EXAMPLE-DSL-POOL"), "isp", "keyword"),
        (net("Example Oy", remarks="Kiinteän laajakaistan asiakkaat"), "isp", "keyword"),
        (net("Example Oy", remarks="FTTH residential customers"), "isp", "keyword"),
        (net("Example Oy", netname="EX-MOBILE-CGNAT"), "mobile", "keyword"),
        (net("Example Oy", netname="EX-LTE-5G"), "mobile", "keyword"),
        (net("Example Oy", remarks="Cloud VPS hosting"), "hosting", "keyword"),
        (net("Example Oy", netname="EX-COLO"), "hosting", "keyword"),
        (net("Helsingin yliopisto", netname="HY-NET"), "education", "name-keyword"),
        (net("Valtiovarainministeriö", netname="VM-NET"), "government", "name-keyword"),
        (net("Helsingin kaupunki", netname="HEL-CITY"), "government", "name-keyword"),
        (net("Verohallinto", netname="VERO-NET"), "government", "name-keyword"),
        (net("Pirkanmaan hyvinvointialue"), "government", "name-keyword"),
        (net("Keski-Uudenmaan kuntayhtymä"), "government", "name-keyword"),
        (net("Elisa Oyj", netname="ELISA-BLOCK"), "isp", "known-organisation"),
        (net("Amazon Technologies Inc."), "hosting", "known-organisation"),
        (net("UpCloud Ltd"), "hosting", "known-organisation"),
        (net("Example Telecom Oy", start_ip="84.0.0.0", end_ip="84.255.255.255", registry_type="ALLOCATED PA"),
         "isp", "broad-allocation"),
        (net(netname="SOMETHING"), "unknown", "no-organisation"),
    ],
)
def test_rules(network, kind, rule):
    decided = classify(network, KNOWN)
    assert (decided.kind, decided.rule) == (kind, rule)
    assert decided.signals, "every decision records what it saw"


@pytest.mark.parametrize(
    ("holder", "netname"),
    [
        ("Kaapelitehdas Oy", "KAAPELITEHDAS-NET"),
        ("Asiakastieto Oy", "ASIAKASTIETO-HKI"),
        ("Kaupunkiliikenne Oy", "KAUPUNKILIIKENNE"),
        ("Mobiilitiimi Oy", "MOBIILITIIMI-NET"),
        ("Softcolor Oy", "SOFTCOLOR-LAN"),
        ("Colosseum Consulting Oy", "COLOSSEUM"),
        ("Kiinteistö Oy Kaapelitalo", "KAAPELITALO"),
        ("Esimerkki Mobiili Oy", "ESIMERKKI-MOBIILI"),
    ],
)
def test_words_inside_a_business_name_are_no_evidence(holder, netname):
    decided = classify(net(holder, netname=netname), KNOWN)
    assert (decided.kind, decided.rule, decided.org_name) == ("company", "organisation-entity", holder)


def test_keywords_match_word_starts_not_insides():
    assert classify(net(netname="SOFTCOLOR", remarks="Kalliodata"), KNOWN).kind == "unknown"
    assert classify(net("Kalliodata", netname="KD-COLO1"), KNOWN).kind == "hosting"
    assert classify(net("Kalliodata", netname="KD-KAAPELITV"), KNOWN).kind == "isp"
    # the same words describing the network (outside the legal name) still count
    assert classify(net("Esimerkki Oy", remarks="Esimerkki Oy residential fibre"), KNOWN).kind == "isp"
    assert classify(net(remarks="China Mobile Communications Corporation | Mobile Communications Network Operator",
                        registry_type="ALLOCATED PORTABLE", start_ip="111.0.0.0", end_ip="111.63.255.255"),
                    KNOWN).kind == "mobile"


def test_an_isp_assignment_to_a_business_customer_names_the_customer():
    assignment = net("Elisa Oyj", start_ip="80.248.161.0", end_ip="80.248.161.15", netname="TURUNTERAS-NET",
                     remarks="Turun Teräs Oyj | Turku")
    decided = classify(assignment, KNOWN)
    assert (decided.kind, decided.rule, decided.org_name) == ("company", "isp-customer-assignment", "Turun Teräs Oyj")
    # a customer whose name carries a trap word is still the customer
    kaapeli = net("Elisa Oyj", start_ip="80.248.161.0", end_ip="80.248.161.15", netname="KAAPELITEHDAS-NET",
                  remarks="Kaapelitehdas Oy")
    assert classify(kaapeli, KNOWN).org_name == "Kaapelitehdas Oy"
    # a PA assignment without any organisation object: the description names the customer
    bare = net(start_ip="80.248.161.0", end_ip="80.248.161.7", netname="KALLIODATA-NET", remarks="Kalliodata Oy | Helsinki")
    assert (classify(bare, KNOWN).kind, classify(bare, KNOWN).org_name) == ("company", "Kalliodata Oy")
    # ...but an ISP's pool assignment is never a customer
    pool = net("Elisa Oyj", start_ip="80.248.161.0", end_ip="80.248.161.15", netname="ELISA-DSL-POOL")
    assert classify(pool, KNOWN).kind == "isp"
    described_pool = net("Elisa Oyj", start_ip="80.248.161.0", end_ip="80.248.161.15", netname="KOTI-4",
                         remarks="Elisa Oyj dynamic DSL pool")
    assert classify(described_pool, KNOWN).kind == "isp"
    # ...nor is a large block
    large = net("Elisa Oyj", start_ip="80.248.0.0", end_ip="80.248.15.255", netname="CUSTOMER-X")
    assert classify(large, KNOWN).kind == "isp"
    # ...and a name without a legal form is nobody's until the trade register confirms it (enrich)
    for described in ("Helsingin kaupunki", "Konepaja Virtanen", "Private customer", "Matti Meikäläinen"):
        city = net("Telia Finland Oyj", start_ip="80.221.10.0", end_ip="80.221.10.7", netname="TELIA-CUST-0042",
                   remarks=described)
        decided = classify(city, KNOWN)
        assert decided.kind in {"unknown", "isp"} and decided.org_name in {None, "Telia Finland Oyj"}, described
    # ...and never from a netname, an address or a "c/o" line
    for netname, remarks in [("TAMPERE-NET", None), ("YKSITYISASIAKKAAT", None), ("INFRA", None),
                             ("OULU-WLAN", "Mannerheimintie 12 B, 00100 Helsinki"), ("X-NET", "c/o Matti Meikäläinen")]:
        bare = net(start_ip="80.248.161.0", end_ip="80.248.161.7", netname=netname, remarks=remarks)
        assert classify(bare, KNOWN).kind != "company", netname
        isp = net("Elisa Oyj", start_ip="80.248.161.0", end_ip="80.248.161.7", netname=netname, remarks=remarks)
        assert classify(isp, KNOWN).kind != "company", netname


@pytest.mark.parametrize(
    "network",
    [
        net(netname="IANA-NETBLOCK-185", start_ip="185.0.0.0", end_ip="185.255.255.255", registry_type=None),
        net(netname="RIPE-NCC-MANAGED-ADDRESS-BLOCK", start_ip="0.0.0.0", end_ip="255.255.255.255",
            registry_type="ALLOCATED UNSPECIFIED"),
        net("RIPE Network Coordination Centre", netname="RIPE-ERX-193", start_ip="193.0.0.0", end_ip="193.255.255.255",
            registry_type="DIRECT ALLOCATION"),
        net("Internet Assigned Numbers Authority", netname="SPECIAL-IPV4", start_ip="192.0.0.0",
            end_ip="192.0.255.255", registry_type=None),
        net(netname="ERX-NETBLOCK", start_ip="133.0.0.0", end_ip="133.255.255.255", registry_type="ALLOCATED PORTABLE"),
    ],
)
def test_registry_placeholders_are_never_organisations(network):
    decided = classify(network, KNOWN)
    assert (decided.kind, decided.rule, decided.org_name) == ("unknown", "registry-block", None)


@pytest.mark.parametrize("name", ["Private Customer", "PRIVATE RESIDENCE", "AS12345", "c/o Anna Virtanen"])
def test_placeholders_and_handles_are_never_companies(name):
    decided = classify(net(name, start_ip="198.51.100.0", end_ip="198.51.100.7", registry_type="REASSIGNED"), KNOWN)
    assert decided.kind != "company" and decided.org_name is None


@pytest.mark.parametrize(("name", "holder"), [("João Sá", None), ("Ab Rahman", None), ("Jonas As", None),
                                              ("NEURALSOFT S.R.L.", "NEURALSOFT S.R.L."), ("Uninet S.A. de C.V.",
                                                                                          "Uninet S.A. de C.V.")])
def test_a_registrant_filed_as_an_individual_counts_only_with_a_legal_form(name, holder):
    from enrich.rdap import parse_rdap
    from tests.rdap_fixtures import arin_network

    payload = arin_network("203.0.114.0", "203.0.114.7", "X", name)
    payload["entities"][0]["vcardArray"][1][2] = ["kind", {}, "text", "individual"]  # as LACNIC files them
    assert parse_rdap(payload, "203.0.114.1").registrant == holder


def test_registry_handles_and_boilerplate_never_name_anything():
    assert is_registry_handle("ORG-VSA1-AFRINIC") and is_registry_handle("ORG-AFNC1-AFRINIC")
    assert is_registry_handle("EXAMPLE-MNT") and is_registry_handle("AR1234-RIPE")
    assert not is_registry_handle("Kalliodata Oy")
    assert remark_lines("Kalliodata Oy | Some data has been omitted due to server policy | This object was "
                        "created automatically | please send abuse reports to abuse@example.fi | ****") == ["Kalliodata Oy"]
    # an organisation object without a name: named from its description, never from its handle
    nameless = net(org_handle="ORG-XY1-RIPE", netname="XY-NET", remarks="Example Logistics Oy")
    assert classify(nameless, KNOWN).org_name == "Example Logistics Oy"
    handle_only = net(org_handle="ORG-TA38-AFRINIC", netname="ORG-TA38-AFRINIC")
    assert classify(handle_only, KNOWN).org_name is None and classify(handle_only, KNOWN).kind == "unknown"


def test_known_organisations_match_netname_and_remarks_when_no_business_holds_the_range():
    assert classify(net(netname="BT-CORPORATE", remarks="UDC"), KNOWN).kind == "isp"
    assert classify(net(remarks="Vodacom Bussiness (ASN 36994)"), KNOWN).kind == "mobile"
    # a named business holding its own range is that business, whatever its remarks mention
    assert classify(net("Kalliodata Oy", remarks="Kalliodata Oy | uplink Elisa"), KNOWN).kind == "company"


def test_large_allocations_are_operators_never_unknown():
    for holder in (None, "Example Telecom Oy"):
        wide = net(holder, start_ip="84.0.0.0", end_ip="84.255.255.255", registry_type="ALLOCATED PA")
        assert classify(wide, KNOWN).kind == "isp"


@pytest.mark.parametrize(
    ("status", "size", "leaf"),
    [
        ("ASSIGNED PA", 256, True), ("ASSIGNED PI", 1 << 16, True), ("ALLOCATED-ASSIGNED PA", 256, True),
        ("ASSIGNED ANYCAST", 256, True), ("Assigned", 256, True), ("REASSIGNED", 256, True),
        ("DIRECT ASSIGNMENT", 1 << 12, True), ("assigned", 1, True), ("ASSIGNED PORTABLE", 256, True),
        ("ALLOCATED PA", 256, False), ("SUB-ALLOCATED PA", 256, False), ("LIR-PARTITIONED PA", 1 << 10, False),
        ("AGGREGATED-BY-LIR", 1 << 80, False), ("ALLOCATED UNSPECIFIED", 1 << 32, False),
        ("DIRECT ALLOCATION", 256, False), ("REALLOCATED", 256, False), ("allocated", 256, False),
        ("re-allocated", 1 << 16, False), ("ALLOCATED PORTABLE", 1 << 16, False),
        (None, 1 << 12, False), ("LEGACY", 1 << 16, False), (None, 256, True), ("LEGACY", 1024, True),
    ],
)
def test_registry_status_decides_what_can_hide_inside(status, size, leaf):
    assert status_is_leaf(status, size, True) is leaf


def test_legal_names_and_industries():
    assert legal_name("Kuituverkko Lappi Oy residential fibre") == "Kuituverkko Lappi Oy"
    assert legal_name("Triara.com, S.A. de C.V.") == "Triara.com, S.A. de C.V."
    assert legal_name("used as NAT pool") is None and legal_name("Helsingin kaupunki") is None
    assert [industry_kind(c) for c in ("61100", "63110", "62010", "84110", "85420", None)] == [
        "isp", "hosting", "company", "government", "education", None]


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
