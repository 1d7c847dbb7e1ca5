"""Live calls to the real registries: marked ``online``, never run by default or in CI.

Run by hand, on a machine with internet access:  .venv/bin/python -m pytest -m online tests/online
"""

import pytest

from enrich.http import PoliteClient
from enrich.rdap import RdapClient, parse_rdap
from enrich.ytj import YtjClient

pytestmark = pytest.mark.online


def test_rdap_through_the_arin_bootstrap():
    client = RdapClient("https://rdap.arin.net/registry", http=PoliteClient(user_agent="leadpipe-online-test"))
    network = parse_rdap(client.fetch("193.166.1.1"), "193.166.1.1")  # FUNET, via a redirect to RIPE
    assert network.start_num <= network.end_num and network.country


def test_ytj_by_business_id():
    client = YtjClient("https://avoindata.prh.fi/opendata-ytj-api/v3", http=PoliteClient(user_agent="leadpipe-online-test"))
    nokia = client.by_business_id("0112038-9")
    assert nokia is not None and nokia.name == "Nokia Oyj"
