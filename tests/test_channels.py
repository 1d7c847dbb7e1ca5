"""Traffic channels: the pure mapping, the report's channels, and an empty report that says why."""

import csv
import io

import duckdb
import pytest

from enrich.channels import CHANNELS, channel, referrer_host, tally
from flows import engine
from flows.config import load_settings
from tests.conftest import combined, offline_night
from tests import test_report
from tests.test_report import NETWORKS

reported = test_report.reported  # the report's fixture: a small known database and its report


@pytest.mark.parametrize(("referrer", "utm_source", "utm_medium", "expected"), [
    # the examples
    (None, "linkedin", None, "LinkedIn"),
    (None, "LinkedIn", "social", "LinkedIn"),
    ("https://www.linkedin.com/feed/", None, None, "LinkedIn"),
    ("https://linkedin.com/", None, None, "LinkedIn"),
    ("https://lnkd.in/abc", None, None, "LinkedIn"),
    ("android-app://com.linkedin.android/", None, None, "LinkedIn"),
    (None, "newsletter", None, "e-mail"),
    (None, "autumn-campaign", "newsletter", "e-mail"),
    # search engines
    ("https://www.google.fi/", None, None, "search"),
    ("https://www.google.co.uk/", None, None, "search"),
    ("https://google.com/", None, None, "search"),
    ("https://www.bing.com/search", None, None, "search"),
    ("https://duckduckgo.com/", None, None, "search"),
    (None, "google", None, "search"),
    (None, "x", "organic", "search"),
    # social
    ("https://t.co/xyz", None, None, "social"),
    ("https://twitter.com/someone", None, None, "social"),
    (None, "twitter", None, "social"),
    ("https://m.facebook.com/", None, None, "social"),
    ("https://l.facebook.com/l.php", None, None, "social"),
    (None, "facebook", None, "social"),
    (None, "somewhere", "social", "social"),
    # mediums
    (None, "mailchimp", "email", "e-mail"),
    ("https://www.google.fi/", None, "email", "e-mail"),
    (None, "anything", "E-mail", "e-mail"),
    (None, "google", "cpc", "paid"),
    (None, "linkedin", "cpc", "paid"),  # an ad is paid before it is LinkedIn
    ("https://www.bing.com/", "bing", "paid_search", "paid"),
    # webmail is e-mail, not search
    ("https://mail.google.com/mail/u/0/", None, None, "e-mail"),
    # the rest
    ("https://partner.example.fi/blog/post", None, None, "referral"),
    ("partner.example.fi/blog", None, None, "referral"),
    ("https://googleplex-fan.example.com/", None, None, "referral"),  # a brand is a whole label
    ("https://google.example.org/", None, None, "referral"),
    (None, "partner", None, "referral"),
    (None, None, None, "direct"),
    ("", "", "", "direct"),
    ("-", None, None, "direct"),
    ("  ", " ", None, "direct"),
])
def test_channel_mapping(referrer, utm_source, utm_medium, expected):
    assert channel(referrer, utm_source, utm_medium) == expected
    assert expected in CHANNELS


def test_referrer_host():
    assert referrer_host("https://WWW.LinkedIn.com:443/feed/") == "linkedin.com"
    assert referrer_host("http://user@www.google.fi/search") == "google.fi"
    assert referrer_host("lnkd.in/abc") == "lnkd.in"
    assert referrer_host(None) == referrer_host("") == ""


def test_tally_groups_by_channel_and_keeps_the_raw_values():
    rows = [("www.linkedin.com", None, None, 3), ("lnkd.in", None, None, 1), (None, "linkedin", "social", 2),
            ("www.google.fi", None, None, 2), (None, None, None, 1), ("partner.fi", None, None, 1)]
    assert tally(rows) == [
        ("LinkedIn", 6, ["linkedin.com (3)", "linkedin (2)", "lnkd.in (1)"]),
        ("search", 2, ["google.fi (2)"]),
        ("referral", 1, ["partner.fi (1)"]),
        ("direct", 1, []),
    ]
    assert tally([]) == []


def test_report_shows_channels(reported):
    _, stats = reported
    html = open(stats["report_html"], encoding="utf-8").read()
    assert "Traffic channels of company visits" in html
    assert "Channels: LinkedIn" in html  # Kalliodata came from LinkedIn
    assert "LinkedIn: linkedin.com (1)" in html  # the raw value stays next to its channel
    assert "Referrers: www.linkedin.com" in html  # the company's raw referrers as before
    assert 'id="why-empty"' not in html  # companies were found: nothing to explain
    rows = list(csv.DictReader(io.StringIO(open(stats["report_csv"], encoding="utf-8-sig").read()), delimiter=";"))
    top = rows[0]
    assert top["Company"] == "Kalliodata Oy" and top["Channels"].split(", ") == ["LinkedIn", "direct"]
    assert "www.linkedin.com" in top["Referrers"]


def test_empty_report_says_why(tmp_path):
    lines = [
        combined(client="84.249.1.1", ts="21/Nov/2026:15:00:00 +0200", request="GET /pricing HTTP/1.1"),
        combined(client="84.249.1.2", ts="21/Nov/2026:16:00:00 +0200", request="GET / HTTP/1.1",
                 referrer="https://www.google.fi/"),
        combined(client="62.78.1.1", ts="22/Nov/2026:09:00:00 +0200", request="GET / HTTP/1.1"),
        combined(client="203.0.113.9", ts="22/Nov/2026:10:00:00 +0200", request="GET / HTTP/1.1"),
    ]
    networks = tmp_path / "networks.csv"
    networks.write_text(NETWORKS + "62.78.0.0/16,Example Mobile,,mobile\n")
    settings, stats = offline_night(tmp_path, lines, networks)
    assert stats["report_companies"] == 0
    html = open(stats["report_html"], encoding="utf-8").read()
    assert 'id="why-empty"' in html and "No company was identified in this period" in html
    assert "Its 4 visits" in html
    with duckdb.connect(str(settings.db), read_only=True) as con:
        kinds = dict(con.execute("SELECT coalesce(n.kind, 'unresolved'), count(*) FROM visits v "
                                 "LEFT JOIN networks n USING (network_id) GROUP BY 1").fetchall())
    assert kinds.get("isp") == 2 and kinds.get("mobile") == 1
    assert "internet providers (ISP): <b>2</b>" in html
    assert "mobile operators: <b>1</b>" in html
    assert "hosting and clouds: <b>0</b>" in html
    unknown = kinds.get("unknown", 0) + kinds.get("unresolved", 0)
    assert unknown == 1  # the address no list covers (offline: nothing looked up)
    assert f"networks of unknown kind: <b>{kinds.get('unknown', 0)}</b>" in html
    assert f"addresses not resolved to a network: <b>{kinds.get('unresolved', 0)}</b>" in html


def test_empty_period_without_visits_says_so(reported, tmp_path):
    settings, _ = reported
    later = load_settings({"db": str(settings.db), "report_dir": str(tmp_path / "later"), "since": "2026-12-01",
                           "until": "2026-12-02"}, None, {"LEADPIPE_CONFIG_DIR": str(tmp_path / "cfg")})
    html = open(engine.execute(later, "report", ["report"])["report_html"], encoding="utf-8").read()
    assert 'id="why-empty"' in html and "it has no visits at all" in html
