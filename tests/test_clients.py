"""Client address (PRODUCT.md): X-Forwarded-For scanned from the right past trusted proxies."""

import pytest

from enrich.clients import ProxyPolicy, client_address, client_key, parse_address, truncated_prefix, visitor_key

POLICY = ProxyPolicy.from_strings(proxies=["203.0.113.0/24"])


@pytest.mark.parametrize(
    ("remote", "forwarded", "expected"),
    [
        ("85.76.1.10", None, "85.76.1.10"),  # no header: the remote address
        ("85.76.1.10", "-", "85.76.1.10"),
        ("10.0.0.5", "85.76.1.10", "85.76.1.10"),  # behind our load balancer
        ("10.0.0.5", "85.76.1.10, 10.1.1.1", "85.76.1.10"),  # private hops are skipped
        ("10.0.0.5", "1.2.3.4, 85.76.1.10, 203.0.113.7", "85.76.1.10"),  # configured proxy skipped, spoofed left part ignored
        ("203.0.113.9", "85.76.1.10", "85.76.1.10"),  # remote is a configured proxy
        ("127.0.0.1", "2001:14ba:1f00::1", "2001:14ba:1f00::1"),  # IPv6 client
        ("10.0.0.5", "[2001:14ba:1f00::1]:51234", "2001:14ba:1f00::1"),  # bracketed with port
        ("10.0.0.5", "85.76.1.10:443", "85.76.1.10"),  # IPv4 with port
        ("10.0.0.5", "10.9.9.9, 192.168.1.4", "10.9.9.9"),  # all internal: left-most
        ("85.76.1.10", "1.2.3.4", "85.76.1.10"),  # an untrusted public peer cannot vouch for a header
        ("10.0.0.5", "unknown, 85.76.1.10", "85.76.1.10"),
        ("10.0.0.5", "85.76.1.10, garbage", "85.76.1.10"),  # tokens that are no address are skipped
        ("::ffff:85.76.1.10", None, "85.76.1.10"),  # IPv4-mapped
        ("monitoring-server", None, None),  # a host name is no address
    ],
)
def test_client_address(remote, forwarded, expected):
    assert client_address(remote, forwarded, POLICY) == expected


def test_lookup_candidates_exclude_private_reserved_and_internal():
    policy = ProxyPolicy.from_strings(internal=["85.76.0.0/16"])
    assert not policy.is_lookup_candidate(parse_address("10.1.2.3"))
    assert not policy.is_lookup_candidate(parse_address("100.64.0.1"))  # CGNAT
    assert not policy.is_lookup_candidate(parse_address("192.0.2.1"))  # documentation
    assert not policy.is_lookup_candidate(parse_address("85.76.1.10"))  # our office
    assert policy.is_lookup_candidate(parse_address("193.166.1.1"))


def test_keyed_hashes_depend_on_the_secret_and_hide_the_address():
    a = visitor_key(b"k1" * 16, "85.76.1.10", "UA")
    assert a != visitor_key(b"k2" * 16, "85.76.1.10", "UA")
    assert a != visitor_key(b"k1" * 16, "85.76.1.10", "UA2")
    assert "85.76" not in a and len(a) == 32
    assert client_key(b"k1" * 16, "85.76.1.10") != a


def test_truncated_prefix():
    assert truncated_prefix("85.76.1.10") == "85.76.1.0/24"
    assert truncated_prefix("2001:14ba:1f00:1::1") == "2001:14ba:1f00::/48"
