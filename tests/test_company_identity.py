"""One row per organisation, whatever the order of sources; existing duplicates merge on the next run."""

import re

import duckdb

from flows import engine
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
    engine.execute(_settings(tmp_path, httpserver, leadfeeder=[str(export)]), "ingest", ["leadfeeder"])
    logs = write_log(tmp_path / "access.log", [combined(client="88.120.10.3"), combined(client="193.64.10.9")])
    engine.execute(_settings(tmp_path, httpserver, logs=[str(logs)]), "run", ["ingest", "resolve", "load"])
    # "Jarvi Systems" (export, no legal form) and "Jarvi Systems Oy" (named by Elisa's assignment): one row
    rows = _rows(tmp_path / "leads.duckdb")
    assert [(name.removesuffix(" Oy"), visits, sources) for name, visits, sources in rows] == [
        ("Jarvi Systems", 1, 1), ("Kalliodata", 1, 1)]
    with duckdb.connect(str(tmp_path / "leads.duckdb"), read_only=True) as con:
        aliases = con.execute("SELECT count(*) FROM company_aliases").fetchall()[0][0]
    assert aliases == 2
    # a rerun changes nothing
    engine.execute(_settings(tmp_path, httpserver, logs=[str(logs)], leadfeeder=[str(export)]), "run",
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


def test_a_network_an_export_and_the_register_make_one_company_with_one_id():
    from datetime import datetime, timezone

    from enrich.leadfeeder import LeadRow
    from enrich.networks import Network
    from enrich.ytj import Company
    from sinks import networks, register
    from sinks.sources import upsert_source_rows

    now = datetime(2026, 11, 25, tzinfo=timezone.utc)
    con = database.connect(":memory:")

    def export(**row):
        return upsert_source_rows(con, "leadfeeder", [LeadRow(line_no=2, last_visit=now, **row)], "x.csv", 1, now)

    assert export(name="Kalliodata", website="www.kalliodata.example", country="FI")["companies_new"] == 1
    (first_id,) = [cid for (cid,) in con.execute("SELECT company_id FROM companies").fetchall()]
    rdap = Network(start_ip="193.64.10.0", end_ip="193.64.10.255", source="rdap", org_name="Kalliodata Oy",
                   registrant="Kalliodata Oy", country="FI", registry_type="ASSIGNED PI", kind="company",
                   rule="organisation-entity")
    networks.store_networks(con, [rdap], now, 30)
    companies.refresh(con)
    register.apply_match(con, first_id, Company(business_id="0112038-9", name="Kalliodata Oy"), "name", 0.97,
                         "Kalliodata Oy", now)
    # the operator's list and a later export know its Business ID
    listed = Network(start_ip="193.64.11.0", end_ip="193.64.11.255", source="operator", org_name="Kalliodata",
                     business_id="0112038-9", kind="company", rule="operator-list")
    networks.store_networks(con, [listed], now, None)
    companies.refresh(con)
    assert export(name="KALLIODATA OY", business_id="0112038-9")["matched_business_id"] == 1
    assert companies.ensure_company(con, business_id=None, name="Kalliodata", country="FI", origin="export",
                                    website="https://kalliodata.example/yhteystiedot") == first_id
    assert con.execute("SELECT company_id, business_id FROM companies").fetchall() == [(first_id, "0112038-9")]
    assert con.execute(
        "SELECT DISTINCT coalesce(a.company_id, n.company_id) FROM networks n "
        "LEFT JOIN company_aliases a ON a.alias_id = n.company_id").fetchall() == [(first_id,)]
    assert companies.refresh(con) == 0 and con.execute("SELECT count(*) FROM companies").fetchall() == [(1,)]


def test_an_older_databases_companies_keep_their_ids(tmp_path):
    path = tmp_path / "old.duckdb"
    old = duckdb.connect(str(path))
    database.configure(old)
    old.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
                "applied_at TIMESTAMPTZ NOT NULL)")
    for version, name, sql in database.migrations():
        if version <= 11:
            old.execute(sql)
            old.execute("INSERT INTO schema_migrations VALUES (?, ?, current_timestamp)", [version, name])
    # as the previous version wrote them: a network's 'org-…', an export's 'src-…', a Business ID
    network_id = old.execute(r"SELECT 'org-' || left(sha256('kalliodata oy|FI'), 16)").fetchall()[0][0]
    old.execute(
        """
        INSERT INTO companies (company_id, business_id, name, country, kind, first_seen) VALUES
            (?, NULL, 'Kalliodata Oy', 'FI', 'company', '2026-01-05'),
            ('src-0123456789abcdef', NULL, 'Jarvi Systems', 'FI', 'company', '2026-02-01'),
            ('0112038-9', '0112038-9', 'Nordic Oy', 'FI', 'company', '2026-03-01')
        """,
        [network_id],
    )
    old.execute(
        """
        INSERT INTO networks (network_id, start_ip, end_ip, org_name, registrant, country, kind, company_id, source,
                              start_num, end_num, kind_rule, business_id)
        VALUES ('rdap:193.64.10.0-193.64.10.255', '193.64.10.0', '193.64.10.255', 'Kalliodata  Oy',
                'Kalliodata  Oy', 'FI', 'company', ?, 'rdap', 281473925908992, 281473925909247,
                'organisation-entity', NULL),
               ('operator:10.0.0.0-10.0.0.255', '10.0.0.0', '10.0.0.255', 'Nordic', NULL, 'FI', 'company',
                '0112038-9', 'operator', 281470849204224, 281470849204479, 'operator-list', '0112038-9')
        """,
        [network_id],
    )
    old.execute("INSERT INTO company_sources (source, source_key, company_id, name, country, updated_at) "
                "VALUES ('leadfeeder', 'jarvi systems|FI|', 'src-0123456789abcdef', 'Jarvi Systems', 'FI', now())")
    old.execute("INSERT INTO visits (visit_id, company_id, network_id, visitor_key, started_at, ended_at, pageviews, "
                "source) VALUES ('v1', ?, 'rdap:193.64.10.0-193.64.10.255', 'k', '2026-01-05', '2026-01-05', 1, "
                "'log')", [network_id])
    before = old.execute("SELECT company_id, name FROM companies ORDER BY 1").fetchall()
    old.close()

    con = database.connect(path)  # migrates
    companies.refresh(con)
    from datetime import datetime, timezone

    from enrich.leadfeeder import LeadRow
    from enrich.networks import Network
    from sinks import networks
    from sinks.sources import upsert_source_rows

    now = datetime(2026, 11, 25, tzinfo=timezone.utc)
    counts = upsert_source_rows(con, "leadfeeder", [
        LeadRow("Jarvi Systems", 2, country="FI"), LeadRow("Kalliodata Oy", 3, country="FI"),
        LeadRow("Nordic Oy", 4, business_id="0112038-9")], "x.csv", 2, now)
    assert counts["companies_new"] == 0
    networks.store_networks(con, [Network(start_ip="88.120.10.0", end_ip="88.120.10.7", source="rdap",
                                          org_name="Jarvi Systems Oy", registrant="Jarvi Systems Oy", country="FI",
                                          registry_type="ASSIGNED PA", kind="company", rule="organisation-entity")],
                            now, 30)
    companies.refresh(con)
    assert con.execute("SELECT company_id, name FROM companies ORDER BY 1").fetchall() == before
    assert con.execute("SELECT company_id FROM visits").fetchall() == [(network_id,)]
