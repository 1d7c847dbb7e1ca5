"""One row per organisation, whatever the order of sources; existing duplicates merge on the next run."""

import re

import duckdb

from flows import stages
from flows.config import load_settings
from sinks import companies, database
from tests.conftest import combined, write_log
from tests.rdap_registry import RdapRegistry, inetnum

OBJECTS = [
    inetnum("88.120.0.0/14", "ELISA-BUSINESS", "LIR-PARTITIONED PA", "Elisa Oyj"),
    inetnum("88.120.10.0/29", "JARVI-NET", "ASSIGNED PA", None, ("Jarvi Systems Oy",)),
    inetnum("193.64.10.0/24", "KALLIODATA-NET", "ASSIGNED PI", "Kalliodata Oy"),
]
EXPORT = (
    "Company name;Website;Business ID;Country;City;Last visit;Visits\r\n"
    "Jarvi Systems;jarvisystems.example;;Finland;Jyväskylä;21.11.2026 13:22;3\r\n"
    "Kalliodata Oy;www.kalliodata.example;;Suomi;Tampere;22.11.2026 15:40;9\r\n"
)


def _settings(tmp_path, httpserver, **extra):
    values = {"db": str(tmp_path / "leads.duckdb"), "rdap_url": httpserver.url_for("/rdap"), "rdap_min_interval": 0,
              **extra}
    return load_settings(values, None, {"LEADPIPE_CONFIG_DIR": str(tmp_path / "cfg")})


def _rows(db):
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(
            """
            SELECT c.name, (SELECT count(*) FROM visits v WHERE v.company_id = c.company_id),
                   (SELECT count(*) FROM company_sources s WHERE s.company_id = c.company_id)
            FROM companies c ORDER BY c.name
            """
        ).fetchall()


def test_an_export_first_then_the_network_is_one_company(tmp_path, httpserver):
    httpserver.expect_request(re.compile(r"^/rdap/.+$")).respond_with_handler(RdapRegistry(OBJECTS, base="/rdap"))
    export = tmp_path / "leadfeeder.csv"
    export.write_bytes(EXPORT.encode("utf-8"))
    stages.execute(_settings(tmp_path, httpserver, leadfeeder=[str(export)]), "ingest", ["leadfeeder"])
    logs = write_log(tmp_path / "access.log", [combined(client="88.120.10.3"), combined(client="193.64.10.9")])
    stages.execute(_settings(tmp_path, httpserver, logs=[str(logs)]), "run", ["ingest", "resolve", "load"])
    # "Jarvi Systems" (export, no legal form) and "Jarvi Systems Oy" (named by Elisa's assignment): one row
    rows = _rows(tmp_path / "leads.duckdb")
    assert [(name.removesuffix(" Oy"), visits, sources) for name, visits, sources in rows] == [
        ("Jarvi Systems", 1, 1), ("Kalliodata", 1, 1)]
    with duckdb.connect(str(tmp_path / "leads.duckdb"), read_only=True) as con:
        aliases = con.execute("SELECT count(*) FROM company_aliases").fetchall()[0][0]
    assert aliases == 2
    # a rerun changes nothing
    stages.execute(_settings(tmp_path, httpserver, logs=[str(logs)], leadfeeder=[str(export)]), "run",
                   ["ingest", "leadfeeder", "resolve", "load"])
    assert _rows(tmp_path / "leads.duckdb") == rows


def test_existing_duplicates_merge_and_registered_namesakes_never_do(tmp_path):
    con = database.connect(":memory:")
    con.execute(
        """
        INSERT INTO companies (company_id, business_id, name, country, kind, website, first_seen) VALUES
            ('org-a', NULL, 'Kalliodata Oy', 'FI', 'company', NULL, '2026-01-01'),
            ('src-b', NULL, 'KALLIODATA', 'FI', 'company', 'https://www.kalliodata.example', '2026-02-01'),
            ('src-c', NULL, 'Kallio Data', NULL, 'company', 'kalliodata.example', '2026-03-01'),
            ('1111111-1', '1111111-1', 'Nordic Consulting Oy', 'FI', 'company', NULL, '2026-01-01'),
            ('2222222-2', '2222222-2', 'Nordic Consulting Oy', 'FI', 'company', NULL, '2026-01-01'),
            ('org-d', NULL, 'Nordic Consulting', 'FI', 'company', NULL, '2026-05-01')
        """
    )
    con.execute("INSERT INTO visits (visit_id, company_id, visitor_key, started_at, ended_at, pageviews, source) "
                "VALUES ('v1', 'src-b', 'k', '2026-02-01', '2026-02-01', 1, 'log')")
    con.execute("INSERT INTO company_daily_totals VALUES ('org-a', '2026-02-01', 1, 1, 1), "
                "('src-b', '2026-02-01', 2, 3, 1)")
    merged = companies.merge_duplicates(con)
    rows = con.execute("SELECT company_id, website FROM companies ORDER BY company_id").fetchall()
    assert ("org-a", "https://www.kalliodata.example") in rows and len(rows) == 4  # a, 1111111-1, 2222222-2, d
    assert con.execute("SELECT company_id FROM visits").fetchall() == [("org-a",)]
    assert con.execute("SELECT visits, pageviews FROM company_daily_totals").fetchall() == [(3, 4)]
    # "Nordic Consulting" could be either registered namesake: it stays apart
    assert con.execute("SELECT alias_id, company_id FROM company_aliases ORDER BY 1").fetchall() == [
        ("src-b", "org-a"), ("src-c", "org-a")]
    assert merged == 2 and companies.merge_duplicates(con) == 0


def test_different_organisations_never_merge():
    con = database.connect(":memory:")
    con.execute(
        """
        INSERT INTO companies (company_id, name, country, kind, website) VALUES
            ('a', 'Nordic Networks Oy', 'FI', 'company', NULL), ('b', 'Nordic Oy', 'FI', 'company', NULL),
            ('c', 'Suomen Yrittäjät ry', 'FI', 'company', NULL), ('d', 'Suomen Yrittäjät Oy', 'FI', 'company', NULL),
            ('e', 'Nordic Consulting AB', 'SE', 'company', NULL), ('f', 'Nordic Consulting', NULL, 'company', NULL),
            ('g', 'Kone Oyj', 'FI', 'company', 'https://www.kone.com'),
            ('h', 'Kone Hissit Oy', 'FI', 'company', 'kone.com'),
            ('i', 'Alpha Oy', 'FI', 'company', 'https://sites.google.com/view/alpha'),
            ('j', 'Beta Oy', 'FI', 'company', 'https://sites.google.com/view/beta'),
            ('k', 'Hexagon AB (publ)', 'SE', 'company', NULL), ('l', 'Hexagon AB', 'SE', 'company', NULL)
        """
    )
    assert companies.merge_duplicates(con) == 1  # only the two Hexagons are one
    assert con.execute("SELECT alias_id, company_id FROM company_aliases").fetchall() == [("l", "k")]
