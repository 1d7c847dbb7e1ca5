"""The period's leads as a CRM import file: HubSpot's company import or Pipedrive's organisation import.

Headers are the importers' own field names, so both map the columns without help:
HubSpot's company properties (``Name``, ``Company Domain Name`` — its key for deduplication —,
``Website URL``, ``City``, ``Country/Region``, ``Description``) and Pipedrive's
``Organization - …`` / ``Note - Content`` fields. The rest (``Business ID``, score, last visit,
report link) become custom properties: HubSpot offers to create them during the import,
Pipedrive maps them to custom fields made beforehand (or skips them). Industry goes into the
description: both CRMs' industry fields are pick-lists that a TOL 2008 text would not match.

UTF-8 without a byte-order mark, comma-separated, ``YYYY-MM-DD`` dates: what both importers
read. Every text cell is cleaned and never a formula (:func:`sinks.text.csv_cell`).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sinks.files import private_writer
from sinks.text import csv_cell

CRMS = ("hubspot", "pipedrive")


def domain(website: str | None) -> str | None:
    """``https://www.Example.fi/fi/`` → ``example.fi``: the host HubSpot deduplicates companies by."""
    if not website:
        return None
    host = re.sub(r"(?i)^[a-z][a-z0-9+.-]*://", "", website.strip()).split("/")[0].split("?")[0].split("#")[0]
    host = host.rpartition("@")[2].split(":")[0].lower().strip(".")
    host = host[4:] if host.startswith("www.") else host
    return host or None


def _day(row: dict, zone: ZoneInfo) -> str | None:
    last = row.get("last_visit")
    return last.astimezone(zone).date().isoformat() if isinstance(last, datetime) else None


def _description(row: dict) -> str:
    parts = [f"Industry: {row['industry'].rstrip('.')}" if row.get("industry") else "",  # "n.e.c." ends in one
             f"Why: {row['reasons']}" if row.get("reasons") else ""]
    return ". ".join(p for p in parts if p)


def _country(row: dict) -> str | None:
    return "Finland" if row.get("business_id") else row.get("country")


#: header → value of a lead row (``sinks.leads.report_data``'s ``companies``), the zone and the report link
Column = Callable[[dict, ZoneInfo, "str | None"], object]
HUBSPOT: dict[str, Column] = {
    "Name": lambda r, z, link: r.get("name"),
    "Company Domain Name": lambda r, z, link: domain(r.get("website")),
    "Website URL": lambda r, z, link: r.get("website"),
    "City": lambda r, z, link: r.get("city"),
    "Country/Region": lambda r, z, link: _country(r),
    "Description": lambda r, z, link: _description(r),
    "Business ID": lambda r, z, link: r.get("business_id"),
    "Lead score": lambda r, z, link: r.get("score"),
    "Last visit": lambda r, z, link: _day(r, z),
    "Lead report": lambda r, z, link: link,
}
PIPEDRIVE: dict[str, Column] = {
    "Organization - Name": lambda r, z, link: r.get("name"),
    "Organization - Address": lambda r, z, link: ", ".join(v for v in (r.get("city"), _country(r)) if v) or None,
    "Organization - Website": lambda r, z, link: r.get("website"),
    "Organization - Business ID": lambda r, z, link: r.get("business_id"),
    "Organization - Lead score": lambda r, z, link: r.get("score"),
    "Organization - Last visit": lambda r, z, link: _day(r, z),
    "Organization - Lead report": lambda r, z, link: link,
    "Note - Content": lambda r, z, link: _description(r),
}
COLUMNS = {"hubspot": HUBSPOT, "pipedrive": PIPEDRIVE}


def crm_rows(leads: list[dict], crm: str, zone: str, report_link: str | None) -> list[list[object]]:
    """The header row and one row a lead, cells made safe; ``crm`` is one of :data:`CRMS`."""
    columns, tz = COLUMNS[crm], ZoneInfo(zone)
    return [list(columns)] + [[csv_cell(value(row, tz, report_link)) for value in columns.values()] for row in leads]


def write_crm_csv(path: Path, leads: list[dict], crm: str, zone: str, report_link: str | None) -> int:
    """Write the import file (0600, replaced atomically); returns the companies written."""
    rows = crm_rows(leads, crm, zone, report_link)
    with private_writer(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return len(rows) - 1
