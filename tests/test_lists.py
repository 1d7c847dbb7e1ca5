"""The operator's lists through the command line: what is validated on import (blocks, Business IDs,
private ranges, the register's shape), the reasons each command prints, and how lists are corrected
(list, remove, classify --clear, a re-import that replaces)."""

import json

import duckdb
import pytest
from stdnum.fi import ytunnus
from typer.testing import CliRunner

from enrich.business_ids import NOT_A_BUSINESS_ID, WRONG_CHECK_DIGIT, business_id
from flows.cli import app
from sinks.rejects import reason_lines, top_reasons
from tests.conftest import combined, write_log

runner = CliRunner()
KALLIO = "3141593-8"  # valid (the demo's)
METSA = "2718282-8"
BAD_CHECK = KALLIO[:-1] + str((int(KALLIO[-1]) + 1) % 10)  # the same number, the wrong check digit
HEADER = "cidr,organisation,business_id,kind\n"


def _invoke(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def _stats(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _one_line_error(result) -> str:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


def _rows(db, sql, params=()):
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


@pytest.fixture
def db(tmp_path):
    """A published database with visits from 185.213.44.10 and 193.166.220.5, not yet attributed."""
    logs = write_log(tmp_path / "access.log", [
        combined(client="185.213.44.10"), combined(client="185.213.44.10", ts="24/Nov/2026:10:05:00 +0200"),
        combined(client="193.166.220.5", ts="24/Nov/2026:11:00:00 +0200"),
    ])
    path = tmp_path / "leads.duckdb"
    assert _invoke("ingest", "--db", path, "--logs", logs).exit_code == 0
    assert _invoke("load", "--db", path).exit_code == 0
    return path


def _import(db, path, text=None, source="operator"):
    if text is not None:
        path.write_text(text)
    return _stats(_invoke("networks", "import", path, "--db", db, "--source", source))


def _visit_companies(db) -> list:
    return _rows(db, "SELECT DISTINCT company_id FROM visits ORDER BY ALL")


# --- validation ----------------------------------------------------------------------------------

def test_a_bad_cidr_is_rejected_with_its_line_number(db, tmp_path):
    stats = _import(db, tmp_path / "ours.csv",
                    "# our customers\n" + HEADER + f"185.213.44.0/24,Kalliodata Oy,{KALLIO},company\n"
                    "185.213.999.0/24,Broken Oy,,company\n")
    assert stats["networks_imported"] == 1 and stats["rows_rejected"] == 1
    assert stats["reject_reasons"] == {"not a CIDR block": 1}
    assert stats["rejected_lines"] == ["line 4: not a CIDR block"]
    assert "185.213.999" not in json.dumps(stats)  # a reason never quotes the row
    assert _rows(db, "SELECT line_no, reason FROM rejects") == [(4, "not a CIDR block")]


def test_a_private_range_is_stored_with_a_warning(db, tmp_path):
    stats = _import(db, tmp_path / "ours.csv", HEADER + "10.20.0.0/16,Our Office,,company\n"
                    "2001:db8::/32,Documentation Oy,,company\n" f"185.213.44.0/24,Kalliodata Oy,{KALLIO},company\n")
    assert stats["networks_imported"] == 3 and stats["rows_rejected"] == 0
    assert stats["private_or_reserved_ranges"] == 2
    assert stats["range_warnings"] == {"private or reserved range: documentation": 1,
                                 "private or reserved range: private (RFC 1918)": 1}
    listed = json.loads(_invoke("networks", "list", "--json", "--db", db).stdout)
    assert {row["cidr"] for row in listed} == {"10.20.0.0/16", "2001:db8::/32", "185.213.44.0/24"}


def test_an_invalid_business_id_in_a_network_list_is_a_reject_not_a_merge_key(db, tmp_path):
    stats = _import(db, tmp_path / "ours.csv", HEADER + f"185.213.44.0/24,Kalliodata Oy,{BAD_CHECK},company\n"
                    "193.166.220.0/24,Metsä Logistics Ab,12345,company\n")
    assert stats["networks_imported"] == 0
    assert stats["reject_reasons"] == {WRONG_CHECK_DIGIT: 1, NOT_A_BUSINESS_ID: 1}
    assert stats["rejected_lines"] == [f"line 2: {WRONG_CHECK_DIGIT}", f"line 3: {NOT_A_BUSINESS_ID}"]
    assert BAD_CHECK not in json.dumps(stats)
    assert _rows(db, "SELECT count(*) FROM networks") == [(0,)]
    assert _visit_companies(db) == [(None,)]


def test_an_invalid_business_id_in_a_leadfeeder_export_is_a_reject_never_a_merge_key(tmp_path):
    export = tmp_path / "export.csv"
    export.write_text("Company name;Business ID;Country\n"
                      f"Kalliodata Oy;{KALLIO};Finland\nJärvi Systems Oy;{BAD_CHECK};Finland\n"
                      f"Jarvi Consulting Oy;{BAD_CHECK};Finland\n")
    db = tmp_path / "leads.duckdb"
    stats = _stats(_invoke("ingest", "--db", db, "--leadfeeder", export))
    assert stats["leadfeeder_rejected"] == 2
    assert stats["leadfeeder_rejects_by_reason"] == {WRONG_CHECK_DIGIT: 2}
    # the rows are kept, without the Business ID: two companies, not one merged by a wrong ID
    assert _rows(db, "SELECT name, business_id FROM companies ORDER BY name") == [
        ("Jarvi Consulting Oy", None), ("Järvi Systems Oy", None), ("Kalliodata Oy", KALLIO)]
    assert _rows(db, "SELECT line_no, reason FROM rejects ORDER BY line_no") == [
        (3, WRONG_CHECK_DIGIT), (4, WRONG_CHECK_DIGIT)]


def test_an_invalid_business_id_in_a_form_is_a_reject_and_the_contact_is_kept(tmp_path):
    forms = tmp_path / "forms.jsonl"
    forms.write_text(json.dumps({"name": "Maija Esimerkki", "email": "maija@kalliodata.example",
                                 "company": "Kalliodata Oy", "business_id": BAD_CHECK}) + "\n")
    db = tmp_path / "leads.duckdb"
    stats = _stats(_invoke("ingest", "--db", db, "--forms", forms))
    assert stats["contacts"] == 1 and stats["forms_rejects_by_reason"] == {WRONG_CHECK_DIGIT: 1}
    assert _rows(db, "SELECT business_id FROM contacts") == [(None,)]
    assert _rows(db, "SELECT line_no, reason FROM rejects") == [(1, WRONG_CHECK_DIGIT)]


def test_register_import_of_a_json_that_is_not_the_register_is_one_line_exit_1(db, tmp_path):
    for name, content in [("config.json", {"settings": {"a": 1}}), ("list.json", [{"name": "x"}, 3]),
                          ("notes.json", None)]:
        path = tmp_path / name
        path.write_text("id;name\n1;x\n" if content is None else json.dumps(content))
        line = _one_line_error(_invoke("register", "import", path, "--db", db))
        assert "not the register's bulk file" in line or "not JSON" in line
    assert _rows(db, "SELECT count(*) FROM register_companies") == [(0,)]
    assert _rows(db, "SELECT count(*) FROM runs WHERE command = 'register import' AND status = 'failed'") == [(3,)]


def test_register_import_of_a_zip_that_is_not_a_zip_is_one_line_exit_1(db, tmp_path):
    fake = tmp_path / "all_companies.zip"
    fake.write_text("<html>not found</html>")
    assert "not a zip archive" in _one_line_error(_invoke("register", "import", fake, "--db", db))


def test_register_import_rejects_an_entry_whose_business_id_fails_its_check(db, tmp_path):
    from tests.test_enrich import REGISTER

    entries = json.loads(json.dumps(REGISTER[:3]))
    entries[1]["businessId"]["value"] = BAD_CHECK
    path = tmp_path / "all_companies.json"
    path.write_text(json.dumps(entries))
    stats = _stats(_invoke("register", "import", path, "--db", db))
    assert (stats["register_entries"], stats["register_rejected"]) == (2, 1)
    assert stats["register_reject_reasons"] == {WRONG_CHECK_DIGIT: 1}
    assert stats["register_rejected_entries"] == [f"entry 2: {WRONG_CHECK_DIGIT}"]


def test_the_top_five_reasons_are_printed_with_their_counts(db, tmp_path):
    rows = ["not-a-block,A Oy,,", "1.2.3.0/33,B Oy,,", "x,C Oy,,",  # 3 bad blocks
            f"185.213.44.0/24,D Oy,{BAD_CHECK},", f"185.213.45.0/24,E Oy,{BAD_CHECK},",  # 2 wrong check digits
            "185.213.46.0/24,F Oy,,weird", "185.213.47.0/24,,,", "185.213.48.0/24,G Oy,123,", ",H Oy,,"]
    stats = _import(db, tmp_path / "ours.csv", HEADER + "\n".join(rows) + "\n")
    assert stats["rows_rejected"] == 9
    reasons = stats["reject_reasons"]
    assert len(reasons) == 5 and list(reasons.items())[:2] == [("not a CIDR block", 3), (WRONG_CHECK_DIGIT, 2)]
    assert set(reasons.values()) == {3, 2, 1}


def test_top_reasons_and_reason_lines_are_one_helper_for_every_stage():
    rejects = [(4, "b"), (2, "a"), (9, "b"), (None, "c"), (7, "d"), (8, "e"), (5, "f"), (6, "a"), (3, "b")]
    assert top_reasons(rejects) == {"b": 3, "a": 2, "c": 1, "d": 1, "e": 1}
    assert top_reasons({"x": 1, "y": 4}) == {"y": 4, "x": 1}
    assert reason_lines(rejects, limit=2) == ["line 2: a", "line 3: b"]
    assert business_id(f"FI{KALLIO.replace('-', '')}") == KALLIO and ytunnus.is_valid(METSA)


# --- corrections ---------------------------------------------------------------------------------

def test_networks_list_prints_the_list_rows_as_a_table_and_as_json(db, tmp_path):
    ours = tmp_path / "ours.csv"
    _import(db, ours, HEADER + f"185.213.44.0/24,Kalliodata Oy,{KALLIO},company\n")
    _import(db, tmp_path / "bought.csv", HEADER + "185.213.0.0/16,Esimerkki Laajakaista Oy,,isp\n", "licensed")
    table = _invoke("networks", "list", "--db", db)
    assert table.exit_code == 0, table.output
    header, *lines = table.stdout.strip().splitlines()
    assert header.split() == ["cidr", "organisation", "business", "id", "kind", "source", "list", "file"]
    assert len(lines) == 2 and KALLIO in lines[1] and str(ours.resolve()) in lines[1]
    rows = json.loads(_invoke("networks", "list", "--json", "--db", db).stdout)
    assert rows[1] == {"cidr": "185.213.44.0/24", "organisation": "Kalliodata Oy", "business_id": KALLIO,
                       "kind": "company", "source": "operator", "list_file": str(ours.resolve()),
                       "overridden": False}
    assert rows[0]["source"] == "licensed" and rows[0]["kind"] == "isp"


def test_networks_remove_removes_the_row_and_reattributes_its_visits(db, tmp_path):
    _import(db, tmp_path / "ours.csv", HEADER + f"185.213.44.0/24,Kalliodata Oy,{KALLIO},company\n"
            f"193.166.220.0/24,Metsä Logistics Ab,{METSA},company\n")
    _import(db, tmp_path / "bought.csv", HEADER + "185.213.0.0/16,Esimerkki Laajakaista Oy,,isp\n", "licensed")
    assert _visit_companies(db) == [(METSA,), (KALLIO,)]
    stats = _stats(_invoke("networks", "remove", "185.213.44.0/24", "--db", db))
    assert stats["networks_removed"] == 1 and stats["rows_reattributed"] > 0
    # the licensed /16 holds the whole removed range: its visits fall back to it (an ISP: no company)
    assert _rows(db, "SELECT DISTINCT network_id, company_id FROM visits ORDER BY ALL") == [
        ("licensed:185.213.0.0-185.213.255.255", None), ("operator:193.166.220.0-193.166.220.255", METSA)]
    assert _rows(db, "SELECT count(*) FROM pageviews WHERE network_id LIKE 'operator:185.213.44.%'") == [(0,)]
    again = _invoke("networks", "remove", "185.213.44.0/24", "--db", db)
    assert "no operator or licensed list row" in _one_line_error(again)
    assert "not a CIDR block" in _one_line_error(_invoke("networks", "remove", "185.213.44/99", "--db", db))


def test_networks_classify_clear_removes_the_override_and_reattributes(db, tmp_path):
    _import(db, tmp_path / "ours.csv", HEADER + f"185.213.44.0/24,Kalliodata Oy,{KALLIO},company\n")
    assert _stats(_invoke("networks", "classify", "185.213.44.0/24", "isp", "--db", db))["networks_affected"] == 1
    assert _rows(db, "SELECT DISTINCT company_id FROM visits WHERE network_id LIKE 'operator:%'") == [(None,)]
    listed = json.loads(_invoke("networks", "list", "--json", "--db", db).stdout)
    assert (listed[0]["kind"], listed[0]["overridden"]) == ("isp", True)
    stats = _stats(_invoke("networks", "classify", "185.213.44.0/24", "--clear", "--db", db))
    assert stats == {**stats, "override_cleared": "185.213.44.0/24", "networks_affected": 1}
    assert _rows(db, "SELECT kind, kind_rule FROM networks") == [("company", "operator-list")]
    assert _rows(db, "SELECT count(*) FROM network_overrides") == [(0,)]
    assert _rows(db, "SELECT DISTINCT company_id FROM visits WHERE network_id LIKE 'operator:%'") == [(KALLIO,)]
    assert "no kind override" in _one_line_error(_invoke("networks", "classify", "185.213.44.0/24", "--clear",
                                                         "--db", db))
    assert "or --clear" in _one_line_error(_invoke("networks", "classify", "185.213.44.0/24", "isp", "--clear",
                                                   "--db", db))


def test_a_reimport_of_a_corrected_list_replaces_its_rows(db, tmp_path):
    ours, other = tmp_path / "ours.csv", tmp_path / "other.csv"
    third = "195.148.0.0/24,Kolmas Oy,,company\n"  # a list of three: a corrected file drops one
    _import(db, ours, HEADER + f"185.213.44.0/24,Kalliodata Oy,{KALLIO},company\n"
            f"193.166.220.0/24,Metsä Logistics Ab,{METSA},company\n" + third)
    _import(db, other, HEADER + "80.248.161.0/24,Turun Teräs Oyj,,company\n")
    assert _visit_companies(db) == [(METSA,), (KALLIO,)]
    stats = _import(db, ours, HEADER + f"185.213.44.0/24,Kalliodata Oy,{KALLIO},company\n" + third)
    assert (stats["networks_imported"], stats["networks_removed"]) == (2, 1)
    assert _rows(db, "SELECT cidr FROM networks ORDER BY cidr") == [
        ("185.213.44.0/24",), ("195.148.0.0/24",), ("80.248.161.0/24",)]
    # the removed row's visits have no other network holding them: no network, no company
    assert _rows(db, "SELECT DISTINCT network_id, company_id FROM visits ORDER BY ALL") == [
        ("operator:185.213.44.0-185.213.44.255", KALLIO), (None, None)]
    # the same file as a licensed list is another list: the operator's rows stay
    assert _import(db, ours, source="licensed")["networks_removed"] == 0
    assert _rows(db, "SELECT count(*) FROM networks WHERE source = 'operator'") == [(3,)]


def test_a_reimport_with_a_mistyped_row_removes_nothing(db, tmp_path):
    """A rejected row may be the very range, mistyped: the list's rows stay, and so do their visits."""
    ours = tmp_path / "ours.csv"
    _import(db, ours, HEADER + f"185.213.44.0/24,Kalliodata Oy,{KALLIO},company\n"
            f"193.166.220.0/24,Metsä Logistics Ab,{METSA},company\n")
    stats = _import(db, ours, HEADER + f"185.213.44.0/24,Kalliodata Oy,{KALLIO},compnay\n"
                    f"193.166.220.0/24,Metsä Logistics Ab,{METSA},company\n")
    assert (stats["rows_rejected"], stats["networks_removed"], stats["networks_kept_because_of_rejects"]) == (1, 0, 1)
    assert _visit_companies(db) == [(METSA,), (KALLIO,)]


def test_a_reimport_that_would_empty_the_list_is_refused_unless_replace(db, tmp_path):
    ours = tmp_path / "ours.csv"
    _import(db, ours, HEADER + f"185.213.44.0/24,Kalliodata Oy,{KALLIO},company\n"
            f"193.166.220.0/24,Metsä Logistics Ab,{METSA},company\n")
    ours.write_text("# a half-saved file\n" + HEADER)
    result = _invoke("networks", "import", ours, "--db", db)
    assert result.exit_code == 1
    line = result.stderr.strip()
    assert "\n" not in line and "would remove 2 of the list's 2 rows" in line and "--replace" in line
    assert _visit_companies(db) == [(METSA,), (KALLIO,)]
    assert _stats(_invoke("networks", "import", ours, "--db", db, "--replace"))["networks_removed"] == 2
    assert _visit_companies(db) == [(None,)]


def test_a_list_saved_by_excel_on_windows_is_read(db, tmp_path):
    latin = tmp_path / "latin1.csv"
    latin.write_bytes(("cidr;organisation;business_id;kind\n"
                       f"193.166.220.0/24;Metsä Logistics Ab;{METSA};company\n").encode("cp1252"))
    stats = _stats(_invoke("networks", "import", latin, "--db", db))
    assert stats["networks_imported"] == 1
    assert _rows(db, "SELECT org_name FROM networks") == [("Metsä Logistics Ab",)]


def test_a_reimport_that_would_remove_half_of_the_list_needs_replace(db, tmp_path):
    """An Excel-filtered save keeps about half of a list: refused, not half the attribution gone."""
    ours = tmp_path / "ours.csv"
    _import(db, ours, HEADER + f"185.213.44.0/24,Kalliodata Oy,{KALLIO},company\n"
            f"193.166.220.0/24,Metsä Logistics Ab,{METSA},company\n")
    ours.write_text(HEADER + f"185.213.44.0/24,Kalliodata Oy,{KALLIO},company\n")
    result = _invoke("networks", "import", ours, "--db", db)
    assert result.exit_code == 1 and "would remove 1 of the list's 2 rows" in result.stderr
    assert _visit_companies(db) == [(METSA,), (KALLIO,)]
