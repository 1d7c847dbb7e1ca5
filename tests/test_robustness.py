"""Bad input and hostile values: a one-line error or counted rejects, never a traceback, never silent loss."""

import gzip
import re
from pathlib import Path

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sinks import database
from tests.conftest import combined, ingest, table_counts, write_log

ROOT = Path(__file__).resolve().parents[1]

REAL_LINES = [
    combined(),
    combined(client="10.0.0.5", extra=' "85.76.1.10, 10.0.0.7"'),
    '85.76.1.10 - - [24/Nov/2026:10:00:00 +0200] "GET /a\\"b HTTP/1.1" 200 1 "-" "UA \\x22x\\x22"',
    'www.example.fi 85.76.1.10 - - [24/Nov/2026:10:00:00 +0200] "GET / HTTP/1.0" 301 368',
]


def _mutations():
    alphabet = st.characters(blacklist_categories=("Cs",))
    base = st.sampled_from(REAL_LINES)
    cut = st.tuples(base, st.integers(0, 200)).map(lambda t: t[0][: t[1]])
    insert = st.tuples(base, st.integers(0, 200), st.text(alphabet, max_size=8)).map(
        lambda t: t[0][: t[1]] + t[2] + t[0][t[1]:])
    return st.one_of(st.text(alphabet, max_size=300), cut, insert, base)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(_mutations(), min_size=1, max_size=25))
def test_random_and_mutated_lines_never_break_the_counts(tmp_path_factory, lines):
    tmp = tmp_path_factory.mktemp("prop")
    path = tmp / "access.log"
    path.write_bytes("\n".join(l.replace("\n", " ").replace("\r", " ") for l in lines).encode("utf-8", "surrogatepass") + b"\n")
    con = database.connect(":memory:")
    stats = ingest(con, path)
    assert stats["lines_read"] == len(lines)
    assert stats["lines_read"] == stats["lines_parsed"] + stats["lines_rejected"] + stats["duplicate_lines"]
    rejects = con.execute("SELECT count(*) FROM rejects").fetchall()[0][0]
    assert rejects <= stats["lines_rejected"]
    con.close()


def test_a_one_megabyte_line_is_one_reject(con, tmp_path):
    path = tmp_path / "access.log"
    path.write_bytes(combined().encode() + b"\n" + b"x" * (1 << 20) + b"\n" + combined(ts="24/Nov/2026:10:01:00 +0200").encode() + b"\n")
    stats = ingest(con, path)
    assert (stats["lines_read"], stats["lines_parsed"], stats["lines_rejected"]) == (3, 2, 1)
    assert stats["rejects_by_reason"] == {"line too long": 1}


def test_corrupt_gzip_is_counted_not_fatal(con, tmp_path):
    path = tmp_path / "access.log.2.gz"
    data = gzip.compress(("\n".join(combined(ts=f"24/Nov/2026:10:{m:02d}:00 +0200") for m in range(30)) + "\n").encode())
    path.write_bytes(data[:40] + b"\x00garbage" + data[48:])
    stats = ingest(con, path)
    assert stats["file_errors"] and stats["lines_read"] == stats["lines_parsed"] + stats["lines_rejected"]


def test_hostile_values_end_up_as_inert_data(con, tmp_path):
    hostile = ["'; DROP TABLE visits; --", "../../etc/passwd", "<script>alert(1)</script>", "\x1b[31mred", "é" * 5000]
    lines = [combined(request=f"GET /{h.replace(' ', '%20')} HTTP/1.1", referrer=h.replace('"', ''), agent=h.replace('"', "'"),
                      ts=f"24/Nov/2026:10:0{i}:00 +0200") for i, h in enumerate(hostile)]
    stats = ingest(con, write_log(tmp_path / "access.log", lines))
    assert stats["lines_read"] == len(hostile)
    assert table_counts(con)["visits"] >= 1  # the tables are all still there
    paths = [p for (p,) in con.execute("SELECT path FROM pageviews").fetchall()]
    assert any("DROP" in p for p in paths)


#: The only names ever interpolated into SQL text: table and column names from code, and SQL fragments
#: built from constants. Values always travel as bound parameters.
ALLOWED = {"table", "where", "column", "condition", "_FAST", "_IN_WINDOW", "keyed", "plain", "_ENTRY_COLUMNS",
           "_PAGEVIEW_COLUMNS", "_utm", "t", "select", "LINE_HASH", "LEGACY_HASH"}
SQL_WORDS = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP)\b")


def test_no_sql_is_built_from_values():
    """Every f-string holding SQL interpolates only code constants (names, fragments), never a value."""
    import io
    import tokenize

    offenders, checked = [], 0
    for path in [*ROOT.glob("sinks/*.py"), *ROOT.glob("flows/*.py"), *ROOT.glob("enrich/*.py")]:
        for token in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
            if token.type != tokenize.STRING or not token.string.lstrip("rbRB")[:1] in "fF":
                continue
            if not SQL_WORDS.search(token.string):
                continue
            checked += 1
            for name in re.findall(r"(?<!\{)\{([A-Za-z_][A-Za-z_0-9]*)", token.string):
                if name not in ALLOWED:
                    offenders.append(f"{path.name}:{token.start[0]}: {{{name}}}")
    assert checked >= 10, "the check must see the SQL it guards"
    assert not offenders, offenders


def test_a_reader_holding_the_snapshot_open_does_not_stop_a_run(tmp_path):
    from flows import engine
    from flows.config import load_settings

    logs = write_log(tmp_path / "access.log.1", [combined()])
    settings = load_settings({"db": str(tmp_path / "leads.duckdb"), "logs": [str(logs)], "offline": True},
                             None, {"LEADPIPE_CONFIG_DIR": str(tmp_path / "cfg")})
    engine.execute(settings, "run", ["ingest", "load"])
    reader = duckdb.connect(str(settings.db), read_only=True)  # an analyst's notebook, left open
    more = write_log(tmp_path / "access.log", [combined(ts="25/Nov/2026:10:00:00 +0200")])
    again = load_settings({"db": str(settings.db), "logs": [str(more)], "offline": True}, None,
                          {"LEADPIPE_CONFIG_DIR": str(tmp_path / "cfg")})
    engine.execute(again, "run", ["ingest", "load"])
    assert reader.execute("SELECT count(*) FROM visits").fetchall() == [(1,)]  # still yesterday's snapshot
    reader.close()
    with duckdb.connect(str(settings.db), read_only=True) as fresh:
        assert fresh.execute("SELECT count(*) FROM visits").fetchall() == [(2,)]
