"""The set-based parse (sinks/staging.py): a line is the same text whichever way its ends are cut."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from enrich.weblogs import LogSource
from sinks.ledger import keyed_in_python
from sinks.staging import stage_files
from tests.conftest import SECRET, combined

NOW = datetime(2026, 11, 26, tzinfo=timezone.utc)


def test_only_lines_with_other_whitespace_at_their_ends_are_trimmed_and_all_equal_trim(con, tmp_path):
    bodies = [
        combined(),
        combined(agent="Mozilla/5.0 äö 🇫🇮 e\u0301"),  # codepoints beyond ASCII: substr counts them, not bytes
        "not a log line at all",
        "x",
        "ü",
    ]
    ends = [("", "\n"), ("", "\r\n"), ("  ", "\n"), ("\t", "\n"), ("", " \n"), ("", "\t\n"), ("", "\t \r\n"),
            (" \t", "  \r\n")]
    lines = [start + body + end for body in bodies for start, end in ends]
    path = tmp_path / "access.log"
    path.write_bytes("".join(lines).encode() + ("  " + combined() + " ").encode())  # the last line: no newline
    stage_files(con, [(LogSource(str(path), "access.log"), Path(path))], SECRET, NOW, 10**9)
    staged = con.execute("SELECT line_no, line_hash, raw FROM staged ORDER BY line_no").fetchall()
    expected = [text.strip(" \t\r\n") for text in [*lines, "  " + combined() + " "]]
    assert [h for _, h, _ in staged] == [keyed_in_python(SECRET, text) for text in expected]
    rejected = {no: raw for no, _, raw in staged if raw is not None}
    assert rejected and all(raw == expected[no - 1] for no, raw in rejected.items())
