"""Classification on recorded real RDAP responses: kinds and organisations as a careful human reads them.

Two sets: ``tests/fixtures/rdap_real`` (collected from other projects' recorded
fixtures; sources and licences in its PROVENANCE.txt, expectations with reasons
in expected.csv) and, when present, the shared reference folder beside the
project.
"""

import csv
import ipaddress
import json
from pathlib import Path

import pytest

from enrich.classify import classify, is_registry_handle, load_known_organisations
from enrich.rdap import parse_rdap

HERE = Path(__file__).resolve().parent / "fixtures" / "rdap_real"
KNOWN = load_known_organisations(Path(__file__).resolve().parents[1] / "data" / "networks" / "known-organisations.csv")
EXPECTED = list(csv.DictReader((HERE / "expected.csv").open(encoding="utf-8")))


def _first_address(payload: dict) -> str:
    start = str(payload.get("startAddress")).split("/")[0]
    if start.count(".") == 3:
        start = ".".join(part.lstrip("0") or "0" for part in start.split("."))
    return str(ipaddress.ip_address(start))


def _decide(payload: dict, address: str | None = None):
    return classify(parse_rdap(payload, address or _first_address(payload)), KNOWN)


@pytest.mark.parametrize("case", EXPECTED, ids=[row["file"] for row in EXPECTED])
def test_recorded_responses(case):
    decided = _decide(json.loads((HERE / case["file"]).read_text(encoding="utf-8")))
    assert decided.kind == case["kind"], (decided.rule, decided.signals, case["note"])
    if case["kind"] == "company":
        assert decided.org_name == case["organisation"]
    assert not is_registry_handle(decided.org_name or ""), "a handle never names an organisation"
    assert decided.signals


def test_the_set_covers_every_registry_and_kind():
    registries = {row["file"].split("_")[0] for row in EXPECTED}
    kinds = {row["kind"] for row in EXPECTED}
    assert registries == {"afrinic", "apnic", "arin", "lacnic", "ripe"}
    assert {"company", "isp", "mobile", "hosting", "education", "unknown"} <= kinds
    provenance = (HERE / "PROVENANCE.txt").read_text(encoding="utf-8")
    assert all(row["file"] in provenance for row in EXPECTED), "every response cites its source"


SHARED_EXPECTED = {  # file or ipwhois key → (kind, organisation when a company)
    "rdap_afrinic_196.11.240.215_ORG-VSA1.json": ("mobile", None),  # MTN: named only in the abuse remark
    "rdap_arin_74.125.225.229_GOOGLE.json": ("hosting", None),
    "rdap_lacnic_200.57.141.161_Triara.json": ("hosting", None),  # Triara: Telmex's data centres
    "rdap_lacnic_2801-10-c000--_UCO-university.json": ("education", None),
    "rdap_ripe_2a00-2381-ffff--1_BT.json": ("isp", None),
    "rdap_ripe_62.239.237.1_BT-CORPORATE.json": ("isp", None),  # BT's own network: an operator, no lead
    "rdap_ripe_86.54.11.1_Whalebone_s.r.o._2025.json": ("company", "Whalebone, s.r.o."),
    "2001:240:10c:1::ca20:9d1d": ("isp", None),  # IIJ's JPNIC allocation
    "2001:43f8:7b0::": ("unknown", None),  # an organisation known only by its handle
    "210.107.73.73": ("isp", None),  # DACOM BORANET, a telecom's allocation
    "2001:4860:4860::8888": ("hosting", None),
}


@pytest.mark.parametrize("name", sorted(SHARED_EXPECTED))
def test_shared_reference_responses(shared, name):
    folder = shared / "reference" / "rdap"
    if name.endswith(".json"):
        payload, address = json.loads((folder / name).read_text()), None
        payload = payload.get("response", payload)
    else:
        payload, address = json.loads((folder / "ipwhois_tests_rdap.json").read_text())[name]["response"], name
    kind, organisation = SHARED_EXPECTED[name]
    decided = _decide(payload, address)
    assert decided.kind == kind, (decided.rule, decided.signals)
    if organisation:
        assert decided.org_name == organisation
    assert not is_registry_handle(decided.org_name or "")
