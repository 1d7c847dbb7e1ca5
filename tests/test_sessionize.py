"""Incremental sessions (sinks/visits.py): only the visits a night reaches are recomputed, and the
result is the one grouping the whole history again gives — same visit ids, same rows."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pytest

from sinks import database
from sinks.visits import sessionize
from tests.conftest import combined, ingest, write_log

GAP = timedelta(minutes=30)
START = datetime(2026, 11, 1, 8, 0, tzinfo=timezone.utc)
_COLUMNS = ("pageview_id", "visitor_key", "client_key", "client_prefix", "ts", "path", "status", "referrer",
            "utm_source", "utm_medium", "utm_campaign", "stream", "run_id", "network_id", "company_id")
_SCHEMA = pa.schema([(c, pa.int64() if c == "run_id" else pa.int16() if c == "status"
                      else pa.timestamp("us", tz="UTC") if c == "ts" else pa.string()) for c in _COLUMNS])


def _pageview(number: int, visitor: str, ts: datetime, rng: random.Random) -> dict:
    return {"pageview_id": f"pv{number:06d}", "visitor_key": visitor, "client_key": "c-" + visitor,
            "client_prefix": None, "ts": ts, "path": rng.choice(["/", "/pricing", "/contact", "/blog/x"]),
            "status": 200, "referrer": rng.choice([None, "https://www.google.com/"]),
            "utm_source": rng.choice([None, None, "news"]), "utm_medium": None, "utm_campaign": None,
            "stream": "access.log", "run_id": 1,
            # attribution may differ between pageviews of one second: ties are broken by id
            "network_id": rng.choice(["net-a", "net-b"]), "company_id": rng.choice([None, "co-1"])}


def _history(rng: random.Random, visitors: int = 6, per_visitor: int = 40) -> list[dict]:
    """Pageviews whose gaps are often exactly the session gap, a second either side, or zero."""
    steps = [timedelta(0), timedelta(seconds=1), GAP - timedelta(seconds=1), GAP, GAP + timedelta(seconds=1),
             timedelta(minutes=5), timedelta(minutes=45), timedelta(hours=20), timedelta(days=3)]
    rows, number = [], 0
    for v in range(visitors):
        ts = START + timedelta(minutes=rng.randrange(0, 600))
        for _ in range(rng.randrange(1, per_visitor)):
            rows.append(_pageview(number, f"visitor-{v}", ts, rng))
            number += 1
            ts += rng.choice(steps)
    return rows


def _batches(rows: list[dict], rng: random.Random, how: str) -> list[list[dict]]:
    """Split a history into the nights that bring it, in the ways real logs arrive."""
    k = rng.randrange(2, 8)
    if how == "shuffled":  # any pageview in any run: late lines, out-of-order files
        batches = [[] for _ in range(k)]
        for row in rows:
            batches[rng.randrange(k)].append(row)
    elif how == "chronological":  # night by night, a few lines a night late
        ordered = sorted(rows, key=lambda r: r["ts"])
        cuts = sorted(rng.sample(range(1, len(ordered)), min(k - 1, len(ordered) - 1))) if len(ordered) > 1 else []
        batches = [ordered[a:b] for a, b in zip([0, *cuts], [*cuts, len(ordered)])]
        for i in range(len(batches) - 1):
            late = [r for r in batches[i] if rng.random() < 0.1]
            batches[i] = [r for r in batches[i] if r not in late]
            batches[i + 1].extend(late)
    else:  # "bridges": every other pageview of a visitor first, the ones between afterwards (merges visits)
        ordered = sorted(rows, key=lambda r: (r["visitor_key"], r["ts"], r["pageview_id"]))
        batches = [ordered[::2], ordered[1::2]]
        rng.shuffle(batches[1])
        batches = [batches[0], batches[1][: len(batches[1]) // 2], batches[1][len(batches[1]) // 2:]]
    return [b for b in batches if b]


def _load(con, rows: list[dict]) -> dict:
    con.register("new_rows", pa.Table.from_pylist(rows, schema=_SCHEMA))
    con.execute(f"INSERT INTO pending_pageviews ({', '.join(_COLUMNS)}) SELECT * FROM new_rows")
    con.unregister("new_rows")
    return sessionize(con, 30)


def _state(con):
    # visit ids are unique by construction (migration 013 dropped the index that enforced it)
    assert con.execute("SELECT count(*) = count(DISTINCT visit_id) FROM visits").fetchall() == [(True,)]
    return (con.execute("SELECT * FROM visits ORDER BY visit_id").fetchall(),
            con.execute("SELECT * EXCLUDE (run_id) FROM pageviews ORDER BY pageview_id").fetchall(),
            con.execute("SELECT count(*) FROM pending_pageviews").fetchall())


def _groups_in_python(rows: list[dict]) -> set[frozenset]:
    """The visits by definition, without SQL: per visitor by (time, id), a new one after a gap over 30 min."""
    groups, current, last = set(), [], None
    for row in sorted(rows, key=lambda r: (r["visitor_key"], r["ts"], r["pageview_id"])):
        if last is not None and (row["visitor_key"] != last["visitor_key"] or row["ts"] - last["ts"] > GAP):
            groups.add(frozenset(current))
            current = []
        current.append(row["pageview_id"])
        last = row
    if current:
        groups.add(frozenset(current))
    return groups


@pytest.mark.parametrize("how", ["shuffled", "chronological", "bridges"])
@pytest.mark.parametrize("seed", range(12))
def test_incremental_sessions_equal_grouping_the_whole_history_again(seed, how):
    rng = random.Random(seed * 31 + len(how))
    rows = _history(rng)
    incremental, scratch = database.connect(":memory:"), database.connect(":memory:")
    batches = _batches(rows, rng, how)
    changes = [_load(incremental, batches[0])]
    first_visits = dict(incremental.execute("SELECT pageview_id, visit_id FROM pageviews").fetchall())
    changes += [_load(incremental, batch) for batch in batches[1:]]
    everything = _load(scratch, rows)
    assert _state(incremental) == _state(scratch)
    assert sum(c["visits"] for c in changes) == everything["visits"]
    assert sum(c["pageviews_loaded"] for c in changes) == len(rows)
    grouped = incremental.execute("SELECT list(pageview_id) FROM pageviews GROUP BY visit_id").fetchall()
    assert {frozenset(ids) for (ids,) in grouped} == _groups_in_python(rows)
    if how == "bridges":  # the pageviews in between did merge visits of the first night
        assert any(len({first_visits[i] for i in ids if i in first_visits}) > 1 for (ids,) in grouped)


def _at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


def test_only_the_visits_within_the_gap_of_a_new_pageview_are_recomputed(con):
    rng = random.Random(1)
    # visitor-0: visits at 0..10, 60..65, 200 (three visits); visitor-1: one at 0
    history = [_pageview(i, "visitor-0", _at(m), rng) for i, m in enumerate([0, 10, 60, 65, 200])]
    history.append(_pageview(9, "visitor-1", _at(0), rng))
    assert _load(con, history)["visits"] == 4
    untouched = con.execute("SELECT * FROM visits WHERE started_at >= ? OR visitor_key = 'visitor-1'",
                            [_at(200)]).fetchall()
    # 35 min: within the gap of the first visit's end (10) and of the second's start (60): they merge
    stats = _load(con, [_pageview(20, "visitor-0", _at(35), rng)])
    assert stats == {"pageviews_loaded": 1, "visitors_sessionized": 1, "visits": -1, "visits_touched": 1}
    assert con.execute("SELECT started_at, ended_at, pageviews FROM visits WHERE visitor_key = 'visitor-0' "
                       "ORDER BY started_at").fetchall() == [(_at(0), _at(65), 5), (_at(200), _at(200), 1)]
    assert con.execute("SELECT * FROM visits WHERE started_at >= ? OR visitor_key = 'visitor-1'",
                       [_at(200)]).fetchall() == untouched
    # exactly the gap after a visit's end continues it; a second more starts a new one
    assert _load(con, [_pageview(21, "visitor-0", _at(230), rng)])["visits"] == 0
    assert _load(con, [_pageview(22, "visitor-0", _at(260) + timedelta(seconds=1), rng)])["visits"] == 1
    assert con.execute("SELECT count(*) FROM pageviews p JOIN visits v USING (visit_id)").fetchall() == [(9,)]


def test_a_load_without_pending_pageviews_writes_nothing(con):
    _load(con, [_pageview(1, "visitor-0", _at(0), random.Random(2))])
    before = _state(con)
    assert sessionize(con) == {"pageviews_loaded": 0, "visitors_sessionized": 0, "visits": 0, "visits_touched": 0}
    assert _state(con) == before


def test_logs_read_in_any_order_over_several_nights_make_the_same_visits(tmp_path):
    rng = random.Random(5)
    clients = ["85.76.1.10", "85.76.1.11", "193.166.2.3"]
    stamps = sorted(START + timedelta(minutes=rng.choice([0, 29, 30, 31, 45, 120]) * i // 3)
                    + timedelta(seconds=rng.randrange(2)) for i in range(60))
    lines = [combined(client=rng.choice(clients), ts=ts.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                      request=f"GET /p{i % 7} HTTP/1.1") for i, ts in enumerate(stamps)]
    files = [write_log(tmp_path / name, part) for name, part in
             (("access.log.3", lines[40:]), ("access.log.1", lines[::3][:10]), ("access.log.2", lines[:40]))]
    nightly, once = database.connect(":memory:"), database.connect(":memory:")
    for path in files:  # out of order, each file a run
        ingest(nightly, path)
    ingest(once, *files)
    query = ("SELECT v.* , list(p.pageview_id ORDER BY p.pageview_id) FROM visits v JOIN pageviews p USING (visit_id) "
             "GROUP BY ALL ORDER BY v.visit_id")
    assert nightly.execute(query).fetchall() == once.execute(query).fetchall()
