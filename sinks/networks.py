"""The network cache in DuckDB: storing ranges, matching addresses, overrides, attribution.

Set-based: a run's addresses are matched against every known range with one
range join (longest prefix wins, operator and licensed lists first), and
attribution to companies is one UPDATE per table. Addresses themselves only
ever live in the run's temporary table ``run_addresses``.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import duckdb
import pyarrow as pa

from enrich.networks import Network, block_number, to_number

#: Sources whose ranges are tried before the RDAP cache.
LIST_SOURCES = ("operator", "licensed")


def store_networks(
    con: duckdb.DuckDBPyConnection, networks: list[Network], fetched_at: datetime, ttl_days: int | None
) -> int:
    """Insert or replace networks (by network_id). Lists never expire; RDAP ranges after ``ttl_days``."""
    if not networks:
        return 0
    expires = fetched_at + timedelta(days=ttl_days) if ttl_days else None
    plain = ("network_id", "start_ip", "end_ip", "cidr", "netname", "org_name", "country", "source",
             "org_handle", "registry_type", "remarks", "handle", "business_id")
    columns = {name: [getattr(n, name) for n in networks] for name in plain}
    columns.update(
        kind=[n.kind or "unknown" for n in networks],
        expires_in=[n.source not in LIST_SOURCES for n in networks],
        start_num=[str(n.start_num) for n in networks],  # 128-bit: through text, cast in SQL
        end_num=[str(n.end_num) for n in networks],
        kind_rule=[n.rule for n in networks],
        kind_signals=[json.dumps(list(n.signals)) for n in networks],
        provisional=[n.rule == "broad-allocation" for n in networks],
    )
    table = pa.table(columns)
    con.register("incoming_networks", table)
    con.execute(
        """
        INSERT OR REPLACE INTO networks
            (network_id, start_ip, end_ip, cidr, netname, org_name, country, kind, source,
             fetched_at, expires_at, start_num, end_num, org_handle, registry_type, remarks, handle,
             business_id, kind_rule, kind_signals, provisional)
        SELECT network_id, start_ip, end_ip, cidr, netname, org_name, country, kind, source,
               $fetched, CASE WHEN expires_in THEN CAST($expires AS TIMESTAMPTZ) END,
               CAST(start_num AS UHUGEINT), CAST(end_num AS UHUGEINT), org_handle, registry_type, remarks, handle,
               business_id, kind_rule, CAST(kind_signals AS JSON), provisional
        FROM incoming_networks
        """,
        {"fetched": fetched_at, "expires": expires},
    )
    con.unregister("incoming_networks")
    apply_overrides(con)
    return len(networks)


def load_run_addresses(con: duckdb.DuckDBPyConnection, pairs: list[tuple[str, str]]) -> None:
    """The run's lookup candidates, (client_key, address), as TEMP table ``run_addresses``."""
    add_run_addresses(con, pairs, replace=True)


def add_run_addresses(con: duckdb.DuckDBPyConnection, pairs: list[tuple[str, str]], replace: bool = False) -> None:
    """Create (``replace``) or extend the TEMP table ``run_addresses``."""
    numbers = [to_number(address) for _, address in pairs]  # each address parsed once
    con.register(
        "address_rows",
        pa.table({
            "client_key": [key for key, _ in pairs],
            "address": [address for _, address in pairs],
            "ip_num": [str(n) for n in numbers],
            "block": [str(block_number(n)) for n in numbers],
        }),
    )
    select = ("SELECT DISTINCT client_key, address, CAST(ip_num AS UHUGEINT) AS ip_num, "
              "CAST(block AS UHUGEINT) AS block FROM address_rows")
    if replace:
        con.execute(f"CREATE OR REPLACE TEMP TABLE run_addresses AS {select}")
    else:
        con.execute(f"INSERT INTO run_addresses {select} WHERE client_key NOT IN (SELECT client_key FROM run_addresses)")
    con.unregister("address_rows")


def match_addresses(con: duckdb.DuckDBPyConnection, now: datetime) -> None:
    """Each run address's network, as TEMP table ``address_matches``.

    Operator and licensed lists first, then the most specific unexpired
    cached range. Addresses with no match are absent.
    """
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE address_matches AS
        SELECT a.client_key, a.address, a.ip_num, n.network_id, n.provisional, n.source
        FROM run_addresses a
        JOIN networks n ON a.ip_num BETWEEN n.start_num AND n.end_num
        WHERE n.source IN ('operator', 'licensed') OR n.expires_at IS NULL OR n.expires_at > $now
        QUALIFY row_number() OVER (
            PARTITION BY a.client_key
            ORDER BY n.source IN ('operator', 'licensed') DESC, n.end_num - n.start_num, n.network_id
        ) = 1
        """,
        {"now": now},
    )


def addresses_to_look_up(con: duckdb.DuckDBPyConnection) -> list[tuple[str, bool]]:
    """(address, provisional) of run addresses that no list or fresh cache entry settles, by number.

    A hit on a broad allocation is provisional: a smaller assignment may hold
    the address, so it is looked up again — once per /24 or /48 block, after
    which ``network_probes`` remembers the answer until the range expires.
    """
    rows = con.execute(
        """
        SELECT a.address, m.network_id IS NOT NULL AS provisional
        FROM run_addresses a LEFT JOIN address_matches m USING (client_key)
        WHERE m.network_id IS NULL
           OR (m.provisional AND m.source = 'rdap'
               AND NOT EXISTS (SELECT 1 FROM network_probes p
                               WHERE p.network_id = m.network_id AND p.block = a.block))
        ORDER BY a.ip_num
        """
    ).fetchall()
    return [(address, provisional) for address, provisional in rows]


def set_override(con: duckdb.DuckDBPyConnection, cidr: str, kind: str, now: datetime) -> None:
    """Record the operator's kind for a CIDR block and apply it."""
    import ipaddress

    block = ipaddress.ip_network(cidr, strict=False)
    con.execute(
        "INSERT OR REPLACE INTO network_overrides VALUES (?, CAST(? AS UHUGEINT), CAST(? AS UHUGEINT), ?, ?)",
        [str(block), str(to_number(block[0])), str(to_number(block[-1])), kind, now],
    )
    apply_overrides(con)


def apply_overrides(con: duckdb.DuckDBPyConnection) -> None:
    """Every network inside an override takes its kind (the most specific override wins)."""
    con.execute(
        """
        UPDATE networks SET kind = o.kind, kind_rule = 'operator-override',
               kind_signals = to_json(['operator override for ' || o.cidr])
        FROM (
            SELECT n.network_id, o.kind, o.cidr FROM networks n
            JOIN network_overrides o ON n.start_num >= o.start_num AND n.end_num <= o.end_num
            QUALIFY row_number() OVER (PARTITION BY n.network_id ORDER BY o.end_num - o.start_num) = 1
        ) o
        WHERE networks.network_id = o.network_id
        """
    )
    # A network that is no longer a company attributes nothing; one that is gets its
    # organisation's key: the Business ID when a list gave one, else a key of its name.
    con.execute(
        r"""
        UPDATE networks SET company_id = k.company_id
        FROM (
            SELECT network_id, CASE
                WHEN kind <> 'company' THEN NULL
                WHEN business_id IS NOT NULL THEN business_id
                WHEN org_name IS NOT NULL
                    THEN 'org-' || left(sha256(lower(trim(regexp_replace(org_name, '\s+', ' ', 'g')))
                                               || '|' || upper(coalesce(country, ''))), 16)
            END AS company_id
            FROM networks
        ) k
        WHERE networks.network_id = k.network_id AND networks.company_id IS DISTINCT FROM k.company_id
        """
    )


def attribute_pending(con: duckdb.DuckDBPyConnection) -> int:
    """Give pageviews and visits their network, by the run's address matches.

    Pending pageviews always; stored ones only where no network was known
    (an address whose lookup failed on an earlier night).
    """
    updated = 0
    for table, only_unknown in (("pending_pageviews", False), ("pageviews", True), ("visits", True)):
        updated += con.execute(
            f"""
            UPDATE {table} SET network_id = m.network_id
            FROM address_matches m
            WHERE {table}.client_key = m.client_key {"AND " + table + ".network_id IS NULL" if only_unknown else ""}
            """
        ).fetchall()[0][0]
    return updated


def refresh_attribution(con: duckdb.DuckDBPyConnection) -> None:
    """Re-derive every stored visit's company from its network's current kind, and the companies."""
    # A network's organisation key, through any alias it was merged into.
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE network_companies AS
        SELECT n.network_id, coalesce(a.company_id, n.company_id) AS company_id
        FROM networks n LEFT JOIN company_aliases a ON a.alias_id = n.company_id
        """
    )
    for table in ("pending_pageviews", "pageviews", "visits"):
        con.execute(
            f"""
            UPDATE {table} SET company_id = n.company_id
            FROM network_companies n
            WHERE {table}.network_id = n.network_id AND {table}.company_id IS DISTINCT FROM n.company_id
            """
        )
    con.execute("DROP TABLE temp.network_companies")
    con.execute(
        """
        INSERT INTO companies (company_id, business_id, name, country, kind, match_method, match_confidence)
        SELECT company_id, any_value(business_id), any_value(org_name), any_value(country), 'company',
               any_value(source || ':' || kind_rule), 1.0
        FROM networks WHERE company_id IS NOT NULL
          AND company_id NOT IN (SELECT alias_id FROM company_aliases)
        GROUP BY company_id
        ON CONFLICT (company_id) DO NOTHING
        """
    )
    con.execute(
        """
        UPDATE companies SET first_seen = s.first_seen, last_seen = s.last_seen
        FROM (SELECT company_id, min(first_seen) AS first_seen, max(last_seen) AS last_seen FROM (
                  SELECT company_id, started_at AS first_seen, ended_at AS last_seen FROM visits
                  UNION ALL
                  SELECT company_id, first_visit, last_visit FROM company_sources
              ) WHERE company_id IS NOT NULL GROUP BY company_id) s
        WHERE companies.company_id = s.company_id
        """
    )


def mark_shared_networks(con: duckdb.DuckDBPyConnection, threshold: int | None = None) -> int:
    """Company networks with many distinct visitors on one day are shared (NAT, ISP): not companies.

    Lists and operator overrides are left alone: the operator knows better.
    """
    from enrich.networks import SHARED_VISITORS_PER_DAY

    limit = threshold or SHARED_VISITORS_PER_DAY
    changed = con.execute(
        """
        UPDATE networks SET kind = 'isp', kind_rule = 'many-visitors',
               kind_signals = to_json([s.visitors || ' distinct visitors on ' || s.day || ': a shared network'])
        FROM (
            SELECT network_id, CAST(ts AS DATE) AS day, count(DISTINCT visitor_key) AS visitors
            FROM pending_pageviews WHERE network_id IS NOT NULL
            GROUP BY network_id, day HAVING count(DISTINCT visitor_key) > $limit
            QUALIFY row_number() OVER (PARTITION BY network_id ORDER BY visitors DESC) = 1
        ) s
        WHERE networks.network_id = s.network_id AND networks.kind = 'company'
          AND networks.source = 'rdap' AND networks.kind_rule <> 'operator-override'
        """,
        {"limit": limit},
    ).fetchall()[0][0]
    if changed:
        apply_overrides(con)
        con.execute(
            """
            UPDATE pending_pageviews SET company_id = n.company_id FROM networks n
            WHERE pending_pageviews.network_id = n.network_id
              AND pending_pageviews.company_id IS DISTINCT FROM n.company_id
            """
        )
    return changed


def store_probes(con: duckdb.DuckDBPyConnection, probes: list[tuple[str, int]], now: datetime) -> None:
    """Remember (network_id, block) pairs asked about inside broad allocations."""
    if not probes:
        return
    con.register("probe_rows", pa.table({"network_id": [n for n, _ in probes], "block": [str(b) for _, b in probes]}))
    con.execute(
        """
        INSERT INTO network_probes
        SELECT DISTINCT network_id, CAST(block AS UHUGEINT), $now FROM probe_rows r
        WHERE NOT EXISTS (SELECT 1 FROM network_probes p
                          WHERE p.network_id = r.network_id AND p.block = CAST(r.block AS UHUGEINT))
        """,
        {"now": now},
    )
    con.unregister("probe_rows")
