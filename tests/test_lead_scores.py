"""The lead score (migration 012): the same scores as migration 008 defined, at the cost of the period's
distinct paths; days in the configured time zone; the view is the report's default period."""

import random
from datetime import date, datetime, timedelta, timezone

import duckdb
import pytest

from sinks import database
from sinks.leads import Period, default_period
from sinks.state import record_timezone

UTC = timezone.utc
PATHS = ["/", "/blog/a", "/blog/b", "/pricing", "/fi/hinnasto", "/contact", "/fi/ota-yhteytta", "/book-a-demo",
         "/demo/video", "/quote/42", "/pricing/contact-sales", "/products/configurator", "/careers", "/PRICING"]


def _database(upto: int | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory database with the migrations up to ``upto`` (all by default)."""
    con = database.configure(duckdb.connect(":memory:"))
    for version, _, sql in database.migrations():
        if upto is None or version <= upto:
            con.execute(sql)
    return con


BOUNDS = [
    (datetime(2026, 10, 25, 13, 17, tzinfo=UTC), datetime(2026, 11, 24, 9, 5, tzinfo=UTC)),
    (datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 12, 1, 12, tzinfo=UTC)),  # everything
    (datetime(2026, 11, 10, 6, tzinfo=UTC), datetime(2026, 11, 12, 18, 30, tzinfo=UTC)),
    (datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 9, 2, 1, tzinfo=UTC)),  # nothing
]


def _fill(con: duckdb.DuckDBPyConnection, seed: int = 13) -> None:
    """A varied month: companies of every kind (one objecting, namesakes), a few busy and many quiet ones,
    visits at every hour, several people, intent paths matching one or two patterns, pageviews without a
    company, visits without pageviews (exports), and visits that cross each period's start or end."""
    rng = random.Random(seed)
    kinds = ["company"] * 8 + ["isp", "hosting"]
    companies = [[f"c{i}", f"{1000000 + i}-0" if i % 2 else None, f"Company {i % 23} Oy", kinds[i % len(kinds)],
                  i == 5] for i in range(40)]
    _insert(con, "companies", ["company_id", "business_id", "name", "kind", "marketing_objection"], companies)
    visits, pageviews = [], []

    def visit(company, started, count, gaps=None):
        n = len(visits)
        offsets = gaps or sorted(rng.sample(range(0, 240), max(count, 1)))
        ts = [started + timedelta(minutes=m) for m in offsets]
        visits.append([f"v{n}", company, f"k{rng.randrange(60)}", ts[0], ts[-1], max(count, 1),
                       "log" if count else "leadfeeder"])
        for i in range(count):
            pageviews.append([f"p{n}-{i}", f"v{n}", "k", ts[i], rng.choice(PATHS), 200, "access.log", 1,
                              company if rng.random() < 0.95 else None])

    weights = [1 / (i + 1) for i in range(40)]  # a few busy companies, many quiet ones
    for _ in range(300):
        company = rng.choices([c[0] for c in companies], weights)[0] if rng.random() < 0.8 else None
        count = rng.choice([0, 1, 1, 2, 3, 5, 8]) if rng.random() < 0.9 else 0
        visit(company, datetime(2026, 10, 20, tzinfo=UTC) + timedelta(minutes=rng.randrange(40 * 24 * 60)), count)
    for start, end in BOUNDS:  # visits across the edges: started before the start, or running past the end
        for company in ("c0", "c3", "c12", "c31"):
            visit(company, start - timedelta(minutes=20), 4, [0, 15, 30, 45])
            visit(company, end - timedelta(minutes=20), 4, [0, 15, 30, 45])
    _insert(con, "visits", ["visit_id", "company_id", "visitor_key", "started_at", "ended_at", "pageviews", "source"],
            visits)
    _insert(con, "pageviews", ["pageview_id", "visit_id", "visitor_key", "ts", "path", "status", "stream", "run_id",
                               "company_id"], pageviews)


def _insert(con, table: str, columns: list[str], rows: list[list]) -> None:
    """Rows in one statement (a column list per parameter): executemany is one statement per row."""
    if rows:
        con.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(['unnest(?)'] * len(columns))}",
                    [list(column) for column in zip(*rows)])


def _scores(con, start, end) -> tuple[list, list]:
    result = con.execute("SELECT * FROM lead_scores_for(?, ?) ORDER BY rank", [start, end])
    return [(column[0], column[1]) for column in result.description], result.fetchall()


@pytest.fixture(scope="module")
def old_and_new():
    """008's text in its own database, with the session in the zone its days were counted in (the configured
    zone now; 008 hard-coded Helsinki and used the session's zone for recency), and today's."""
    old, new = _database(upto=11), _database()
    old.execute("SET TimeZone = 'Europe/Helsinki'")
    record_timezone(new, "Europe/Helsinki")
    for con in (old, new):
        _fill(con)
    yield old, new
    old.close()
    new.close()


@pytest.mark.parametrize(("start", "end"), BOUNDS)
def test_scores_are_those_of_migration_008(old_and_new, start, end):
    old, new = old_and_new
    columns, rows = _scores(new, start, end)
    old_columns, old_rows = _scores(old, start, end)
    # Migration 015: sums are BIGINT, not 008's HUGEINT (BI drivers cannot map it); the values are the same.
    # Migration 017: the columns of every other source follow; with visits alone they add nothing.
    width = len(old_columns)
    assert (columns[:width], [r[:width] for r in rows]) == (
        [(name, "BIGINT" if kind == "HUGEINT" else kind) for name, kind in old_columns], old_rows)
    assert "HUGEINT" not in {kind for _, kind in columns}
    assert columns[0] == ("rank", "BIGINT") and columns[width - 2:width] == [("score", "DOUBLE"), ("reasons", "VARCHAR")]
    new_columns = dict(columns[width:])
    assert [r[width:] for r in rows] == [(0.0, 0, None, None, None, None, None, None, r[width + 8], "logs")
                                         for r in rows]
    assert new_columns["form_points"] in ("INTEGER", "DOUBLE") and new_columns["sources"] == "VARCHAR"
    if start.month == 10:
        assert len(rows) > 5 and any("viewed pricing" in r[width - 1] and "viewed contact" in r[width - 1]
                                     for r in rows)


def test_intent_patterns_changed_after_the_fact_are_used():
    con = _database()
    record_timezone(con, "UTC")
    _fill(con)
    con.execute("DELETE FROM intent_pages")
    con.execute("INSERT INTO intent_pages VALUES ('^/careers$', 'jobs')")
    _, rows = _scores(con, datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    reasons = " ".join(r[21] for r in rows)  # the 22nd column since 008
    assert "viewed jobs" in reasons and "pricing" not in reasons


def _one_company(con, visits: list[tuple[datetime, str]]) -> None:
    con.execute("INSERT INTO companies (company_id, name, kind) VALUES ('c1', 'Kalliodata Oy', 'company')")
    for n, (ts, path) in enumerate(visits):
        con.execute("INSERT INTO visits (visit_id, company_id, visitor_key, started_at, ended_at, pageviews, source)"
                    " VALUES (?, 'c1', 'k1', ?, ?, 1, 'log')", [f"v{n}", ts, ts])
        con.execute("INSERT INTO pageviews (pageview_id, visit_id, visitor_key, ts, path, status, stream, run_id,"
                    " company_id) VALUES (?, ?, 'k1', ?, ?, 200, 's', 1, 'c1')", [f"p{n}", f"v{n}", ts, path])


def test_recency_counts_the_configured_zones_days():
    """30 points on the period's last day, 29 the day before — local days, also in the hours where the local
    date and the UTC date differ (01:30 in Helsinki is 23:30 UTC the day before)."""
    con = _database()
    record_timezone(con, "Europe/Helsinki")
    _one_company(con, [(datetime(2026, 11, 23, 23, 30, tzinfo=UTC), "/blog/a")])  # 24.11. 01:30 in Helsinki
    period = Period(date(2026, 11, 1), date(2026, 11, 24), "Europe/Helsinki")
    row = con.execute("SELECT recency_points, visit_points, pageview_points, intent_points, returning_points, score,"
                      " reasons FROM lead_scores_for(?, ?)", list(period.bounds())).fetchall()
    # visits 30 * (1 - e^(-1/5)) = 5.4; pageviews 20 * (1 - e^(-1/15)) = 1.3
    assert row == [(30, 5.4, 1.3, 0.0, 0, 36.7, "1 visit (1 in the last 7); last visit 24.11.2026")]
    earlier = Period(date(2026, 11, 1), date(2026, 11, 25), "Europe/Helsinki")
    assert con.execute("SELECT recency_points FROM lead_scores_for(?, ?)", list(earlier.bounds())).fetchall() == [(29,)]


def test_two_zones_count_different_days():
    """The same data, recorded in two zones: the days of the views, the reasons and the recency follow the zone."""
    late = datetime(2026, 11, 24, 3, 30, tzinfo=UTC)  # 24.11. in Helsinki, still 23.11. in New York
    days = {}
    for zone in ("Europe/Helsinki", "America/New_York"):
        con = _database()
        record_timezone(con, zone)
        _one_company(con, [(late, "/pricing"), (late - timedelta(days=3), "/")])
        days[zone] = (
            con.execute("SELECT day, visits FROM daily_company_activity ORDER BY day").fetchall(),
            con.execute("SELECT recency_points, reasons FROM lead_scores").fetchall(),
        )
    assert days["Europe/Helsinki"] == (
        [(date(2026, 11, 21), 1), (date(2026, 11, 24), 1)],
        [(30, "2 visits (2 in the last 7); viewed pricing once; last visit 24.11.2026")],
    )
    assert days["America/New_York"] == (
        [(date(2026, 11, 20), 1), (date(2026, 11, 23), 1)],
        [(30, "2 visits (2 in the last 7); viewed pricing once; last visit 23.11.2026")],
    )


def test_views_count_utc_days_before_a_zone_is_recorded():
    con = _database()
    _one_company(con, [(datetime(2026, 11, 23, 23, 30, tzinfo=UTC), "/")])
    assert con.execute("SELECT configured_timezone()").fetchall() == [("UTC",)]
    assert con.execute("SELECT day FROM daily_company_activity").fetchall() == [(date(2026, 11, 23),)]


@pytest.mark.parametrize("zone", ["Europe/Helsinki", "America/New_York", "UTC"])
def test_the_view_is_the_reports_default_period(zone):
    """``lead_scores`` holds the scores of the 30 days (configured zone) ending with the last day with visits —
    the report's default period — whatever the session's zone."""
    con = _database()
    record_timezone(con, zone)
    _fill(con, seed=5)
    con.execute("SET TimeZone = 'Asia/Tokyo'")  # an analyst's session elsewhere changes nothing
    period = default_period(con, zone)
    view = con.execute("SELECT * FROM lead_scores ORDER BY rank").fetchall()
    assert view and view == con.execute("SELECT * FROM lead_scores_for(?, ?) ORDER BY rank",
                                        list(period.bounds())).fetchall()


def test_an_older_database_upgrades_in_place():
    """012 over a database that 008 scored: same scores, the zone from then on recorded."""
    con = _database(upto=11)
    _fill(con)
    con.execute("SET TimeZone = 'Europe/Helsinki'")
    before = _scores(con, *BOUNDS[0])
    (sql,) = [sql for version, _, sql in database.migrations() if version == 12]
    con.execute(sql)
    con.execute("SET TimeZone = 'UTC'")
    record_timezone(con, "Europe/Helsinki")
    assert _scores(con, *BOUNDS[0]) == before
