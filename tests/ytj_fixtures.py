"""Register entries written for the tests, in the YTJ v3 shape, and a local v3 server.

The companies are made up; the structure (names with types and versions,
companyForms, mainBusinessLine with code set and fi/sv/en descriptions,
addresses with post offices, website without scheme, status fields,
lastModified) follows PRH's OpenAPI spec and its captured responses.
"""

from __future__ import annotations

import json
import math
from urllib.parse import parse_qs

from werkzeug.wrappers import Response

FORMS = {"Oy": ("16", "Osakeyhtiö", "Limited company"), "Oyj": ("17", "Julkinen osakeyhtiö", "Public limited company"),
         "Ab": ("16", "Osakeyhtiö", "Limited company"), "Ky": ("13", "Kommandiittiyhtiö", "Limited partnership"),
         "Tmi": ("26", "Yksityinen elinkeinonharjoittaja", "Sole trader")}


def _descriptions(fi: str, en: str, sv: str | None = None) -> list[dict]:
    return [{"languageCode": "1", "description": fi}, {"languageCode": "2", "description": sv or fi},
            {"languageCode": "3", "description": en}]


def company(business_id: str, name: str, *, former: tuple[str, ...] = (), parallel: tuple[str, ...] = (),
            auxiliary: tuple[str, ...] = (), form: str = "Oy", industry: tuple[str, str] = ("62100", "Computer programming activities"),
            code_set: str = "TOIMI4", city: str = "HELSINKI", website: str = "", end_date: str | None = None,
            situations: tuple[str, ...] = (), last_modified: str = "2026-05-04T07:31:50") -> dict:
    names = [{"name": name, "type": "1", "registrationDate": "2015-01-01", "version": 1, "source": "1"}]
    for i, old in enumerate(former, start=2):
        names.append({"name": old, "type": "1", "registrationDate": "2005-01-01", "endDate": "2014-12-31",
                      "version": i, "source": "1"})
    names += [{"name": n, "type": "2", "registrationDate": "2015-01-01", "version": 1, "source": "1"} for n in parallel]
    names += [{"name": n, "type": "3", "registrationDate": "2015-01-01", "version": 1, "source": "1"} for n in auxiliary]
    code, fi, en = FORMS[form]
    entry = {
        "businessId": {"value": business_id, "registrationDate": "2015-01-01", "source": "3"},
        "euId": {"value": f"FIFPRO.{business_id}", "source": "1"},
        "names": names,
        "mainBusinessLine": {"type": industry[0], "descriptions": _descriptions(industry[1], industry[1]),
                             "typeCodeSet": code_set, "registrationDate": "2026-01-01", "source": "2"},
        "website": {"url": website, "registrationDate": "2019-07-01", "source": "0"} if website else None,
        "companyForms": [{"type": code, "descriptions": _descriptions(fi, en), "registrationDate": "2015-01-01",
                          "version": 1, "source": "1"}],
        "companySituations": [{"type": "KONK" if "konkurssi" in s.lower() else "SELTILA",
                               "descriptions": _descriptions(s, s), "registrationDate": "2025-01-01", "source": "1"}
                              for s in situations],
        "registeredEntries": [],
        "addresses": [{"type": 1, "street": "Testikatu", "postCode": "00100", "buildingNumber": "1", "entrance": "",
                       "apartmentNumber": "", "apartmentIdSuffix": "", "co": "", "registrationDate": "2019-07-01",
                       "source": "0", "postOffices": [{"city": city, "languageCode": "1", "municipalityCode": "091"}]},
                      {"type": 2, "street": "", "postCode": "", "postOffices": [], "buildingNumber": "",
                       "entrance": "", "apartmentNumber": "", "apartmentIdSuffix": "", "co": "",
                       "registrationDate": "2019-07-01", "source": "0"}],
        "tradeRegisterStatus": "1" if not end_date else "4",
        "status": "2" if not end_date else "3",
        "registrationDate": "2015-01-01",
        "lastModified": last_modified,
    }
    if end_date:
        entry["endDate"] = end_date
    return {k: v for k, v in entry.items() if v is not None}


class YtjServer:
    """GET /companies like PRH's v3: businessId, name (literal substring), location, page; counts requests."""

    def __init__(self, companies: list[dict], fail: dict | None = None):
        self.companies = companies
        self.requests: list[dict] = []
        self.fail = fail or {}  # request number -> (status, body, headers)

    def __call__(self, request):
        params = {k: v[0] for k, v in parse_qs(request.query_string.decode()).items()}
        self.requests.append(params)
        number = len(self.requests)
        if number in self.fail:
            status, body, headers = self.fail[number]
            return Response(body, status=status, headers=headers,
                            content_type="text/plain" if status == 429 else "application/json")
        found = self.companies
        if "businessId" in params:
            found = [c for c in found if c["businessId"]["value"] == params["businessId"]]
        if "name" in params:
            needle = params["name"].lower()
            found = [c for c in found if any(needle in n["name"].lower() for n in c["names"])]
        if "location" in params:
            found = [c for c in found if any(o.get("city", "").lower() == params["location"].lower()
                                             for a in c["addresses"] for o in a["postOffices"])]
        pages = max(1, math.ceil(len(found) / 100))
        page = int(params.get("page", "1") or 1)
        if page < 1 or page > pages:
            page = 1  # PRH: a page past the end answers page 1
        body = {"totalResults": len(found), "companies": found[(page - 1) * 100: page * 100]}
        return Response(json.dumps(body), content_type="application/json")
