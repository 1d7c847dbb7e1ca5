"""A database an older leadpipe wrote keeps working: migration 010 and reclassification on the next run."""

import duckdb

from flows import engine
from flows.config import load_settings
from sinks import database


def _old_database(path) -> None:
    """Schema up to migration 009, with rows as the version before relation searches wrote them."""
    con = duckdb.connect(str(path))
    database.configure(con)
    con.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
                "applied_at TIMESTAMPTZ NOT NULL)")
    for version, name, sql in database.migrations():
        if version <= 9:
            con.execute(sql)
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, current_timestamp)", [version, name])
    networks = [
        # an ISP allocation, then "final" (provisional meant a broad-allocation rule only)
        ("rdap:88.120.0.0-88.123.255.255", "88.120.0.0", "88.123.255.255", "88.120.0.0/14", "ELISA-BUSINESS",
         "Elisa Oyj", "isp", None, "LIR-PARTITIONED PA", None, "known-organisation", False),
        # a "customer" the old rule named from a description without a legal form
        ("rdap:88.120.14.0-88.120.14.7", "88.120.14.0", "88.120.14.7", "88.120.14.0/29", "ELISA-CUST-4711",
         "Private customer", "company", "org-0000000000000001", "ASSIGNED PA", "Private customer",
         "isp-customer-assignment", False),
        # a trap word the old keywords misread
        ("rdap:193.64.10.0-193.64.10.255", "193.64.10.0", "193.64.10.255", "193.64.10.0/24", "MOBIILITIIMI-NET",
         "Mobiilitiimi Oy", "mobile", None, "ASSIGNED PI", None, "keyword", False),
    ]
    for (nid, start, end, cidr, netname, org, kind, company, type_, remarks, rule, provisional) in networks:
        con.execute(
            """
            INSERT INTO networks (network_id, start_ip, end_ip, cidr, netname, org_name, country, kind, company_id,
                                  source, fetched_at, expires_at, start_num, end_num, registry_type, remarks,
                                  kind_rule, kind_signals, provisional, org_handle)
            VALUES (?, ?, ?, ?, ?, ?, 'FI', ?, ?, 'rdap', now(), now() + INTERVAL 20 DAY,
                    CAST(? AS UHUGEINT), CAST(? AS UHUGEINT), ?, ?, ?, to_json(['old']), ?, ?)
            """,
            [nid, start, end, cidr, netname, org, kind, company,
             str(0xFFFF_0000_0000 + int.from_bytes(bytes(map(int, start.split("."))), "big")),
             str(0xFFFF_0000_0000 + int.from_bytes(bytes(map(int, end.split("."))), "big")),
             type_, remarks, rule, provisional, "ORG-ELISA-RIPE" if org == "Elisa Oyj" else None],
        )
    con.execute("INSERT INTO companies (company_id, name, country, kind) "
                "VALUES ('org-0000000000000001', 'Private customer', 'FI', 'company')")
    con.execute("INSERT INTO visits (visit_id, company_id, network_id, visitor_key, client_key, started_at, ended_at, "
                "pageviews, source) VALUES ('v1', 'org-0000000000000001', 'rdap:88.120.14.0-88.120.14.7', 'k', 'c', "
                "now(), now(), 1, 'log')")
    con.execute("INSERT INTO network_probes VALUES ('rdap:88.120.0.0-88.123.255.255', 0, now())")
    con.close()


def test_an_older_database_migrates_and_is_classified_by_todays_rules(tmp_path):
    db = tmp_path / "leads.duckdb"
    _old_database(db)
    settings = load_settings({"db": str(db), "offline": True}, None, {"LEADPIPE_CONFIG_DIR": str(tmp_path / "cfg")})
    stats = engine.execute(settings, "resolve", ["resolve"])
    assert stats["networks_reclassified"] == 3
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT netname, kind, kind_rule, provisional, org_name FROM networks ORDER BY 1").fetchall()
        assert rows == [
            ("ELISA-BUSINESS", "isp", "known-organisation", True, "Elisa Oyj"),  # now a range that may hold customers
            ("ELISA-CUST-4711", "isp", "known-organisation", False, None),  # Elisa's, named in the netname
            ("MOBIILITIIMI-NET", "company", "organisation-entity", False, "Mobiilitiimi Oy"),
        ]
        assert con.execute("SELECT company_id FROM visits").fetchall() == [(None,)]
        names = {name for (name,) in con.execute("SELECT name FROM companies").fetchall()}
        assert names == {"Mobiilitiimi Oy"}  # the phantom "Private customer" is gone
        tables = {t for (t,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        assert {"network_searches", "address_probes", "pipeline_state"} <= tables and "network_probes" not in tables
    again = engine.execute(settings, "resolve", ["resolve"])
    assert again["networks_reclassified"] == 0
