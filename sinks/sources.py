"""Companies named by other sources (Leadfeeder-style exports): their figures, per company.

An exported organisation is the company ``sinks/companies.py`` finds for it
(Business ID, name, website) or a new one it creates; the enrich stage then
matches new ones to the register (and merges by Business ID).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

import duckdb

from enrich.business_ids import valid_or_none
from enrich.classify import KnownOrganisation, known_kind
from enrich.identity import identity_key, is_evidence_domain, is_private_person
from enrich.leadfeeder import LeadRow
from enrich.matching import domain, normalise
from sinks import companies


def source_key(row: LeadRow) -> str:
    """The organisation's identity within its source: stable across exports."""
    if valid_or_none(row.business_id):
        return valid_or_none(row.business_id)
    return f"{normalise(row.name)}|{(row.country or '').upper()}|{domain(row.website) or ''}"


def upsert_source_rows(
    con: duckdb.DuckDBPyConnection, source: str, rows: list[LeadRow], file: str, run_id: int, now: datetime,
    erased: Callable[[str | None, str | None], bool] = lambda business_id, name: False,
    known: tuple[KnownOrganisation, ...] = (),
) -> dict:
    """Attach each row to its company (creating it if new) and keep the source's figures.

    Idempotent: the same export twice changes nothing; an export whose last
    visit is newer replaces the figures; an older one changes nothing.

    A new organisation named like an internet, mobile or hosting operator of the network lists (same
    identity key) or of the curated ``known`` organisations is created with that kind, so it is never a
    lead; "Private person" rows are no organisation; a mailbox provider's domain is no website.
    """
    index, operators = companies.CompanyIndex(con), _operator_kinds(con)
    counts = {"rows": len(rows), "suppressed": 0, "not_organisations": 0, "companies_new": 0,
              "matched_business_id": 0, "matched_name": 0, "matched_website": 0, "updated": 0, "unchanged": 0}
    for row in rows:
        business_id = valid_or_none(row.business_id)
        if erased(business_id, row.name):
            counts["suppressed"] += 1  # an erased sole trader is never imported again, by Business ID or name
            continue
        if not business_id and is_private_person(row.name):
            counts["not_organisations"] += 1  # "Private person": nobody's company, never stored
            continue
        country = (row.country or ("FI" if business_id else "")).upper() or None
        website = row.website if is_evidence_domain(domain(row.website)) else None  # never gmail.com
        # an operator the network lists or the curated list name is never a lead, whoever exported it
        kind = "company" if business_id else exported_kind(row.name, operators, known)
        company_id, how = index.ensure(
            con, business_id=business_id, name=row.name, country=country, origin="export", city=row.city,
            website=website, match_method=f"{source}-business-id" if business_id else None, kind=kind)
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


def exported_kind(name: str, operators: dict[str, str], known: tuple[KnownOrganisation, ...]) -> str:
    """The kind of an organisation an export names without a Business ID: an operator's (the network lists'
    by identity key, else the curated list's), ``unknown`` for a private person, else ``company``."""
    if is_private_person(name):
        return "unknown"
    return operators.get(identity_key(name)) or known_kind(known, name) or "company"


def classify_exported(con: duckdb.DuckDBPyConnection, known: tuple[KnownOrganisation, ...]) -> int:
    """Companies only an export made (``src-…``, no Business ID) take the kind :func:`exported_kind` gives
    them now: rows an earlier version stored as companies ("Elisa Oyj", "Private person"), and rows whose
    operator a later list names. Returns the rows changed."""
    rows = con.execute(
        "SELECT company_id, name, kind FROM companies WHERE starts_with(company_id, 'src-') AND business_id IS NULL"
    ).fetchall()
    if not rows:
        return 0
    operators = _operator_kinds(con)
    changed = [(company_id, kind) for company_id, name, was in rows
               if (kind := exported_kind(name, operators, known)) != was and was in ("company", "unknown", "isp",
                                                                                       "mobile", "hosting")]
    if changed:
        con.execute("UPDATE companies SET kind = c.kind FROM (SELECT unnest($ids) AS company_id, unnest($kinds) AS kind) c"
                    " WHERE companies.company_id = c.company_id",
                    {"ids": [c for c, _ in changed], "kinds": [k for _, k in changed]})
    return len(changed)


def _operator_kinds(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Identity keys of the organisations networks name as operators (ISP, mobile, hosting) → their kind."""
    kinds: dict[str, str] = {}
    for name, kind in con.execute(
        "SELECT DISTINCT org_name, kind FROM networks WHERE kind IN ('isp', 'mobile', 'hosting') "
        "AND org_name IS NOT NULL ORDER BY org_name, kind"
    ).fetchall():
        if identity_key(name):
            kinds.setdefault(identity_key(name), kind)
    return kinds
