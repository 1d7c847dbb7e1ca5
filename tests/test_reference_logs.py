"""Every real log in ../shared/reference/logs loads without an error (skipped without ../shared).

The test prints, per file, how many lines were read, parsed, rejected and
duplicated; formats other than common/combined (IIS W3C, JSON, HAProxy) are
rejected line by line with a reason, never a crash.
"""

import re
from pathlib import Path

import duckdb
import pytest

from enrich import bots
from enrich.weblogs import LINE_FIELDS, LINE_PATTERN, ReadResult, read_line_batches
from flows.config import DEFAULT_DATA_DIR
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
    rejects, without_sample = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE sample IS NULL) FROM rejects"
    ).fetchall()[0]
    assert rejects <= stats["lines_rejected"] + len(stats["file_errors"])
    assert without_sample == 0  # every reject keeps its (masked) sample


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


# A browser's user agent, the shape every modern browser sends (and many a scanner copies).
_BROWSER_TOKENS = (
    r"( (Chrome|Chromium|CriOS|FxiOS|Version|Edg|EdgA|EdgiOS|OPR|SamsungBrowser|YaBrowser|Vivaldi)/[\w.]+)*"
)
_BROWSER_SHAPE = re.compile(
    rf"^Mozilla/5\.0 \([^()]*\) (AppleWebKit/[\d.]+\+? \(KHTML, like Gecko\){_BROWSER_TOKENS}( Mobile(/\w+)?)?"
    rf" Safari/[\d.]+{_BROWSER_TOKENS}|Gecko/\d+ Firefox/[\d.]+)$"
)
# A user agent signed with a URL, a web address or an e-mail contact.
_SIGNED = re.compile(r"https?://|\bwww\.|[\w.+-]+@[\w-]+\.[a-z]{2,}", re.IGNORECASE)


def _bot_verdicts(con, agents: list[str], patterns: list[str]) -> dict[str, bool]:
    con.execute("CREATE OR REPLACE TEMP TABLE agents (agent VARCHAR)")
    con.executemany("INSERT INTO agents VALUES (?)", [[a] for a in agents])
    condition = bots.bot_condition("agent", 1, len(patterns))
    return dict(con.execute(f"SELECT agent, {condition} FROM agents", patterns).fetchall())


@pytest.fixture(scope="module")
def real_agents() -> list[str]:
    """The distinct user agents of every reference log, as the ingest's line pattern finds them."""
    con = duckdb.connect()
    agents: set[str] = set()
    for path in FILES:
        for batch in read_line_batches(path, ReadResult()):
            con.register("batch", batch)
            rows = con.execute(
                "SELECT DISTINCT regexp_extract(trim(line, ' \t\r\n'), $pattern, $fields).agent FROM batch",
                {"pattern": LINE_PATTERN, "fields": LINE_FIELDS},
            ).fetchall()
            con.unregister("batch")
            agents.update(agent for (agent,) in rows if agent)
    con.close()
    return sorted(agents)


def test_signed_user_agents_in_the_real_logs_are_bots(con, shared, real_agents):
    signed = [agent for agent in real_agents if _SIGNED.search(agent)]
    assert len(signed) > 50
    patterns = list(bots.bot_patterns(DEFAULT_DATA_DIR / "bots-extra.txt"))
    missed = [agent for agent, is_bot in _bot_verdicts(con, signed, patterns).items() if not is_bot]
    assert missed == []


def test_browser_shaped_user_agents_in_the_real_logs_match_no_extra_pattern(con, shared, real_agents):
    """No pattern of bots-extra.txt, by name or by shape, takes a browser's user agent, real or copied."""
    browsers = [agent for agent in real_agents if _BROWSER_SHAPE.match(agent)]
    assert len(browsers) > 500
    for pattern in bots.extra_patterns(DEFAULT_DATA_DIR / "bots-extra.txt"):
        matched = [agent for agent, is_bot in _bot_verdicts(con, browsers, [f"(?i){pattern}"]).items() if is_bot]
        assert matched == [], f"{pattern!r} takes browsers: {matched[:3]}"
