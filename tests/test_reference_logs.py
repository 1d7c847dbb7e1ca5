"""Every real log in ../shared/reference/logs loads without an error (skipped without ../shared).

The test prints, per file, how many lines were read, parsed, rejected and
duplicated; formats other than common/combined (IIS W3C, JSON, HAProxy) are
rejected line by line with a reason, never a crash.
"""

from pathlib import Path

import pytest

from tests.conftest import SHARED, ingest

LOGS = SHARED / "reference" / "logs"
FILES = sorted(p for p in LOGS.rglob("*") if p.is_file() and p.name != "PROVENANCE.txt") if LOGS.exists() else []


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(LOGS)) for p in FILES])
def test_reference_log_loads(con, path: Path, shared):
    stats = ingest(con, path)
    print(
        f"\n{path.relative_to(LOGS)}: read={stats['lines_read']} parsed={stats['lines_parsed']} "
        f"rejected={stats['lines_rejected']} duplicates={stats['duplicate_lines']} "
        f"bots={stats['bot_requests']} pageviews={stats['pageviews']} visits={stats['visits']}"
    )
    assert stats["lines_read"] == stats["lines_parsed"] + stats["lines_rejected"] + stats["duplicate_lines"]
    rejects = con.execute("SELECT count(*) FROM rejects").fetchall()[0][0]
    assert rejects <= stats["lines_rejected"] + len(stats["file_errors"])


EXPECTED_PARSED = {
    # strict combined files parse completely (PROVENANCE.txt counts)
    "ployt0_nginx_access_2022_anon.log": 16912,
    "nielsbasjes_hackers-access.log": 3456,
    "advertools_nginx_access.log": 1000,
    "advertools_combined_no_errors.log": 885,
    "lnav_zanbil_shop_access_log_1000.log": 1000,  # trailing "-" field
    "advertools_dreamhost_apache_access.log": 129,  # trailing space on every line
    "advertools_combined_latin1_enc.log": 169,  # then 31 lines of raw gzip data
}


@pytest.mark.parametrize("name", sorted(EXPECTED_PARSED))
def test_known_files_parse_fully(con, name, shared):
    stats = ingest(con, LOGS / name)
    assert stats["lines_parsed"] + stats["duplicate_lines"] == EXPECTED_PARSED[name]


def test_elastic_sample_has_one_truncated_line(con, shared):
    stats = ingest(con, LOGS / "elastic_examples_apache_logs.log")
    assert stats["lines_read"] == 10000
    assert stats["lines_rejected"] == 1


def test_no_client_address_from_the_logs_is_stored(con, shared):
    """Privacy: whatever the logs hold, no address lands in any table."""
    path = LOGS / "nielsbasjes_hackers-access.log"
    ingest(con, path)
    addresses = {line.split(" ", 1)[0] for line in path.read_text(errors="replace").splitlines() if line}
    tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE NOT temporary").fetchall()]
    for table in tables:
        text = con.execute(f"SELECT string_agg(CAST(t AS VARCHAR), '|') FROM {table} t").fetchall()[0][0] or ""
        leaked = [a for a in addresses if a in text]
        assert not leaked, f"{table} holds {leaked[:3]}"
