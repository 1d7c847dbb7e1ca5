"""The operator's knowledge of networks: imported lists (operator or licensed), their corrections, and
kind overrides.

A list is known by its source and its file (``networks.list_file``: the file's resolved path), so
importing it again replaces its rows: the ranges the file no longer holds are removed (a range two files
of one source both hold belongs to the file imported last). Removing a list
row (``leadpipe networks remove``, or a re-import) re-attributes the rows that carried it. Addresses are
never stored, so a row falls back to the most specific remaining network that holds the whole removed
range, or to the network a lookup of that very address answered with (``address_probes``) — lists
first, then the smallest, as an address's own match — and carries no network when there is neither.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from enrich.classify import OPERATOR_OVERRIDE, classify, load_known_organisations
from enrich.networks import LIST_SOURCES, Network, to_number
from sinks import attribution, companies, database, erasure
from sinks import networks as network_sinks
from sinks.rejects import record_rejects

#: What ``leadpipe networks list`` shows of each list row.
LIST_COLUMNS = ("cidr", "organisation", "business_id", "kind", "source", "list_file")


class WouldEmptyList(ValueError):
    """A re-import that would remove most of a list: a half-saved or wrong file, most likely."""


def store_list(con: duckdb.DuckDBPyConnection, networks: list[Network], rejects: list[tuple[int, str]],
               source: str, list_file: str, known_file: Path, secret: bytes, run_id: int, now: datetime,
               replace: bool = False) -> dict:
    """A parsed list's networks (classified; never expiring) and its rejects, in place of the rows the
    same list (``source`` and ``list_file``) held before.

    An erased sole trader stays erased, whatever the list still says.

    Rows of the earlier import that the file no longer holds are removed only when no row of the file
    was rejected (a rejected row may be the very range, mistyped: ``kept`` counts them), and half of the
    list or more only with ``replace``. Removing a row takes its visits' network away for good.

    Raises:
        WouldEmptyList: without ``replace``, the file would remove half of the list or more.

    Returns:
        ``stored``, ``removed`` (rows of the list's earlier import it no longer holds), ``kept``,
        ``rows_reattributed`` (pageviews and visits that carried those) and ``scrubbed``
        (networks stored without the name of an erased person).
    """
    known = load_known_organisations(known_file)
    erased = erasure.erased_business(con, secret)
    networks = [n for n in networks if not (n.business_id and erased(n.business_id, None))]
    with database.transaction(con):
        record_rejects(con, run_id, list_file, rejects)
        network_sinks.store_networks(con, [classify(n, known) for n in networks], now, None)
        _mark_list(con, networks, list_file)
        before = con.execute("SELECT count(*) FROM networks WHERE source = ? AND list_file = ?",
                             [source, list_file]).fetchall()[0][0]
        stale = [network_id for (network_id,) in con.execute(
            """
            SELECT network_id FROM networks WHERE source = $source AND list_file = $file
              AND network_id NOT IN (SELECT unnest($kept)) ORDER BY network_id
            """,
            {"source": source, "file": list_file, "kept": [n.network_id for n in networks]},
        ).fetchall()]
        kept = 0
        if stale and rejects:
            stale, kept = [], len(stale)
        elif stale and not replace and 2 * len(stale) >= before:
            raise WouldEmptyList(f"it would remove {len(stale)} of the list's {before} rows, and their visits' "
                                 "network with them (for good); check the file, or import it with --replace")
        moved = _drop_networks(con, stale, now)
        scrubbed = erasure.scrub_erased_networks(con, secret)
        if stale:
            companies.refresh(con)
    return {"stored": len(networks), "removed": len(stale), "kept": kept, "rows_reattributed": moved,
            "scrubbed": scrubbed}


def _mark_list(con: duckdb.DuckDBPyConnection, networks: list[Network], list_file: str) -> None:
    """The list file each stored row came from, and the kind the list said (before any override)."""
    if not networks:
        return
    con.register("listed_rows", pa.table({
        "network_id": [n.network_id for n in networks],
        "list_kind": pa.array([n.kind for n in networks], pa.string()),
    }))
    try:
        con.execute(
            """
            UPDATE networks SET list_file = $file, list_kind = l.list_kind
            FROM listed_rows l WHERE networks.network_id = l.network_id
            """,
            {"file": list_file},
        )
    finally:
        con.unregister("listed_rows")


def remove_entries(con: duckdb.DuckDBPyConnection, start: str, end: str, now: datetime,
                   source: str | None = None) -> dict:
    """Remove the list rows (operator or licensed, or only ``source``) of exactly ``start``..``end``, and
    re-attribute the rows that carried them.

    Raises:
        ValueError: no list row is that range (the message quotes nothing).
    """
    sources = [source] if source else list(LIST_SOURCES)
    with database.transaction(con):
        found = [network_id for (network_id,) in con.execute(
            """
            SELECT network_id FROM networks
            WHERE list_contains($sources, source) AND start_num = CAST($start AS UHUGEINT)
              AND end_num = CAST($end AS UHUGEINT)
            ORDER BY network_id
            """,
            {"sources": sources, "start": str(to_number(start)), "end": str(to_number(end))},
        ).fetchall()]
        if not found:
            raise ValueError("no operator or licensed list row is this block (see 'leadpipe networks list')")
        moved = _drop_networks(con, found, now)
        companies.refresh(con)
    return {"networks_removed": len(found), "rows_reattributed": moved}


def _drop_networks(con: duckdb.DuckDBPyConnection, network_ids: list[str], now: datetime) -> int:
    """Delete networks; the pending pageviews, pageviews and visits that carried one take its fallback
    (see the module's docstring) and that network's company. Returns the rows re-pointed."""
    if not network_ids:
        return 0
    params = {"now": now, "lists": list(LIST_SOURCES)}
    con.execute("CREATE OR REPLACE TEMP TABLE dropped_networks AS SELECT network_id, start_num, end_num "
                "FROM networks WHERE network_id IN (SELECT unnest($ids))", {"ids": network_ids})
    con.execute("DELETE FROM networks WHERE network_id IN (SELECT network_id FROM dropped_networks)")
    con.execute(  # the rows of attribution.ROW_TABLES that carried one: (network, client key)
        """
        CREATE OR REPLACE TEMP TABLE network_fallbacks AS
        WITH carried AS (
            SELECT network_id, client_key FROM pending_pageviews
            WHERE network_id IN (SELECT network_id FROM dropped_networks)
            UNION
            SELECT network_id, client_key FROM pageviews WHERE network_id IN (SELECT network_id FROM dropped_networks)
            UNION
            SELECT network_id, client_key FROM visits WHERE network_id IN (SELECT network_id FROM dropped_networks)
        ),
        containing AS (
            SELECT d.network_id AS old_id, n.network_id AS new_id, n.source, n.start_num, n.end_num
            FROM dropped_networks d JOIN networks n ON n.start_num <= d.start_num AND n.end_num >= d.end_num
            WHERE list_contains($lists, n.source) OR n.expires_at IS NULL OR n.expires_at > $now
        ),
        candidates AS (
            SELECT c.network_id AS old_id, c.client_key, k.new_id, k.source, k.start_num, k.end_num
            FROM carried c JOIN containing k ON k.old_id = c.network_id
            UNION ALL
            SELECT c.network_id, c.client_key, n.network_id, n.source, n.start_num, n.end_num
            FROM carried c JOIN address_probes p ON p.client_key = c.client_key AND p.expires_at > $now
            JOIN networks n ON n.network_id = p.network_id
        ),
        chosen AS (
            SELECT old_id, client_key, new_id FROM candidates
            QUALIFY row_number() OVER (PARTITION BY old_id, client_key
                                       ORDER BY list_contains($lists, source) DESC, end_num - start_num, new_id) = 1
        )
        SELECT c.network_id AS old_id, c.client_key, f.new_id
        FROM carried c LEFT JOIN chosen f ON f.old_id = c.network_id AND f.client_key IS NOT DISTINCT FROM c.client_key
        """,
        params,
    )
    companies.ensure_network_companies(con)
    attribution.record(con, [n for (n,) in con.execute(
        "SELECT DISTINCT new_id FROM network_fallbacks WHERE new_id IS NOT NULL").fetchall()])
    moved = {cid for (cid,) in con.execute(
        "SELECT DISTINCT company_id FROM visits WHERE network_id IN (SELECT network_id FROM dropped_networks)"
    ).fetchall() if cid is not None}
    rows = 0
    for table in attribution.ROW_TABLES:
        rows += con.execute(
            f"""
            UPDATE {table} SET network_id = f.new_id, company_id = f.company_id
            FROM (SELECT f.old_id, f.client_key, f.new_id, n.attributed_company_id AS company_id
                  FROM network_fallbacks f LEFT JOIN networks n ON n.network_id = f.new_id) f
            WHERE {table}.network_id = f.old_id AND {table}.client_key IS NOT DISTINCT FROM f.client_key
            """
        ).fetchall()[0][0]
    moved |= {cid for (cid,) in con.execute(
        """
        SELECT DISTINCT n.attributed_company_id FROM network_fallbacks f JOIN networks n ON n.network_id = f.new_id
        WHERE n.attributed_company_id IS NOT NULL
        """
    ).fetchall()}
    con.execute("DROP TABLE temp.network_fallbacks")
    con.execute("DROP TABLE temp.dropped_networks")
    if moved:
        attribution.update_seen(con, moved)
    return rows


def override_kind(con: duckdb.DuckDBPyConnection, block: str, kind: str, now: datetime) -> int:
    """The operator's kind for a CIDR block, over every rule; visits re-attributed. Returns the networks it covers."""
    with database.transaction(con):
        network_sinks.set_override(con, block, kind, now)
        companies.refresh(con)
    return con.execute(
        "SELECT count(*) FROM networks WHERE kind_rule = 'operator-override' AND kind = ?", [kind]
    ).fetchall()[0][0]


def clear_override(con: duckdb.DuckDBPyConnection, block: str, known_file: Path) -> int:
    """Remove the operator's kind for a CIDR block (as ``networks classify`` stored it): the list rows
    under it take their list's kind (or the rules') again, a broader override still applies, and the
    registry networks are classified again by the next reclassification (the caller's resolve).

    Returns:
        The networks the override covered.

    Raises:
        ValueError: no override is that block (the message quotes nothing).
    """
    known = load_known_organisations(known_file)
    with database.transaction(con):
        cleared = con.execute("DELETE FROM network_overrides WHERE cidr = ? RETURNING start_num, end_num",
                              [block]).fetchall()
        if not cleared:
            raise ValueError("no kind override is this block")
        (first, last), = cleared
        covered = con.execute(
            """
            SELECT network_id, start_ip, end_ip, source, registrant, business_id, list_kind, country FROM networks
            WHERE kind_rule = $rule AND start_num >= $first AND end_num <= $last
            """,
            {"rule": OPERATOR_OVERRIDE, "first": first, "last": last},
        ).fetchall()
        listed = [classify(Network(start_ip=start, end_ip=end, source=source, org_name=org, registrant=org,
                                   business_id=bid, kind=kind, country=country,
                                   rule=f"{source}-list" if kind else None), known)
                  for _, start, end, source, org, bid, kind, country in covered if source in LIST_SOURCES]
        if listed:
            con.register("unoverridden", pa.table({
                "network_id": [n.network_id for n in listed],
                "org_name": pa.array([n.org_name for n in listed], pa.string()),
                "kind": [n.kind or "unknown" for n in listed],
                "kind_rule": pa.array([n.rule for n in listed], pa.string()),
                "kind_signals": [json.dumps(list(n.signals)) for n in listed],
            }))
            try:
                con.execute(
                    """
                    UPDATE networks SET org_name = u.org_name, kind = u.kind, kind_rule = u.kind_rule,
                           kind_signals = CAST(u.kind_signals AS JSON)
                    FROM unoverridden u WHERE networks.network_id = u.network_id
                    """
                )
            finally:
                con.unregister("unoverridden")
        if len(listed) < len(covered):
            # Registry networks are classified again from what the registry said: forgetting the rules'
            # fingerprint makes the next reclassification (sinks/networks.py) read every one of them.
            con.execute("DELETE FROM pipeline_state WHERE key = 'classification'")
        network_sinks.apply_overrides(con)
        companies.refresh(con)
    return len(covered)


def list_entries(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """The operator's and licensed list rows (:data:`LIST_COLUMNS`, and whether an override sets the
    kind), by source, list file and range. Reads a snapshot an older version wrote too."""
    has_file = con.execute(
        "SELECT count(*) FROM duckdb_columns() WHERE table_name = 'networks' AND column_name = 'list_file'"
    ).fetchall()[0][0]
    rows = con.execute(
        f"""
        SELECT cidr, coalesce(registrant, org_name), business_id, kind, source,
               {'list_file' if has_file else 'NULL'}, kind_rule = $rule
        FROM networks WHERE list_contains($lists, source)
        ORDER BY source, 6 NULLS FIRST, start_num, end_num
        """,
        {"lists": list(LIST_SOURCES), "rule": OPERATOR_OVERRIDE},
    ).fetchall()
    return [{**dict(zip(LIST_COLUMNS, row[:6])), "overridden": bool(row[6])} for row in rows]
