"""Rejects: log lines counted by reason (a few of each kept as sanitised samples), and export, form and
list rows with their reasons.

A bad line never stops a run and never disappears silently (STYLE.md, 9): the
ingest counts every reject, and this module writes the ``rejects`` rows — the
first :data:`REJECT_SAMPLES` lines of each file and reason, a damaged or capped
file's last line, and one row for a file's blank lines. Every sample passes
:func:`enrich.samples.sanitise_sample`, so it keeps no more than a pageview
does.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pyarrow as pa

from enrich.samples import sanitise_sample
from enrich.weblogs import ReadResult

#: Rejected lines kept as samples per file and reason (all are counted).
REJECT_SAMPLES = 100
#: The reason of blank lines (counted while reading, never rows or ledger entries).
EMPTY_LINE = "empty line"
_SCHEMA = pa.schema([("run_id", pa.int64()), ("source", pa.string()), ("line_no", pa.int64()),
                     ("reason", pa.string()), ("sample", pa.string())])


@dataclass
class FileReport:
    """What reading one file found besides its lines: damage or the size cap, blank lines."""

    source: str
    result: ReadResult


def sample_rows(run_id: int, samples: list[tuple], reports: list[FileReport]) -> list[tuple]:
    """The ``rejects`` rows of one ingest, samples sanitised.

    Args:
        run_id: the run the rejects belong to.
        samples: (source, line_no, reason, raw line) of the rejected lines kept as samples.
        reports: each file's reading result (damage, the size cap, blank lines).

    Returns:
        Rows (run_id, source, line_no, reason, sample).
    """
    rows = [(run_id, source, line_no, reason, sanitise_sample(raw or "")) for source, line_no, reason, raw in samples]
    for report in reports:
        result = report.result
        if result.error:  # a damaged file or the cap: its sample is the line where reading stopped
            rows.append((run_id, report.source, None, result.error,
                         sanitise_sample(result.stopped_at or "", cut_short=True)))
        if result.blank_lines:
            rows.append((run_id, report.source, result.first_blank_line, EMPTY_LINE, ""))
    return rows


def write_rejects(con: duckdb.DuckDBPyConnection, rows: list[tuple]) -> None:
    """Insert rows made by :func:`sample_rows` (in the caller's transaction)."""
    if not rows:
        return
    con.register("new_rejects", pa.Table.from_pylist([dict(zip(_SCHEMA.names, row)) for row in rows], schema=_SCHEMA))
    try:
        con.execute("INSERT INTO rejects SELECT * FROM new_rejects")
    finally:
        con.unregister("new_rejects")


def record_rejects(
    con: duckdb.DuckDBPyConnection, run_id: int, source: str, rejects: list[tuple[int | None, str]]
) -> dict[str, int]:
    """A source's rejects (line number, reason; no sample) and their count by reason.

    Reasons are fixed texts that never quote a value from the input.
    """
    by_reason: dict[str, int] = {}
    for line_no, reason in rejects:
        con.execute("INSERT INTO rejects VALUES (?, ?, ?, ?, NULL)", [run_id, source, line_no, reason])
        by_reason[reason] = by_reason.get(reason, 0) + 1
    return by_reason
