"""A night's refresh touches only what the night changed, and ends where recomputing everything would."""

import hashlib
import ipaddress
from datetime import datetime, timedelta, timezone

from enrich.leadfeeder import LeadRow
from enrich.networks import Network
from sinks import addresses, companies, database
from sinks import networks as network_sinks
from sinks.sources import upsert_source_rows
from sinks.visits import sessionize

NOW = datetime(2026, 11, 25, 3, tzinfo=timezone.utc)
DAY1 = datetime(2026, 11, 1, 9, tzinfo=timezone.utc)
_CURRENT = """SELECT n.network_id, coalesce(a.company_id, n.company_id) AS company_id
              FROM networks n LEFT JOIN company_aliases a ON a.alias_id = n.company_id"""


def _store(con, cidr: str, org: str, kind: str, rule: str) -> None:
    block = ipaddress.ip_network(cidr)
    network_sinks.store_networks(con, [Network(
        start_ip=str(block[0]), end_ip=str(block[-1]), source="rdap", org_name=org, registrant=org, country="FI",
        registry_type="ASSIGNED PA", kind=kind, rule=rule)], NOW, 365)


def _key(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _night(con, run_id: int, views: list[tuple[str, datetime]]) -> None:
    """One night as the stages run it: pending pageviews, addresses attributed, refresh, sessions, refresh."""
    for index, (address, ts) in enumerate(views):
        con.execute(
            "INSERT INTO pending_pageviews (pageview_id, visitor_key, client_key, ts, path, status, stream, run_id) "
            "VALUES (?, ?, ?, ?, '/', 200, 'access', ?)",
            [_key(f"{run_id}-{index}-{address}-{ts}"), _key("visitor " + address), _key(address), ts, run_id])
    addresses.load_run_addresses(con, sorted({(_key(address), address) for address, _ in views}))
    with database.transaction(con):
        addresses.match_addresses(con, NOW)
        addresses.attribute_addresses(con)
        network_sinks.mark_shared_networks(con)
        companies.refresh(con)
        addresses.drop_matches(con)
    sessionize(con)
    with database.transaction(con):
        companies.refresh(con)


def _as_if_recomputed(con) -> None:
    """Every row carries its network's company, and every company the first and last visit of its rows."""
    for table in ("pending_pageviews", "pageviews", "visits"):
        assert con.execute(
            f"SELECT count(*) FROM {table} t JOIN ({_CURRENT}) c USING (network_id) "
            "WHERE t.company_id IS DISTINCT FROM c.company_id").fetchall()[0][0] == 0, table
    assert con.execute(
        """
        SELECT count(*) FROM companies c JOIN (
            SELECT company_id, min(first) AS first, max(last) AS last FROM (
                SELECT company_id, started_at AS first, ended_at AS last FROM visits
                UNION ALL SELECT company_id, first_visit, last_visit FROM company_sources
            ) WHERE company_id IS NOT NULL GROUP BY company_id) s USING (company_id)
        WHERE c.first_seen IS DISTINCT FROM s.first OR c.last_seen IS DISTINCT FROM s.last
        """
    ).fetchall()[0][0] == 0


class _Recording:
    """A connection that remembers the statements run through it."""

    def __init__(self, con):
        self.con, self.statements = con, []

    def execute(self, sql, *args):
        self.statements.append(" ".join(sql.split()))
        return self.con.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self.con, name)


def _seen(con, name):
    return con.execute("SELECT first_seen, last_seen FROM companies WHERE name = ?", [name]).fetchall()[0]


def test_a_refresh_follows_the_night_and_ends_as_a_full_recompute_would():
    con = database.connect(":memory:")
    _store(con, "85.1.1.0/24", "Alfa Oy", "company", "organisation-entity")
    _store(con, "85.1.2.0/24", "Beta Oy", "company", "organisation-entity")
    _store(con, "85.1.3.0/24", "Pool", "isp", "keyword")
    day = timedelta(days=1)
    _night(con, 1, [("85.1.1.5", DAY1), ("85.1.2.5", DAY1), ("85.1.3.5", DAY1)])
    _as_if_recomputed(con)
    assert _seen(con, "Alfa Oy") == (DAY1, DAY1)
    # a late line of the first day (merging into its visit) and a new day
    _night(con, 2, [("85.1.1.5", DAY1 + timedelta(minutes=20)), ("85.1.1.5", DAY1 + day), ("85.1.2.5", DAY1 + day)])
    _as_if_recomputed(con)
    assert _seen(con, "Alfa Oy") == (DAY1, DAY1 + day)
    # thirty visitors on one day: Beta's network is shared, its rows are nobody's
    _night(con, 3, [(f"85.1.2.{n}", DAY1 + 2 * day) for n in range(10, 40)])
    _as_if_recomputed(con)
    assert con.execute("SELECT kind FROM networks WHERE org_name = 'Beta Oy'").fetchall() == [("isp",)]
    assert con.execute("SELECT count(*) FROM companies WHERE name = 'Beta Oy'").fetchall() == [(0,)]  # a phantom
    # the operator says the pool is Alfa's office after all; an export knows Alfa from earlier
    network_sinks.set_override(con, "85.1.3.0/24", "company", NOW)
    upsert_source_rows(con, "leadfeeder", [LeadRow("Gamma Oy", 2, website="gamma.example", country="FI",
                                                   first_visit=DAY1 - 9 * day, last_visit=DAY1 - 8 * day)],
                       "x.csv", 4, NOW)
    with database.transaction(con):
        companies.refresh(con)
    _as_if_recomputed(con)
    assert _seen(con, "Gamma Oy") == (DAY1 - 9 * day, DAY1 - 8 * day)
    # retention deletes the first day: Alfa's first visit is now its second day's
    con.execute("DELETE FROM pageviews WHERE ts < ?", [DAY1 + day])
    con.execute("DELETE FROM visits WHERE ended_at < ?", [DAY1 + day])
    with database.transaction(con):
        companies.refresh(con)
    _as_if_recomputed(con)
    assert _seen(con, "Alfa Oy") == (DAY1 + day, DAY1 + day)
    # a rerun of a night already loaded: the refresh rewrites nothing and reads no visit
    recording = _Recording(con)
    with database.transaction(con):
        companies.refresh(recording)
    assert not [s for s in recording.statements
                if s.startswith(("UPDATE pageviews", "UPDATE visits", "UPDATE companies", "INSERT"))]
    assert not [s for s in recording.statements if "FROM visits" in s and "min(ended_at)" not in s]


def test_an_older_database_is_checked_once_then_incrementally(tmp_path):
    con = database.connect(":memory:")
    _store(con, "85.1.1.0/24", "Alfa Oy", "company", "organisation-entity")
    _night(con, 1, [("85.1.1.5", DAY1)])
    # as a version before network_attributions left it: rows wrong, no record of a complete pass
    con.execute("UPDATE visits SET company_id = 'org-stale'")
    con.execute("UPDATE companies SET first_seen = NULL")
    con.execute("DELETE FROM pipeline_state")
    with database.transaction(con):
        companies.refresh(con)
    _as_if_recomputed(con)
    assert con.execute("SELECT count(*) FROM networks WHERE attributed_at IS NULL").fetchall() == [(0,)]


def test_rows_an_operator_list_takes_leave_their_old_company_with_its_own_first_visit():
    con = database.connect(":memory:")
    _store(con, "85.1.1.0/24", "Alfa Oy", "company", "organisation-entity")
    _night(con, 1, [("85.1.1.5", DAY1)])
    _night(con, 2, [("85.1.1.200", DAY1 + timedelta(days=3))])
    assert _seen(con, "Alfa Oy") == (DAY1, DAY1 + timedelta(days=3))
    # the operator's list says 85.1.1.0/25 is Omega's: the next night the first visitor's old rows go with it
    network_sinks.store_networks(con, [Network(start_ip="85.1.1.0", end_ip="85.1.1.127", source="operator",
                                               org_name="Omega Oy", country="FI", kind="company", rule="operator-list")],
                                 NOW, None)
    _night(con, 3, [("85.1.1.5", DAY1 + timedelta(days=5))])
    _as_if_recomputed(con)
    assert _seen(con, "Alfa Oy") == (DAY1 + timedelta(days=3), DAY1 + timedelta(days=3))
    assert _seen(con, "Omega Oy") == (DAY1, DAY1 + timedelta(days=5))
