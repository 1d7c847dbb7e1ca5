"""Web-log lines into DuckDB: parse, deduplicate, classify, load, sessionize.

All bulk work is set-based SQL. Python touches only what is small: the
distinct (client field, X-Forwarded-For, user agent) triples of a run's
pageviews, to find the client address and hash it with the secret key,
which never enters the database.

Stages (each one transaction):
- :func:`ingest_logs` parses files into a temporary table, drops lines already
  counted (a multiset union per stream), records rejects and writes the new
  pageviews to ``pending_pageviews``; the run's public addresses stay in the
  temporary table ``run_addresses`` for the resolve stage (never stored);
- :func:`sessionize` groups pending pageviews, together with the stored
  pageviews of the same visitors, into visits, and moves them to
  ``pageviews``: a session that straddles midnight is extended by the next
  night's logs rather than split.

Every intermediate table is as narrow as it can be: a wide copy of a
million rows costs more than the parsing itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pyarrow as pa

from enrich import bots
from enrich.clients import ProxyPolicy, client_address, client_key, parse_address, truncated_prefix, visitor_key
from enrich.samples import sanitise_sample
from enrich.timestamps import EARLIEST, FUTURE_SLACK, IMPLAUSIBLE, MAX_UTC_OFFSET
from enrich.weblogs import (
    LINE_FIELDS, LINE_PATTERN, MAX_FILE_BYTES, MAX_LINE_BYTES, TIME_FORMAT, LogSource, ReadResult, is_vhost_port,
    read_line_batches, unescape_field,
)
from sinks import faults
from sinks.ledger import LEGACY_HASH, LINE_HASH, key_params, legacy_span
from sinks.database import transaction
from sinks.addresses import load_run_addresses

log = logging.getLogger(__name__)

#: Rejected lines kept as samples per file and reason (all are counted).
REJECT_SAMPLES = 100
#: Static assets (PRODUCT.md: css, js, images, fonts, icons, maps, feeds) are never pageviews.
ASSET_PATTERN = (
    r"(?i)(\.(css|js|mjs|map|png|jpe?g|gif|svg|webp|avif|ico|bmp|tiff?|woff2?|ttf|otf|eot"
    r"|rss|atom|xml|json|txt|webmanifest|mp4|webm|mp3|pdf\.map)$)|(^|/)(feed|rss|atom)/?$"
)
#: The lines kept as samples: the first few of each file and reason (a small set, so each is
#: sanitised in Python, as a pageview would be: see ``enrich/samples.py``).
_SAMPLES = """
SELECT source, line_no, reason, raw FROM fresh WHERE reason IS NOT NULL
QUALIFY row_number() OVER (PARTITION BY source, reason ORDER BY line_no) <= $samples
"""
_REJECTS_SCHEMA = pa.schema([("run_id", pa.int64()), ("source", pa.string()), ("line_no", pa.int64()),
                             ("reason", pa.string()), ("sample", pa.string())])
EMPTY_LINE = "empty line"


_FAST = "NOT (starts_with(l, '\"') OR contains(l, '\\\"'))"
# Most lines have no escaped quote and no quoted prefix: for them, splitting at
# '"' is exact and ten times cheaper than extracting RE2 submatches. The
# pattern still validates every line (a DFA match, cheap), and the rare
# others take the full extraction.
_PARSE_BATCH = f"""
INSERT INTO staged
WITH src AS (
    SELECT line_no, trim(line, ' \t\r\n') AS l FROM batch
), checked AS (
    SELECT line_no, l, {LINE_HASH} AS line_hash,
           strlen(l) > $max_bytes AS too_long,
           NOT too_long AND regexp_full_match(l, $pattern) AS ok
    FROM src
), split AS (
    SELECT *, ok AND {_FAST} AS fast,
           CASE WHEN ok AND {_FAST} THEN string_split(l, '"') END AS p,
           CASE WHEN ok AND NOT {_FAST} THEN regexp_extract(l, $pattern, $fields) END AS m
    FROM checked
), fields AS (
    SELECT line_no, line_hash, l, too_long, ok,
           CASE WHEN fast
                THEN substr(p[1], strpos(p[1], ' [') + 2, length(p[1]) - strpos(p[1], ' [') - 3)
                ELSE m.time END AS time_text,
           -- the client field without ident and user (personal data, never kept)
           CASE WHEN fast
                THEN array_to_string(list_slice(string_split(substr(p[1], 1, strpos(p[1], ' [') - 1), ' '), 1, -3), ' ')
                ELSE trim(m.prefix || ' ' || m.client) END AS client_field,
           CASE WHEN NOT fast THEN nullif(m.qprefix, '') END AS qprefix,
           CASE WHEN fast THEN p[2] ELSE m.request END AS request,
           CASE WHEN fast THEN split_part(trim(p[3]), ' ', 1) ELSE m.status END AS status_text,
           CASE WHEN fast THEN (CASE WHEN len(p) >= 6 THEN p[4] END)
                ELSE (CASE WHEN m.pair = ' ' THEN m.referrer END) END AS referrer,
           CASE WHEN fast THEN (CASE WHEN len(p) >= 6 THEN p[6] END)
                ELSE (CASE WHEN m.pair = ' ' THEN m.agent END) END AS agent,
           CASE WHEN fast THEN (CASE WHEN len(p) > 7 THEN list_filter(p[8:], lambda x, i: i % 2 = 1) END)
                ELSE regexp_extract_all(m.extra, $quoted, 1) END AS extras
    FROM split
), timed AS (
    SELECT *, try_strptime(time_text, $time_format) AS read_ts FROM fields
), parsed AS (
    SELECT * EXCLUDE (read_ts),
           -- a time outside the plausible window never reaches a table: one line dated 9999
           -- would move the report's default period for good. The offset is the line's wall
           -- clock minus its instant ("+9900" parses, but no clock on Earth wrote it).
           CASE WHEN read_ts BETWEEN $earliest AND $latest
                 AND abs(epoch(try_strptime(split_part(time_text, ' ', 1), $wall_clock) - timezone('UTC', read_ts)))
                     <= $max_offset
                THEN read_ts END AS ts,
           read_ts IS NULL AS unreadable_ts,
           try_cast(status_text AS SMALLINT) AS status,
           -- the request target without scheme and host (proxies log absolute URLs)
           regexp_replace(split_part(request, ' ', 2), '^[A-Za-z][A-Za-z0-9+.-]*://[^/]*', '') AS target,
           split_part(request, ' ', 1) = 'GET' AS is_get
    FROM timed
), classified AS (
    SELECT *,
           -- blank lines never get here: they are counted while reading (enrich/weblogs.py)
           CASE WHEN too_long THEN 'line too long'
                WHEN NOT ok THEN 'not an Apache/Nginx common or combined log line'
                WHEN unreadable_ts THEN 'bad timestamp'
                WHEN ts IS NULL THEN $implausible
           END AS reason,
           ok AND ts IS NOT NULL AND is_get AND (status BETWEEN 200 AND 299 OR status = 304)
              AND NOT regexp_matches(split_part(target, '?', 1), $assets) AS candidate
    FROM parsed
)
SELECT $file_id AS file_id, line_no, line_hash,
       -- every reject, whatever its reason, keeps its line for the sample
       CASE WHEN reason IS NOT NULL THEN l END AS raw,
       reason,
       ts,
       client_field,
       coalesce(qprefix, list_filter(extras, lambda x: regexp_full_match(x, $xff_like))[1]) AS forwarded,
       agent,
       candidate,
       -- what only a pageview needs is kept only for pageview candidates
       CASE WHEN candidate THEN target END AS target,
       CASE WHEN candidate THEN status END AS status,
       CASE WHEN candidate THEN referrer END AS referrer,
       {LEGACY_HASH} AS legacy_hash
FROM classified
"""
_PARSE_PARAMS = {
    "pattern": LINE_PATTERN,
    "fields": LINE_FIELDS,
    "max_bytes": MAX_LINE_BYTES,
    "time_format": TIME_FORMAT,
    "quoted": r'"((?:[^"\\]|\\.)*)"',
    "xff_like": r"[0-9A-Fa-f.:\[\], ]*[0-9][0-9A-Fa-f.:\[\], ]*",
    "assets": ASSET_PATTERN,
    "earliest": EARLIEST,
    "wall_clock": TIME_FORMAT.removesuffix(" %z"),
    "max_offset": MAX_UTC_OFFSET.total_seconds(),
    "implausible": IMPLAUSIBLE,
}

_STAGED = """
CREATE OR REPLACE TEMP TABLE staged (
    file_id INTEGER, line_no BIGINT, line_hash UHUGEINT, raw VARCHAR, reason VARCHAR,
    ts TIMESTAMPTZ, client_field VARCHAR, forwarded VARCHAR, agent VARCHAR,
    candidate BOOLEAN, target VARCHAR, status SMALLINT, referrer VARCHAR, legacy_hash UHUGEINT
)
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


@dataclass
class FileReport:
    """What reading one file found besides its lines: damage or the size cap, blank lines."""

    source: str
    result: ReadResult


ProgressCallback = Callable[[str, int], None]


def _stage_files(
    con: duckdb.DuckDBPyConnection,
    files: list[tuple[LogSource, Path]],
    options: IngestOptions,
    on_progress: ProgressCallback | None,
) -> list[FileReport]:
    con.execute(_STAGED)
    con.execute("CREATE OR REPLACE TEMP TABLE staged_files (file_id INTEGER, source VARCHAR, stream VARCHAR)")
    now = options.now or datetime.now(timezone.utc)
    params = {**_PARSE_PARAMS, "latest": now + FUTURE_SLACK, **key_params(options.secret), **legacy_span(con)}
    reports = []
    for file_id, (source, path) in enumerate(files):
        con.execute("INSERT INTO staged_files VALUES (?, ?, ?)", [file_id, source.location, source.stream])
        result = ReadResult()
        for batch in read_line_batches(path, result, max_bytes=options.max_file_bytes):
            con.register("batch", batch)
            con.execute(_PARSE_BATCH, {**params, "file_id": file_id})
            con.unregister("batch")
            faults.point("ingest:batch")
            if on_progress:
                on_progress(source.location, batch.num_rows)
        reports.append(FileReport(source.location, result))
    return reports


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
    keyed = f"""
        keyed AS (
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
    """Client address and keyed hashes for the distinct triples of the run's pageviews.

    Python works only on the distinct (client field, X-Forwarded-For, agent)
    triples, a small set. The address itself is never returned: only the
    keyed hashes (and, if configured, the /24 or /48 prefix) leave here.
    """
    triples = con.sql(
        """
        SELECT DISTINCT client_field, forwarded, agent FROM fresh LEFT JOIN agent_bots USING (agent)
        WHERE candidate AND NOT coalesce(is_bot, false)
        """
    ).to_arrow_table()
    fields, forwards, agents = (triples.column(i).to_pylist() for i in range(3))
    secret = options.secret
    addresses: dict[tuple[str, str | None], str | None] = {}
    client_keys: dict[str, str] = {}
    out: dict[str, list] = {"visitor_key": [], "client_key": [], "client_prefix": []}
    lookups: dict[str, str] = {}
    for field_text, forwarded, agent in zip(fields, forwards, agents):
        client = addresses.get((field_text, forwarded), "")
        if client == "":
            client = addresses[(field_text, forwarded)] = _client_of(field_text, forwarded, options.policy)
        if client is None:
            for column in out.values():
                column.append(None)
            continue
        if client not in client_keys:
            client_keys[client] = client_key(secret, client)
            parsed = parse_address(client)
            if parsed is not None and options.policy.is_lookup_candidate(parsed):
                lookups[client_keys[client]] = client
        out["visitor_key"].append(visitor_key(secret, client, agent))
        out["client_key"].append(client_keys[client])
        out["client_prefix"].append(truncated_prefix(client) if options.store_ip_prefix else None)
    # The run's public addresses, for the resolve stage: a TEMP table, never stored.
    load_run_addresses(con, sorted(lookups.items()))
    names = ("client_field", "forwarded", "agent", *out)
    return pa.table(
        {"client_field": fields, "forwarded": forwards, "agent": agents, **out},
        schema=pa.schema([(n, pa.string()) for n in names]),
    )


def _client_of(field_text: str | None, forwarded: str | None, policy: ProxyPolicy) -> str | None:
    """The client address from a log's client field and X-Forwarded-For value."""
    tokens = (field_text or "").replace(", ", ",").split(" ")
    remote_list = tokens[-1].split(",")
    # A vhost or an unquoted X-Forwarded-For list may stand before the client.
    # "%v:%p" is dropped first: read as a hop, the server's own address (public,
    # untrusted) would become every visitor's address.
    prefix = [t for t in tokens[:-1] if not is_vhost_port(t)]
    chain = [forwarded] if forwarded else []
    if prefix and all(_looks_like_ips(t) for t in prefix):
        chain.append(",".join(prefix))
    chain.extend(remote_list[:-1])
    return client_address(remote_list[-1], ",".join(chain) or None, policy)


def _looks_like_ips(token: str) -> bool:
    return all(ch in "0123456789abcdefABCDEF.:[]," for ch in token) and any(ch.isdigit() for ch in token)


def _utm(name: str) -> str:
    """SQL for one UTM tag of ``target``'s query string (name is a code constant)."""
    return (
        f"nullif(url_decode(regexp_extract(split_part(f.target, '?', 2), '(?:^|&){name}=([^&#]*)', 1)), '')"
    )


def _write(con: duckdb.DuckDBPyConnection, run_id: int, visitors: pa.Table, reports: list[FileReport]) -> dict:
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
    con.execute(
        """
        INSERT INTO log_lines (stream, line_hash, occurrence, ts, run_id, client_key, legacy)
        SELECT f.stream, f.line_hash, f.occurrence, f.ts, $run_id, v.client_key, false
        FROM fresh f LEFT JOIN visitor_map v
          ON f.client_field IS NOT DISTINCT FROM v.client_field
         AND f.forwarded IS NOT DISTINCT FROM v.forwarded
         AND f.agent IS NOT DISTINCT FROM v.agent
        """,
        {"run_id": run_id},
    )
    con.unregister("visitor_map")
    _unescape(con, run_id)
    _write_rejects(con, run_id, reports)
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


def _write_rejects(con: duckdb.DuckDBPyConnection, run_id: int, reports: list[FileReport]) -> None:
    """Rejects with their samples: each line's, a damaged file's, and one for a file's blank lines.

    Every sample passes :func:`enrich.samples.sanitise_sample` (addresses, ident and
    user, query strings but UTM, e-mails removed; cut at 500 characters after masking).
    """
    rows = [(run_id, source, line_no, reason, sanitise_sample(raw or ""))
            for source, line_no, reason, raw in con.execute(_SAMPLES, {"samples": REJECT_SAMPLES}).fetchall()]
    for report in reports:
        result = report.result
        if result.error:  # a damaged file or the cap: its sample is the line where reading stopped
            rows.append((run_id, report.source, None, result.error,
                         sanitise_sample(result.stopped_at or "", cut_short=True)))
        if result.blank_lines:
            rows.append((run_id, report.source, result.first_blank_line, EMPTY_LINE, ""))
    if not rows:
        return
    con.register("new_rejects", pa.Table.from_pylist(
        [dict(zip(_REJECTS_SCHEMA.names, row)) for row in rows], schema=_REJECTS_SCHEMA))
    con.execute("INSERT INTO rejects SELECT * FROM new_rejects")
    con.unregister("new_rejects")


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
) -> dict:
    """Read, deduplicate and stage log files as pending pageviews, in one transaction.

    Args:
        con: a migrated connection.
        files: each source with the local file holding its bytes.
        options: secret, proxies, bot patterns, window.
        run_id: the ``runs`` row this work belongs to.
        on_progress: called with (source, lines) after each batch.

    Returns:
        The stage's counts for ``runs.stats``: ``lines_read = lines_parsed +
        lines_rejected + duplicate_lines + lines_out_of_window``.
    """
    try:
        # Temporary tables are filled outside the transaction: DuckDB keeps a
        # transaction's uncommitted rows in memory, and staging a month of logs
        # must stay within the memory limit (it spills to disk instead).
        reports = _stage_files(con, files, options, on_progress)
        lines_read, in_window = _deduplicate(con, options)
        fresh = con.execute("SELECT count(*) FROM fresh").fetchall()[0][0]
        _classify_agents(con, options)
        visitors = _visitor_map(con, options)
        with transaction(con):
            counts = _write(con, run_id, visitors, reports)
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


_PAGEVIEW_COLUMNS = (
    "pageview_id, visitor_key, client_key, client_prefix, ts, path, status, referrer, "
    "utm_source, utm_medium, utm_campaign, stream, run_id, network_id, company_id"
)


def sessionize(con: duckdb.DuckDBPyConnection, gap_minutes: int = 30) -> dict:
    """Group pending pageviews into visits and move them into ``pageviews``.

    A visit is a visitor's pageviews with no gap longer than ``gap_minutes``
    (a gap of exactly that long continues the visit). The pending pageviews
    are sessionized together with the stored pageviews of the same visitors,
    so a late or next-night pageview extends or merges visits instead of
    starting new ones. The visit id is a hash of the visitor and the visit's
    first pageview: the same pageviews always make the same visits, whatever
    order the files came in.
    """
    try:
        with transaction(con):
            con.execute("CREATE OR REPLACE TEMP TABLE dirty AS SELECT DISTINCT visitor_key FROM pending_pageviews")
            con.execute(
                f"""
                CREATE OR REPLACE TEMP TABLE sessioned AS
                WITH pv AS (
                    SELECT {_PAGEVIEW_COLUMNS}, NULL::VARCHAR AS old_visit_id FROM pending_pageviews
                    UNION ALL
                    SELECT {_PAGEVIEW_COLUMNS}, visit_id FROM pageviews SEMI JOIN dirty USING (visitor_key)
                ), starts AS (
                    SELECT *, coalesce(ts - lag(ts) OVER (PARTITION BY visitor_key ORDER BY ts, pageview_id)
                                       > to_minutes(CAST($gap AS BIGINT)), true) AS starts_visit
                    FROM pv
                ), numbered AS (
                    SELECT *, sum(CAST(starts_visit AS INTEGER)) OVER (
                               PARTITION BY visitor_key ORDER BY ts, pageview_id ROWS UNBOUNDED PRECEDING) AS visit_no
                    FROM starts
                ), firsts AS (
                    SELECT visitor_key, visit_no, md5(visitor_key || chr(0) || CAST(min(ts) AS VARCHAR)) AS visit_id
                    FROM numbered GROUP BY visitor_key, visit_no
                )
                SELECT n.* EXCLUDE (starts_visit), f.visit_id
                FROM numbered n JOIN firsts f USING (visitor_key, visit_no)
                """,
                {"gap": gap_minutes},
            )
            before = con.execute("SELECT count(*) FROM visits SEMI JOIN dirty USING (visitor_key)").fetchall()[0][0]
            moved = con.execute(
                f"""
                INSERT INTO pageviews (visit_id, {_PAGEVIEW_COLUMNS})
                SELECT visit_id, {_PAGEVIEW_COLUMNS} FROM sessioned WHERE old_visit_id IS NULL
                """
            ).fetchall()[0][0]
            con.execute(
                """
                UPDATE pageviews SET visit_id = s.visit_id
                FROM (SELECT pageview_id, visit_id FROM sessioned
                      WHERE old_visit_id IS NOT NULL AND old_visit_id <> visit_id) s
                WHERE pageviews.pageview_id = s.pageview_id
                """
            )
            con.execute("DELETE FROM visits WHERE source = 'log' AND visitor_key IN (SELECT visitor_key FROM dirty)")
            after = con.execute(
                """
                INSERT INTO visits (visit_id, company_id, network_id, visitor_key, client_key, client_prefix,
                                    started_at, ended_at, pageviews, landing_page, referrer,
                                    utm_source, utm_medium, utm_campaign, source)
                SELECT visit_id, company_id, network_id, visitor_key, client_key, client_prefix, started_at, ended_at, pageviews,
                       landing.path, landing.referrer, landing.utm_source, landing.utm_medium, landing.utm_campaign, 'log'
                FROM (
                    SELECT visit_id, any_value(visitor_key) AS visitor_key, any_value(client_key) AS client_key,
                           -- one visitor is one address: one network (the newest attribution if it changed)
                           arg_max(network_id, ts) AS network_id, arg_max(company_id, ts) AS company_id,
                           any_value(client_prefix) AS client_prefix, min(ts) AS started_at, max(ts) AS ended_at,
                           count(*) AS pageviews,
                           -- the landing pageview: first by time, then by id (deterministic on ties)
                           arg_min({'path': path, 'referrer': referrer, 'utm_source': utm_source,
                                    'utm_medium': utm_medium, 'utm_campaign': utm_campaign},
                                   {'ts': ts, 'id': pageview_id}) AS landing
                    FROM sessioned GROUP BY visit_id
                )
                """
            ).fetchall()[0][0]
            visitors = con.execute("SELECT count(*) FROM dirty").fetchall()[0][0]
            con.execute("DELETE FROM pending_pageviews")
            faults.point("load:before-commit")
    finally:
        con.execute("DROP TABLE IF EXISTS temp.dirty")
        con.execute("DROP TABLE IF EXISTS temp.sessioned")
    # "visits": the change in the number of visits (a late line can merge two);
    # "visits_touched": visits created or recomputed by this run.
    return {"pageviews_loaded": moved, "visitors_sessionized": visitors, "visits": after - before,
            "visits_touched": after}


def count_rows(con: duckdb.DuckDBPyConnection, tables: Iterable[str]) -> dict[str, int]:
    """Row counts of the named tables (names from code, never from input)."""
    return {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in tables}
