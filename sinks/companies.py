"""Company identity: the one home of company ids, companies named by networks, and merging duplicates.

An organisation gets one row in ``companies`` whichever source names it first
(a network's holder, a Leadfeeder-style export, a form, the register). Ids:
the Business ID when known; otherwise a key of the name (``org-…`` for a
network's organisation, ``src-…`` for an exported one — both kept as they
were, so existing databases keep their ids). When two rows turn out to be one
organisation — the same Business ID, the same name and country, or the same
website and nearly the same name — the later one becomes an alias of the first
(``company_aliases``) and everything that pointed at it moves over.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict

import duckdb
from rapidfuzz import fuzz

from enrich.matching import COMPANY_FORMS, EDGE_COMPANY_FORMS, domain, fold, normalise

#: Tables whose rows belong to a company, re-pointed when it merges into another.
_COMPANY_ROWS = ("visits", "pageviews", "pending_pageviews", "company_sources", "contacts")
#: Mailbox, social and site-builder domains shared by unrelated organisations: never evidence of identity.
SHARED_DOMAINS = frozenset({
    "gmail.com", "googlemail.com", "hotmail.com", "hotmail.fi", "outlook.com", "live.com", "yahoo.com",
    "icloud.com", "me.com", "protonmail.com", "proton.me", "luukku.com", "suomi24.fi", "elisanet.fi",
    "kolumbus.fi", "welho.com", "dnainternet.net", "sonera.fi", "saunalahti.fi", "facebook.com",
    "linkedin.com", "instagram.com", "x.com", "twitter.com", "youtube.com", "linktr.ee", "business.site",
    "sites.google.com", "google.com", "wix.com", "wixsite.com", "squarespace.com", "webnode.fi", "webnode.com",
    "wordpress.com", "blogspot.com", "github.io", "netlify.app", "vercel.app", "carrd.co", "business.facebook.com",
})
SHARED_DOMAIN_SUFFIXES = (".wixsite.com", ".wordpress.com", ".blogspot.com", ".github.io", ".netlify.app",
                          ".webnode.fi", ".webnode.com", ".business.site", ".carrd.co")
#: Two rows on one website are one organisation only when their names are this alike (0-100):
#: a group's subsidiaries share its domain ("Kone Oyj", "Kone Hissit Oy").
DOMAIN_NAME_SIMILARITY = 85


def source_company_id(name: str, country: str | None) -> str:
    """The id of an organisation first named by an export or a form (no Business ID)."""
    key = "|".join([normalise(name), (country or "").upper()])
    return "src-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def assign_network_companies(con: duckdb.DuckDBPyConnection) -> None:
    """Each network's organisation key: its Business ID when a list gave one, else a key of its name.

    Only networks of kind ``company`` attribute anything.
    """
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


def merge_into(con: duckdb.DuckDBPyConnection, alias_id: str, target_id: str) -> None:
    """Make ``alias_id`` an alias of ``target_id``: its rows, facts and daily totals move over."""
    if alias_id == target_id:
        return
    con.execute("INSERT OR REPLACE INTO company_aliases VALUES (?, ?)", [alias_id, target_id])
    con.execute("UPDATE company_aliases SET company_id = ? WHERE company_id = ?", [target_id, alias_id])
    for table in _COMPANY_ROWS:
        con.execute(f"UPDATE {table} SET company_id = ? WHERE company_id = ?", [target_id, alias_id])
    con.execute(
        """
        INSERT INTO company_daily_totals
        SELECT ?, day, visits, pageviews, visitors FROM company_daily_totals WHERE company_id = ?
        ON CONFLICT (company_id, day) DO UPDATE SET visits = visits + excluded.visits,
            pageviews = pageviews + excluded.pageviews, visitors = visitors + excluded.visitors
        """,
        [target_id, alias_id],
    )
    con.execute("DELETE FROM company_daily_totals WHERE company_id = ?", [alias_id])
    # What only the alias knew (a website, a city, an objection) is kept.
    con.execute(
        """
        UPDATE companies SET website = coalesce(companies.website, a.website), city = coalesce(companies.city, a.city),
               country = coalesce(companies.country, a.country),
               marketing_objection = coalesce(companies.marketing_objection, false) OR coalesce(a.marketing_objection, false),
               first_seen = least(companies.first_seen, a.first_seen), last_seen = greatest(companies.last_seen, a.last_seen)
        FROM companies a WHERE companies.company_id = ? AND a.company_id = ?
        """,
        [target_id, alias_id],
    )
    con.execute("DELETE FROM companies WHERE company_id = ?", [alias_id])


def identity_key(name: str | None) -> str:
    """A name as identity compares it: folded, punctuation gone, business legal forms dropped.

    Stricter than matching's ``normalise``: "Nordic Networks Oy" is not "Nordic Oy", and an
    association ("… ry") or a foundation ("… sr") is not the business of the same name.
    """
    words = re.findall(r"[0-9a-z]+", fold(re.sub(r"(?<=\w)[./](?=\w)", "", name or "")))
    kept = [w for w in words if w not in COMPANY_FORMS | EDGE_COMPANY_FORMS]
    return " ".join(kept)


def merge_duplicates(con: duckdb.DuckDBPyConnection) -> int:
    """Merge rows that are one organisation; returns how many rows became aliases. Merges are for good,
    so the evidence must be unambiguous:

    * the same name (:func:`identity_key`) in the same country; a row without a country only with
      other rows without one;
    * the same website domain (not a shared platform) and nearly the same name;
    * never two different Business IDs, and never a row without one into a name that two
      registered companies share.

    The row kept is the one with a Business ID, then the one seen first (unknown counts as first:
    it predates this check), then the smallest id.
    """
    rows = con.execute(
        "SELECT company_id, business_id, name, country, website, first_seen FROM companies ORDER BY company_id"
    ).fetchall()
    if len(rows) < 2:
        return 0
    parent = {row[0]: row[0] for row in rows}
    business = {row[0]: row[1] for row in rows}  # per group root: the group's Business ID
    rank = {row[0]: (row[1] is None, row[5] is not None, str(row[5] or ""), row[0]) for row in rows}
    key = {row[0]: identity_key(row[2]) for row in rows}

    def find(company_id: str) -> str:
        while parent[company_id] != company_id:
            parent[company_id] = parent[parent[company_id]]
            company_id = parent[company_id]
        return company_id

    def union(a: str, b: str) -> None:
        root_a, root_b = find(a), find(b)
        if root_a == root_b or (business[root_a] and business[root_b] and business[root_a] != business[root_b]):
            return  # two registered companies are never one organisation
        keep, other = sorted([root_a, root_b], key=rank.__getitem__)
        parent[other] = keep
        business[keep] = business[keep] or business[other]

    by_name: dict[tuple[str, str], list[str]] = defaultdict(list)
    by_domain: dict[str, list[str]] = defaultdict(list)
    for company_id, business_id, name, country, website, _ in rows:
        if key[company_id]:
            by_name[(key[company_id], (country or "").upper())].append(company_id)
        site = domain(website)
        if site and site not in SHARED_DOMAINS and not site.endswith(SHARED_DOMAIN_SUFFIXES):
            by_domain[site].append(company_id)
    for members in by_name.values():
        registered = {business[m] for m in members if business[m]}
        if len(registered) > 1:  # namesakes in the register: which one a nameless row is cannot be told
            continue
        for member in members[1:]:
            union(members[0], member)
    for members in by_domain.values():
        for member in members[1:]:
            if fuzz.ratio(key[members[0]], key[member]) >= DOMAIN_NAME_SIMILARITY:
                union(members[0], member)
    merges = [(company_id, find(company_id)) for company_id in parent if find(company_id) != company_id]
    for alias_id, target_id in merges:
        merge_into(con, alias_id, target_id)
    return len(merges)


def _remove_orphans(con: duckdb.DuckDBPyConnection) -> int:
    """Drop companies a network once named (``org-…``) that nothing names or points at any more —
    e.g. a pool an older version read as a customer: a phantom is worse than nothing."""
    return con.execute(
        """
        DELETE FROM companies c
        WHERE starts_with(c.company_id, 'org-')
          AND NOT EXISTS (SELECT 1 FROM networks n LEFT JOIN company_aliases a ON a.alias_id = n.company_id
                          WHERE coalesce(a.company_id, n.company_id) = c.company_id)
          AND NOT EXISTS (SELECT 1 FROM visits v WHERE v.company_id = c.company_id)
          AND NOT EXISTS (SELECT 1 FROM company_sources s WHERE s.company_id = c.company_id)
          AND NOT EXISTS (SELECT 1 FROM contacts k WHERE k.company_id = c.company_id)
          AND NOT EXISTS (SELECT 1 FROM company_daily_totals t WHERE t.company_id = c.company_id)
        """
    ).fetchall()[0][0]


def refresh(con: duckdb.DuckDBPyConnection) -> int:
    """Companies named by company networks exist, duplicates are merged, and every row points at its company.

    Re-derives every stored visit's company from its network's current kind,
    through any alias its organisation was merged into. Returns the merges made.
    """
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
    merged = merge_duplicates(con)
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
    _remove_orphans(con)
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
    return merged

