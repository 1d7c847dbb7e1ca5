"""RDAP responses written for the tests, in the shape registries send (RFC 9083).

RIPE style: the network's holder is an ``ORG-...`` entity of vCard kind
``org`` with role registrant, and the maintainer (``...-MNT``) is listed as a
registrant too; ARIN style: an ``org`` entity with role registrant. The
addresses are made up.
"""

from __future__ import annotations


def _vcard(name: str, kind: str) -> list:
    return ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", name], ["kind", {}, "text", kind]]]


def ripe_network(start: str, end: str, name: str, type_: str = "ASSIGNED PA", country: str = "FI",
                 org: str | None = None, org_handle: str = "ORG-EX1-RIPE", remarks: tuple[str, ...] = (),
                 ipv6: bool = False) -> dict:
    entities = [{
        "objectClassName": "entity", "handle": "EXAMPLE-MNT", "roles": ["registrant"],
        "vcardArray": _vcard("EXAMPLE-MNT", "individual"),
    }]
    if org:
        entities.append({"objectClassName": "entity", "handle": org_handle, "roles": ["registrant"],
                         "vcardArray": _vcard(org, "org")})
    entities.append({"objectClassName": "entity", "handle": "AR1-RIPE", "roles": ["abuse"],
                     "vcardArray": _vcard("Abuse contact", "group")})
    payload = {
        "rdapConformance": ["cidr0", "rdap_level_0", "redacted"],
        "objectClassName": "ip network",
        "handle": f"{start} - {end}",
        "startAddress": start, "endAddress": end,
        "ipVersion": "v6" if ipv6 else "v4",
        "name": name, "type": type_, "country": country,
        "parentHandle": "0.0.0.0 - 255.255.255.255",
        "entities": entities,
        "status": ["active"],
        "links": [{"value": f"https://rdap.example/ip/{start}", "rel": "self", "href": f"https://rdap.example/ip/{start}"}],
        "events": [{"eventAction": "last changed", "eventDate": "2025-06-10T22:44:59Z"}],
        "port43": "whois.ripe.net",
    }
    if remarks:
        payload["remarks"] = [{"description": list(remarks)}]
    return payload


def arin_network(start: str, end: str, name: str, org: str, handle: str = "NET-1-2-3-4-1",
                 type_: str = "DIRECT ASSIGNMENT") -> dict:
    return {
        "rdapConformance": ["rdap_level_0", "cidr0"],
        "objectClassName": "ip network", "handle": handle,
        "startAddress": start, "endAddress": end, "ipVersion": "v4",
        "name": name, "type": type_, "country": "US",
        "entities": [{"objectClassName": "entity", "handle": "EXORG", "roles": ["registrant"],
                      "vcardArray": _vcard(org, "org")}],
        "events": [{"eventAction": "registration", "eventDate": "2012-03-01T00:00:00-05:00"}],
        "port43": "whois.arin.net",
    }


def rdap_error(code: int, title: str) -> dict:
    return {"errorCode": code, "title": title, "description": [title]}
