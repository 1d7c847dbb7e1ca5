"""Web-log lines into pageviews: parse, deduplicate against the line ledger, classify, stage.

All bulk work is set-based SQL. Python touches only what is small: the
distinct (client field, X-Forwarded-For, user agent) triples of a run's
pageviews (:mod:`sinks.visitors`) and the reject samples (:mod:`sinks.rejects`).

:func:`ingest_logs` parses files into a temporary table, drops lines already
counted (a multiset union per stream), records rejects and writes the new
pageviews to ``pending_pageviews``, in one transaction. The run's public
addresses stay in the temporary table ``run_addresses`` for the resolve stage
(never stored). The load stage (:func:`sinks.visits.sessionize`) later groups
the pending pageviews into visits, so ``leadpipe ingest`` alone keeps a night's
pageviews for a later ``leadpipe load``.

Every intermediate table is as narrow as it can be: a wide copy of a
million rows costs more than the parsing itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pyarrow as pa

from enrich import bots
from enrich.clients import ProxyPolicy
from enrich.weblogs import MAX_FILE_BYTES, LogSource, unescape_field
from sinks import faults
from sinks.addresses import load_run_addresses
from sinks.database import transaction
from sinks.rejects import EMPTY_LINE, REJECT_SAMPLES, FileReport, sample_rows, write_rejects
from sinks.staging import ProgressCallback, stage_files
from sinks.visitors import client_map, visitor_map

#: The lines kept as samples: the first few of each file and reason (a small set, so each is
#: sanitised in Python, as a pageview would be: see ``enrich/samples.py``).
_SAMPLES = """
SELECT source, line_no, reason, raw FROM fresh WHERE reason IS NOT NULL
QUALIFY row_number() OVER (PARTITION BY source, reason ORDER BY line_no) <= $samples
"""
_TEMP_TABLES = ("staged", "staged_files", "fresh", "agent_bots")


@dataclass
class IngestOptions:
    """What the ingest needs besides the files: all resolved by the caller."""

    secret: bytes
    policy: ProxyPolicy = field(default_factory=ProxyPolicy)
    bot_patterns: tuple[str, ...] = ()
    since: datetime | None = None  # inclusive, UTC
    until: datetime | None = None  # exclusive, UTC
    store_ip_prefix: bool = False
    now: datetime | None = None  # the run's time: later lines are implausible (default: the current time)
    max_file_bytes: int = MAX_FILE_BYTES  # per file, after decompression


_IN_WINDOW = """
    (ts IS NULL OR ((CAST($since AS TIMESTAMPTZ) IS NULL OR ts >= $since)
                    AND (CAST($until AS TIMESTAMPTZ) IS NULL OR ts < $until)))
"""


def _deduplicate(con: duckdb.DuckDBPyConnection, options: IngestOptions) -> tuple[int, int]:
    """Keep the lines this database has not counted yet, as table ``fresh``.

    A line's key is (stream, hash of its bytes, its occurrence number in its
    file): k copies in one file and j in another make max(k, j) keys. Lines
    outside ``--since/--until`` are left for a later run.

    Almost every line is unique in its stream, so the occurrence numbering
    (two window functions) runs only over the lines that repeat, and the
    ledger of counted lines is read only over the run's time span: a line with
    the same bytes has the same timestamp.

    Returns:
        (lines read, lines in the window).
    """
    window = {"since": options.since, "until": options.until}
    read, in_window, first, last = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE {_IN_WINDOW}), min(ts), max(ts) FROM staged", window
    ).fetchall()[0]
    # Both branches below read ``staged`` itself: a CTE used twice would be materialised,
    # a copy of every staged row (~0.25 s per million lines) before the copy into ``fresh``.
    keyed = f"""
        keyed AS NOT MATERIALIZED (
            SELECT s.*, f.stream, f.source FROM staged s JOIN staged_files f USING (file_id)
            WHERE {_IN_WINDOW}
        )"""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE repeated AS
        WITH {keyed}
        SELECT stream, line_hash FROM keyed GROUP BY stream, line_hash HAVING count(*) > 1
        """,
        window,
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE fresh AS
        WITH {keyed},
        singles AS (
            SELECT k.*, 1 AS occurrence FROM keyed k ANTI JOIN repeated r USING (stream, line_hash)
        ), repeats AS (
            SELECT * FROM (
                SELECT k.*, row_number() OVER (PARTITION BY k.file_id, k.line_hash ORDER BY k.line_no) AS occurrence
                FROM keyed k SEMI JOIN repeated r USING (stream, line_hash)
            )
            QUALIFY row_number() OVER (PARTITION BY stream, line_hash, occurrence ORDER BY file_id, line_no) = 1
        ), counted AS (
            SELECT stream, line_hash, occurrence, legacy FROM log_lines
            WHERE ts IS NULL OR ts BETWEEN $first AND $last
        )
        SELECT c.* EXCLUDE (legacy_hash) FROM (SELECT * FROM singles UNION ALL SELECT * FROM repeats) c
        ANTI JOIN (SELECT * FROM counted WHERE NOT legacy) k
             ON k.stream = c.stream AND k.line_hash = c.line_hash AND k.occurrence = c.occurrence
        -- entries from before the keyed ledger: compared through the same derivation of the line
        ANTI JOIN (SELECT * FROM counted WHERE legacy) g
             ON g.stream = c.stream AND g.line_hash = c.legacy_hash AND g.occurrence = c.occurrence
        """,
        {**window, "first": first, "last": last},
    )
    con.execute("DROP TABLE temp.staged")  # free its memory before the next steps
    con.execute("DROP TABLE temp.repeated")
    return read, in_window


def _classify_agents(con: duckdb.DuckDBPyConnection, options: IngestOptions) -> None:
    """Bots, decided once per distinct user agent, as table ``agent_bots``."""
    patterns = list(options.bot_patterns)
    condition = bots.bot_condition("agent", 1, len(patterns))
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE agent_bots AS
        SELECT agent, {condition} AS is_bot
        FROM (SELECT DISTINCT agent FROM fresh WHERE reason IS NULL AND agent IS NOT NULL)
        """,
        patterns,
    )


def _visitor_map(con: duckdb.DuckDBPyConnection, options: IngestOptions) -> pa.Table:
    """Keyed hashes for the distinct (client field, X-Forwarded-For, agent) triples of the run's pageviews.

    The run's public addresses go to the TEMP table ``run_addresses`` for the
    resolve stage, never to a stored table (see :mod:`sinks.visitors`).
    """
    triples = con.sql(
        """
        SELECT DISTINCT client_field, forwarded, agent FROM fresh LEFT JOIN agent_bots USING (agent)
        WHERE candidate AND NOT coalesce(is_bot, false)
        """
    ).to_arrow_table()
    visitors, lookups = visitor_map(triples, options.secret, options.policy, options.store_ip_prefix)
    load_run_addresses(con, lookups)
    return visitors


def _utm(name: str) -> str:
    """SQL for one UTM tag of ``target``'s query string (name is a code constant)."""
    return (
        f"nullif(url_decode(regexp_extract(split_part(f.target, '?', 2), '(?:^|&){name}=([^&#]*)', 1)), '')"
    )


def _write(con: duckdb.DuckDBPyConnection, run_id: int, visitors: pa.Table, clients: pa.Table,
           reports: list[FileReport]) -> dict:
    con.register("visitor_map", visitors)
    pageviews = con.execute(
        f"""
        INSERT INTO pending_pageviews (pageview_id, visitor_key, client_key, client_prefix, ts, path, status, referrer,
                                       utm_source, utm_medium, utm_campaign, stream, run_id)
        SELECT md5(f.stream || chr(0) || hex(f.line_hash) || chr(0) || CAST(f.occurrence AS VARCHAR)),
               v.visitor_key, v.client_key, v.client_prefix, f.ts,
               coalesce(nullif(split_part(f.target, '?', 1), ''), '/'), f.status,
               nullif(split_part(nullif(f.referrer, '-'), '?', 1), ''),
               {_utm("utm_source")}, {_utm("utm_medium")}, {_utm("utm_campaign")},
               f.stream, $run_id
        FROM fresh f
        LEFT JOIN agent_bots b USING (agent)
        JOIN visitor_map v
          ON f.client_field IS NOT DISTINCT FROM v.client_field
         AND f.forwarded IS NOT DISTINCT FROM v.forwarded
         AND f.agent IS NOT DISTINCT FROM v.agent
        WHERE f.candidate AND NOT coalesce(b.is_bot, false) AND v.visitor_key IS NOT NULL
          -- erased subjects are never imported again
          AND v.client_key NOT IN (SELECT key FROM suppressions WHERE kind = 'ip')
          AND v.visitor_key NOT IN (SELECT key FROM suppressions WHERE kind = 'visitor')
        """,
        {"run_id": run_id},
    ).fetchall()[0][0]
    # The ledger remembers whose line it counted (a keyed hash of the address), for erasure by address.
    # Every line's, pageview or not; an erased subject's lines are counted, but never named again.
    con.register("client_map", clients)
    con.execute(
        """
        INSERT INTO log_lines (stream, line_hash, occurrence, ts, run_id, client_key, legacy)
        SELECT f.stream, f.line_hash, f.occurrence, f.ts, $run_id,
               CASE WHEN c.client_key NOT IN (SELECT key FROM suppressions WHERE kind = 'ip') THEN c.client_key END,
               false
        FROM fresh f LEFT JOIN client_map c
          ON f.reason IS NULL
         AND f.client_field IS NOT DISTINCT FROM c.client_field
         AND f.forwarded IS NOT DISTINCT FROM c.forwarded
        """,
        {"run_id": run_id},
    )
    con.unregister("client_map")
    con.unregister("visitor_map")
    _unescape(con, run_id)
    samples = con.execute(_SAMPLES, {"samples": REJECT_SAMPLES}).fetchall()
    write_rejects(con, sample_rows(run_id, samples, reports))
    parsed, rejected, bot_requests, candidates = con.execute(
        """
        SELECT count(*) FILTER (WHERE reason IS NULL), count(*) FILTER (WHERE reason IS NOT NULL),
               count(*) FILTER (WHERE is_bot), count(*) FILTER (WHERE candidate AND NOT coalesce(is_bot, false))
        FROM fresh LEFT JOIN agent_bots USING (agent)
        """
    ).fetchall()[0]
    by_reason = dict(
        con.execute("SELECT reason, count(*) FROM fresh WHERE reason IS NOT NULL GROUP BY 1 ORDER BY 1").fetchall()
    )
    blank = sum(r.result.blank_lines for r in reports)
    if blank:
        by_reason[EMPTY_LINE] = blank
    return {
        "lines_parsed": parsed,
        "lines_rejected": rejected + blank,
        "bot_requests": bot_requests,
        "pageviews": pageviews,
        "requests_without_client_address": candidates - pageviews,
        "rejects_by_reason": by_reason,
    }


def _unescape(con: duckdb.DuckDBPyConnection, run_id: int) -> None:
    """Undo \\\\" and \\\\xHH escapes in the few pending pageviews that have them.

    Python (the bytes must be decoded as UTF-8), but only over the rows that
    contain a backslash, written back in one set-based UPDATE.
    """
    rows = con.sql(
        r"""
        SELECT pageview_id, path, referrer FROM pending_pageviews
        WHERE run_id = $run_id AND (contains(path, '\') OR contains(referrer, '\'))
        """,
        params={"run_id": run_id},
    ).to_arrow_table()
    if rows.num_rows == 0:
        return
    fixed = pa.table(
        {
            "pageview_id": rows.column(0),
            "path": [unescape_field(v) for v in rows.column(1).to_pylist()],
            "referrer": [unescape_field(v) for v in rows.column(2).to_pylist()],
        }
    )
    con.register("unescaped", fixed)
    con.execute(
        """
        UPDATE pending_pageviews SET path = u.path, referrer = u.referrer
        FROM unescaped u WHERE pending_pageviews.pageview_id = u.pageview_id
        """
    )
    con.unregister("unescaped")


def ingest_logs(
    con: duckdb.DuckDBPyConnection,
    files: list[tuple[LogSource, Path]],
    options: IngestOptions,
    run_id: int,
    on_progress: ProgressCallback | None = None,
    on_parsing: Callable[[], None] | None = None,
) -> dict:
    """Read, deduplicate and stage log files as pending pageviews, in one transaction.

    Args:
        con: a migrated connection.
        files: each source with the local file holding its bytes.
        options: secret, proxies, bot patterns, window.
        run_id: the ``runs`` row this work belongs to.
        on_progress: called with (source, lines, bytes of the file read so far) after each batch.
        on_parsing: called once every file is read, before deduplicating and staging.

    Returns:
        The stage's counts for ``runs.stats``: ``lines_read = lines_parsed +
        lines_rejected + duplicate_lines + lines_out_of_window``.
    """
    try:
        # Temporary tables are filled outside the transaction: DuckDB keeps a
        # transaction's uncommitted rows in memory, and staging a month of logs
        # must stay within the memory limit (it spills to disk instead).
        now = options.now or datetime.now(timezone.utc)
        reports = stage_files(con, files, options.secret, now, options.max_file_bytes, on_progress)
        if on_parsing:
            on_parsing()
        lines_read, in_window = _deduplicate(con, options)
        fresh = con.execute("SELECT count(*) FROM fresh").fetchall()[0][0]
        _classify_agents(con, options)
        visitors = _visitor_map(con, options)
        clients = client_map(con.sql("SELECT DISTINCT client_field, forwarded FROM fresh WHERE reason IS NULL")
                             .to_arrow_table(), options.secret, options.policy)
        with transaction(con):
            counts = _write(con, run_id, visitors, clients, reports)
            faults.point("ingest:before-commit")
    finally:
        for table in _TEMP_TABLES:
            con.execute(f"DROP TABLE IF EXISTS temp.{table}")
    # Blank lines are rejects of every read: kept out of the line ledger, they are never duplicates.
    blank = sum(r.result.blank_lines for r in reports)
    return {
        "files": len(files),
        "lines_read": lines_read + blank,
        "lines_out_of_window": lines_read - in_window,
        "duplicate_lines": in_window - fresh,
        **counts,
        "file_errors": [r.result.error for r in reports if r.result.error],
    }

