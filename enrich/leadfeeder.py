"""Leadfeeder-style exports: company CSV/XLSX files and the Leadfeeder API's JSON.

Parsing is pure: :func:`parse_table` reads header + rows (from CSV or XLSX),
matching columns by name with English and Finnish aliases; :func:`parse_api_json`
reads the API's leads (v1 field names) and their visits; :func:`read_export`
tells the three apart and reads a file. Only known, non-personal columns are
kept: an export's other columns (a contact's e-mail, phone, the account owner)
are dropped. Nothing a file holds fails the night: a row without a company name
is a reject, a field that cannot be read (text where a number belongs, a number
out of range, a time outside the plausible window, a Business ID that fails its
check digit) is left empty and is a reject of its own, and every reason is a
fixed text that never quotes a value.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone, tzinfo
from pathlib import Path

from enrich.business_ids import InvalidBusinessId, business_id as canonical_business_id
from enrich.errors import InputError
from enrich.tables import BadRow, Rows, map_columns, read_csv_table, read_xlsx_table
from enrich.timestamps import IMPLAUSIBLE, is_plausible, parse_datetime

#: Counts are stored as INTEGER; a lead score is a small number whatever the tool.
MAX_COUNT = 2**31 - 1
MAX_QUALITY = 1e6
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
    unreadable: tuple[str, ...] = ()  # fields present but not understood (left empty, each a reject)


def _number(value: object, kind: type, low: float, high: float) -> int | float | None:
    """A count or a score within [low, high]; ValueError for text, NaN, infinity or a number out of range."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError("not a number")
    number = float(value.strip().replace("\u00a0", "").replace(" ", "").replace(",", ".")
                   if isinstance(value, str) else value)
    if not math.isfinite(number) or not low <= number <= high:
        raise ValueError("out of range")
    return kind(number)


def _text(value: object, numbers: bool = False) -> str | None:
    """Text as written; with ``numbers``, numbers and dates too (a spreadsheet's cells, or
    Excel's "11-50" turned into a date). ValueError for a list, an object or a boolean."""
    if value is None:
        return None
    if isinstance(value, str) or (
            numbers and isinstance(value, (int, float, date)) and not isinstance(value, bool)):
        return str(value).strip() or None
    raise ValueError("not text")


def _name(value: object) -> str | None:
    """A company's name, or None when there is none (or it is no text)."""
    try:
        return _text(value, numbers=True)
    except ValueError:
        return None


def country_code(value: str | None) -> str | None:
    if not value:
        return None
    text = value.strip()
    if len(text) == 2 and text.isalpha():
        return text.upper()
    return COUNTRIES.get(text.lower(), text)


class _Fields:
    """Converts one row's fields, leaving unreadable ones empty and noting a reject for each."""

    def __init__(self, line_no: int, zone: tzinfo, now: datetime, rejects: list[tuple[int | None, str]]):
        self.line_no, self.zone, self.now, self.rejects = line_no, zone, now, rejects
        self.unreadable: list[str] = []

    def _failed(self, key: str, reason: str) -> None:
        self.unreadable.append(key)
        self.rejects.append((self.line_no, reason))

    def convert(self, key: str, convert, value: object):
        try:
            return convert(value)
        except (TypeError, ValueError, OverflowError):
            self._failed(key, f"unreadable {key}")
            return None

    def when(self, key: str, value: object) -> datetime | None:
        moment = self.convert(key, lambda v: parse_datetime(v, self.zone), value)
        if moment is not None and not is_plausible(moment, self.now):
            self._failed(key, IMPLAUSIBLE)
            return None
        return moment

    def count(self, key: str, value: object) -> int | None:
        return self.convert(key, lambda v: _number(v, int, 0, MAX_COUNT), value)

    def quality(self, value: object) -> float | None:
        return self.convert("quality", lambda v: _number(v, float, -MAX_QUALITY, MAX_QUALITY), value)

    def text(self, key: str, value: object, numbers: bool = False) -> str | None:
        return self.convert(key, lambda v: _text(v, numbers), value)

    def business_id(self, value: object) -> str | None:
        """A Business ID in its one form; one that fails its check is left empty (never a merge key) and is
        a reject with its reason (:mod:`enrich.business_ids`)."""
        try:
            return canonical_business_id(value)
        except InvalidBusinessId as exc:
            self._failed("business_id", str(exc))
            return None


def parse_table(
    header: list[object], rows: Rows, zone: tzinfo = timezone.utc, now: datetime | None = None
) -> tuple[list[LeadRow], list[tuple[int | None, str]]]:
    """Rows of a company export; (rows, rejects as (line number, reason)). Naive times are in ``zone``.

    Only the columns :data:`COLUMNS` knows are read; the others are dropped.
    Times must be plausible for a run at ``now`` (default: the current time).

    Raises:
        InputError: no company-name column (the message names no cell: a
            headerless file's first row is a company's data).
    """
    now = now or datetime.now(timezone.utc)
    mapping = map_columns(header, COLUMNS)
    if "name" not in mapping.values():
        raise InputError(f"no company-name column among the {len(header)} columns of the first row")
    parsed: list[LeadRow] = []
    rejects: list[tuple[int | None, str]] = []
    for line_no, cells in rows:
        if isinstance(cells, BadRow):
            rejects.append((line_no, cells.reason))
            continue
        if not any(str(c).strip() for c in cells if c is not None):
            continue  # a blank row is no company
        values = {name: cells[index] for index, name in mapping.items() if index < len(cells)}
        name = _name(values.get("name"))
        if not name:
            rejects.append((line_no, "no company name"))
            continue
        fields = _Fields(line_no, zone, now, rejects)
        text = {k: fields.text(k, values.get(k), numbers=True)
                for k in ("website", "industry", "employees", "city", "source", "medium")}
        country = fields.text("country", values.get("country"))
        parsed.append(LeadRow(
            name=name, line_no=line_no, country=country_code(country), **text,
            business_id=fields.business_id(values.get("business_id")),
            first_visit=fields.when("first_visit", values.get("first_visit")),
            last_visit=fields.when("last_visit", values.get("last_visit")),
            visits=fields.count("visits", values.get("visits")),
            pageviews=fields.count("pageviews", values.get("pageviews")),
            quality=fields.quality(values.get("quality")),
            unreadable=tuple(fields.unreadable),
        ))
    return parsed, rejects


def read_csv_export(data: bytes) -> tuple[list[object], Rows]:
    """Header and numbered rows of a CSV export (see :func:`enrich.tables.read_csv_table`)."""
    return read_csv_table(data)


def read_xlsx_export(path: Path) -> tuple[list[object], Rows]:
    """Header and numbered rows of the first sheet of an XLSX export (see :func:`enrich.tables.read_xlsx_table`)."""
    return read_xlsx_table(path)


def _get(item: object, *keys: str) -> object:
    """``item[k1][k2]…`` through objects only; None where the shape differs."""
    for key in keys:
        if not isinstance(item, dict):
            return None
        item = item.get(key)
    return item


def _without_query(url: object) -> str | None:
    """A path or URL as pageviews keep it: no query string, no fragment, no user:password@."""
    if not isinstance(url, str) or not url.strip():
        return None
    text = re.split(r"[?#]", url.strip(), maxsplit=1)[0]
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/@]*@", r"\1", text) or None


def parse_api_json(payload: object, now: datetime | None = None) -> tuple[list[LeadRow], list[tuple[int | None, str]]]:
    """Leads of the Leadfeeder API (v1 field names), with their visits when included.

    Accepts the JSON:API shape (``{"data": [{"id", "attributes"}], "included": [visits]}``) or a
    plain list of lead objects. A lead's visits add pageviews (``visit_route``), sources and
    referring URLs (paths and URLs without their query strings). A value of the wrong type is
    an unreadable field; an item that is no object is a reject.

    Raises:
        InputError: the document is not a list of leads.
    """
    now = now or datetime.now(timezone.utc)
    if isinstance(payload, dict):
        leads, included = payload.get("data"), payload.get("included")
        leads = [leads] if isinstance(leads, dict) else leads if leads is not None else []
    else:
        leads, included = payload, []
    if not isinstance(leads, list):
        raise InputError("not a Leadfeeder API document")
    rejects: list[tuple[int | None, str]] = []
    visits_by_lead: dict[str, list[dict]] = {}
    for item in included if isinstance(included, list) else []:
        if not isinstance(item, dict):
            rejects.append((None, "an included item that is not an object"))
        elif item.get("type") == "visits" and isinstance(item.get("attributes"), dict):
            lead = _get(item, "relationships", "lead", "data", "id") or item["attributes"].get("lead_id")
            visits_by_lead.setdefault(str(lead), []).append(item["attributes"])
    rows = []
    for number, lead in enumerate(leads, start=1):
        attributes = lead.get("attributes", lead) if isinstance(lead, dict) else None
        if not isinstance(attributes, dict):
            rejects.append((number, "a lead that is not an object"))
            continue
        name = _name(attributes.get("name"))
        if not name:
            rejects.append((number, "lead without a name"))
            continue
        fields = _Fields(number, timezone.utc, now, rejects)
        details = attributes.get("visits_detail")
        visits = visits_by_lead.get(str(lead.get("id")), []) + (details if isinstance(details, list) else [])
        visits = [v for v in visits if isinstance(v, dict)]
        steps = [step for v in visits if isinstance(v.get("visit_route"), list) for step in v["visit_route"]]
        pages = [p for p in (_without_query(_get(step, "page_path")) for step in steps) if p]
        referrers = {r for r in (_without_query(v.get("referring_url")) for v in visits) if r}
        extra = {"top_pages": sorted(set(pages))[:20], "referring_urls": sorted(referrers)[:20]}
        count = fields.count("visits", attributes.get("visits"))
        source = next((v["source"] for v in visits if isinstance(v.get("source"), str) and v["source"]), None)
        medium = next((v["medium"] for v in visits if isinstance(v.get("medium"), str) and v["medium"]), None)
        rows.append(LeadRow(
            name=name, line_no=number, website=fields.text("website", attributes.get("website_url")),
            industry=fields.text("industry", attributes.get("industry")),
            employees=fields.text("employees", attributes.get("employee_count"), numbers=True),
            business_id=fields.business_id(attributes.get("business_id")),
            country=country_code(fields.text("country", attributes.get("country_code") or attributes.get("country"))),
            city=fields.text("city", attributes.get("city")),
            first_visit=fields.when("first_visit", attributes.get("first_visit_date")),
            last_visit=fields.when("last_visit", attributes.get("last_visit_date")),
            visits=count if count is not None else (len(visits) or None),
            pageviews=len(pages) or None, quality=fields.quality(attributes.get("quality")),
            source=source or fields.text("source", attributes.get("source")),
            medium=medium or fields.text("medium", attributes.get("medium")),
            extra={k: v for k, v in extra.items() if v}, unreadable=tuple(fields.unreadable),
        ))
    return rows, rejects


def load_json(data: bytes) -> object:
    """A JSON document, or a one-line InputError that never quotes the document."""
    try:
        return json.loads(data.decode("utf-8-sig"))
    except RecursionError:
        raise InputError("a JSON document nested too deeply") from None
    except UnicodeDecodeError:
        raise InputError("not UTF-8 JSON") from None
    except ValueError as exc:  # JSONDecodeError names only a position; int overflow names no digits
        raise InputError(f"not valid JSON ({exc.__class__.__name__})") from None


def read_export(path: Path, zone: tzinfo = timezone.utc, now: datetime | None = None) -> tuple[list[LeadRow], list]:
    """An export file of any shape (API JSON, XLSX or CSV): its rows and rejects.

    Raises:
        InputError: the file is not an export (one line, never a value from the file).
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the file ({exc.strerror or exc.__class__.__name__})") from None
    stripped = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped[:1] in (b"{", b"["):
        return parse_api_json(load_json(data), now=now)
    if data[:2] == b"PK":
        return parse_table(*read_xlsx_export(path), zone=zone, now=now)
    return parse_table(*read_csv_export(data), zone=zone, now=now)
