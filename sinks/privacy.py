"""The data subject's rights in DuckDB: contacts, access, objection, retention (erasure: ``sinks/erasure.py``).

Everything that finds a person uses a keyed hash (the secret lives outside the
database): the email's, the address's (``client_key``), the visitor's, or a
Business ID's. The audit log records what was done and how many rows it
touched — never the personal data itself.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import duckdb

from enrich.business_ids import valid_or_none
from enrich.clients import client_key, keyed_hash
from enrich.forms import Submission
from enrich.identity import SHARED_DOMAINS, domain_names
from enrich.leadfeeder import is_placeholder
from enrich.matching import legal_name
from sinks.state import recorded_timezone
from sinks import companies
from sinks.erasure import audit, business_id_key, canonical, email_key, erased_business, suppressed

def store_contacts(
    con: duckdb.DuckDBPyConnection, submissions: list[Submission], secret: bytes, file: str, run_id: int
) -> dict:
    """Contacts from form submissions; suppressed people are skipped (linking: :func:`link_contacts`).

    Idempotent: a submission's id is a keyed hash of who, which form and when.
    """
    erased_emails, erased_companies = suppressed(con, "email"), suppressed(con, "business_id")
    objections = {key for (key,) in con.execute("SELECT key FROM marketing_objections WHERE kind = 'email'").fetchall()}
    counts = {"contacts": 0, "suppressed": 0}
    for s in submissions:
        key = email_key(secret, s.email) if s.email else None
        business_id = valid_or_none(s.business_id)
        if (key and key in erased_emails) or (business_id and business_id_key(secret, business_id) in erased_companies):
            counts["suppressed"] += 1
            continue
        who = s.email or s.phone or s.name or ""
        contact_id = keyed_hash(secret, "contact", who, s.form or "", s.submitted_at.isoformat() if s.submitted_at else "")
        con.execute(
            "INSERT OR REPLACE INTO contacts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [contact_id, key, None, business_id, s.name, s.email, s.phone, s.position, s.company, s.form,
             s.message, s.marketing_consent, key in objections if key else False, s.submitted_at, file, run_id],
        )
        counts["contacts"] += 1
    return counts


def link_contacts(con: duckdb.DuckDBPyConnection) -> int:
    """Link contacts to companies: by Business ID, else by the email's domain against the company website.

    Set-based, and run again after enrichment: companies learn their Business
    IDs and websites later than their contacts arrive.
    """
    linked = con.execute(
        """
        UPDATE contacts SET company_id = c.company_id FROM companies c
        WHERE contacts.business_id = c.business_id AND contacts.company_id IS DISTINCT FROM c.company_id
        """
    ).fetchall()[0][0]
    linked += con.execute(
        r"""
        UPDATE contacts SET company_id = d.company_id
        FROM (
            SELECT company_id, lower(regexp_replace(regexp_replace(website, '^[A-Za-z]+://', ''), '^www\.|[/:].*$', '', 'g')) AS host
            FROM companies WHERE website IS NOT NULL
            QUALIFY row_number() OVER (PARTITION BY host ORDER BY company_id) = 1
        ) d
        WHERE contacts.company_id IS NULL AND contacts.email IS NOT NULL
          AND split_part(contacts.email, '@', 2) = d.host AND NOT list_contains($free, d.host)
        """,
        {"free": sorted(SHARED_DOMAINS)},
    ).fetchall()[0][0]
    return linked


def companies_from_contacts(con: duckdb.DuckDBPyConnection, secret: bytes) -> int:
    """The company a submission names is found, or created, and the contact linked to it: a company that
    only filled in a form is a lead too. A wrong company is worse than a missing one, so a company is
    created only from a valid Business ID or a name with a legal form ("Revontuli Robotics Oy", "Matin
    Puutyö Tmi"); any other name typed ("Kalliodata", "Pekka Virtanen", "yksityishenkilö", "-") only
    finds a company the night already knows. The e-mail's domain is the new company's website unless
    it is a mailbox provider's (``enrich.identity.MAILBOX_DOMAINS``). A person who objected to direct
    marketing makes no company, nor does an erased sole trader (by Business ID or name).

    Returns:
        Contacts linked.
    """
    rows = con.execute(
        """
        SELECT contact_id, business_id, company_name, email FROM contacts
        WHERE company_id IS NULL AND NOT marketing_objection AND (business_id IS NOT NULL OR company_name IS NOT NULL)
        ORDER BY submitted_at, contact_id
        """
    ).fetchall()
    if not rows:
        return 0
    erased, index, linked = erased_business(con, secret), companies.CompanyIndex(con), []
    for contact_id, business_id, typed, email in rows:
        typed = " ".join((typed or "").split()) or None
        name = legal_name(typed) if typed else None
        host = (email or "").rpartition("@")[2].lower()
        website = host if domain_names(host, name or typed) else None  # never an operator's mail domain
        if erased(business_id, name or typed):
            continue
        # an operator's list may give no country: "Kalliodata Oy" without one is the same company
        country = "FI" if business_id or name else None
        found = None
        for guess in dict.fromkeys([country, None, "FI"]):
            found = found or index.find(business_id, name or typed, guess, website)
        if not found and (business_id or name):
            # with a Business ID the name typed is the company's (the register corrects it), unless it is none
            known_as = name or (typed if business_id and typed and not is_placeholder(typed.strip(" .")) else None)
            found = index.ensure(con, business_id=business_id, name=known_as or business_id, country=country,
                                 origin="form", website=website,
                                 match_method="form-business-id" if business_id else "form-name")
        if found:
            linked.append((contact_id, found[0]))
    if linked:
        con.execute(
            "UPDATE contacts SET company_id = l.company_id FROM (SELECT unnest($c) AS contact_id, unnest($k) AS "
            "company_id) l WHERE contacts.contact_id = l.contact_id",
            {"c": [c for c, _ in linked], "k": [k for _, k in linked]},
        )
    return len(linked)


def subject_export(con: duckdb.DuckDBPyConnection, secret: bytes, kind: str, value: str, now: datetime) -> dict:
    """Everything held about a subject, as JSON-ready data; audited.

    Args:
        kind: ``email``, ``ip``, ``visitor-key`` or ``business-id``; the value is canonicalised first.

    Raises:
        ValueError: the identifier is not one of its kind.
    """
    value = canonical(kind, value)

    def records(sql: str, params: list) -> list[dict]:
        result = con.execute(sql, params)
        names = [d[0] for d in result.description]
        return [dict(zip(names, row)) for row in result.fetchall()]

    visits = """
        SELECT v.* EXCLUDE (client_key), n.cidr AS network, n.org_name AS network_holder, c.name AS company
        FROM visits v LEFT JOIN networks n USING (network_id) LEFT JOIN companies c ON c.company_id = v.company_id
        WHERE v.{column} = ? ORDER BY v.started_at
    """
    if kind == "email":
        key = email_key(secret, value)
        data = {"contacts": records("SELECT * EXCLUDE (email_key) FROM contacts WHERE email_key = ?", [key]),
                # a company their form made ("Matin Puutyö Tmi") and what was pushed of it
                "companies_made_by_their_forms": records(
                    "SELECT * FROM companies WHERE origin = 'form' AND company_id IN "
                    "(SELECT company_id FROM contacts WHERE email_key = ?)", [key]),
                "crm_pushes": records(
                    "SELECT * EXCLUDE (target) FROM pushes WHERE company_id IN (SELECT company_id FROM companies "
                    "WHERE origin = 'form' AND company_id IN (SELECT company_id FROM contacts WHERE email_key = ?))",
                    [key])}
        data["marketing_objection"] = bool(con.execute(
            "SELECT count(*) FROM marketing_objections WHERE kind = 'email' AND key = ?", [key]).fetchall()[0][0])
    elif kind in ("ip", "visitor-key"):
        column, key = ("client_key", client_key(secret, value)) if kind == "ip" else ("visitor_key", value)
        data = {
            "visits": records(visits.format(column=column), [key]),
            "pageviews": records(f"SELECT * EXCLUDE (client_key) FROM pageviews WHERE {column} = ? ORDER BY ts", [key]),
            "pending_pageviews": records(
                f"SELECT * EXCLUDE (client_key) FROM pending_pageviews WHERE {column} = ? ORDER BY ts", [key]),
        }
        if kind == "ip":
            data["registry_lookups"] = records(
                "SELECT network_id AS network_asked_about, probed_at FROM address_probes WHERE client_key = ?", [key])
    else:  # a Business ID: a sole trader's company, as every source saw it
        ids = [cid for (cid,) in con.execute("SELECT company_id FROM companies WHERE business_id = ?", [value]).fetchall()]
        data = {
            "companies": records("SELECT * FROM companies WHERE company_id IN (SELECT unnest(?))", [ids]),
            "register": records("SELECT * FROM register_companies WHERE business_id = ?", [value]),
            "sources": records("SELECT * FROM company_sources WHERE company_id IN (SELECT unnest(?))", [ids]),
            "contacts": records("SELECT * EXCLUDE (email_key) FROM contacts WHERE business_id = ? "
                                "OR company_id IN (SELECT unnest(?))", [value, ids]),
            "visits": records(visits.format(column="company_id").replace("= ?", "IN (SELECT unnest(?))"), [ids]),
            "daily_totals": records("SELECT * FROM company_daily_totals WHERE company_id IN (SELECT unnest(?))", [ids]),
            "customer_lists": records("SELECT * FROM customers WHERE kind = 'business_id' AND value = ?", [value]),
            "crm_pushes": records("SELECT * EXCLUDE (target) FROM pushes WHERE company_id IN (SELECT unnest(?))", [ids]),
        }
        data["marketing_objection"] = bool(con.execute(
            "SELECT count(*) FROM marketing_objections WHERE kind = 'business_id' AND key = ?",
            [business_id_key(secret, value)]).fetchall()[0][0])
    audit(con, "subject-export", kind, {name: len(rows) for name, rows in data.items() if isinstance(rows, list)}, now)
    return {"subject_kind": kind, "exported_at": now.isoformat(), **data}


def object_to_marketing(con: duckdb.DuckDBPyConnection, secret: bytes, kind: str, value: str, now: datetime) -> dict:
    """Flag a contact (``email``) or company (``business-id``) against direct marketing, for good."""
    value = canonical(kind, value)
    if kind == "email":
        key = email_key(secret, value)
        con.execute("INSERT OR IGNORE INTO marketing_objections VALUES ('email', ?, ?)", [key, now])
        rows = {"contacts": con.execute(
            "UPDATE contacts SET marketing_objection = true WHERE email_key = ?", [key]).fetchall()[0][0]}
    elif kind == "business-id":
        con.execute("INSERT OR IGNORE INTO marketing_objections VALUES ('business_id', ?, ?)",
                    [business_id_key(secret, value), now])
        rows = {"companies": apply_objections(con, secret)}
    else:
        raise ValueError("an objection is recorded by e-mail or by Business ID")
    audit(con, "object", kind, rows, now)
    return rows


def apply_objections(con: duckdb.DuckDBPyConnection, secret: bytes) -> int:
    """Flag every company whose Business ID objected (also companies re-created since)."""
    objected = {key for (key,) in con.execute("SELECT key FROM marketing_objections WHERE kind = 'business_id'").fetchall()}
    if not objected:
        return 0
    flagged = [cid for cid, bid in con.execute(
        "SELECT company_id, business_id FROM companies WHERE business_id IS NOT NULL AND NOT marketing_objection"
    ).fetchall() if business_id_key(secret, bid) in objected]
    if flagged:
        con.execute("UPDATE companies SET marketing_objection = true WHERE company_id IN (SELECT unnest(?))", [flagged])
    return len(flagged)


def retention_cutoff(now: datetime, months: int, zone: str) -> datetime:
    """The instant before which visit-level rows go: the local Monday midnight that begins the week
    ``months`` back (30.44-day months).

    A whole week goes at once — its days' totals counted from all of their visits — so the file is
    rewritten (compacted) once a week, not every night; rows outlive the period by at most six days.
    """
    tz = ZoneInfo(zone)
    day = (now.astimezone(tz) - timedelta(days=round(months * 30.44))).date()
    monday = day - timedelta(days=day.weekday())
    return datetime.combine(monday, time(0), tz).astimezone(timezone.utc)


def retention(con: duckdb.DuckDBPyConnection, months: int, now: datetime, audit_months: int = 60,
              *, zone: str | None = None) -> dict:
    """Delete visit-level rows older than ``months`` — visits, pageviews, the line ledger, rejects, form
    contacts and export figures — keeping daily aggregates per company; audit entries after ``audit_months``.

    Visits go by the local day they started (the configured ``zone``; by default the one the run
    recorded, :func:`sinks.state.record_timezone`), with all their pageviews, so a day's totals
    are counted once, from all its visits; a late line of an old day adds to its totals. Every
    statement is bounded by time, so it reads only the old end of each table.
    """
    zone = zone or recorded_timezone(con)
    cutoff = retention_cutoff(now, months, zone)
    con.execute(
        """
        INSERT INTO company_daily_totals
        SELECT company_id, CAST(timezone($zone, started_at) AS DATE) AS day,
               count(*), sum(pageviews), count(DISTINCT visitor_key)
        FROM visits WHERE company_id IS NOT NULL AND started_at < $cutoff GROUP BY ALL
        ON CONFLICT (company_id, day) DO UPDATE SET visits = visits + excluded.visits,
            pageviews = pageviews + excluded.pageviews, visitors = greatest(visitors, excluded.visitors)
        """,
        {"cutoff": cutoff, "zone": zone},
    )
    rows = {"pageviews": _delete_old_pageviews(con, cutoff)}
    for table, column in (("pending_pageviews", "ts"), ("visits", "started_at"), ("log_lines", "ts"),
                          ("contacts", "submitted_at"), ("company_sources", "last_visit")):
        rows[table] = con.execute(f"DELETE FROM {table} WHERE {column} < ?", [cutoff]).fetchall()[0][0]
    rows["rejects"] = con.execute(
        "DELETE FROM rejects WHERE run_id IN (SELECT run_id FROM runs WHERE started_at < ?)", [cutoff]
    ).fetchall()[0][0]
    audit_cutoff = now - timedelta(days=round(audit_months * 30.44))
    rows["audit_log"] = con.execute("DELETE FROM audit_log WHERE acted_at < ?", [audit_cutoff]).fetchall()[0][0]
    if any(rows.values()):
        audit(con, "retention", None, {**rows, "cutoff": cutoff.date().isoformat()}, now)
    return rows


def _delete_old_pageviews(con: duckdb.DuckDBPyConnection, cutoff: datetime) -> int:
    """Pageviews before the cutoff, and the later ones of visits that started before it."""
    deleted = con.execute("DELETE FROM pageviews WHERE ts < ?", [cutoff]).fetchall()[0][0]
    straddling = con.execute(
        "SELECT list(visit_id), max(ended_at) FROM visits WHERE started_at < $cutoff AND ended_at >= $cutoff",
        {"cutoff": cutoff},
    ).fetchall()[0]
    if straddling[0]:
        deleted += con.execute(
            "DELETE FROM pageviews WHERE ts BETWEEN $cutoff AND $last AND list_contains($ids, visit_id)",
            {"cutoff": cutoff, "last": straddling[1], "ids": straddling[0]},
        ).fetchall()[0][0]
    return deleted
