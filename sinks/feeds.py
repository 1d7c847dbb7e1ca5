"""Feeds: named selections of the period's leads for one team (``[leadpipe.feeds.NAME]``).

A feed picks rows of :func:`sinks.leads.report_data` by industry (TOL 2008 code prefixes, or words
of the industry's text), city, score, pages visited in the period (regular expressions on paths),
new companies only, and leaves out existing customers (``customers``, imported from a CRM export)
unless told otherwise. Each feed is a section of the HTML report, its own CSV and its own morning
e-mail (``sinks/deliveries.py``).

A company passes a place filter when its city is one of ``cities`` or lies in one of ``regions``
(``enrich/regions.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from enrich.matching import domain
from enrich.regions import REGIONS, region, regions_of
from sinks.leads import Period

#: What a feed's table may hold, and the type each key takes.
FEED_KEYS = {
    "industries": "a list of TOL 2008 code prefixes (\"62\") or words of the industry (\"software\")",
    "cities": "a list of city names",
    "regions": "a list of Finland's regions (maakunnat: \"Pirkanmaa\", \"Uusimaa\"; Finnish, Swedish or English names)",
    "min_score": "a number",
    "pages": "a list of regular expressions on the paths visited",
    "new_only": "true or false",
    "exclude_customers": "true or false",
    "recipients": "a list of e-mail addresses",
    "top": "a positive number (companies in the e-mail)",
    "title": "text",
}
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
_EMAIL = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\".]+")


@dataclass(frozen=True)
class Feed:
    """One feed's definition, as validated from ``leadpipe.toml``."""

    name: str
    title: str
    industries: tuple[str, ...] = ()
    cities: tuple[str, ...] = ()
    min_score: float = 0.0
    pages: tuple[str, ...] = ()
    new_only: bool = False
    exclude_customers: bool = True
    recipients: tuple[str, ...] = field(default=(), repr=False)  # never in a log line
    top: int = 10
    regions: tuple[str, ...] = ()  # Finnish names (enrich/regions.py); a company in a listed city or region


def parse_feeds(value: object) -> tuple[Feed, ...]:
    """``[leadpipe.feeds.NAME]`` tables (or their JSON, from the environment) as :class:`Feed` values.

    Raises:
        ValueError: one line naming the feed and the key: an unknown key, a value of the wrong type,
            a pattern that is not a regular expression, an address that is not one (never quoted).
    """
    if isinstance(value, str):
        import json

        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError("expected [leadpipe.feeds.NAME] tables (or their JSON)") from None
    if not isinstance(value, dict):
        raise ValueError("expected [leadpipe.feeds.NAME] tables")
    return tuple(_feed(str(name), table) for name, table in value.items())


def _feed(name: str, table: object) -> Feed:
    if not _NAME.fullmatch(name):
        raise ValueError(f"feed {name!r}: a name is 1-40 lowercase letters, digits, - or _ (it names files)")
    if not isinstance(table, dict):
        raise ValueError(f"feed {name!r}: expected a table [leadpipe.feeds.{name}]")
    unknown = sorted(set(table) - set(FEED_KEYS))
    if unknown:
        raise ValueError(f"feed {name!r}: unknown key {unknown[0]!r} (known: {', '.join(FEED_KEYS)})")

    def wrong(key: str) -> ValueError:
        return ValueError(f"feed {name!r}: {key} must be {FEED_KEYS[key]}")

    def texts(key: str) -> tuple[str, ...]:
        items = table.get(key, [])
        items = [items] if isinstance(items, str) else items
        if not isinstance(items, list) or not all(isinstance(i, str) and i.strip() for i in items):
            raise wrong(key)
        return tuple(i.strip() for i in items)

    def flag(key: str, default: bool) -> bool:
        if not isinstance(table.get(key, default), bool):
            raise wrong(key)
        return table.get(key, default)

    min_score, top = table.get("min_score", 0), table.get("top", 10)
    if isinstance(min_score, bool) or not isinstance(min_score, (int, float)):
        raise wrong("min_score")
    if isinstance(top, bool) or not isinstance(top, int) or top <= 0:
        raise wrong("top")
    title = table.get("title", name)
    if not isinstance(title, str):
        raise wrong("title")
    pages = texts("pages")
    for pattern in pages:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"feed {name!r}: pages: {pattern!r} is not a regular expression ({exc})") from None
    regions = []
    for given in texts("regions"):
        if not region(given):
            raise ValueError(f"feed {name!r}: regions: {given!r} is not a region of Finland "
                             f"({', '.join(REGIONS)})")
        regions.append(region(given))
    recipients = texts("recipients")
    for number, address in enumerate(recipients, start=1):
        if not _EMAIL.fullmatch(address):
            raise ValueError(f"feed {name!r}: recipients: entry {number} is not an e-mail address")
    return Feed(name, title, texts("industries"), texts("cities"), float(min_score), pages,
                flag("new_only", False), flag("exclude_customers", True), recipients, top, tuple(regions))


def select(rows: list[dict], feed: Feed, paths: dict[str, set[str]], customers: set[tuple[str, str]],
           industry_codes: dict[str, str | None]) -> list[dict]:
    """The rows ``feed`` picks, in the report's order (pure).

    Args:
        rows: the period's rows (:func:`sinks.leads.report_data`'s ``companies``).
        paths: company_id → every path it visited in the period.
        customers: ``("business_id", "1234567-8")`` and ``("domain", "example.fi")`` pairs.
        industry_codes: company_id → TOL code, for rows that do not carry ``industry_code``.
    """
    cities = {city.casefold() for city in feed.cities}
    patterns = [re.compile(p) for p in feed.pages]
    picked = []
    for row in rows:
        if feed.industries and not _industry_matches(feed.industries, row.get("industry_code")
                                                     or industry_codes.get(row["company_id"]), row.get("industry")):
            continue
        if (cities or feed.regions) and not ((row.get("city") or "").strip().casefold() in cities
                                              or regions_of(row.get("city")) & set(feed.regions)):
            continue
        if (row.get("score") or 0) < feed.min_score or feed.new_only and not row.get("new"):
            continue
        if patterns and not any(p.search(path) for p in patterns for path in paths.get(row["company_id"], ())):
            continue
        if feed.exclude_customers and is_customer(row, customers):
            continue
        picked.append(row)
    return picked


def _industry_matches(wanted: tuple[str, ...], code: str | None, text: str | None) -> bool:
    words = (text or "").casefold()
    for item in wanted:
        if item.isdigit():
            if code and str(code).startswith(item):
                return True
        elif item.casefold() in words:
            return True
    return False


def is_customer(row: dict, customers: set[tuple[str, str]]) -> bool:
    """Whether a report row is an existing customer: by Business ID, or by its website's domain."""
    site = domain(row.get("website"))
    return (("business_id", row.get("business_id")) in customers
            or site is not None and ("domain", site) in customers)


def feed_data(con: duckdb.DuckDBPyConnection, data: dict, feed: Feed) -> dict:
    """``data`` (the report's) narrowed to ``feed``: the same keys, so the CSV writer and the e-mail take it."""
    period: Period = data["period"]
    start, end = period.bounds()
    paths: dict[str, set[str]] = {}
    if feed.pages:  # every path of the period, not the report's top five
        for company_id, path in con.execute(
            """
            SELECT DISTINCT p.company_id, p.path FROM pageviews p
            SEMI JOIN (SELECT visit_id FROM visits WHERE started_at >= $start AND started_at < $end
                       AND company_id IS NOT NULL) v USING (visit_id)
            WHERE p.ts >= $start AND p.company_id IS NOT NULL
            """,
            {"start": start, "end": end},
        ).fetchall():
            paths.setdefault(company_id, set()).add(path)
    codes = dict(con.execute("SELECT company_id, industry_code FROM companies").fetchall()) if feed.industries else {}
    customers = customer_keys(con) if feed.exclude_customers else set()
    rows = select(data["companies"], feed, paths, customers, codes)
    return {**data, "companies": rows, "top": rows[:feed.top], "new": [r for r in rows if r.get("new")],
            "feed": feed}


def customer_keys(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str]]:
    return set(con.execute("SELECT DISTINCT kind, value FROM customers").fetchall())


def feed_csv_path(report_dir: Path, period: Period, feed: Feed) -> Path:
    return report_dir / f"lead-report-{period.end.isoformat()}-{feed.name}.csv"


def find_feed(feeds: tuple[Feed, ...], name: str) -> Feed:
    """The feed called ``name``.

    Raises:
        KeyError: one line listing the defined feeds.
    """
    for feed in feeds:
        if feed.name == name:
            return feed
    defined = ", ".join(f.name for f in feeds) or "none (add [leadpipe.feeds.NAME] to leadpipe.toml)"
    raise KeyError(f"no feed {name!r}; defined feeds: {defined}")
