"""Who sent a request: the client address behind proxies, and its pseudonyms.

Pure functions. PRODUCT.md: scanning X-Forwarded-For from the right, the
client is the first address that is not a trusted proxy (private, loopback,
link-local, configured proxies); without the header, the remote address.
The remote address (the peer that connected to the web server) is the
right-most hop of that chain: when it is itself an untrusted public address,
the header was written by the client and cannot be believed, so the remote
address is the client.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
from functools import lru_cache
from collections.abc import Iterable
from dataclasses import dataclass

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_PORT_V4 = re.compile(r"^(\d{1,3}(?:\.\d{1,3}){3}):\d+$")
_BRACKETED_V6 = re.compile(r"^\[([0-9A-Fa-f:.]+)\](?::\d+)?$")


@lru_cache(maxsize=1 << 18)
def parse_address(token: str | None) -> Address | None:
    """An IP address from a log token: ``1.2.3.4``, ``1.2.3.4:443``, ``[2001:db8::1]:443``.

    Returns None for anything else (``-``, ``unknown``, host names, garbage).
    Cached: a run asks about the same address several times (client, trust, lookup).
    """
    if not token:
        return None
    try:
        address = ipaddress.ip_address(token)  # the common case, first
    except ValueError:
        token = token.strip().strip('"')
        for pattern in (_PORT_V4, _BRACKETED_V6):
            match = pattern.match(token)
            if match:
                token = match.group(1)
                break
        try:
            address = ipaddress.ip_address(token.split("%", 1)[0])
        except ValueError:
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True)
class ProxyPolicy:
    """Which addresses are proxies we trust, and which are our own (never looked up)."""

    proxies: tuple[Network, ...] = ()
    internal: tuple[Network, ...] = ()

    @classmethod
    def from_strings(cls, proxies: Iterable[str] = (), internal: Iterable[str] = ()) -> "ProxyPolicy":
        return cls(
            tuple(ipaddress.ip_network(p, strict=False) for p in proxies),
            tuple(ipaddress.ip_network(p, strict=False) for p in internal),
        )

    def is_trusted_proxy(self, address: Address) -> bool:
        if not address.is_global or address.is_multicast:
            return True  # private, loopback, link-local, CGNAT, reserved
        return any(address in network for network in self.proxies)

    def is_lookup_candidate(self, address: Address) -> bool:
        """Public, and not one of the operator's own (office) networks."""
        if not address.is_global or address.is_multicast:
            return False
        return not any(address in network for network in self.internal)


def split_forwarded(value: str | None) -> list[str]:
    """The tokens of an X-Forwarded-For value, left to right; ``-`` is no header."""
    if not value or value.strip() in {"-", ""}:
        return []
    return [part.strip() for part in value.split(",") if part.strip()]


def client_address(remote: str | None, forwarded: str | None, policy: ProxyPolicy) -> str | None:
    """The client address, in canonical text form, or None if nothing parses.

    Args:
        remote: the address that connected to the server (may be a host name).
        forwarded: the X-Forwarded-For value as logged, or None.
        policy: trusted proxies.
    """
    remote_address = parse_address(remote)
    chain = split_forwarded(forwarded)
    if not chain:
        return str(remote_address) if remote_address is not None else None
    if remote_address is not None and not policy.is_trusted_proxy(remote_address):
        return str(remote_address)
    hops = [parse_address(token) for token in chain]
    for hop in reversed(hops):
        if hop is None:
            continue  # "unknown" (written by some proxies) or garbage: not an address
        if not policy.is_trusted_proxy(hop):
            return str(hop)
    # Every hop is trusted (an internal client): report the left-most parseable one.
    for hop in hops:
        if hop is not None:
            return str(hop)
    return str(remote_address) if remote_address is not None else None


def truncated_prefix(address: str) -> str | None:
    """The /24 (IPv4) or /48 (IPv6) network of an address, as CIDR text."""
    parsed = parse_address(address)
    if parsed is None:
        return None
    bits = 24 if parsed.version == 4 else 48
    return str(ipaddress.ip_network(f"{parsed}/{bits}", strict=False))


def keyed_hash(secret: bytes, *parts: str) -> str:
    """HMAC-SHA-256 of the parts (NUL-separated), hex, 32 characters.

    The secret lives outside the database, so a copy of the database alone
    cannot link a hash back to an address by trying all 2^32 of them.
    """
    message = "\x00".join(parts).encode("utf-8", errors="surrogatepass")
    return hmac.digest(secret, message, "sha256").hex()[:32]


def visitor_key(secret: bytes, client: str, agent: str | None) -> str:
    """PRODUCT.md's visitor: client address + user agent, as a keyed hash."""
    return keyed_hash(secret, "visitor", client, agent or "")


def client_key(secret: bytes, client: str) -> str:
    """A keyed hash of the address alone: lets ``forget --ip`` find a person's rows."""
    return keyed_hash(secret, "client", client)
