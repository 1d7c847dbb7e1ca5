"""Log files into the temporary table ``staged``: one set-based parse per batch of lines.

:func:`stage_files` reads each file in Arrow batches (:func:`enrich.weblogs.read_line_batches`)
and parses every batch with one SQL statement: the line pattern validates each
line, its fields are split out, its time is checked against the plausible
window, and its keyed ledger hash is computed (:mod:`sinks.ledger`). A line that
fails keeps its text and its reason for the rejects; a line that may become a
pageview keeps only what a pageview needs. No row of it is stored: the ingest
(:mod:`sinks.pageviews`) deduplicates ``staged`` and writes what is new.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import duckdb

from enrich.timestamps import EARLIEST, FUTURE_SLACK, IMPLAUSIBLE, MAX_UTC_OFFSET
from enrich.weblogs import (
    LINE_FIELDS, LINE_PATTERN, MAX_LINE_BYTES, TIME_FORMAT, LogSource, ReadResult, read_line_batches,
)
from sinks import faults
from sinks.ledger import LEGACY_HASH, LINE_HASH, key_params, legacy_span
from sinks.rejects import FileReport

#: Static assets (PRODUCT.md: css, js, images, fonts, icons, maps, feeds) are never pageviews.
ASSET_PATTERN = (
    r"(?i)(\.(css|js|mjs|map|png|jpe?g|gif|svg|webp|avif|ico|bmp|tiff?|woff2?|ttf|otf|eot"
    r"|rss|atom|xml|json|txt|webmanifest|mp4|webm|mp3|pdf\.map)$)|(^|/)(feed|rss|atom)/?$"
)
_FAST = "NOT (starts_with(l, '\"') OR contains(l, '\\\"'))"
# Most lines have no escaped quote and no quoted prefix: for them, splitting at
# '"' is exact and ten times cheaper than extracting RE2 submatches. The
# pattern still validates every line (a DFA match, cheap), and the rare
# others take the full extraction.
_PARSE_BATCH = f"""
INSERT INTO staged
WITH src AS (
    -- A line comes with its terminator. trim() costs about 0.5 s per million lines, so only
    -- the rare lines with other whitespace at either end (CRLF, trailing blanks, a last line
    -- without a newline) take it; the rest lose their newline by substr (codepoints, as
    -- length counts them): the same text, byte for byte.
    SELECT line_no,
           CASE WHEN ends_with(line, '\n') AND NOT (starts_with(line, ' ') OR starts_with(line, '\t')
                     OR ends_with(line, ' \n') OR ends_with(line, '\t\n') OR ends_with(line, '\r\n'))
                THEN substr(line, 1, length(line) - 1)
                ELSE trim(line, ' \t\r\n') END AS l
    FROM batch
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


#: (source, lines in the batch, bytes of the file read so far)
ProgressCallback = Callable[[str, int, int], None]


def stage_files(
    con: duckdb.DuckDBPyConnection,
    files: list[tuple[LogSource, Path]],
    secret: bytes,
    now: datetime,
    max_file_bytes: int,
    on_progress: ProgressCallback | None = None,
) -> list[FileReport]:
    """Parse ``files`` into the TEMP tables ``staged`` (a row per non-blank line) and ``staged_files``.

    Args:
        con: a migrated connection (the ledger's legacy span is read from it).
        files: each source with the local file holding its bytes; ``file_id`` is the index.
        secret: the key of the ledger's line hashes (never stored).
        now: the run's time: lines dated after it (and a slack) are implausible.
        max_file_bytes: per file, after decompression.
        on_progress: called with (source, lines, bytes of the file read so far) after each batch.

    Returns:
        What reading each file found besides its lines (damage, the size cap, blank lines).
    """
    con.execute(_STAGED)
    con.execute("CREATE OR REPLACE TEMP TABLE staged_files (file_id INTEGER, source VARCHAR, stream VARCHAR)")
    params = {**_PARSE_PARAMS, "latest": now + FUTURE_SLACK, **key_params(secret), **legacy_span(con)}
    reports = []
    for file_id, (source, path) in enumerate(files):
        con.execute("INSERT INTO staged_files VALUES (?, ?, ?)", [file_id, source.location, source.stream])
        result = ReadResult()
        for batch in read_line_batches(path, result, max_bytes=max_file_bytes):
            con.register("batch", batch)
            con.execute(_PARSE_BATCH, {**params, "file_id": file_id})
            con.unregister("batch")
            faults.point("ingest:batch")
            if on_progress:
                on_progress(source.location, batch.num_rows, result.bytes_read)
        reports.append(FileReport(source.location, result))
    return reports
