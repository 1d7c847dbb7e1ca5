"""Leadfeeder-style exports: company CSV/XLSX files and the Leadfeeder API's JSON.

Parsing is pure: :func:`parse_table` reads header + rows (from CSV or XLSX),
matching columns by name with English and Finnish aliases; :func:`enrich.leadfeeder_api.parse_api_json`
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


#: What exports write where there is no value: never a value themselves.
PLACEHOLDERS = {"", "-", "--", "n/a", "na", "n.a.", "none", "null", "nan", "(none)", "(not set)", "–", "—"}


def is_placeholder(value: object) -> bool:
    """None, an empty string or a placeholder such as ``N/A`` or ``-``: no value."""
    return value is None or (isinstance(value, str) and value.strip().lower() in PLACEHOLDERS)


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
    if is_placeholder(value):
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
    if is_placeholder(value):
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
    if is_placeholder(value):
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
        if is_placeholder(value):
            return None
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
        if is_placeholder(value):
            return None
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
        from enrich.leadfeeder_api import parse_api_json  # the API's shapes, built on the names above

        return parse_api_json(load_json(data), zone=zone, now=now)
    if data[:2] == b"PK":
        return parse_table(*read_xlsx_export(path), zone=zone, now=now)
    return parse_table(*read_csv_export(data), zone=zone, now=now)
