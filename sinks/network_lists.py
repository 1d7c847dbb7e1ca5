"""The operator's knowledge of networks: imported lists (operator or licensed) and kind overrides."""

from __future__ import annotations

from datetime import datetime

import duckdb

from enrich.classify import classify, load_known_organisations
from enrich.networks import Network
from sinks import companies, database, erasure
from sinks import networks as network_sinks
from sinks.rejects import record_rejects


def store_list(con: duckdb.DuckDBPyConnection, networks: list[Network], rejects: list[tuple[int, str]],
               source_file: str, known_file, secret: bytes, run_id: int, now: datetime) -> tuple[int, int]:
    """A parsed list's networks (classified; never expiring) and its rejects.

    An erased sole trader stays erased, whatever the list still says.

    Returns:
        (networks stored, networks stored without the name of an erased person).
    """
    known = load_known_organisations(known_file)
    erased = erasure.erased_business(con, secret)
    networks = [n for n in networks if not (n.business_id and erased(n.business_id, None))]
    with database.transaction(con):
        record_rejects(con, run_id, source_file, rejects)
        network_sinks.store_networks(con, [classify(n, known) for n in networks], now, None)
        scrubbed = erasure.scrub_erased_networks(con, secret)
    return len(networks), scrubbed


def override_kind(con: duckdb.DuckDBPyConnection, block: str, kind: str, now: datetime) -> int:
    """The operator's kind for a CIDR block, over every rule; visits re-attributed. Returns the networks it covers."""
    with database.transaction(con):
        network_sinks.set_override(con, block, kind, now)
        companies.refresh(con)
    return con.execute(
        "SELECT count(*) FROM networks WHERE kind_rule = 'operator-override' AND kind = ?", [kind]
    ).fetchall()[0][0]
