"""The Leadfeeder API's JSON, read as the API writes it.

Three shapes, alone or as pages of one file (a list of documents):

* v1 ``leads``: ``{"data": [{"id", "type": "leads", "attributes", "relationships":
  {"location": {"data": {"id", "type": "locations"}}}}], "included": [locations]}``; the
  company's city and country are the included location's.
* v1 ``visits``, their own endpoint: ``{"data": [{"type": "visits", "attributes": {"lead_id",
  "started_at", "source", "medium", "campaign", "referring_url", "visit_route": [{"page_path",
  "page_url"}]}}]}``; each visit joins its lead by ``lead_id`` (or ``relationships.lead``).
* ``/v1/web-visits/companies``: ``{"data": [{"type": "company_location", "relationships":
  {"company": …, "location": …}}], "included": [companies]}``; the company's attributes
  (``name``, ``url``, ``industries``, ``employee_count``, ``address``) are the lead's.

Field names are those of public clients (tests/fixtures/leadfeeder_api/PROVENANCE.txt).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone, tzinfo

from enrich.errors import InputError
from enrich.leadfeeder import LeadRow, _Fields, _name, country_code, is_placeholder
from enrich.timestamps import is_plausible, parse_datetime

LOCATION_TYPES = {"locations", "location"}
COMPANY_TYPES = {"companies", "company"}
VISIT_TYPES = {"visits", "visit", "web_visits", "web-visits"}


def _get(item: object, *keys: str) -> object:
    """``item[k1][k2]…`` through objects only; None where the shape differs."""
    for key in keys:
        if not isinstance(item, dict):
            return None
        item = item.get(key)
    return item


def _without_query(url: object) -> str | None:
    """A path or URL as pageviews keep it: no query string, no fragment, no user:password@."""
    if is_placeholder(url) or not isinstance(url, str):
        return None
    text = re.split(r"[?#]", url.strip(), maxsplit=1)[0]
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/@]*@", r"\1", text) or None


def _first(*values: object) -> object:
    """The first value that is a value (no placeholder)."""
    return next((v for v in values if not is_placeholder(v)), None)


def industry(value: object) -> object:
    """``industry`` text, or ``industries`` as a list (of names or ``{"name"}``) or ``{"industry": [...]}``."""
    if isinstance(value, dict):
        value = value.get("industry", value.get("name"))
    if isinstance(value, list):
        names = [_get(v, "name") if isinstance(v, dict) else v for v in value]
        names = [n.strip() for n in names if isinstance(n, str) and not is_placeholder(n)]
        return ", ".join(dict.fromkeys(names)) or None
    return value


def _documents(payload: object) -> tuple[list, list]:
    """(primary items, included items) of one document or of a list of documents (pages)."""
    if isinstance(payload, list) and payload and all(isinstance(p, dict) and "data" in p for p in payload):
        data, included = [], []
        for page in payload:
            more, extra = _documents(page)
            data += more
            included += extra
        return data, included
    if isinstance(payload, dict):
        data, included = payload.get("data"), payload.get("included")
        data = [data] if isinstance(data, dict) else data if data is not None else []
        if not isinstance(data, list):
            raise InputError("not a Leadfeeder API document")
        return data, included if isinstance(included, list) else []
    if isinstance(payload, list):
        return payload, []
    raise InputError("not a Leadfeeder API document")


def _related(item: dict, name: str, index: dict) -> dict:
    """The attributes of a relationship: included by (type, id), or written in place."""
    rel = _get(item, "relationships", name)
    ref = rel.get("data", rel) if isinstance(rel, dict) else None
    if not isinstance(ref, dict):
        return {}
    found = index.get((ref.get("type"), str(ref.get("id")))) or index.get((None, str(ref.get("id"))))
    attributes = found if found is not None else ref.get("attributes")
    return attributes if isinstance(attributes, dict) else {}


def parse_api_json(payload: object, zone: tzinfo = timezone.utc, now: datetime | None = None
                   ) -> tuple[list[LeadRow], list[tuple[int | None, str]]]:
    """Leads of the Leadfeeder API (see the module), with their locations and visits.

    Date-only values (``first_visit_date``) are midnight in ``zone``, as in CSV and XLSX. A value
    of the wrong type is an unreadable field; an item that is no object is a reject.

    Raises:
        InputError: the document is not a list of leads.
    """
    now = now or datetime.now(timezone.utc)
    items, included = _documents(payload)
    rejects: list[tuple[int | None, str]] = []
    index: dict[tuple, dict] = {}
    visits_by_lead: dict[str, list[dict]] = {}
    for item in included:
        if not isinstance(item, dict):
            rejects.append((None, "an included item that is not an object"))
        elif isinstance(item.get("attributes"), dict) and item.get("type") not in VISIT_TYPES:
            index[(item.get("type"), str(item.get("id")))] = item["attributes"]
            index.setdefault((None, str(item.get("id"))), item["attributes"])
    for item in items + included:
        if isinstance(item, dict) and item.get("type") in VISIT_TYPES and isinstance(item.get("attributes"), dict):
            visit = item["attributes"]
            owner = _get(item, "relationships", "lead", "data", "id") or visit.get("lead_id")
            visits_by_lead.setdefault(str(owner), []).append(visit)
    rows, number = [], 0
    for lead in items:
        if isinstance(lead, dict) and lead.get("type") in VISIT_TYPES:
            continue
        number += 1
        attributes = lead.get("attributes", lead) if isinstance(lead, dict) else None
        if not isinstance(attributes, dict):
            rejects.append((number, "a lead that is not an object"))
            continue
        company = _related(lead, "company", index)
        attributes = {**company, **{k: v for k, v in attributes.items() if not is_placeholder(v)}}
        rows.append((number, lead, attributes, _related(lead, "location", index)))
    return [r for r in (_row(*args, visits_by_lead, zone, now, rejects) for args in rows) if r], rejects


def _start(visit: dict, zone: tzinfo, now: datetime) -> datetime | None:
    """When a visit started (``started_at``, else its ``date``), or None when unreadable."""
    try:
        moment = parse_datetime(_first(visit.get("started_at"), visit.get("date")), zone)
    except (TypeError, ValueError, OverflowError):
        return None
    return moment if moment is not None and is_plausible(moment, now) else None


def _row(number: int, lead: dict, attributes: dict, location: dict, visits_by_lead: dict, zone: tzinfo,
         now: datetime, rejects: list) -> LeadRow | None:
    name = _name(attributes.get("name"))
    if not name:
        rejects.append((number, "lead without a name"))
        return None
    fields = _Fields(number, zone, now, rejects)
    details = attributes.get("visits_detail")
    visits = visits_by_lead.get(str(lead.get("id")), []) + (details if isinstance(details, list) else [])
    visits = [v for v in visits if isinstance(v, dict)]
    steps = [step for v in visits if isinstance(v.get("visit_route"), list) for step in v["visit_route"]]
    pages = [_without_query(_first(_get(s, "page_path"), _get(s, "page_url"))) for s in steps]
    pages += [_without_query(v.get("landing_page_path")) for v in visits if not v.get("visit_route")]
    pages = [p for p in pages if p]
    referrers = {r for r in (_without_query(v.get("referring_url")) for v in visits) if r}

    def utm(key: str) -> str | None:
        return next((v[key].strip() for v in visits if isinstance(v.get(key), str) and not is_placeholder(v[key])),
                    None)

    campaigns = sorted({v["campaign"].strip() for v in visits
                        if isinstance(v.get("campaign"), str) and not is_placeholder(v["campaign"])})
    extra = {"top_pages": sorted(set(pages))[:20], "referring_urls": sorted(referrers)[:20],
             "campaigns": campaigns[:20], "campaign": utm("campaign")}
    starts = sorted(t for t in (_start(v, zone, now) for v in visits) if t is not None)
    address = attributes.get("address") if isinstance(attributes.get("address"), dict) else {}
    count = fields.count("visits", attributes.get("visits"))
    first_visit = fields.when("first_visit", attributes.get("first_visit_date"))
    last_visit = fields.when("last_visit", _first(attributes.get("last_visit_date"),
                                                  _get(attributes, "web_engagement", "last_visit_date")))
    return LeadRow(
        name=name, line_no=number,
        website=fields.text("website", _first(attributes.get("website_url"), attributes.get("url"))),
        industry=fields.text("industry", industry(_first(attributes.get("industry"), attributes.get("industries")))),
        employees=fields.text("employees", _first(attributes.get("employee_count"),
                                                  attributes.get("employee_range")), numbers=True),
        business_id=fields.business_id(attributes.get("business_id")),
        country=country_code(fields.text("country", _first(
            location.get("country_code"), location.get("country"), attributes.get("country_code"),
            attributes.get("country"), address.get("country_code"), address.get("country")))),
        city=fields.text("city", _first(location.get("city"), attributes.get("city"), address.get("city"))),
        first_visit=first_visit or (starts[0] if starts else None),
        last_visit=last_visit or (starts[-1] if starts else None),
        visits=count if count is not None else (len(visits) or None),
        pageviews=len(pages) or None, quality=fields.quality(attributes.get("quality")),
        source=utm("source") or fields.text("source", attributes.get("source")),
        medium=utm("medium") or fields.text("medium", attributes.get("medium")),
        extra={k: v for k, v in extra.items() if v}, unreadable=tuple(fields.unreadable),
    )
