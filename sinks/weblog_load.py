"""Web-log lines into DuckDB: parse, deduplicate, classify, load, sessionize.

All bulk work is set-based SQL. Python touches only what is small: the
distinct (client field, X-Forwarded-For) pairs of a run, to find the client
address, and the distinct (address, user agent) pairs, to hash them with the
secret key, which never enters the database.

Stages (each one transaction):
- :func:`ingest_logs` reads files into temporary tables, drops lines already
  counted (a multiset union per stream), records rejects and writes new
  pageviews with ``visit_id`` NULL;
- :func:`sessionize` recomputes the visits of every visitor that has such
  pageviews, from all of that visitor's pageviews, so a session that straddles
  midnight is extended by the next night's logs rather than split.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from enrich import bots
from enrich.clients import ProxyPolicy, client_address, client_key, truncated_prefix, visitor_key
from enrich.weblogs import LINE_FIELDS, LINE_PATTERN, MAX_LINE_BYTES, TIME_FORMAT, LogSource, ReadResult, read_line_batches, unescape_field

log = logging.getLogger(__name__)

#: Rejected lines kept as samples per file and reason (all are counted).
REJECT_SAMPLES = 100
#: Static assets (PRODUCT.md: css, js, images, fonts, icons, maps, feeds) are never pageviews.
ASSET_PATTERN = (
    r"(?i)(\.(css|js|mjs|map|png|jpe?g|gif|svg|webp|avif|ico|bmp|tiff?|woff2?|ttf|otf|eot"
    r"|rss|atom|xml|json|txt|webmanifest|mp4|webm|mp3|pdf\.map)$)|(^|/)(feed|rss|atom)/?$"
)
#: IP addresses are masked in reject samples: no raw address is stored.
MASK_V4 = r"\b\d{1,3}(\.\d{1,3}){3}\b"
MASK_V6 = r"\b(([0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}|[0-9A-Fa-f:]*::[0-9A-Fa-f:.]*)"

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
    SELECT line_no, l, md5_number(l) AS line_hash,
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
)
SELECT $file_id AS file_id, line_no, line_hash,
       CASE WHEN NOT ok THEN l END AS raw,
       CASE WHEN l = '' THEN 'empty line'
            WHEN too_long THEN 'line too long'
            WHEN NOT ok THEN 'not an Apache/Nginx common or combined log line'
            WHEN try_strptime(time_text, $time_format) IS NULL THEN 'bad timestamp'
       END AS reason,
       try_strptime(time_text, $time_format) AS ts,
       client_field,
       coalesce(qprefix, list_filter(extras, lambda x: regexp_full_match(x, $xff_like))[1]) AS forwarded,
       split_part(request, ' ', 1) AS method,
       split_part(request, ' ', 2) AS target,
       try_cast(status_text AS SMALLINT) AS status,
       referrer,
       agent
FROM fields
"""
_PARSE_PARAMS = {
    "pattern": LINE_PATTERN,
    "fields": LINE_FIELDS,
    "max_bytes": MAX_LINE_BYTES,
    "time_format": TIME_FORMAT,
    "quoted": r'"((?:[^"\\]|\\.)*)"',
    "xff_like": r"[0-9A-Fa-f.:\[\], ]*[0-9][0-9A-Fa-f.:\[\], ]*",
}

_STAGED = """
CREATE OR REPLACE TEMP TABLE staged (
    file_id INTEGER, line_no BIGINT, line_hash UHUGEINT, raw VARCHAR, reason VARCHAR,
    ts TIMESTAMPTZ, client_field VARCHAR, forwarded VARCHAR, method VARCHAR, target VARCHAR,
    status SMALLINT, referrer VARCHAR, agent VARCHAR
)
"""


@dataclass
class IngestOptions:
    """What the ingest needs besides the files: all resolved by the caller."""

    secret: bytes
    policy: ProxyPolicy = field(default_factory=ProxyPolicy)
    bot_patterns: tuple[str, ...] = ()
    since: datetime | None = None  # inclusive, UTC
    until: datetime | None = None  # exclusive, UTC
    store_ip_prefix: bool = False


ProgressCallback = Callable[[str, int], None]


def _stage_files(
    con: duckdb.DuckDBPyConnection,
    files: list[tuple[LogSource, Path]],
    on_progress: ProgressCallback | None,
) -> list[dict]:
    con.execute(_STAGED)
    con.execute("CREATE OR REPLACE TEMP TABLE staged_files (file_id INTEGER, source VARCHAR, stream VARCHAR)")
    problems = []
    for file_id, (source, path) in enumerate(files):
        con.execute("INSERT INTO staged_files VALUES (?, ?, ?)", [file_id, source.location, source.stream])
        result = ReadResult()
        for batch in read_line_batches(path, result):
            con.register("batch", batch)
            con.execute(_PARSE_BATCH, {**_PARSE_PARAMS, "file_id": file_id})
            con.unregister("batch")
            if on_progress:
                on_progress(source.location, batch.num_rows)
        if result.error:
            problems.append({"source": source.location, "reason": result.error})
    return problems


def _deduplicate(con: duckdb.DuckDBPyConnection, options: IngestOptions) -> None:
    """Keep the lines this database has not counted yet, as table ``fresh``.

    A line's key is (stream, hash of its bytes, its occurrence number in its
    file): k copies in one file and j in another make max(k, j) keys.
    """
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE numbered AS
        SELECT s.*, f.stream, f.source,
               row_number() OVER (PARTITION BY s.file_id, s.line_hash ORDER BY s.line_no) AS occurrence,
               s.ts IS NULL OR ((CAST($since AS TIMESTAMPTZ) IS NULL OR s.ts >= $since)
                                AND (CAST($until AS TIMESTAMPTZ) IS NULL OR s.ts < $until)) AS in_window
        FROM staged s JOIN staged_files f USING (file_id)
        """,
        {"since": options.since, "until": options.until},
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE fresh AS
        WITH firsts AS (
            SELECT * FROM numbered WHERE in_window
            QUALIFY row_number() OVER (PARTITION BY stream, line_hash, occurrence ORDER BY file_id, line_no) = 1
        )
        SELECT f.* FROM firsts f
        ANTI JOIN log_lines k
            ON k.stream = f.stream AND k.line_hash = f.line_hash AND k.occurrence = f.occurrence
        """
    )


def _resolve_visitors(con: duckdb.DuckDBPyConnection, options: IngestOptions) -> None:
    """Client address and keyed hashes, as table ``fresh_visitors``.

    Python works only on the distinct (client field, X-Forwarded-For, agent)
    triples of the run, a small set; one join brings the results back. The
    address exists only in this connection's temporary tables, which are gone
    when the stage ends: what is stored is the keyed hashes.
    """
    triples = con.sql(
        "SELECT DISTINCT client_field, forwarded, agent FROM fresh WHERE reason IS NULL"
    ).to_arrow_table()
    fields, forwards, agents = (triples.column(i).to_pylist() for i in range(3))
    secret = options.secret
    addresses: dict[tuple[str, str | None], str | None] = {}
    client_keys: dict[str, str] = {}
    out: dict[str, list] = {"client": [], "visitor_key": [], "client_key": [], "client_prefix": []}
    for field_text, forwarded, agent in zip(fields, forwards, agents):
        client = addresses.get((field_text, forwarded), "")
        if client == "":
            client = addresses[(field_text, forwarded)] = _client_of(field_text, forwarded, options.policy)
        out["client"].append(client)
        if client is None:
            for name in ("visitor_key", "client_key", "client_prefix"):
                out[name].append(None)
            continue
        if client not in client_keys:
            client_keys[client] = client_key(secret, client)
        out["visitor_key"].append(visitor_key(secret, client, agent))
        out["client_key"].append(client_keys[client])
        out["client_prefix"].append(truncated_prefix(client) if options.store_ip_prefix else None)
    con.register(
        "visitor_map",
        pa.table({"client_field": fields, "forwarded": forwards, "agent": agents, **out},
                 schema=pa.schema([(n, pa.string()) for n in ("client_field", "forwarded", "agent", *out)])),
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE fresh_visitors AS
        SELECT f.*, v.client, v.visitor_key, v.client_key, v.client_prefix
        FROM fresh f LEFT JOIN visitor_map v
          ON f.client_field IS NOT DISTINCT FROM v.client_field
         AND f.forwarded IS NOT DISTINCT FROM v.forwarded
         AND f.agent IS NOT DISTINCT FROM v.agent
        """
    )
    con.unregister("visitor_map")


def _client_of(field_text: str | None, forwarded: str | None, policy: ProxyPolicy) -> str | None:
    """The client address from a log's client field and X-Forwarded-For value."""
    tokens = (field_text or "").replace(", ", ",").split(" ")
    remote_list = tokens[-1].split(",")
    # A vhost or an unquoted X-Forwarded-For list may stand before the client.
    chain = [forwarded] if forwarded else []
    if len(tokens) > 1 and all(_looks_like_ips(t) for t in tokens[:-1]):
        chain.append(",".join(tokens[:-1]))
    chain.extend(remote_list[:-1])
    return client_address(remote_list[-1], ",".join(chain) or None, policy)


def _looks_like_ips(token: str) -> bool:
    return all(ch in "0123456789abcdefABCDEF.:[]," for ch in token) and any(ch.isdigit() for ch in token)


def _classify(con: duckdb.DuckDBPyConnection, options: IngestOptions) -> None:
    """Bots (over distinct agents), pageviews, paths and UTM tags, as ``classified``."""
    patterns = list(options.bot_patterns)
    condition = bots.bot_condition("agent", 1, len(patterns))
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE agent_bots AS
        SELECT agent, {condition} AS is_bot
        FROM (SELECT DISTINCT agent FROM fresh_visitors WHERE reason IS NULL AND agent IS NOT NULL)
        """,
        patterns,
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE classified AS
        WITH base AS (
            SELECT f.*, coalesce(b.is_bot, false) AS is_bot,
                   regexp_replace(f.target, '^[A-Za-z][A-Za-z0-9+.-]*://[^/]*', '') AS local_target
            FROM fresh_visitors f LEFT JOIN agent_bots b USING (agent)
        )
        SELECT *,
               reason IS NULL AND NOT is_bot AND method = 'GET'
                 AND (status BETWEEN 200 AND 299 OR status = 304)
                 AND NOT regexp_matches(split_part(local_target, '?', 1), $assets)
                 AND visitor_key IS NOT NULL AS is_pageview,
               coalesce(nullif(split_part(local_target, '?', 1), ''), '/') AS path,
               CASE WHEN contains(local_target, '?') THEN substr(local_target, strpos(local_target, '?') + 1) END AS query
        FROM base
        """,
        {"assets": ASSET_PATTERN},
    )


def _utm(name: str) -> str:
    return f"nullif(url_decode(regexp_extract(query, '(?:^|&){name}=([^&#]*)', 1)), '')"


def _write(con: duckdb.DuckDBPyConnection, run_id: int) -> dict:
    con.execute(
        f"""
        INSERT INTO pageviews
        SELECT md5(stream || chr(0) || hex(line_hash) || chr(0) || CAST(occurrence AS VARCHAR)),  -- hex(): CAST(UHUGEINT AS VARCHAR) is slow
               NULL, visitor_key, client_key, client_prefix, ts, path, status,
               nullif(split_part(nullif(referrer, '-'), '?', 1), ''),
               {_utm("utm_source")}, {_utm("utm_medium")}, {_utm("utm_campaign")},
               stream, ?
        FROM classified WHERE is_pageview
        """,
        [run_id],
    )
    con.execute(
        "INSERT INTO log_lines SELECT stream, line_hash, occurrence, ts, ? FROM classified", [run_id]
    )
    con.execute(
        """
        INSERT INTO rejects
        SELECT $run_id, source, line_no, reason,
               left(regexp_replace(regexp_replace(raw, $v4, '[ip]', 'g'), $v6, '[ip]', 'g'), 500)
        FROM classified WHERE reason IS NOT NULL
        QUALIFY row_number() OVER (PARTITION BY source, reason ORDER BY line_no) <= $samples
        """,
        {"run_id": run_id, "v4": MASK_V4, "v6": MASK_V6, "samples": REJECT_SAMPLES},
    )
    row = con.execute(
        """
        SELECT count(*) FILTER (WHERE reason IS NULL),
               count(*) FILTER (WHERE reason IS NOT NULL),
               count(*) FILTER (WHERE is_bot),
               count(*) FILTER (WHERE is_pageview),
               count(*) FILTER (WHERE reason IS NULL AND client IS NULL)
        FROM classified
        """
    ).fetchall()[0]
    by_reason = dict(
        con.execute("SELECT reason, count(*) FROM classified WHERE reason IS NOT NULL GROUP BY 1 ORDER BY 1").fetchall()
    )
    return {
        "lines_parsed": row[0],
        "lines_rejected": row[1],
        "bot_requests": row[2],
        "pageviews": row[3],
        "requests_without_client_address": row[4],
        "rejects_by_reason": by_reason,
    }


def ingest_logs(
    con: duckdb.DuckDBPyConnection,
    files: list[tuple[LogSource, Path]],
    options: IngestOptions,
    run_id: int,
    on_progress: ProgressCallback | None = None,
) -> dict:
    """Read, deduplicate and load log files as pageviews, in one transaction.

    Args:
        con: a migrated connection.
        files: each source with the local file holding its bytes.
        options: secret, proxies, bot patterns, window.
        run_id: the ``runs`` row this work belongs to.
        on_progress: called with (source, lines) after each batch.

    Returns:
        The stage's counts for ``runs.stats``.
    """
    con.execute("BEGIN TRANSACTION")
    try:
        problems = _stage_files(con, files, on_progress)
        lines_read = con.execute("SELECT count(*) FROM staged").fetchall()[0][0]
        _deduplicate(con, options)
        in_window = con.execute("SELECT count(*) FROM numbered WHERE in_window").fetchall()[0][0]
        fresh = con.execute("SELECT count(*) FROM fresh").fetchall()[0][0]
        _resolve_visitors(con, options)
        _classify(con, options)
        _unescape(con)
        counts = _write(con, run_id)
        for problem in problems:
            con.execute(
                "INSERT INTO rejects VALUES (?, ?, NULL, ?, NULL)", [run_id, problem["source"], problem["reason"]]
            )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        for table in ("staged", "staged_files", "numbered", "fresh", "fresh_visitors", "agent_bots", "classified"):
            con.execute(f"DROP TABLE IF EXISTS temp.{table}")
    stats = {
        "files": len(files),
        "lines_read": lines_read,
        "lines_out_of_window": lines_read - in_window,
        "duplicate_lines": in_window - fresh,
        **counts,
        "file_errors": [p["reason"] for p in problems],
    }
    # lines_read = lines_parsed + lines_rejected + duplicate_lines (+ out of window)
    return stats


def _unescape(con: duckdb.DuckDBPyConnection) -> None:
    """Undo \\" and \\xHH escapes in the few pageviews that have them.

    Python (the bytes must be decoded as UTF-8), but only over the rows that
    contain a backslash, and written back in one set-based UPDATE.
    """
    rows = con.sql(
        r"""
        SELECT rowid, target, referrer FROM classified
        WHERE is_pageview AND (contains(target, '\') OR contains(referrer, '\'))
        """
    ).to_arrow_table()
    if rows.num_rows == 0:
        return
    con.register(
        "unescaped",
        pa.table(
            {
                "row_id": rows.column(0),
                "target": [unescape_field(v) for v in rows.column(1).to_pylist()],
                "referrer": [unescape_field(v) for v in rows.column(2).to_pylist()],
            }
        ),
    )
    con.execute(
        """
        UPDATE classified
        SET path = coalesce(nullif(split_part(regexp_replace(u.target, '^[A-Za-z][A-Za-z0-9+.-]*://[^/]*', ''), '?', 1), ''), '/'),
            referrer = u.referrer
        FROM unescaped u WHERE classified.rowid = u.row_id
        """
    )
    con.unregister("unescaped")


def sessionize(con: duckdb.DuckDBPyConnection, gap_minutes: int = 30) -> dict:
    """Recompute the visits of every visitor with unsessionized pageviews.

    A visit is a visitor's pageviews with no gap longer than ``gap_minutes``
    (a gap of exactly that long continues the visit). The visit id is a hash
    of the visitor and the visit's first pageview: the same pageviews always
    make the same visits, whatever order the files came in.
    """
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE dirty AS
            SELECT DISTINCT visitor_key FROM pageviews WHERE visit_id IS NULL
            """
        )
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE sessioned AS
            WITH pv AS (
                SELECT p.* FROM pageviews p SEMI JOIN dirty d USING (visitor_key)
            ), gaps AS (
                SELECT *, CASE WHEN lag(ts) OVER w IS NULL OR ts - lag(ts) OVER w > to_minutes(CAST(? AS BIGINT))
                               THEN 1 ELSE 0 END AS starts_visit
                FROM pv WINDOW w AS (PARTITION BY visitor_key ORDER BY ts, pageview_id)
            ), numbered AS (
                SELECT *, sum(starts_visit) OVER (PARTITION BY visitor_key ORDER BY ts, pageview_id
                                                  ROWS UNBOUNDED PRECEDING) AS visit_no
                FROM gaps
            )
            SELECT *, md5(visitor_key || chr(0) || CAST(first_value(ts) OVER v AS VARCHAR)) AS new_visit_id,
                   row_number() OVER (v ORDER BY ts, pageview_id) AS position
            FROM numbered WINDOW v AS (PARTITION BY visitor_key, visit_no)
            """,
            [gap_minutes],
        )
        before = con.execute(
            "SELECT count(*) FROM visits WHERE source = 'log' AND visitor_key IN (SELECT visitor_key FROM dirty)"
        ).fetchall()[0][0]
        con.execute("DELETE FROM visits WHERE source = 'log' AND visitor_key IN (SELECT visitor_key FROM dirty)")
        con.execute(
            """
            INSERT INTO visits (visit_id, company_id, network_id, visitor_key, client_key, client_prefix,
                                started_at, ended_at, pageviews, landing_page, referrer,
                                utm_source, utm_medium, utm_campaign, source)
            SELECT new_visit_id, NULL, NULL, any_value(visitor_key), any_value(client_key),
                   any_value(client_prefix), min(ts), max(ts), count(*),
                   arg_min(path, position), arg_min(referrer, position),
                   arg_min(utm_source, position), arg_min(utm_medium, position), arg_min(utm_campaign, position),
                   'log'
            FROM sessioned GROUP BY new_visit_id
            """
        )
        con.execute(
            """
            UPDATE pageviews SET visit_id = s.new_visit_id
            FROM sessioned s
            WHERE pageviews.pageview_id = s.pageview_id
              AND pageviews.visit_id IS DISTINCT FROM s.new_visit_id
            """
        )
        after = con.execute("SELECT count(DISTINCT new_visit_id) FROM sessioned").fetchall()[0][0]
        visitors = con.execute("SELECT count(*) FROM dirty").fetchall()[0][0]
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.execute("DROP TABLE IF EXISTS temp.dirty")
        con.execute("DROP TABLE IF EXISTS temp.sessioned")
    # "visits": the change in the number of visits (a late line can merge two);
    # "visits_touched": visits created or recomputed by this run.
    return {"visitors_sessionized": visitors, "visits": after - before, "visits_touched": after}


def count_rows(con: duckdb.DuckDBPyConnection, tables: Iterable[str]) -> dict[str, int]:
    """Row counts of the named tables (names from code, never from input)."""
    return {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in tables}
