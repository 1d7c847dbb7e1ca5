"""Existing customers from a CRM export (CSV or XLSX): Business IDs and website domains. Pure.

HubSpot's company export (``Company Domain Name``, ``Website URL``), Pipedrive's organisation
export (``Organization - Website`` or ``Website``; a custom ``Y-tunnus`` field) and a plain list
with a ``business_id`` or ``domain`` column are all read. A row gives a Business ID, a domain or
both; a row with neither, or with an invalid Business ID, is a reject with a fixed reason.
"""

from __future__ import annotations

import re
from pathlib import Path

from enrich.business_ids import InvalidBusinessId, business_id
from enrich.errors import InputError
from enrich.matching import domain
from enrich.tables import BadRow, map_columns, read_csv_table, read_xlsx_table

ALIASES = {
    "business_id": {"business id", "business_id", "businessid", "y-tunnus", "ytunnus", "y tunnus", "vat number",
                    "vat", "alv-tunnus", "company id", "organisation number", "organization number"},
    "domain": {"domain", "company domain name", "domain name", "website", "website url", "web site", "url",
               "verkkosivut", "kotisivu", "www"},
}
NO_KEY = "no Business ID or domain"
BAD_DOMAIN = "not a website or domain"
_PREFIX = re.compile(r"^(?:organi[sz]ation|company)\s*-\s*", re.I)  # Pipedrive: "Organization - Website"


def read_customers(path: Path) -> tuple[set[tuple[str, str]], list[tuple[int | None, str]]]:
    """``("business_id", "1234567-8")`` and ``("domain", "example.fi")`` keys, and rejects ``(row, reason)``.

    Raises:
        InputError: not a table, or no Business ID and no domain column (one line, no values).
    """
    if path.suffix.lower() in {".xlsx", ".xlsm"}:
        header, rows = read_xlsx_table(path)
    else:
        header, rows = read_csv_table(path.read_bytes())
    columns = map_columns([_PREFIX.sub("", str(title or "")) for title in header], ALIASES)
    if not columns:
        raise InputError("no Business ID column and no domain or website column "
                         "(e.g. 'Business ID', 'Y-tunnus', 'Company Domain Name', 'Website')")
    keys: set[tuple[str, str]] = set()
    rejects: list[tuple[int | None, str]] = []
    for number, cells in rows:
        if isinstance(cells, BadRow):
            rejects.append((number, cells.reason))
            continue
        found, reason = _row_keys(cells, columns)
        if reason or not found:
            rejects.append((number, reason or NO_KEY))
            continue
        keys |= found
    return keys, rejects


def _row_keys(cells: list[object], columns: dict[int, str]) -> tuple[set[tuple[str, str]], str | None]:
    found: set[tuple[str, str]] = set()
    for index, field in columns.items():
        value = cells[index] if index < len(cells) else None
        if value is None or str(value).strip() == "":
            continue
        if field == "business_id":
            try:
                found.add(("business_id", business_id(value if isinstance(value, int) else str(value))))
            except InvalidBusinessId as exc:
                return set(), str(exc)
        else:
            site = domain(str(value).strip())
            if not site or "." not in site or " " in site:
                return set(), BAD_DOMAIN
            found.add(("domain", site))
    return found, None
