"""Erasure that sticks: one canonical form per identifier, every derived row deleted, every way back suppressed.

A subject is found by a keyed hash (the secret lives outside the database):
the e-mail's, the address's (``client_key``), the visitor's, or a Business
ID's. Erasing a sole trader (a Business ID is a person there) also suppresses
the names the business was known by and the organisation keys of its
networks, because the next night's logs and registry answers would otherwise
bring the same company back under the same name. Later runs consult the
suppressions wherever a company, a network's organisation or a register entry
could come back (:func:`scrub_erased_networks`, :func:`is_erased_name`).
"""

from __future__ import annotations

import email
import email.policy
import glob
import ipaddress
import json
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import duckdb

from enrich.business_ids import valid_or_none
from enrich.classify import ERASED, customer_names, remark_lines
from enrich.clients import client_key, keyed_hash
from enrich.matching import legal_name
from sinks.companies import identity_key

VISIT_TABLES = ("visits", "pageviews", "pending_pageviews")
KINDS = ("email", "ip", "visitor-key", "business-id")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_VISITOR_KEY = re.compile(r"^[0-9a-f]{32}$")


def canonical(kind: str, value: str) -> str:
    """The one form an identifier is hashed in; ``ValueError`` (one line, no value quoted) if it is none.

    Addresses as ingest stores them (``2A00:…`` → ``2a00:…``, ``::ffff:1.2.3.4`` → ``1.2.3.4``,
    ``010.001.002.003`` → ``10.1.2.3``); e-mails lower-cased; Business IDs ``1234567-8``.
    """
    text = (value or "").strip()
    if kind == "ip":
        address = _address(text)
        if address is None:
            raise ValueError("not an IP address")
        return address
    if kind == "email":
        text = text.lower()
        if not _EMAIL.match(text):
            raise ValueError("not an e-mail address")
        return text
    if kind == "business-id":
        canonical_id = valid_or_none(text)
        if canonical_id is None:
            raise ValueError("not a valid Business ID (Y-tunnus)")
        return canonical_id
    if kind == "visitor-key":
        if not _VISITOR_KEY.match(text.lower()):
            raise ValueError("not a visitor key (32 hexadecimal characters)")
        return text.lower()
    raise ValueError(f"unknown subject kind; one of {', '.join(KINDS)}")


def _address(text: str) -> str | None:
    text = text.strip("[]")
    if re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}", text):  # zero-padded IPv4 ("010.001.002.003")
        text = ".".join(str(int(part)) for part in text.split("."))
    try:
        parsed = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    return str(parsed)


def email_key(secret: bytes, email: str) -> str:
    return keyed_hash(secret, "email", email.strip().lower())


def business_id_key(secret: bytes, business_id: str) -> str:
    return keyed_hash(secret, "business_id", valid_or_none(business_id) or business_id.strip())


def name_key(secret: bytes, name: str) -> str:
    """A keyed hash of an organisation's name as identity compares it ("Tmi Matti M." = "Matti M.")."""
    return keyed_hash(secret, "organisation", identity_key(name))


def suppressed(con: duckdb.DuckDBPyConnection, kind: str) -> set[str]:
    return {key for (key,) in con.execute("SELECT key FROM suppressions WHERE kind = ?", [kind]).fetchall()}


def _suppress(con: duckdb.DuckDBPyConnection, kind: str, key: str, now: datetime) -> None:
    con.execute("INSERT OR IGNORE INTO suppressions VALUES (?, ?, ?)", [kind, key, now])


def audit(con: duckdb.DuckDBPyConnection, action: str, subject_kind: str | None, rows: dict, now: datetime) -> None:
    con.execute("INSERT INTO audit_log VALUES (?, ?, ?, ?)", [now, action, subject_kind, json.dumps(rows, sort_keys=True)])


def forget(con: duckdb.DuckDBPyConnection, secret: bytes, kind: str, value: str, now: datetime) -> dict:
    """Erase every row about one subject, suppress it for later runs, and audit the act.

    Args:
        kind: ``email``, ``ip``, ``visitor-key`` or ``business-id`` (a sole trader is a person).

    Returns:
        Rows deleted per table, and (``business-id``, ``email``) the report files that still name the subject.

    Raises:
        ValueError: the identifier is not one of its kind (nothing is done).
    """
    value = canonical(kind, value)
    rows: dict[str, int | list] = {}

    def delete(table: str, where: str, params: list) -> None:
        rows[table] = rows.get(table, 0) + con.execute(f"DELETE FROM {table} WHERE {where}", params).fetchall()[0][0]

    if kind == "email":
        key = email_key(secret, value)
        names = [name for (name,) in con.execute(
            "SELECT DISTINCT name FROM contacts WHERE email_key = ? AND name IS NOT NULL", [key]).fetchall()]
        # the sales report shows who contacted a company: the files that still do are listed
        rows["report_files_still_naming_the_subject"] = _reports_naming(con, [value, *names])
        delete("contacts", "email_key = ?", [key])
        # a company only this person's form made ("Matin Puutyö Tmi") goes with it, once nothing else names it
        made = """company_id IN (SELECT company_id FROM companies WHERE origin = 'form'
                  EXCEPT SELECT company_id FROM contacts EXCEPT SELECT company_id FROM company_sources
                  EXCEPT SELECT company_id FROM visits EXCEPT SELECT company_id FROM networks
                  EXCEPT SELECT company_id FROM company_aliases)"""
        for table in ("pushes", "companies"):
            delete(table, made, [])
        _suppress(con, "email", key, now)
    elif kind in ("ip", "visitor-key"):
        column, key = ("client_key", client_key(secret, value)) if kind == "ip" else ("visitor_key", value)
        for table in VISIT_TABLES:
            delete(table, f"{column} = ?", [key])
        if kind == "ip":
            delete("address_probes", "client_key = ?", [key])
            delete("log_lines", "client_key = ?", [key])  # keyed, but still the subject's
        _suppress(con, "ip" if kind == "ip" else "visitor", key, now)
    else:
        rows.update(_forget_business(con, secret, value, now, delete))
    audit(con, "forget", kind, rows, now)
    return rows


def _forget_business(con, secret: bytes, business_id: str, now: datetime, delete) -> dict:
    """A sole trader: the company under every id it had, what named it, and every way it could come back."""
    ids = [cid for (cid,) in con.execute("SELECT company_id FROM companies WHERE business_id = ?",
                                         [business_id]).fetchall()]
    ids += [alias for (alias,) in con.execute(
        "SELECT alias_id FROM company_aliases WHERE company_id IN (SELECT unnest(?))", [ids]).fetchall()]
    names = {name for (name,) in con.execute(
        """
        SELECT name FROM companies WHERE company_id IN (SELECT unnest($ids))
        UNION SELECT matched_name FROM companies WHERE company_id IN (SELECT unnest($ids))
        UNION SELECT name FROM company_sources WHERE company_id IN (SELECT unnest($ids)) OR business_id = $bid
        UNION SELECT org_name FROM networks WHERE company_id IN (SELECT unnest($ids)) OR business_id = $bid
        UNION SELECT registrant FROM networks WHERE company_id IN (SELECT unnest($ids)) OR business_id = $bid
        UNION SELECT unnest(all_names) FROM register_companies WHERE business_id = $bid
        """,
        {"ids": ids, "bid": business_id},
    ).fetchall() if name and identity_key(name)}
    reports = _reports_naming(con, [business_id, *sorted(names)])
    delete("contacts", "business_id = ? OR company_id IN (SELECT unnest(?))", [business_id, ids])
    for table in (*VISIT_TABLES, "company_sources", "company_daily_totals", "pushes"):
        delete(table, "company_id IN (SELECT unnest(?))", [ids])
    delete("company_aliases", "company_id IN (SELECT unnest(?)) OR alias_id IN (SELECT unnest(?))", [ids, ids])
    delete("networks", "business_id = ? OR company_id IN (SELECT unnest(?))", [business_id, ids])
    delete("register_companies", "business_id = ?", [business_id])
    delete("register_queries", "list_contains(business_ids, ?)", [business_id])
    delete("companies", "company_id IN (SELECT unnest(?))", [ids])
    delete("customers", "kind = 'business_id' AND value = ?", [business_id])
    _suppress(con, "business_id", business_id_key(secret, business_id), now)
    for name in names:  # the names it was known by: no network, export or search brings it back
        _suppress(con, "organisation", name_key(secret, name), now)
    erased = suppressed(con, "organisation")
    queries = [(kind, query, location) for kind, query, location in con.execute(
        "SELECT kind, query, location FROM register_queries WHERE kind = 'name'").fetchall()
        if name_key(secret, query) in erased]
    for kind, query, location in queries:
        delete("register_queries", "kind = ? AND query = ? AND location = ?", [kind, query, location])
    # Networks that name the person without being linked to the company lose the name now, not next night.
    return {"networks_scrubbed": scrub_erased_networks(con, secret), "report_files_still_naming_the_subject": reports}


def _reports_naming(con: duckdb.DuckDBPyConnection, needles: list[str]) -> list[str]:
    """Report files (still on disk) that contain any of ``needles``: listed for the operator, never read aloud.

    A report is its recorded HTML and CSV and the files written beside them under the same name (a feed's
    CSV, a morning e-mail kept as ``.eml``, read through its MIME parts: an attachment is base64)."""
    found, seen = [], set()
    for html, csv in con.execute("SELECT html_path, csv_path FROM reports ORDER BY report_id").fetchall():
        for recorded in filter(None, (html, csv)):
            recorded = Path(recorded)
            siblings = sorted(recorded.parent.glob(glob.escape(recorded.stem) + "*")) if recorded.parent.is_dir() else []
            for path in [recorded, *siblings]:
                if path in seen or path.is_symlink() or not path.is_file():
                    continue
                seen.add(path)
                if any(needle.casefold() in _text(path) for needle in needles if needle):
                    found.append(str(path))
    return found


def _text(path: Path) -> str:
    """A report file's text, case-folded (an ``.eml`` file's decoded parts); nothing when it cannot be read."""
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    if path.suffix != ".eml":
        return data.decode("utf-8", errors="replace").casefold()
    message = email.message_from_bytes(data, policy=email.policy.default)
    parts = [part.get_payload(decode=True) or b"" for part in message.walk() if not part.is_multipart()]
    return "\n".join(p.decode("utf-8", errors="replace") for p in parts).casefold()


def is_erased_name(secret: bytes, erased: set[str], name: str | None) -> bool:
    """Whether a name (an export's company, a network's organisation) is one an erased subject was known by."""
    return bool(erased and name and identity_key(name) and name_key(secret, name) in erased)


def erased_business(con: duckdb.DuckDBPyConnection, secret: bytes) -> Callable[[str | None, str | None], bool]:
    """A test of (Business ID, name) against every erased sole trader: an export or a list never brings one back."""
    erased_ids, erased_names = suppressed(con, "business_id"), suppressed(con, "organisation")

    def erased(business_id: str | None, name: str | None) -> bool:
        return bool(business_id and business_id_key(secret, business_id) in erased_ids) or \
            is_erased_name(secret, erased_names, name)

    return erased


def scrub_erased_networks(con: duckdb.DuckDBPyConnection, secret: bytes) -> int:
    """Networks that name an erased sole trader lose every name and attribute nothing, however often
    the registry answers with them again (their netname, holder and description are public registry
    data, but the person asked to be forgotten here)."""
    erased = suppressed(con, "organisation")
    if not erased:
        return 0
    rows = con.execute(
        """
        SELECT network_id, org_name, registrant, remarks FROM networks
        WHERE kind_rule IS DISTINCT FROM $erased AND (org_name IS NOT NULL OR registrant IS NOT NULL
                                                      OR remarks IS NOT NULL)
        """,
        {"erased": ERASED},
    ).fetchall()
    hits = []
    for network_id, org_name, registrant, remarks in rows:
        lines = remark_lines(remarks)
        names = [org_name, registrant, *filter(None, map(legal_name, lines)), *customer_names(remarks)]
        if any(is_erased_name(secret, erased, name) for name in names):
            hits.append(network_id)
    if hits:
        con.execute(
            """
            UPDATE networks SET org_name = NULL, registrant = NULL, remarks = NULL, netname = NULL, org_handle = NULL,
                   kind = 'unknown', kind_rule = $erased, kind_signals = to_json(['erased on request']),
                   company_id = NULL, business_id = NULL
            WHERE network_id IN (SELECT unnest($hits))
            """,
            {"erased": ERASED, "hits": hits},
        )
    return len(hits)
