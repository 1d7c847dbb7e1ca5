"""A run's client addresses in DuckDB: which network holds each, which wait, and attributing their rows.

Addresses only ever live in the run's temporary table ``run_addresses``
(and, outside DuckDB, in the private pending file). Matching is one range
join: the operator's lists first, then the most specific unexpired range. An
address is *settled* when that range is final — a leaf status or a list —
or when a relation search listed the range around it, or when a lookup of
that very address answered with it.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import pyarrow as pa

from enrich.networks import LIST_SOURCES, block_number, to_number
from sinks import attribution, companies


def load_run_addresses(con: duckdb.DuckDBPyConnection, pairs: list[tuple[str, str]]) -> None:
    """The run's lookup candidates, (client_key, address), as TEMP table ``run_addresses``."""
    add_run_addresses(con, pairs, replace=True)


def add_run_addresses(con: duckdb.DuckDBPyConnection, pairs: list[tuple[str, str]], replace: bool = False) -> None:
    """Create (``replace``) or extend the TEMP table ``run_addresses``; erased addresses never enter."""
    numbers = [to_number(address) for _, address in pairs]  # each address parsed once
    con.register(
        "address_rows",
        pa.table({
            "client_key": pa.array([key for key, _ in pairs], pa.string()),
            "address": pa.array([address for _, address in pairs], pa.string()),
            "ip_num": pa.array([str(n) for n in numbers], pa.string()),
            "block": pa.array([str(block_number(n)) for n in numbers], pa.string()),
        }),
    )
    select = ("SELECT DISTINCT client_key, address, CAST(ip_num AS UHUGEINT) AS ip_num, "
              "CAST(block AS UHUGEINT) AS block FROM address_rows "
              "WHERE client_key NOT IN (SELECT key FROM suppressions WHERE kind = 'ip')")
    if replace or not has_run_addresses(con):
        con.execute(f"CREATE OR REPLACE TEMP TABLE run_addresses AS {select}")
    else:
        con.execute(f"INSERT INTO run_addresses {select} AND client_key NOT IN (SELECT client_key FROM run_addresses)")
    con.unregister("address_rows")


def has_run_addresses(con: duckdb.DuckDBPyConnection) -> bool:
    return con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = 'run_addresses'"
    ).fetchall()[0][0] > 0


def run_address_pairs(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    if not has_run_addresses(con):
        return []
    return con.execute("SELECT client_key, address FROM run_addresses ORDER BY ip_num").fetchall()


def match_addresses(con: duckdb.DuckDBPyConnection, now: datetime) -> None:
    """Each run address's network and whether it is settled, as TEMP table ``address_matches``."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE address_matches AS
        WITH best AS (
            SELECT a.client_key, a.address, a.ip_num, n.network_id, n.provisional, n.source, n.search_base,
                   n.start_ip, n.end_ip, n.start_num, n.end_num
            FROM run_addresses a
            JOIN networks n ON a.ip_num BETWEEN n.start_num AND n.end_num
            WHERE list_contains($lists, n.source) OR n.expires_at IS NULL OR n.expires_at > $now
            QUALIFY row_number() OVER (
                PARTITION BY a.client_key
                ORDER BY list_contains($lists, n.source) DESC, n.end_num - n.start_num, n.network_id
            ) = 1
        )
        SELECT b.*,
               NOT coalesce(b.provisional, false) OR list_contains($lists, b.source)
               OR EXISTS (SELECT 1 FROM network_searches s
                          WHERE b.ip_num BETWEEN s.start_num AND s.end_num AND s.expires_at > $now)
               OR EXISTS (SELECT 1 FROM address_probes p
                          WHERE p.client_key = b.client_key AND p.network_id = b.network_id AND p.expires_at > $now)
                   AS settled
        FROM best b
        """,
        {"now": now, "lists": list(LIST_SOURCES)},
    )


def addresses_to_resolve(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """Unsettled run addresses, most valuable first (pageviews, then visitors), with their best stored range.

    Rows: (client_key, address, ip_num, network_id, start_ip, end_ip, start_num, end_num, search_base).
    """
    return con.execute(
        """
        WITH work AS (
            SELECT a.client_key, a.address, a.ip_num, m.network_id, m.start_ip, m.end_ip, m.start_num, m.end_num,
                   m.search_base
            FROM run_addresses a LEFT JOIN address_matches m USING (client_key)
            WHERE NOT coalesce(m.settled, false)
        ), seen AS (
            SELECT client_key, visitor_key FROM pending_pageviews WHERE client_key IN (SELECT client_key FROM work)
            UNION ALL
            SELECT client_key, visitor_key FROM pageviews WHERE client_key IN (SELECT client_key FROM work)
        ), value AS (
            SELECT client_key, count(*) AS pageviews, count(DISTINCT visitor_key) AS visitors FROM seen GROUP BY ALL
        )
        SELECT w.client_key, w.address, CAST(w.ip_num AS VARCHAR), w.network_id, w.start_ip, w.end_ip,
               CAST(w.start_num AS VARCHAR), CAST(w.end_num AS VARCHAR), w.search_base
        FROM work w LEFT JOIN value v USING (client_key)
        ORDER BY coalesce(v.pageviews, 0) DESC, coalesce(v.visitors, 0) DESC, w.ip_num
        """
    ).fetchall()


def unsettled_addresses(con: duckdb.DuckDBPyConnection, exclude: set[str] = frozenset()) -> list[tuple[str, str]]:
    """(client_key, address) of run addresses still waiting for a final answer."""
    rows = con.execute(
        """
        SELECT a.client_key, a.address FROM run_addresses a LEFT JOIN address_matches m USING (client_key)
        WHERE NOT coalesce(m.settled, false) ORDER BY a.ip_num
        """
    ).fetchall()
    return [(key, address) for key, address in rows if key not in exclude]


#: Stored rows an address's match replaces: no network yet, a range that may hold assignments (a later
#: search or lookup found the assignment), or one the operator's list now names otherwise.
_STALE = """{table}.client_key = m.client_key AND {table}.network_id IS DISTINCT FROM m.network_id
            AND ({table}.network_id IS NULL OR list_contains($lists, m.source)
                 OR {table}.network_id IN (SELECT network_id FROM networks WHERE provisional))"""


def attribute_addresses(con: duckdb.DuckDBPyConnection) -> int:
    """Give pageviews and visits the network their address matches, and that network's company.

    Pending pageviews always. Stored ones where no network was known yet, where
    only a range that may hold assignments was (a later search or lookup found
    the assignment), or where the operator's list now names the range. Rows take
    the company their new network's rows carry (``sinks/attribution.py``); the
    companies visits moved between get their first and last visits again.
    Returns the rows that changed network.
    """
    companies.ensure_network_companies(con)
    attribution.record(con, [n for (n,) in con.execute("SELECT DISTINCT network_id FROM address_matches").fetchall()])
    updated = con.execute(
        """
        UPDATE pending_pageviews SET network_id = m.network_id, company_id = r.attributed_company_id
        FROM address_matches m JOIN networks r USING (network_id)
        WHERE pending_pageviews.client_key = m.client_key AND pending_pageviews.network_id IS DISTINCT FROM m.network_id
        """
    ).fetchall()[0][0]
    lists = {"lists": list(LIST_SOURCES)}
    condition = _STALE.format(table="pageviews")
    stored = con.execute(
        f"""
        UPDATE pageviews SET network_id = m.network_id, company_id = r.attributed_company_id
        FROM address_matches m JOIN networks r USING (network_id) WHERE {condition}
        """,
        lists,
    ).fetchall()[0][0]
    # A visit's network is one of its pageviews': no pageview changed, no visit changes.
    if stored:
        condition = _STALE.format(table="visits")
        moved = {cid for (cid,) in con.execute(
            f"""
            SELECT DISTINCT unnest([visits.company_id, r.attributed_company_id])
            FROM visits, address_matches m JOIN networks r USING (network_id) WHERE {condition}
            """,
            lists,
        ).fetchall() if cid is not None}
        stored += con.execute(
            f"""
            UPDATE visits SET network_id = m.network_id, company_id = r.attributed_company_id
            FROM address_matches m JOIN networks r USING (network_id) WHERE {condition}
            """,
            lists,
        ).fetchall()[0][0]
        if moved:
            attribution.update_seen(con, moved)
    return updated + stored


def drop_matches(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("DROP TABLE IF EXISTS temp.address_matches")
