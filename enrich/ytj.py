"""The Finnish trade register (YTJ, PRH open data API v3): parsing and a fetching client.

``parse_company`` reads the full v3 company object: names with their types
and versions (1 company name — version 1 current, others former with an end
date; 2 parallel names; 3 auxiliary names), company forms, the main business
line (code, TOIMI3/TOIMI4 code set, fi/sv/en descriptions), addresses (1
visiting, 2 postal; "" means empty), website (no scheme), status, trade
register status, company situations, end date and lastModified in both of
PRH's formats. The client asks ``{base}/companies`` by businessId or by name
(and location), 100 results a page, stopping at ceil(totalResults / 100)
because a page past the end answers page 1 again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime

from enrich.errors import PermanentError
from enrich.http import PoliteClient

PAGE_SIZE = 100
#: Language codes in descriptions: 1 Finnish, 2 Swedish, 3 English.
FI, SV, EN = "1", "2", "3"
#: Company situations that end a company's life as a going concern (restructuring does not).
ENDING_SITUATIONS = ("konkurssi", "selvitystila", "bankrupt", "liquidation")


@dataclass(frozen=True)
class Company:
    """One register entry, as leadpipe uses it."""

    business_id: str
    name: str
    former_names: tuple[str, ...] = ()
    parallel_names: tuple[str, ...] = ()
    auxiliary_names: tuple[str, ...] = ()
    company_form: str | None = None
    company_form_code: str | None = None
    industry_code: str | None = None
    industry_code_set: str | None = None  # TOIMI3 (TOL 2008) or TOIMI4 (TOL 2025)
    industry: str | None = None
    industry_fi: str | None = None
    city: str | None = None
    post_code: str | None = None
    street: str | None = None
    website: str | None = None
    status: str | None = None
    trade_register_status: str | None = None
    situations: tuple[str, ...] = ()
    registration_date: date | None = None
    end_date: date | None = None
    last_modified: datetime | None = None
    all_names: tuple[str, ...] = field(default=())

    @property
    def active(self) -> bool:
        """Not ended, not in bankruptcy or liquidation."""
        return self.end_date is None and not any(
            word in situation.lower() for situation in self.situations for word in ENDING_SITUATIONS
        )

    @property
    def register_status(self) -> str:
        if self.end_date:
            return f"ended {self.end_date.isoformat()}"
        if self.situations:
            return "; ".join(self.situations)
        return "active"


def _text(value: object) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _date(value: object) -> date | None:
    text = _text(value)
    if not text:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def parse_last_modified(value: object) -> datetime | None:
    """``yyyy-MM-dd HH:mm:ss`` or ISO ``yyyy-MM-ddTHH:mm:ss`` (no zone), both seen from PRH."""
    text = _text(value)
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace(" ", "T", 1))
    except ValueError:
        return None


def _description(item: dict | None, *languages: str) -> str | None:
    for language in languages:
        for entry in (item or {}).get("descriptions") or []:
            if str(entry.get("languageCode")) == language and _text(entry.get("description")):
                return _text(entry.get("description"))
    return None


def _current(items: list[dict]) -> dict | None:
    """The current version of a versioned list (version 1, no end date)."""
    current = [i for i in items if not i.get("endDate") and i.get("version", 1) in (1, "1")]
    return (current or items or [None])[0]


def parse_company(payload: dict) -> Company:
    """One v3 company object.

    Raises:
        PermanentError: no business ID or no name.
    """
    business_id = _text((payload.get("businessId") or {}).get("value"))
    names = payload.get("names") or []
    company_names = [n for n in names if str(n.get("type")) == "1"]
    current = _current(company_names)
    if not business_id or not current or not _text(current.get("name")):
        raise PermanentError(f"register entry without business ID or name: {business_id}")
    former = tuple(_text(n.get("name")) for n in company_names if n is not current and _text(n.get("name")))
    parallel = tuple(_text(n.get("name")) for n in names if str(n.get("type")) == "2" and not n.get("endDate") and _text(n.get("name")))
    auxiliary = tuple(_text(n.get("name")) for n in names if str(n.get("type")) == "3" and not n.get("endDate") and _text(n.get("name")))
    form = _current(payload.get("companyForms") or [])
    line = payload.get("mainBusinessLine") or {}
    addresses = payload.get("addresses") or []
    address = next((a for a in addresses if str(a.get("type")) == "1"), None) or next(iter(addresses), None) or {}
    offices = address.get("postOffices") or []
    city = next((o.get("city") for o in offices if str(o.get("languageCode")) == FI and _text(o.get("city"))), None)
    city = city or next((o.get("city") for o in offices if _text(o.get("city"))), None)
    situations = tuple(
        filter(None, (_description(s, EN, FI) or _text(s.get("type")) for s in payload.get("companySituations") or []))
    )
    website = _text((payload.get("website") or {}).get("url"))
    name = _text(current.get("name"))
    return Company(
        business_id=business_id,
        name=name,
        former_names=former,
        parallel_names=parallel,
        auxiliary_names=auxiliary,
        company_form=_description(form, EN, FI),
        company_form_code=_text((form or {}).get("type")),
        industry_code=_text(line.get("type")),
        industry_code_set=_text(line.get("typeCodeSet")),
        industry=_description(line, EN, FI),
        industry_fi=_description(line, FI),
        city=_text(city).title() if _text(city) else None,
        post_code=_text(address.get("postCode")),
        street=" ".join(filter(None, (_text(address.get("street")), _text(address.get("buildingNumber"))))) or None,
        website=website,
        status=_text(payload.get("status")),
        trade_register_status=_text(payload.get("tradeRegisterStatus")),
        situations=situations,
        registration_date=_date(payload.get("registrationDate")),
        end_date=_date(payload.get("endDate")),
        last_modified=parse_last_modified(payload.get("lastModified")),
        all_names=(name, *former, *parallel, *auxiliary),
    )


def parse_search(payload: object) -> tuple[int, list[Company]]:
    """(totalResults, companies) of one /companies page.

    Malformed entries (not an object, no business ID or name, a field of the
    wrong type) are skipped; a total that is no count reads as 0.
    """
    if not isinstance(payload, dict):
        return 0, []
    entries = payload.get("companies")
    companies = []
    for entry in entries if isinstance(entries, list) else []:
        try:
            companies.append(parse_company(entry))
        except (PermanentError, AttributeError, TypeError, ValueError):
            continue
    total = payload.get("totalResults")
    valid = isinstance(total, int) and not isinstance(total, bool) and total >= 0
    return (total if valid else 0), companies


@dataclass
class YtjClient:
    """``{base_url}/companies`` by business ID or by name; fetching only."""

    base_url: str
    http: PoliteClient = field(default_factory=lambda: PoliteClient(min_interval=0.25))
    #: Pages asked per name search at most: a short name ("Oy") matches tens of thousands of
    #: companies, and a name that common decides nothing anyway.
    max_pages: int = 5

    @property
    def requests_sent(self) -> int:
        return self.http.requests_sent

    def _page(self, params: dict) -> tuple[int, list[Company]]:
        try:
            return parse_search(self.http.get_json(f"{self.base_url.rstrip('/')}/companies", params))
        except RecursionError:  # the JSON parser's own limit: an answer nested thousands deep
            raise PermanentError("a register answer nested too deeply") from None

    def by_business_id(self, business_id: str) -> Company | None:
        _, companies = self._page({"businessId": business_id})
        return next((c for c in companies if c.business_id == business_id), None)

    def search(self, name: str, location: str | None = None) -> list[Company]:
        """Every match of a name search (a literal substring match), page by page.

        At most ``max_pages`` pages, and never past ceil(totalResults / 100);
        a page that brings no company not seen yet ends the search: PRH answers
        page 1 again for a page past the end, whatever totalResults claimed.
        """
        params = {"name": name}
        if location:
            params["location"] = location
        total, companies = self._page(params)
        seen = {c.business_id for c in companies}
        for page in range(2, min(math.ceil(total / PAGE_SIZE), self.max_pages) + 1):
            _, more = self._page({**params, "page": page})
            more = [c for c in more if c.business_id not in seen]
            if not more:
                break
            seen.update(c.business_id for c in more)
            companies.extend(more)
        return companies
