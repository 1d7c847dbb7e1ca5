"""The trade register in DuckDB: storing entries, cached searches, candidates, company updates.

What the register's industry makes of a network, and which networks it may
decide, is ``enrich/classify.py``'s to say; this module applies it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import pyarrow as pa

from enrich import classify as decide
from enrich.matching import normalise
from enrich.ytj import Company
from sinks import companies


def store_entries(
    con: duckdb.DuckDBPyConnection, companies: list[Company], source: str, now: datetime, ttl_days: int | None
) -> int:
    """Insert or replace register entries (by Business ID)."""
    if not companies:
        return 0
    expires = now + timedelta(days=ttl_days) if ttl_days else None
    plain = ("business_id", "name", "company_form", "industry_code", "industry_code_set", "industry", "city",
             "post_code", "website", "status", "trade_register_status", "register_status", "active", "end_date",
             "last_modified")
    columns = {name: [getattr(c, name) for c in companies] for name in plain}
    columns["all_names"] = [list(c.all_names) for c in companies]
    columns["normalised_names"] = [sorted({normalise(n) for n in c.all_names}) for c in companies]
    con.register("incoming_register", pa.table(columns))
    con.execute(
        f"""
        INSERT OR REPLACE INTO register_companies
            ({", ".join(plain)}, all_names, normalised_names, source, fetched_at, expires_at)
        SELECT {", ".join(plain)}, all_names, normalised_names, $source, $now, CAST($expires AS TIMESTAMPTZ)
        FROM incoming_register
        """,
        {"source": source, "now": now, "expires": expires},
    )
    con.unregister("incoming_register")
    return len(companies)


def _company(row: tuple, names: list[str]) -> Company:
    (business_id, name, form, code, code_set, industry, city, post_code, website, status, trade_status,
     register_status, active, end_date) = row
    situations = () if active or end_date or register_status in (None, "active") else tuple(register_status.split("; "))
    return Company(
        business_id=business_id, name=name, company_form=form, industry_code=code, industry_code_set=code_set,
        industry=industry, city=city, post_code=post_code, website=website, status=status,
        trade_register_status=trade_status, situations=situations, end_date=end_date, all_names=tuple(names),
    )


_ENTRY_COLUMNS = """business_id, name, company_form, industry_code, industry_code_set, industry, city, post_code,
                    website, status, trade_register_status, register_status, active, end_date, all_names"""


def entries(con: duckdb.DuckDBPyConnection, business_ids: list[str], now: datetime) -> list[Company]:
    """Register entries by Business ID: bulk ones always, API ones while unexpired."""
    if not business_ids:
        return []
    rows = con.execute(
        f"""
        SELECT {_ENTRY_COLUMNS} FROM register_companies
        WHERE business_id IN (SELECT unnest($ids)) AND (expires_at IS NULL OR expires_at > $now)
        """,
        {"ids": business_ids, "now": now},
    ).fetchall()
    return [_company(row[:-1], row[-1]) for row in rows]


def local_candidates(con: duckdb.DuckDBPyConnection, name: str, now: datetime, limit: int = 200) -> list[Company]:
    """Entries sharing the name's most distinctive normalised word, for the matcher to score."""
    words = sorted(normalise(name).split(), key=len, reverse=True)
    if not words:
        return []
    rows = con.execute(
        f"""
        SELECT {_ENTRY_COLUMNS} FROM register_companies
        WHERE (expires_at IS NULL OR expires_at > $now)
          AND len(list_filter(normalised_names, lambda n: contains(' ' || n || ' ', ' ' || $word || ' '))) > 0
        LIMIT $limit
        """,
        {"word": words[0], "now": now, "limit": limit},
    ).fetchall()
    return [_company(row[:-1], row[-1]) for row in rows]


def cached_query(con: duckdb.DuckDBPyConnection, kind: str, query: str, location: str, now: datetime) -> list[str] | None:
    """The Business IDs an earlier, unexpired register search returned; None if never asked."""
    rows = con.execute(
        "SELECT business_ids FROM register_queries WHERE kind = ? AND query = ? AND location = ? AND expires_at > ?",
        [kind, query, location, now],
    ).fetchall()
    return list(rows[0][0]) if rows else None


def remember_query(
    con: duckdb.DuckDBPyConnection, kind: str, query: str, location: str, business_ids: list[str],
    now: datetime, ttl_days: int,
) -> None:
    con.execute(
        "INSERT OR REPLACE INTO register_queries VALUES (?, ?, ?, ?, ?, ?)",
        [kind, query, location, business_ids, now, now + timedelta(days=ttl_days)],
    )


def companies_to_enrich(con: duckdb.DuckDBPyConnection, now: datetime, ttl_days: int) -> list[tuple]:
    """(company_id, business_id, name, country, city, website) not checked against the register lately."""
    return con.execute(
        """
        SELECT company_id, business_id, name, country, city, website FROM companies
        WHERE kind = 'company' AND (register_checked_at IS NULL OR register_checked_at < $stale)
        ORDER BY company_id
        """,
        {"stale": now - timedelta(days=ttl_days)},
    ).fetchall()


def apply_match(
    con: duckdb.DuckDBPyConnection, company_id: str, company: Company | None, method: str, confidence: float | None,
    matched_name: str | None, now: datetime,
) -> str:
    """Write a register match onto a company; merge it into an existing row with the same Business ID.

    Returns the company id the organisation now has.
    """
    if company is None:
        con.execute(
            "UPDATE companies SET match_method = ?, match_confidence = ?, register_checked_at = ? WHERE company_id = ?",
            [method, confidence, now, company_id],
        )
        return company_id
    holder = companies.claim_business_id(con, company_id, company.business_id)
    if holder != company_id:
        return holder
    con.execute(
        """
        UPDATE companies SET business_id = $bid, name = $name, country = 'FI', company_form = $form,
               industry_code = $code, industry_code_set = $code_set, industry = $industry, city = $city,
               website = $website, register_status = $status, match_method = $method,
               match_confidence = $confidence, matched_name = $matched, register_checked_at = $now
        WHERE company_id = $id
        """,
        {"bid": company.business_id, "name": company.name, "form": company.company_form,
         "code": company.industry_code, "code_set": company.industry_code_set, "industry": company.industry,
         "city": company.city, "website": company.website, "status": company.register_status,
         "method": method, "confidence": confidence, "matched": matched_name, "now": now, "id": company_id},
    )
    return company_id


def classify_by_industry(con: duckdb.DuckDBPyConnection) -> int:
    """Company networks whose registered organisation's industry says another kind take it
    (``classify.INDUSTRY_KINDS``: telecom, hosting, public bodies, schools).

    Lists and stronger decisions (``classify.PRECEDENCE``) are left alone.
    """
    con.register("industry_kinds", pa.table({"prefix": [p for p, _ in decide.INDUSTRY_KINDS],
                                             "kind": [k for _, k in decide.INDUSTRY_KINDS]}))
    changed = con.execute(
        """
        UPDATE networks SET kind = m.kind, kind_rule = $rule,
               kind_signals = to_json(['register industry ' || m.industry_code || ' ' || coalesce(m.industry, '')
                                       || ' of ' || m.name || ' (' || m.business_id || ')'])
        FROM (
            SELECT a.alias_id, c.industry_code, c.industry, c.name, c.business_id, k.kind
            FROM (SELECT alias_id, company_id FROM company_aliases
                  UNION ALL SELECT company_id, company_id FROM companies) a
            JOIN companies c ON c.company_id = a.company_id
            JOIN industry_kinds k ON starts_with(c.industry_code, k.prefix)
            QUALIFY row_number() OVER (PARTITION BY a.alias_id ORDER BY length(k.prefix) DESC) = 1
        ) m
        WHERE networks.company_id = m.alias_id AND networks.kind = 'company'
          AND list_contains($sources, networks.source) AND networks.kind_rule NOT IN (SELECT unnest($stronger))
        """,
        {"rule": decide.REGISTER_INDUSTRY, "sources": list(decide.FINDINGS_SOURCES),
         "stronger": list(decide.stronger_than(decide.REGISTER_INDUSTRY))},
    ).fetchall()[0][0]
    con.unregister("industry_kinds")
    return changed


def networks_for_the_register(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str | None, str | None, str]]:
    """(network_id, org_name, remarks, rule) of networks whose kind the trade register decides
    (``classify.REGISTER_DECIDES``): its kind rests on a name alone.

    ``name-keyword``: only words of the holder's own name made it a non-company;
    ``unconfirmed-name``: its description names someone without a legal form.
    """
    return con.execute(
        """
        SELECT network_id, org_name, remarks, kind_rule FROM networks
        WHERE list_contains($sources, source) AND kind_rule IN (SELECT unnest($rules))
          AND upper(coalesce(country, '')) = $country ORDER BY network_id
        """,
        {"sources": list(decide.FINDINGS_SOURCES), "rules": list(decide.REGISTER_DECIDES),
         "country": decide.REGISTER_COUNTRY},
    ).fetchall()


def classify_network_by_register(con: duckdb.DuckDBPyConnection, network_id: str, company: Company, named: str) -> bool:
    """A network whose organisation the register knows takes the kind :func:`classify.register_decision`
    gives; True if it changed."""
    decision = decide.register_decision(company, named)
    if decision is None:
        return False
    return con.execute(
        """
        UPDATE networks SET kind = $kind, kind_rule = $rule, org_name = $name, kind_signals = to_json([$signal])
        WHERE network_id = $id
        """,
        {"kind": decision[0], "rule": decide.REGISTER_INDUSTRY, "id": network_id, "name": company.name,
         "signal": decision[1]},
    ).fetchall()[0][0] > 0
