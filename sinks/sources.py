"""Companies named by other sources (Leadfeeder-style exports): one row per organisation.

An exported company is the same organisation as a stored one when, in this
order, their Business IDs agree (validated), their normalised names and
countries agree, or their website domains agree; otherwise it is a new company
that the enrich stage will match to the register (and merge by Business ID).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

import duckdb
from stdnum.fi import ytunnus

from enrich.leadfeeder import LeadRow
from enrich.matching import domain, normalise
from sinks import companies


def source_key(row: LeadRow) -> str:
    """The organisation's identity within its source: stable across exports."""
    if row.business_id and ytunnus.is_valid(row.business_id):
        return ytunnus.format(row.business_id)
    return f"{normalise(row.name)}|{(row.country or '').upper()}|{domain(row.website) or ''}"


def _company_index(con: duckdb.DuckDBPyConnection) -> tuple[dict, dict, dict]:
    by_business_id, by_name, by_domain = {}, {}, {}
    for company_id, business_id, name, country, website in con.execute(
        "SELECT company_id, business_id, name, country, website FROM companies ORDER BY company_id"
    ).fetchall():
        if business_id:
            by_business_id.setdefault(business_id, company_id)
        by_name.setdefault((normalise(name), (country or "").upper()), company_id)
        if domain(website):
            by_domain.setdefault(domain(website), company_id)
    for company_id, name, country, website in con.execute(
        "SELECT company_id, name, country, website FROM company_sources ORDER BY company_id"
    ).fetchall():
        by_name.setdefault((normalise(name), (country or "").upper()), company_id)
        if domain(website):
            by_domain.setdefault(domain(website), company_id)
    return by_business_id, by_name, by_domain


def upsert_source_rows(
    con: duckdb.DuckDBPyConnection, source: str, rows: list[LeadRow], file: str, run_id: int, now: datetime,
    erased: Callable[[str | None, str | None], bool] = lambda business_id, name: False,
) -> dict:
    """Attach each row to its company (creating it if new) and keep the source's figures.

    Idempotent: the same export twice changes nothing; an export whose last
    visit is newer replaces the figures; an older one changes nothing.
    """
    by_business_id, by_name, by_domain = _company_index(con)
    counts = {"rows": len(rows), "suppressed": 0, "companies_new": 0, "matched_business_id": 0, "matched_name": 0,
              "matched_website": 0, "updated": 0, "unchanged": 0}
    for row in rows:
        business_id = ytunnus.format(row.business_id) if row.business_id and ytunnus.is_valid(row.business_id) else None
        if erased(business_id, row.name):
            counts["suppressed"] += 1  # an erased sole trader is never imported again, by Business ID or name
            continue
        country = (row.country or ("FI" if business_id else "")).upper() or None
        name_key = (normalise(row.name), (country or "").upper())
        site = domain(row.website)
        if business_id and business_id in by_business_id:
            company_id, how = by_business_id[business_id], "matched_business_id"
        elif name_key in by_name:
            company_id, how = by_name[name_key], "matched_name"
        elif site and site in by_domain:
            company_id, how = by_domain[site], "matched_website"
        else:
            company_id = business_id or companies.source_company_id(row.name, country)
            how = "companies_new"
            con.execute(
                """
                INSERT INTO companies (company_id, business_id, name, country, kind, city, website, match_method)
                VALUES (?, ?, ?, ?, 'company', ?, ?, ?)
                ON CONFLICT (company_id) DO NOTHING
                """,
                [company_id, business_id, row.name, country, row.city, row.website,
                 f"{source}-business-id" if business_id else None],
            )
            if business_id:
                by_business_id[business_id] = company_id
            by_name[name_key] = company_id
            if site:
                by_domain[site] = company_id
        counts[how] += 1
        key = source_key(row)
        stored = con.execute(
            "SELECT last_visit FROM company_sources WHERE source = ? AND source_key = ?", [source, key]
        ).fetchall()
        if stored and (row.last_visit is None or (stored[0][0] is not None and row.last_visit <= stored[0][0])):
            counts["unchanged"] += 1
            continue
        counts["updated"] += 1
        con.execute(
            """
            INSERT OR REPLACE INTO company_sources VALUES
                (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [source, key, company_id, row.name, row.website, row.industry, row.employees, business_id, country,
             row.city, row.first_visit, row.last_visit, row.visits, row.pageviews, row.quality, row.source,
             row.medium, json.dumps(row.extra, ensure_ascii=False, default=str), file, run_id, now],
        )
    return counts
