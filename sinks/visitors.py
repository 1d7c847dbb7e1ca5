"""Who made a request: the client address and keyed hashes of a run's distinct request triples.

The only Python step of the ingest that sees addresses. It works on the
distinct (client field, X-Forwarded-For, user agent) triples of a run's
pageviews — a small set — and returns, for each, the keyed hashes
(``visitor_key``, ``client_key``) and, if configured, the /24 or /48 prefix.
The address itself never enters a stored table: the run's public addresses
are handed back separately for the resolve stage's temporary table.
"""

from __future__ import annotations

import pyarrow as pa

from enrich.clients import ProxyPolicy, client_address, client_key, parse_address, truncated_prefix, visitor_key
from enrich.weblogs import is_vhost_port

_COLUMNS = ("client_field", "forwarded", "agent", "visitor_key", "client_key", "client_prefix")
VISITOR_MAP_SCHEMA = pa.schema([(name, pa.string()) for name in _COLUMNS])


def visitor_map(
    triples: pa.Table, secret: bytes, policy: ProxyPolicy, store_ip_prefix: bool = False
) -> tuple[pa.Table, list[tuple[str, str]]]:
    """Keyed hashes for each (client_field, forwarded, agent) triple.

    Args:
        triples: the distinct triples, in that column order.
        secret: the key of the hashes (never stored).
        policy: which proxies are trusted and which networks are internal.
        store_ip_prefix: keep the /24 or /48 prefix beside the hashes.

    Returns:
        The triples with ``visitor_key``, ``client_key`` and ``client_prefix`` (all NULL
        where no client address can be told), and the (client_key, address) pairs of the
        public addresses worth a lookup, sorted.
    """
    fields, forwards, agents = (triples.column(i).to_pylist() for i in range(3))
    addresses: dict[tuple[str, str | None], str | None] = {}
    client_keys: dict[str, str] = {}
    out: dict[str, list] = {"visitor_key": [], "client_key": [], "client_prefix": []}
    lookups: dict[str, str] = {}
    for field_text, forwarded, agent in zip(fields, forwards, agents):
        client = addresses.get((field_text, forwarded), "")
        if client == "":
            client = addresses[(field_text, forwarded)] = client_of(field_text, forwarded, policy)
        if client is None:
            for column in out.values():
                column.append(None)
            continue
        if client not in client_keys:
            client_keys[client] = client_key(secret, client)
            parsed = parse_address(client)
            if parsed is not None and policy.is_lookup_candidate(parsed):
                lookups[client_keys[client]] = client
        out["visitor_key"].append(visitor_key(secret, client, agent))
        out["client_key"].append(client_keys[client])
        out["client_prefix"].append(truncated_prefix(client) if store_ip_prefix else None)
    table = pa.table({"client_field": fields, "forwarded": forwards, "agent": agents, **out}, schema=VISITOR_MAP_SCHEMA)
    return table, sorted(lookups.items())


def client_map(pairs: pa.Table, secret: bytes, policy: ProxyPolicy) -> pa.Table:
    """The keyed hash of the client address for each distinct (client_field, forwarded) pair.

    Every line of a run gets one, pageview or not (an asset, a 404, a bot's request): the
    line ledger records whose line it counted, so ``forget --ip`` reaches all of them.
    """
    fields, forwards = (pairs.column(i).to_pylist() for i in range(2))
    keys: dict[str, str] = {}
    out = []
    for field_text, forwarded in zip(fields, forwards):
        client = client_of(field_text, forwarded, policy)
        if client is not None and client not in keys:
            keys[client] = client_key(secret, client)
        out.append(None if client is None else keys[client])
    return pa.table({"client_field": fields, "forwarded": forwards, "client_key": out},
                    schema=pa.schema([(n, pa.string()) for n in ("client_field", "forwarded", "client_key")]))


def client_of(field_text: str | None, forwarded: str | None, policy: ProxyPolicy) -> str | None:
    """The client address from a log's client field and X-Forwarded-For value."""
    tokens = (field_text or "").replace(", ", ",").split(" ")
    remote_list = tokens[-1].split(",")
    # A vhost or an unquoted X-Forwarded-For list may stand before the client.
    # "%v:%p" is dropped first: read as a hop, the server's own address (public,
    # untrusted) would become every visitor's address.
    prefix = [t for t in tokens[:-1] if not is_vhost_port(t)]
    chain = [forwarded] if forwarded else []
    if prefix and all(_looks_like_ips(t) for t in prefix):
        chain.append(",".join(prefix))
    chain.extend(remote_list[:-1])
    return client_address(remote_list[-1], ",".join(chain) or None, policy)


def _looks_like_ips(token: str) -> bool:
    return all(ch in "0123456789abcdefABCDEF.:[]," for ch in token) and any(ch.isdigit() for ch in token)
