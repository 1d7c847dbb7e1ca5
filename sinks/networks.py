"""The network cache in DuckDB: ranges, relation searches, probes, overrides and classification.

Every range fetched or listed is kept in ``networks`` with the rule that
classified it; ``network_searches`` and ``address_probes`` remember what the
registries already said inside ranges that may hold assignments, so a second
night asks nothing about them. Set-based writes, bound parameters. What a
network's kind is, and which decision may replace which, is decided in
``enrich/classify.py``; this module only applies those decisions.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta

import duckdb
import pyarrow as pa

from enrich import classify as decide
from enrich.networks import LIST_SOURCES, Network, to_number
from sinks import companies


def store_networks(
    con: duckdb.DuckDBPyConnection, networks: list[Network], fetched_at: datetime, ttl_days: int | None
) -> int:
    """Insert or replace networks (by network_id). Lists never expire; RDAP ranges after ``ttl_days``."""
    if not networks:
        return 0
    expires = fetched_at + timedelta(days=ttl_days) if ttl_days else None
    plain = ("network_id", "start_ip", "end_ip", "cidr", "netname", "org_name", "country", "source",
             "org_handle", "registry_type", "remarks", "handle", "business_id", "registrant", "parent_id",
             "search_base")
    columns = {name: pa.array([getattr(n, name) for n in networks], pa.string()) for name in plain}
    columns.update(
        kind=pa.array([n.kind or "unknown" for n in networks], pa.string()),
        expires_in=[n.source not in LIST_SOURCES for n in networks],
        start_num=[str(n.start_num) for n in networks],  # 128-bit: through text, cast in SQL
        end_num=[str(n.end_num) for n in networks],
        kind_rule=pa.array([n.rule for n in networks], pa.string()),
        kind_signals=[json.dumps(list(n.signals)) for n in networks],
        provisional=[not n.is_leaf for n in networks],
    )
    con.register("incoming_networks", pa.table(columns))
    con.execute(
        """
        INSERT OR REPLACE INTO networks
            (network_id, start_ip, end_ip, cidr, netname, org_name, country, kind, source,
             fetched_at, expires_at, start_num, end_num, org_handle, registry_type, remarks, handle,
             business_id, kind_rule, kind_signals, provisional, registrant, parent_id, search_base)
        SELECT network_id, start_ip, end_ip, cidr, netname, org_name, country, kind, source,
               $fetched, CASE WHEN expires_in THEN CAST($expires AS TIMESTAMPTZ) END,
               CAST(start_num AS UHUGEINT), CAST(end_num AS UHUGEINT), org_handle, registry_type, remarks, handle,
               business_id, kind_rule, CAST(kind_signals AS JSON), provisional, registrant, parent_id, search_base
        FROM incoming_networks
        """,
        {"fetched": fetched_at, "expires": expires},
    )
    con.unregister("incoming_networks")
    apply_overrides(con)
    return len(networks)


def store_searches(
    con: duckdb.DuckDBPyConnection, searches: list[tuple[str, str, str]], now: datetime, ttl_days: int
) -> None:
    """Remember ranges a relation search listed completely: (searched network, start_ip, end_ip)."""
    if not searches:
        return
    con.register("search_rows", pa.table({
        "network_id": [n for n, _, _ in searches],
        "start_num": [str(to_number(start)) for _, start, _ in searches],
        "end_num": [str(to_number(end)) for _, _, end in searches],
    }))
    con.execute(
        """
        INSERT INTO network_searches
        SELECT network_id, CAST(start_num AS UHUGEINT), CAST(end_num AS UHUGEINT), $now, $expires FROM search_rows
        """,
        {"now": now, "expires": now + timedelta(days=ttl_days)},
    )
    con.unregister("search_rows")
    con.execute("DELETE FROM network_searches WHERE expires_at <= ?", [now])


def store_probes(con: duckdb.DuckDBPyConnection, probes: list[tuple[str, str]], now: datetime, ttl_days: int) -> None:
    """Remember (client_key, network_id): the network a lookup of that very address answered with."""
    con.execute("DELETE FROM address_probes WHERE expires_at <= ?", [now])
    if not probes:
        return
    con.register("probe_rows", pa.table({"client_key": [k for k, _ in probes], "network_id": [n for _, n in probes]}))
    con.execute(
        "INSERT OR REPLACE INTO address_probes SELECT DISTINCT client_key, network_id, $now, $expires FROM probe_rows",
        {"now": now, "expires": now + timedelta(days=ttl_days)},
    )
    con.unregister("probe_rows")


def reclassify(con: duckdb.DuckDBPyConnection, classify: Callable[[Network], Network], rules: str, now: datetime) -> int:
    """Classify cached registry networks again when the rules (``rules``: a fingerprint) have changed.

    Only what the registry said is read back, so an upgrade or an edited
    ``known-organisations.csv`` takes effect on the next run, not when the
    cache expires. Returns how many networks changed.
    """
    fingerprint = hashlib.sha256(rules.encode()).hexdigest()
    stored = con.execute("SELECT value FROM pipeline_state WHERE key = 'classification'").fetchall()
    if stored and stored[0][0] == fingerprint:
        return 0
    rows = con.execute(
        """
        SELECT start_ip, end_ip, netname, registrant, org_handle, country, registry_type, remarks, handle,
               parent_id, search_base, org_name, kind, kind_rule, provisional
        FROM networks WHERE source = 'rdap' AND kind_rule NOT IN (SELECT unnest($rules))
        """,
        {"rules": list(decide.FINDINGS)},
    ).fetchall()
    changed = []
    for (start, end, netname, registrant, handle_, country, type_, remarks, handle, parent, base, org, kind,
         rule, provisional) in rows:
        network = classify(Network(start_ip=start, end_ip=end, source="rdap", netname=netname, registrant=registrant,
                                   org_name=registrant, org_handle=handle_, country=country, registry_type=type_,
                                   remarks=remarks, handle=handle, parent_id=parent, search_base=base))
        # "provisional" meant a broad allocation before statuses decided it: compared too.
        if (network.org_name, network.kind, network.rule, not network.is_leaf) != (org, kind, rule, provisional):
            changed.append(network)
    if changed:
        con.register("reclassified", pa.table({
            "network_id": [n.network_id for n in changed],
            "org_name": pa.array([n.org_name for n in changed], pa.string()),
            "kind": [n.kind for n in changed],
            "kind_rule": [n.rule for n in changed],
            "kind_signals": [json.dumps(list(n.signals)) for n in changed],
            "provisional": [not n.is_leaf for n in changed],
        }))
        con.execute(
            """
            UPDATE networks SET org_name = r.org_name, kind = r.kind, kind_rule = r.kind_rule,
                   kind_signals = CAST(r.kind_signals AS JSON), provisional = r.provisional
            FROM reclassified r WHERE networks.network_id = r.network_id
            """
        )
        con.unregister("reclassified")
        apply_overrides(con)
    con.execute("INSERT OR REPLACE INTO pipeline_state VALUES ('classification', ?, ?)", [fingerprint, now])
    return len(changed)


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
        UPDATE networks SET kind = o.kind, kind_rule = $rule,
               kind_signals = to_json(['operator override for ' || o.cidr])
        FROM (
            SELECT n.network_id, o.kind, o.cidr FROM networks n
            JOIN network_overrides o ON n.start_num >= o.start_num AND n.end_num <= o.end_num
            QUALIFY row_number() OVER (PARTITION BY n.network_id ORDER BY o.end_num - o.start_num) = 1
        ) o
        WHERE networks.network_id = o.network_id
        """,
        {"rule": decide.OPERATOR_OVERRIDE},
    )
    companies.assign_network_companies(con)


def mark_shared_networks(con: duckdb.DuckDBPyConnection, threshold: int | None = None) -> int:
    """Company networks with more than ``threshold`` (default: classify's) distinct visitors on one day
    of the pending pageviews are shared (NAT, ISP): not companies, unless a stronger decision stands.

    The rows of a network that changes kind follow at the next :func:`sinks.companies.refresh`.
    """
    changed = con.execute(
        """
        UPDATE networks SET kind = $kind, kind_rule = $rule,
               kind_signals = to_json([s.visitors || ' distinct visitors on ' || s.day || ': a shared network'])
        FROM (
            SELECT network_id, CAST(ts AS DATE) AS day, count(DISTINCT visitor_key) AS visitors
            FROM pending_pageviews WHERE network_id IS NOT NULL
            GROUP BY network_id, day HAVING count(DISTINCT visitor_key) > $limit
            QUALIFY row_number() OVER (PARTITION BY network_id ORDER BY visitors DESC) = 1
        ) s
        WHERE networks.network_id = s.network_id AND networks.kind = 'company'
          AND list_contains($sources, networks.source) AND networks.kind_rule NOT IN (SELECT unnest($stronger))
        """,
        {"limit": threshold or decide.SHARED_VISITORS_PER_DAY, "kind": decide.SHARED_KIND,
         "rule": decide.MANY_VISITORS, "sources": list(decide.FINDINGS_SOURCES),
         "stronger": list(decide.stronger_than(decide.MANY_VISITORS))},
    ).fetchall()[0][0]
    if changed:
        apply_overrides(con)
    return changed
