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

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from enrich.samples import sanitise_sample
from enrich.weblogs import ReadResult

#: Rejected lines kept as samples per file and reason (all are counted).
REJECT_SAMPLES = 100
#: Reasons a command shows (the most frequent), and rejected lines it names.
TOP_REASONS = 5
SHOWN_LINES = 20
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
    write_rejects(con, [(run_id, source, line_no, reason, None) for line_no, reason in rejects])
    return dict(Counter(reason for _, reason in rejects))


def top_reasons(rejects: Mapping[str, int] | Iterable[tuple[int | None, str]], limit: int = TOP_REASONS
                ) -> dict[str, int]:
    """The ``limit`` most frequent reasons with their counts, most frequent first (ties by reason).

    Takes counts by reason (what :func:`record_rejects` returns) or the rejects themselves
    ((line number, reason) pairs). What every command shows of its rejects: reasons are
    fixed texts, so this quotes nothing from the input.
    """
    counts = Counter(dict(rejects)) if isinstance(rejects, Mapping) else Counter(r for _, r in rejects)
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit])


def reason_lines(rejects: Iterable[tuple[int | None, str]], label: str = "line", limit: int = SHOWN_LINES
                 ) -> list[str]:
    """The first ``limit`` rejects as ``"line N: reason"`` (or another ``label``: ``"entry N"``), in order,
    for the operator to find them."""
    numbered = sorted((line_no, reason) for line_no, reason in rejects if line_no is not None)
    return [f"{label} {line_no}: {reason}" for line_no, reason in numbered[:limit]]
