"""Company identity: the one home of company ids, finding or creating a company, merging, aliases, first/last seen.

An organisation gets one row in ``companies`` whichever source names it first
(a network's holder, a Leadfeeder-style export, a form, the register). One id
scheme (:func:`company_id`): the Business ID when known, else a key of the name
and country behind a prefix naming what first named it (``org-…`` a network,
``src-…`` an export, ``frm-…`` a form). Ids are opaque and never change. Before creating,
:class:`CompanyIndex` finds the company the organisation already has by the
evidence merging trusts (``enrich/identity.py``); rows that turn out to be one
organisation anyway are merged: the later becomes an alias of the first
(``company_aliases``) and everything that pointed at it moves over.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import duckdb

from enrich.identity import alike, identity_key, is_evidence_domain, keep_order
from enrich.matching import domain
from sinks import attribution

__all__ = ["CompanyIndex", "claim_business_id", "company_id", "ensure_company", "identity_key", "merge_duplicates",
           "merge_into", "refresh"]

#: The longest company name kept (registered names are far shorter).
MAX_NAME = 200
#: Tables whose rows belong to a company, re-pointed when it merges into another.
_COMPANY_ROWS = ("visits", "pageviews", "pending_pageviews", "company_sources", "contacts")


#: What first named a company (``origin``) → the prefix of its id when it has no Business ID. A
#: network's organisation has always had ``org-…`` (and only those are removed when nothing names them).
PREFIXES = {"network": "org", "export": "src", "form": "frm"}
#: The id scheme, as a SQL macro of the connection: the Business ID when known, else the prefix and a
#: key of the name (white space and case aside) and country. Stored ids depend on it: never change it.
_COMPANY_KEY = r"""
    CREATE OR REPLACE TEMP MACRO company_key(prefix, business_id, name, country) AS
    CASE WHEN business_id IS NOT NULL THEN business_id
         WHEN name IS NOT NULL THEN prefix || '-' || left(sha256(
             lower(trim(regexp_replace(name, '\s+', ' ', 'g'))) || '|' || upper(coalesce(country, ''))), 16)
    END
"""


def company_id(con: duckdb.DuckDBPyConnection, origin: str, business_id: str | None, name: str | None,
               country: str | None) -> str:
    """The id a new company gets: its Business ID when known, else its origin's prefix and a key of its
    name and country (``company_key``)."""
    con.execute(_COMPANY_KEY)
    return con.execute("SELECT company_key(?, CAST(? AS VARCHAR), CAST(? AS VARCHAR), CAST(? AS VARCHAR))",
                       [PREFIXES[origin], business_id, name, country]).fetchall()[0][0]


class CompanyIndex:
    """The stored companies as identity compares them: finds the company an organisation already has,
    or creates it (:meth:`ensure`). Names an export gave a company count too (the register may have
    renamed it since), and so do aliases: a key once merged stays merged."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.by_business_id: dict[str, str] = {}
        self.by_name: dict[tuple[str, str], set[str]] = defaultdict(set)
        self.by_domain: dict[str, set[str]] = defaultdict(set)
        self.facts: dict[str, tuple] = {}  # company_id -> (business_id, identity key, rank)
        self.aliases = dict(con.execute("SELECT alias_id, company_id FROM company_aliases").fetchall())
        for row in con.execute(
            "SELECT company_id, business_id, name, country, website, first_seen FROM companies ORDER BY company_id"
        ).fetchall():
            self.add(*row)
        for cid, name, country, website in con.execute(
            "SELECT company_id, name, country, website FROM company_sources ORDER BY company_id"
        ).fetchall():
            if cid in self.facts:
                self._names(cid, name, country, website)

    def add(self, company_id_: str, business_id: str | None, name: str | None, country: str | None,
            website: str | None = None, first_seen=None) -> None:
        self.facts[company_id_] = (business_id, identity_key(name), keep_order(company_id_, business_id, first_seen))
        if business_id:
            self.by_business_id.setdefault(business_id, company_id_)
        self._names(company_id_, name, country, website)

    def _names(self, company_id_: str, name: str | None, country: str | None, website: str | None) -> None:
        if identity_key(name):
            self.by_name[(identity_key(name), (country or "").upper())].add(company_id_)
        if is_evidence_domain(domain(website)):
            self.by_domain[domain(website)].add(company_id_)

    def find(self, business_id: str | None, name: str | None, country: str | None,
             website: str | None = None) -> tuple[str, str] | None:
        """(company_id, how) of the company this organisation already is, or None.

        ``how``: ``matched_business_id``, ``matched_name`` or ``matched_website``. Two different
        Business IDs are never one organisation, and a name two registered companies share is nobody's.
        """
        if business_id and business_id in self.by_business_id:
            return self.by_business_id[business_id], "matched_business_id"
        key = identity_key(name)

        def best(candidates: Iterable[str]) -> str | None:
            fits = [c for c in candidates if not business_id or self.facts[c][0] in (None, business_id)]
            return min(fits, key=lambda c: self.facts[c][2]) if fits else None

        if key:
            members = self.by_name.get((key, (country or "").upper()), set())
            registered = {self.facts[m][0] for m in members if self.facts[m][0]} | ({business_id} - {None})
            if len(registered) <= 1 and (found := best(members)):
                return found, "matched_name"
        site = domain(website)
        if is_evidence_domain(site):
            found = best(c for c in self.by_domain[site] if alike(key, self.facts[c][1]))
            if found:
                return found, "matched_website"
        return None

    def ensure(self, con: duckdb.DuckDBPyConnection, *, business_id: str | None, name: str, country: str | None,
               origin: str, city: str | None = None, website: str | None = None, match_method: str | None = None,
               match_confidence: float | None = None, new_id: str | None = None,
               kind: str = "company") -> tuple[str, str]:
        """(company_id, how) of the organisation's company, created (``how``: ``companies_new``) only when
        none is found. ``origin``: what names it (a key of :data:`PREFIXES`); ``new_id``: the id to create
        it with (default: :func:`company_id`); ``kind``: a new row's kind (an export may name an operator)."""
        name = name[:MAX_NAME]  # an export's or a form's 10,000-character "name" is cut, not shown whole
        found = self.find(business_id, name, country, website)
        if found:
            return found
        new_id = new_id or company_id(con, origin, business_id, name, country)
        if new_id in self.aliases or new_id in self.facts:  # the key of a name two registered companies share
            return self.aliases.get(new_id, new_id), "matched_name"
        con.execute(
            """
            INSERT INTO companies (company_id, business_id, name, country, kind, city, website, match_method,
                                   match_confidence, origin)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (company_id) DO NOTHING
            """,
            [new_id, business_id, name, country, kind, city, website, match_method, match_confidence, origin],
        )
        self.add(new_id, business_id, name, country, website)
        return new_id, "companies_new"


def ensure_company(con: duckdb.DuckDBPyConnection, *, business_id: str | None, name: str, country: str | None,
                   origin: str, **facts) -> str:
    """The id of the organisation's company, found (Business ID, name, website) or created; see
    :meth:`CompanyIndex.ensure` (many at once: keep one index)."""
    return CompanyIndex(con).ensure(con, business_id=business_id, name=name, country=country, origin=origin,
                                    **facts)[0]


def assign_network_companies(con: duckdb.DuckDBPyConnection) -> None:
    """Each network's organisation key (:func:`company_id` of its Business ID, name and country).

    Only networks of kind ``company`` attribute anything.
    """
    con.execute(_COMPANY_KEY)
    con.execute(
        """
        UPDATE networks SET company_id = k.company_id
        FROM (SELECT network_id, CASE WHEN kind = 'company' THEN company_key($prefix, business_id, org_name, country)
                                 END AS company_id FROM networks) k
        WHERE networks.network_id = k.network_id AND networks.company_id IS DISTINCT FROM k.company_id
        """,
        {"prefix": PREFIXES["network"]},
    )


def ensure_network_companies(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every company network's organisation has its company: the one it already has (its key becomes an
    alias of it), or a new row under the network's key. Returns the companies created."""
    keys = con.execute(
        """
        SELECT company_id, min(business_id), min(org_name), min(country), min(source || ':' || kind_rule)
        FROM networks WHERE company_id IS NOT NULL
          AND company_id NOT IN (SELECT company_id FROM companies)
          AND company_id NOT IN (SELECT alias_id FROM company_aliases)
        GROUP BY company_id ORDER BY company_id
        """
    ).fetchall()
    if not keys:
        return []
    index, created = CompanyIndex(con), []
    for key, business_id, name, country, method in keys:
        company, how = index.ensure(con, business_id=business_id, name=name, country=country, origin="network",
                                    match_method=method, match_confidence=1.0, new_id=key)
        if how == "companies_new":
            created.append(company)
        else:
            con.execute("INSERT OR REPLACE INTO company_aliases VALUES (?, ?)", [key, company])
    return created


def claim_business_id(con: duckdb.DuckDBPyConnection, company_id_: str, business_id: str) -> str:
    """The company that is ``business_id``'s: ``company_id_``, or the row that already holds that Business ID
    (``company_id_`` then becomes its alias)."""
    holder = con.execute("SELECT company_id FROM companies WHERE business_id = ? AND company_id <> ?",
                         [business_id, company_id_]).fetchall()
    if not holder:
        return company_id_
    merge_into(con, company_id_, holder[0][0])
    return holder[0][0]


def merge_into(con: duckdb.DuckDBPyConnection, alias_id: str, target_id: str) -> None:
    """Make ``alias_id`` an alias of ``target_id``: its rows, facts and daily totals move over."""
    if alias_id == target_id:
        return
    con.execute("INSERT OR REPLACE INTO company_aliases VALUES (?, ?)", [alias_id, target_id])
    con.execute("UPDATE company_aliases SET company_id = ? WHERE company_id = ?", [target_id, alias_id])
    for table in _COMPANY_ROWS:
        con.execute(f"UPDATE {table} SET company_id = ? WHERE company_id = ?", [target_id, alias_id])
    attribution.merged(con, alias_id, target_id)
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
    # What only the alias knew (a website, a city, an objection, an earlier first visit) is kept.
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
    attribution.update_seen(con, [target_id])


def merge_duplicates(con: duckdb.DuckDBPyConnection) -> int:
    """Merge rows that are one organisation; returns how many rows became aliases. Merges are for good,
    so the evidence must be unambiguous:

    * the same name (:func:`identity_key`) in the same country; a row without a country only with
      other rows without one;
    * the same website domain (not a shared platform) and nearly the same name;
    * never two different Business IDs, and never a row without one into a name that two
      registered companies share.

    The row kept is the one ``keep_order`` puts first.
    """
    rows = con.execute(
        "SELECT company_id, business_id, name, country, website, first_seen FROM companies ORDER BY company_id"
    ).fetchall()
    if len(rows) < 2:
        return 0
    parent = {row[0]: row[0] for row in rows}
    business = {row[0]: row[1] for row in rows}  # per group root: the group's Business ID
    rank = {row[0]: keep_order(row[0], row[1], row[5]) for row in rows}
    key = {row[0]: identity_key(row[2]) for row in rows}

    def find(cid: str) -> str:
        while parent[cid] != cid:
            parent[cid] = parent[parent[cid]]
            cid = parent[cid]
        return cid

    def union(a: str, b: str) -> None:
        root_a, root_b = find(a), find(b)
        if root_a == root_b or (business[root_a] and business[root_b] and business[root_a] != business[root_b]):
            return  # two registered companies are never one organisation
        keep, other = sorted([root_a, root_b], key=rank.__getitem__)
        parent[other] = keep
        business[keep] = business[keep] or business[other]

    by_name: dict[tuple[str, str], list[str]] = defaultdict(list)
    by_domain: dict[str, list[str]] = defaultdict(list)
    for cid, business_id, name, country, website, _ in rows:
        if key[cid]:
            by_name[(key[cid], (country or "").upper())].append(cid)
        if is_evidence_domain(domain(website)):
            by_domain[domain(website)].append(cid)
    for members in by_name.values():
        registered = {business[m] for m in members if business[m]}
        if len(registered) > 1:  # namesakes in the register: which one a nameless row is cannot be told
            continue
        for member in members[1:]:
            union(members[0], member)
    for members in by_domain.values():
        for member in members[1:]:
            if alike(key[members[0]], key[member]):
                union(members[0], member)
    merges = [(cid, find(cid)) for cid in parent if find(cid) != cid]
    for alias_id, target_id in merges:
        merge_into(con, alias_id, target_id)
    return len(merges)


def _remove_orphans(con: duckdb.DuckDBPyConnection) -> int:
    """Drop companies a network named (``org-…``: by name alone) that nothing names or points at any more —
    e.g. a pool an older version read as a customer: a phantom is worse than nothing."""
    unnamed = [cid for (cid,) in con.execute(
        """
        SELECT company_id FROM companies WHERE starts_with(company_id, 'org-')
        EXCEPT
        SELECT coalesce(a.company_id, n.company_id)
        FROM networks n LEFT JOIN company_aliases a ON a.alias_id = n.company_id
        """
    ).fetchall()]
    if not unnamed:  # the usual night: nothing more to read
        return 0
    return con.execute(
        """
        DELETE FROM companies c
        WHERE company_id IN (SELECT unnest($ids))
          AND NOT EXISTS (SELECT 1 FROM visits v WHERE v.company_id = c.company_id)
          AND NOT EXISTS (SELECT 1 FROM company_sources s WHERE s.company_id = c.company_id)
          AND NOT EXISTS (SELECT 1 FROM contacts k WHERE k.company_id = c.company_id)
          AND NOT EXISTS (SELECT 1 FROM company_daily_totals t WHERE t.company_id = c.company_id)
        """,
        {"ids": unnamed},
    ).fetchall()[0][0]


def _merge_if_changed(con: duckdb.DuckDBPyConnection) -> int:
    """:func:`merge_duplicates`, unless no company's identity (id, Business ID, name, country, website)
    changed since the last check found nothing more to merge."""
    fingerprint = ("SELECT count(*) || ':' || coalesce(bit_xor(hash(company_id, business_id, name, country, "
                   "website)), 0) FROM companies")
    stored = con.execute("SELECT value FROM pipeline_state WHERE key = 'companies-merged'").fetchall()
    if stored and stored[0][0] == con.execute(fingerprint).fetchall()[0][0]:
        return 0
    merged = merge_duplicates(con)
    con.execute("INSERT OR REPLACE INTO pipeline_state VALUES ('companies-merged', ?, current_timestamp)",
                [con.execute(fingerprint).fetchall()[0][0]])
    return merged


def refresh(con: duckdb.DuckDBPyConnection) -> int:
    """Companies named by company networks exist, duplicates are merged, every row points at its company,
    and first and last visits are current — touching only what changed since the last refresh (a rerun
    of a night already loaded reads next to nothing). Returns the merges made.
    """
    ensure_network_companies(con)
    merged = _merge_if_changed(con)
    moved = attribution.repoint(con)
    _remove_orphans(con)
    attribution.update_seen_since_last(con, moved)
    return merged
