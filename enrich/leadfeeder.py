"""Leadfeeder-style exports: company CSV/XLSX files and the Leadfeeder API's JSON.

Parsing is pure: :func:`parse_table` reads header + rows (from CSV or XLSX),
matching columns by name with English and Finnish aliases; :func:`parse_api_json`
reads the API's leads (v1 field names) and their visits. Unknown columns are
kept, never fatal; a row without a company name is rejected with a reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone, tzinfo
from pathlib import Path

from enrich.errors import InputError
from enrich.tables import map_columns, read_csv_table

#: Column aliases, compared case-insensitively after trimming.
COLUMNS: dict[str, set[str]] = {
    "name": {"company name", "company", "name", "organisation", "organization", "yritys", "yrityksen nimi",
             "nimi", "organisaatio"},
    "website": {"website", "website url", "website_url", "domain", "url", "www", "verkkosivu", "verkkosivut",
                "kotisivu", "kotisivut", "verkkotunnus"},
    "industry": {"industry", "toimiala"},
    "employees": {"employees", "employee count", "employee_count", "company size", "size", "henkilöstö",
                  "henkilöstömäärä", "työntekijät", "työntekijöitä"},
    "business_id": {"business id", "business_id", "businessid", "y-tunnus", "ytunnus", "y tunnus",
                    "company id", "registration number"},
    "country": {"country", "country code", "maa"},
    "city": {"city", "town", "kaupunki", "paikkakunta", "kotipaikka"},
    "first_visit": {"first visit", "first visit date", "first_visit_date", "first seen", "ensimmäinen käynti",
                    "ensikäynti", "ensimmäinen vierailu"},
    "last_visit": {"last visit", "last visit date", "last_visit_date", "last seen", "viimeisin käynti",
                   "viimeinen käynti", "viimeisin vierailu"},
    "visits": {"visits", "visit count", "käynnit", "käyntejä", "käyntien määrä", "vierailut"},
    "pageviews": {"page views", "pageviews", "pages viewed", "sivunäytöt", "sivulataukset", "katsotut sivut"},
    "quality": {"quality", "lead score", "score", "quality score", "laatu", "pisteet", "liidipisteet"},
    "source": {"source", "utm source", "lähde"},
    "medium": {"medium", "utm medium"},
}
COUNTRIES = {"finland": "FI", "suomi": "FI", "sweden": "SE", "ruotsi": "SE", "sverige": "SE", "norway": "NO",
             "norja": "NO", "denmark": "DK", "tanska": "DK", "estonia": "EE", "viro": "EE", "germany": "DE",
             "saksa": "DE", "united kingdom": "GB", "uk": "GB", "iso-britannia": "GB", "united states": "US",
             "usa": "US", "yhdysvallat": "US", "netherlands": "NL", "alankomaat": "NL", "france": "FR",
             "ranska": "FR"}
_FINNISH_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})(?:\s+(\d{1,2})[:.](\d{2})(?:[:.](\d{2}))?)?$")


@dataclass(frozen=True)
class LeadRow:
    """One company of an export, as the export saw it."""

    name: str
    line_no: int
    website: str | None = None
    industry: str | None = None
    employees: str | None = None
    business_id: str | None = None
    country: str | None = None
    city: str | None = None
    first_visit: datetime | None = None
    last_visit: datetime | None = None
    visits: int | None = None
    pageviews: int | None = None
    quality: float | None = None
    source: str | None = None
    medium: str | None = None
    extra: dict = field(default_factory=dict)
    unreadable: tuple[str, ...] = ()  # fields present but not understood (kept in extra)


def parse_datetime(value: object, zone: tzinfo = timezone.utc) -> datetime | None:
    """Finnish Excel (``24.11.2026 14:05``), ISO (``2026-11-24``, ``2026-11-24T14:05:00Z``) or a datetime.

    Times without a zone are local times of ``zone`` (an export shows the
    user's clock). Raises ValueError for text it cannot read.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=zone)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=zone)
    text = str(value).strip()
    match = _FINNISH_DATE.match(text)
    if match:
        day, month, year, hour, minute, second = match.groups()
        return datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
                        tzinfo=zone)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)


def _number(value: object, kind: type) -> int | float | None:
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return kind(value)
    text = str(value).strip().replace("\u00a0", "").replace(" ", "").replace(",", ".")
    return kind(float(text))


def country_code(value: str | None) -> str | None:
    if not value:
        return None
    text = value.strip()
    if len(text) == 2 and text.isalpha():
        return text.upper()
    return COUNTRIES.get(text.lower(), text)


def parse_table(
    header: list[object], rows: Iterable[tuple[int, list[object]]], zone: tzinfo = timezone.utc
) -> tuple[list[LeadRow], list[tuple[int, str]]]:
    """Rows of a company export; (rows, rejects as (line number, reason)). Naive times are in ``zone``."""
    mapping = map_columns(header, COLUMNS)
    if "name" not in mapping.values():
        raise InputError(f"no company-name column among {[str(h) for h in header]}")
    parsed, rejects = [], []
    for line_no, cells in rows:
        if not any(str(c).strip() for c in cells if c is not None):
            continue  # a blank row is no company
        values: dict[str, object] = {}
        extra: dict[str, str] = {}
        for index, cell in enumerate(cells):
            field_name = mapping.get(index)
            if field_name:
                values[field_name] = cell.strip() if isinstance(cell, str) else cell
            elif index < len(header) and cell not in (None, ""):
                extra[str(header[index])] = str(cell)
        name = str(values.get("name") or "").strip()
        if not name:
            rejects.append((line_no, "no company name"))
            continue
        unreadable = []
        converted: dict[str, object] = {}
        def when(value: object) -> datetime | None:
            return parse_datetime(value, zone)

        for key, convert in (("first_visit", when), ("last_visit", when),
                             ("visits", lambda v: _number(v, int)), ("pageviews", lambda v: _number(v, int)),
                             ("quality", lambda v: _number(v, float))):
            try:
                converted[key] = convert(values.get(key))
            except (TypeError, ValueError):
                unreadable.append(key)
                extra[key] = str(values.get(key))
                converted[key] = None
        text = {k: (str(values[k]).strip() or None) if values.get(k) not in (None, "") else None
                for k in ("website", "industry", "employees", "business_id", "city", "source", "medium")}
        country = country_code(str(values["country"])) if values.get("country") not in (None, "") else None
        parsed.append(LeadRow(name=name, line_no=line_no, country=country, extra=extra,
                              unreadable=tuple(unreadable), **text, **converted))
    return parsed, rejects


def read_csv_export(data: bytes) -> tuple[list[object], list[tuple[int, list[object]]]]:
    """Header and numbered rows of a CSV export (see :func:`enrich.tables.read_csv_table`)."""
    return read_csv_table(data)


def read_xlsx_export(path: Path) -> tuple[list[object], list[tuple[int, list[object]]]]:
    """Header and numbered rows of the first sheet of an XLSX export."""
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types on a damaged file
        raise InputError(f"cannot read {path} as XLSX: {exc.__class__.__name__}: {exc}") from None
    sheet = workbook.worksheets[0]
    rows = iter(sheet.iter_rows(values_only=True))
    header = list(next(rows, None) or [])
    if not header:
        raise InputError(f"{path}: the first sheet is empty")
    body = [(number, list(row)) for number, row in enumerate(rows, start=2)]
    workbook.close()
    return header, body


def parse_api_json(payload: object) -> tuple[list[LeadRow], list[tuple[int, str]]]:
    """Leads of the Leadfeeder API (v1 field names), with their visits when included.

    Accepts the JSON:API shape (``{"data": [{"id", "attributes"}], "included": [visits]}``) or a
    plain list of lead objects. A lead's visits add pageviews (``visit_route``), sources and
    referring URLs.
    """
    if isinstance(payload, dict):
        leads, included = payload.get("data") or [], payload.get("included") or []
    elif isinstance(payload, list):
        leads, included = payload, []
    else:
        raise InputError("not a Leadfeeder API document")
    visits_by_lead: dict[str, list[dict]] = {}
    for item in included:
        if item.get("type") == "visits":
            attributes = item.get("attributes") or {}
            lead = (((item.get("relationships") or {}).get("lead") or {}).get("data") or {}).get("id") \
                or attributes.get("lead_id")
            visits_by_lead.setdefault(str(lead), []).append(attributes)
    rows, rejects = [], []
    for number, lead in enumerate(leads, start=1):
        attributes = lead.get("attributes", lead) if isinstance(lead, dict) else {}
        name = str(attributes.get("name") or "").strip()
        if not name:
            rejects.append((number, "lead without a name"))
            continue
        visits = visits_by_lead.get(str(lead.get("id")), []) + list(attributes.get("visits_detail") or [])
        pages = [step.get("page_path") for v in visits for step in v.get("visit_route") or [] if step.get("page_path")]
        try:
            first, last = parse_datetime(attributes.get("first_visit_date")), parse_datetime(attributes.get("last_visit_date"))
        except ValueError:
            first = last = None
        extra = {"top_pages": sorted(set(pages))[:20],
                 "referring_urls": sorted({v.get("referring_url") for v in visits if v.get("referring_url")})[:20]}
        visit_count = attributes.get("visits")
        rows.append(LeadRow(
            name=name, line_no=number, website=attributes.get("website_url") or None,
            industry=attributes.get("industry") or None, employees=str(attributes.get("employee_count") or "") or None,
            business_id=attributes.get("business_id") or None, country=country_code(attributes.get("country_code") or attributes.get("country")),
            city=attributes.get("city") or None, first_visit=first, last_visit=last,
            visits=int(visit_count) if isinstance(visit_count, (int, float)) else (len(visits) or None),
            pageviews=len(pages) or None, quality=attributes.get("quality"),
            source=next((v.get("source") for v in visits if v.get("source")), attributes.get("source")),
            medium=next((v.get("medium") for v in visits if v.get("medium")), attributes.get("medium")),
            extra={k: v for k, v in extra.items() if v},
        ))
    return rows, rejects
