"""A local RDAP registry that answers as RIPE's does, for tests and benchmarks on 127.0.0.1.

It holds a database of ``inetnum``-like objects with RIPE's statuses and
serves:

* ``/ip/{address}`` — the most specific object holding the address (404 if none);
* RFC 9910 relation searches, when ``relation_search`` is on:
  ``/ips/rirSearch1/{rdap-bottom|rdap-down}/{prefix}/{length}`` or the
  URL-encoded range handle ``a.b.c.d - e.f.g.h``: ``{"ipSearchResults": [...]}``,
  HTTP 400 "Too Many Rows" above ``max_rows`` (RIPE caps at 10,000), an empty
  array for nothing found; ``rdap-up``/``rdap-top``: the one object holding the
  range (404 if none); without relation searches, 501 (or ``search_status``).

Every object is an RDAP ``ip network`` shaped as RIPE serves it: the
maintainer listed as registrant (vCard kind ``individual``), the organisation
(``ORG-…``, kind ``org``) when there is one, an abuse role, ``descr`` lines as
remarks, and — when relation searches are served — ``rirSearch1`` in
``rdapConformance`` and ``rdap-up/-down/-top/-bottom`` links.
"""

from __future__ import annotations

import bisect
import ipaddress
import json
import zlib
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

from werkzeug.wrappers import Request, Response

LEAF = {"ASSIGNED PA", "ASSIGNED PI", "ALLOCATED-ASSIGNED PA", "ASSIGNED ANYCAST", "ASSIGNED"}


def _vcard(name: str, kind: str) -> list:
    return ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", name], ["kind", {}, "text", kind]]]


@dataclass
class Inetnum:
    start: str
    end: str
    netname: str
    status: str
    org: str | None = None
    org_handle: str | None = None
    descr: tuple[str, ...] = ()
    country: str = "FI"
    maintainer: str = "EXAMPLE-MNT"

    @property
    def first(self) -> int:
        return int(ipaddress.ip_address(self.start))

    @property
    def last(self) -> int:
        return int(ipaddress.ip_address(self.end))

    @property
    def version(self) -> int:
        return ipaddress.ip_address(self.start).version

    def handle(self) -> str:
        if self.version == 4:
            return f"{self.start} - {self.end}"
        (block,) = ipaddress.summarize_address_range(ipaddress.ip_address(self.start), ipaddress.ip_address(self.end))
        return str(block)


def inetnum(cidr: str, netname: str, status: str, org: str | None = None, descr: tuple[str, ...] = (), **kw) -> Inetnum:
    block = ipaddress.ip_network(cidr)
    handle = kw.pop("org_handle", None) or (f"ORG-{zlib.crc32(org.encode()) % 9999}-RIPE" if org else None)
    return Inetnum(str(block[0]), str(block[-1]), netname, status, org, handle, descr, **kw)


@dataclass
class RdapRegistry:
    """A WSGI-style handler for pytest-httpserver (``respond_with_handler``) or werkzeug's server."""

    objects: list[Inetnum]
    base: str = ""  # the URL prefix the registry lives under, e.g. "/rdap"
    relation_search: bool = True
    max_rows: int = 10_000
    search_status: int = 501  # what a registry without relation searches answers
    requests: list[tuple[str, str]] = field(default_factory=list)  # (kind, what was asked)

    def __post_init__(self) -> None:
        self.objects = sorted(self.objects, key=lambda o: (o.version, o.first, -o.last))
        self._firsts = [(o.version, o.first) for o in self.objects]
        # Objects by the /16 (IPv6: /32) blocks they overlap; larger ones are few and kept apart.
        self._buckets: dict[tuple[int, int], list[Inetnum]] = {}
        self._wide: list[Inetnum] = []
        for o in self.objects:
            shift = 16 if o.version == 4 else 96
            first, last = o.first >> shift, o.last >> shift
            if last - first > 64:
                self._wide.append(o)
                continue
            for bucket in range(first, last + 1):
                self._buckets.setdefault((o.version, bucket), []).append(o)

    # --- the registry's own lookups ---

    def _holding(self, version: int, first: int, last: int) -> list[Inetnum]:
        """Objects containing the whole of first..last."""
        near = self._buckets.get((version, first >> (16 if version == 4 else 96)), [])
        return [o for o in (*near, *self._wide) if o.version == version and o.first <= first and o.last >= last]

    def _inside(self, version: int, first: int, last: int) -> list[Inetnum]:
        start = bisect.bisect_left(self._firsts, (version, first))
        stop = bisect.bisect_right(self._firsts, (version, last))
        return [o for o in self.objects[start:stop] if o.last <= last and (o.first, o.last) != (first, last)]

    def most_specific(self, address: str) -> Inetnum | None:
        number = ipaddress.ip_address(address)
        holding = self._holding(number.version, int(number), int(number))
        return min(holding, key=lambda o: o.last - o.first, default=None)

    def bottom(self, version: int, first: int, last: int, down: bool = False) -> list[Inetnum]:
        """RIPE's rdap-bottom: the most specific objects inside (plus intermediates their children don't cover)."""
        inside = self._inside(version, first, last)
        if down:  # first level only
            return [o for o in inside if not any(p is not o and p.first <= o.first and p.last >= o.last for p in inside)]
        result = []
        for o in inside:
            children = [c for c in inside if c is not o and o.first <= c.first and c.last <= o.last]
            covered = sum(c.last - c.first + 1 for c in children
                          if not any(p is not c and p in children and p.first <= c.first and p.last >= c.last
                                     for p in children))
            if not children or covered < o.last - o.first + 1:
                result.append(o)
        return result

    # --- RDAP rendering ---

    def render(self, o: Inetnum, url_root: str) -> dict:
        entities = [{"objectClassName": "entity", "handle": o.maintainer, "roles": ["registrant"],
                     "vcardArray": _vcard(o.maintainer, "individual")}]
        if o.org_handle:
            entity = {"objectClassName": "entity", "handle": o.org_handle, "roles": ["registrant"]}
            if o.org:
                entity["vcardArray"] = _vcard(o.org, "org")
            entities.append(entity)
        entities.append({"objectClassName": "entity", "handle": "AR1-RIPE", "roles": ["abuse"],
                         "vcardArray": _vcard("Abuse-C Role", "group")})
        handle = o.handle()
        payload = {
            "rdapConformance": ["cidr0", "rdap_level_0", "nro_rdap_profile_0", "redacted"],
            "objectClassName": "ip network", "handle": handle,
            "startAddress": o.start, "endAddress": o.end, "ipVersion": f"v{o.version}",
            "name": o.netname, "type": o.status, "country": o.country,
            "parentHandle": "0.0.0.0 - 255.255.255.255" if o.version == 4 else "::/0",
            "entities": entities, "status": ["active"],
            "links": [{"value": f"{url_root}/ip/{o.start}", "rel": "self", "href": f"{url_root}/ip/{o.start}"}],
            "port43": "whois.ripe.net",
        }
        if o.descr:
            payload["remarks"] = [{"description": list(o.descr)}]
        if self.relation_search:
            payload["rdapConformance"] += ["rirSearch1", "ips"]
            for rel in ("rdap-up", "rdap-down", "rdap-top", "rdap-bottom"):
                payload["links"].append({"value": f"{url_root}/ip/{o.start}", "rel": rel,
                                         "href": f"{url_root}/ips/rirSearch1/{rel}/{quote(handle, safe='')}"})
        return payload

    def __call__(self, request: Request) -> Response:
        path = unquote(request.path)
        root = request.host_url.rstrip("/") + self.base
        tail = path[len(self.base):]
        if tail.startswith("/ip/"):
            address = tail[len("/ip/"):]
            self.requests.append(("ip", address))
            try:
                found = self.most_specific(address)
            except ValueError:
                return _error(400, "Bad Request")
            if found is None:
                return _error(404, "Not Found")
            return _json(self.render(found, root))
        if tail.startswith("/ips/rirSearch1/"):
            relation, _, target = tail[len("/ips/rirSearch1/"):].partition("/")
            self.requests.append((relation, target))
            if not self.relation_search:
                return _error(self.search_status, "Not Implemented")
            if relation not in {"rdap-bottom", "rdap-down", "rdap-up", "rdap-top"}:
                return _error(400, "Bad Request")
            try:
                if " - " in target:
                    first_text, last_text = (part.strip() for part in target.split(" - "))
                    first, last = ipaddress.ip_address(first_text), ipaddress.ip_address(last_text)
                else:
                    block = ipaddress.ip_network(target, strict=False)
                    first, last = block[0], block[-1]
            except ValueError:
                return _error(400, "Bad Request")
            if relation in {"rdap-up", "rdap-top"}:  # one object: the smallest (largest) one holding the range
                holding = [o for o in self._holding(first.version, int(first), int(last))
                           if (o.first, o.last) != (int(first), int(last))]
                if not holding:
                    return _error(404, "Not Found")
                pick = min if relation == "rdap-up" else max
                return _json(self.render(pick(holding, key=lambda o: o.last - o.first), root))
            found = self.bottom(first.version, int(first), int(last), down=relation == "rdap-down")
            if len(found) > self.max_rows:
                return _error(400, "Too Many Rows", f"more than {self.max_rows} results")
            return _json({"rdapConformance": ["rdap_level_0", "rirSearch1", "ips"],
                          "ipSearchResults": [self.render(o, root) for o in found]})
        return _error(404, "Not Found")

    def count(self, kind: str) -> int:
        return sum(1 for asked, _ in self.requests if asked == kind)


def _json(payload: dict) -> Response:
    return Response(json.dumps(payload), content_type="application/rdap+json")


def _error(status: int, title: str, description: str | None = None) -> Response:
    body = {"errorCode": status, "title": title, "description": [description or title]}
    return Response(json.dumps(body), status=status, content_type="application/rdap+json")
