"""Log details found on real files (issue 11, item 6): vhost prefixes, bots by shape, reject samples."""

from functools import partial

import duckdb
import pytest

from enrich import bots
from enrich.clients import visitor_key
from enrich.weblogs import is_vhost_port, read_line_batches
from flows.config import DEFAULT_DATA_DIR
from sinks import staging
from tests.conftest import BROWSER, SECRET, combined, ingest, write_log

# --- (a) An Apache "%v:%p" prefix is the virtual host, never a hop -------------------------------


@pytest.mark.parametrize(
    ("client_field", "extra", "client"),
    [
        # Debian's vhost_combined: "%v:%p %h"; the server's own address is not the visitor
        ("127.0.0.1:80 85.76.1.10", "", "85.76.1.10"),
        ("195.148.1.1:443 10.0.0.9", "", "10.0.0.9"),
        ("10.0.0.5:443 192.168.1.20", "", "192.168.1.20"),
        ("[::1]:80 10.0.0.9", "", "10.0.0.9"),
        ("[2001:708::1]:443 10.0.0.9", "", "10.0.0.9"),
        ("www.example.fi:443 10.0.0.9", "", "10.0.0.9"),
        # behind a load balancer: the trailing X-Forwarded-For names the client, not the vhost
        ("195.148.1.1:443 10.0.0.5", ' "85.76.1.10"', "85.76.1.10"),
        ("[2001:708::1]:443 10.0.0.5", ' "85.76.1.10, 10.0.0.7"', "85.76.1.10"),
        # a vhost before an unquoted X-Forwarded-For list in the client position
        ("www.example.fi:443 85.76.1.10, 10.0.0.7", "", "85.76.1.10"),
        # unquoted X-Forwarded-For prefixes (no port) work as before
        ("85.76.1.10, 10.0.0.1 10.0.0.5", "", "85.76.1.10"),
        ("85.76.1.10 10.0.0.5", "", "85.76.1.10"),
        ("2a00:1450:4001::1 10.0.0.5", "", "2a00:1450:4001::1"),
        # a list is never a vhost (%v:%p is one token), even when a proxy wrote ports
        ("85.76.1.10:51234, 10.0.0.1 10.0.0.5", "", "85.76.1.10"),
    ],
)
def test_vhost_with_port_is_never_a_hop_or_the_client(con, tmp_path, client_field, extra, client):
    line = f'{client_field} - - [24/Nov/2026:10:00:00 +0200] "GET / HTTP/1.1" 200 1 "-" "{BROWSER}"{extra}'
    stats = ingest(con, write_log(tmp_path / "access.log", [line]))
    assert stats["lines_rejected"] == 0 and stats["pageviews"] == 1
    assert con.execute("SELECT visitor_key FROM visits").fetchall() == [(visitor_key(SECRET, client, BROWSER),)]
    looked_up = {r[0] for r in con.execute("SELECT address FROM run_addresses").fetchall()}
    assert looked_up <= {client}  # the server's own address is never sent to a registry


@pytest.mark.parametrize(
    ("token", "vhost"),
    [
        ("127.0.0.1:80", True), ("10.0.0.5:443", True), ("[::1]:80", True), ("[2001:db8::1]:8443", True),
        ("www.example.fi:443", True), ("localhost:8080", True),
        ("www.example.fi", False), ("85.76.1.10", False), ("2001:db8::1", False), ("::1", False),
        ("85.76.1.10,10.0.0.1", False), ("1.2.3.4:80,10.0.0.1", False), ("-", False),
    ],
)
def test_is_vhost_port(token, vhost):
    assert is_vhost_port(token) is vhost


# --- (b) Bots by shape: a URL or contact, feed readers, HTTP libraries ------------------------------

BROWSERS = [
    # Chrome: Windows, macOS, Linux, ChromeOS, Android, iOS
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
    # Firefox: Windows, macOS, Ubuntu, Android, iOS
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "FxiOS/133.0 Mobile/15E148 Safari/605.1.15",
    # Safari: macOS, iPhone, iPad
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPad; CPU OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.7 Mobile/15E148 Safari/604.1",
    # Edge: Windows, macOS, Android, iOS
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
    "Safari/537.36 Edg/131.0.2903.70",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
    "Safari/537.36 Edg/131.0.2903.86",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
    "Mobile Safari/537.36 EdgA/131.0.2903.87",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.0 EdgiOS/131.2903.86 Mobile/15E148 Safari/605.1.15",
    # Samsung Internet, Opera, Vivaldi-like, Android WebView, Huawei, Xiaomi, UC
    "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-X200) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/25.0 Chrome/121.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 "
    "Safari/537.36 OPR/115.0.0.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP2A.240805.005; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Version/4.0 Chrome/131.0.6778.39 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 12; NOH-NX9) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.0.0 "
    "HuaweiBrowser/15.0.4.312 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; U; Android 13; fi-fi; 2201117TY Build/TKQ1.221114.001) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/112.0.5615.136 Mobile Safari/537.36 XiaoMi/MiuiBrowser/14.8.2-gn",
    "Mozilla/5.0 (Linux; U; Android 10; en-US; RMX2185 Build/QP1A.190711.020) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/100.0.4896.58 UCBrowser/13.4.0.1306 Mobile Safari/537.36",
    # a phone brand that ends in "bot", and in-app browsers (people reading a shared link)
    "Mozilla/5.0 (Linux; Android 11; CUBOT KINGKONG 5 Pro) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 [FBAN/FBIOS;FBAV/483.0.0.47.107;FBBV/650419178;FBDV/iPhone14,5;FBMD/iPhone;FBSN/iOS;"
    "FBSV/17.6.1;FBSS/3;FBID/phone;FBLC/fi_FI;FBOP/5;FBRV/652497316]",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 [LinkedInApp]/9.30.1630",
    "Mozilla/5.0 (Linux; Android 14; SM-A546B Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Version/4.0 Chrome/131.0.6778.39 Mobile Safari/537.36 Instagram 357.0.0.25.101 Android "
    "(34/14; 450dpi; 1080x2340; samsung; SM-A546B; a54x; s5e8835; fi_FI; 658207370)",
    # an app's WebView that appends a hex id ("feed" is a hex word)
    "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP2A.240805.005; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Version/4.0 Chrome/131.0.6778.39 Mobile Safari/537.36 ExampleApp/4.2 (id 3a1feed9c0de)",
    # older but real: Internet Explorer 11 and Konqueror
    "Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko",
    "Mozilla/5.0 (compatible; Konqueror/3.5; OpenBSD) KHTML/3.5.9 (like Gecko)",
]

BOTS = [
    # signed with a URL, "+URL" or an e-mail contact (real user agents, several from the reference logs)
    "Mozilla/5.0 (compatible; Ezooms/1.0; help@moz.com)",
    "UniversalFeedParser/4.2-pre-314-svn +http://feedparser.org/",
    "Chef Client/10.18.2 (ruby-1.9.3-p327; ohai-6.16.0; x86_64-linux; +http://opscode.com)",
    "LiveJournal.com (webmaster@livejournal.com; for http://www.livejournal.com/users/someone/; 1 readers)",
    "Liferea/1.8.3 (Linux; en_GB.UTF-8; http://liferea.sf.net/)",
    "distilator/0.1 (http://people.freebsd.org/~ehaupt/distilator/)",
    "Rome Client (http://tinyurl.com/64t5n) Ver: UNKNOWN",
    "req/v3 (https://github.com/imroc/req)",
    "'Cloud mapping experiment. Contact research@pdrlabs.net'",
    "Superblock-Denim (http://den.im/; support@superblock.net)",
    "Mozilla/5.0 (compatible; Google Desktop/5.9.1005.12335; http://desktop.google.com/)",
    "Mozilla/5.0 (compatible; ExampleCrawler/1.0; +www.example.com/bot)",
    "Mozilla/5.0 (compatible; Examplebot/2.1; +https://example.com/bot.html)",
    "WordPress/6.4.2; https://www.example.fi",
    "Mozilla/5.0 (X11; U; Linux x86_64; en-US; rv:1.9.0.19; aggregator:Spinn3r (Spinn3r 3.1); "
    "http://spinn3r.com/robot) Gecko/2010040121 Firefox/3.0.19",
    "${jndi:ldap://192.0.2.1:1389/a}",
    # feed readers and aggregators
    "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 16 subscribers; like FeedFetcher-Google)",
    "Digg Feed Fetcher 1.0 (Mozilla/5.0 (Macintosh; Intel Mac OS X 10_7_1) AppleWebKit/534.48.3 "
    "(KHTML, like Gecko) Version/5.1 Safari/534.48.3)",
    "Tiny Tiny RSS/22.08-0f8fb9b (Unsupported)",
    "Tiny Tiny RSS/1.11 (http://tt-rss.org/)",
    "FeedBurner/1.0 (http://www.FeedBurner.com)",
    "FreshRSS/1.23.1 (Linux)",
    "Inoreader/1.0 (3 subscribers; feed-id=12345)",
    "Mozilla/5.0 (compatible; Feedbin feed-id:1234 - 7 subscribers)",
    "NewsBlur Page Fetcher - 5 subscribers",
    "The Old Reader",
    # HTTP libraries and language runtimes
    "Python/3.12 aiohttp/3.9.1",
    "python-urllib3/2.0.7",
    "Python-urllib/3.11",
    "Ruby",
    "PHP/8.2.13",
    "HTTP_Request2/2.1.1 (http://pear.php.net/package/http_request2) PHP/5.3.2-1ubuntu4.18",
    "GuzzleHttp/7",
    "Wget/1.21.4",
    "Wget",
    "libwww-perl/6.72",
    "lwp-trivial/1.41",
    "Java/17.0.9",
    "Apache-HttpClient/4.5.14 (Java/17.0.9)",
    "Go-http-client/2.0",
    "Go 1.1 package http",
    "fetch libfetch/2.0",
    "Debian APT-HTTP/1.3 (2.6.1)",
    "urlgrabber/3.9.1 yum/3.4.3",
    "pip/24.0 {\"ci\":null,\"cpu\":\"x86_64\",\"implementation\":{\"name\":\"CPython\"}}",
    "npm/10.2.3 node/v20.10.0 linux x64 workspaces/false",
    # Android's and Apple's native HTTP stacks: apps, not someone viewing a page (see bots-extra.txt)
    "Dalvik/2.1.0 (Linux; U; Android 13; SM-A536B Build/TP1A.220624.014)",
    "Dalvik/1.6.0 (Linux; U; Android 4.2.2; HUAWEI G730-U10 Build/HuaweiG730-U10)",
    "Reeder/2.1.1 CFNetwork/672.0.8 Darwin/14.0.0",
    "Safari/9537.73.11 CFNetwork/673.0.3 Darwin/13.0.0 (x86_64) (MacBookPro8%2C1)",
]


def _bots(agents: list[str]) -> dict[str, bool]:
    """The ingest's own bot test (DuckDB, RE2, the shipped patterns) over a list of user agents."""
    patterns = list(bots.bot_patterns(DEFAULT_DATA_DIR / "bots-extra.txt"))
    con = duckdb.connect()
    con.execute("CREATE TABLE a (agent VARCHAR)")
    con.executemany("INSERT INTO a VALUES (?)", [[agent] for agent in agents])
    rows = con.execute(f"SELECT agent, {bots.bot_condition('agent', 1, len(patterns))} FROM a", patterns).fetchall()
    con.close()
    return dict(rows)


def test_real_browsers_are_not_bots():
    matched = [agent for agent, is_bot in _bots(BROWSERS).items() if is_bot]
    assert matched == []


def test_signed_agents_feed_readers_and_http_libraries_are_bots():
    missed = [agent for agent, is_bot in _bots(BOTS).items() if not is_bot]
    assert missed == []


def test_a_library_fetch_is_a_bot_request_never_a_pageview(con, tmp_path):
    # a native app's image loads (no asset extension in the path) must not become visits
    lines = [
        combined(request="GET /image/34187?name=x.jpg HTTP/1.1",
                 agent="Dalvik/2.1.0 (Linux; U; Android 8.0.0; PRA-LA1 Build/HONORPRA-LA1)"),
        combined(agent="Mozilla/5.0 (compatible; Examplebot/2.1; +https://example.com/bot.html)",
                 ts="24/Nov/2026:10:01:00 +0200"),
        combined(ts="24/Nov/2026:10:02:00 +0200"),  # a person
    ]
    stats = ingest(con, write_log(tmp_path / "access.log", lines))
    assert stats["bot_requests"] == 2 and stats["pageviews"] == 1


# --- (c) Every reject keeps its masked sample --------------------------------------------------------


def _samples(con) -> list[tuple[str, str | None]]:
    return con.execute("SELECT reason, sample FROM rejects ORDER BY reason").fetchall()


def test_every_reject_reason_keeps_a_masked_sample(con, tmp_path):
    lines = [
        combined(),
        "",
        "garbage 85.76.1.10 here",
        # parses as a log line, but its time has milliseconds and no offset
        '85.76.1.10 - - [25/Feb/2019:16:19:48.143] "GET / HTTP/1.1" 200 1 "-" "x" "2001:db8::7, 10.0.0.7"',
        '2a00:1450:4001::1 - - [31/Nov/2026:10:00:00 +0200] "GET / HTTP/1.1" 200 1 "-" "x"',  # no such day
        "85.76.1.10 " + "x" * 70000,
    ]
    stats = ingest(con, write_log(tmp_path / "access.log", lines))
    assert stats["rejects_by_reason"] == {
        "bad timestamp": 2,
        "empty line": 1,
        "line too long": 1,
        "not an Apache/Nginx common or combined log line": 1,
    }
    samples = _samples(con)
    assert len(samples) == 5 and all(sample is not None for _, sample in samples)
    bad_time = sorted(sample for reason, sample in samples if reason == "bad timestamp")
    assert bad_time == [
        '[ip] - - [25/Feb/2019:16:19:48.143] "GET / HTTP/1.1" 200 1 "-" "x" "[ip], [ip]"',
        '[ip] - - [31/Nov/2026:10:00:00 +0200] "GET / HTTP/1.1" 200 1 "-" "x"',
    ]
    too_long = [sample for reason, sample in samples if reason == "line too long"]
    assert too_long == ["[ip] " + "x" * 495]


def test_a_damaged_file_keeps_a_masked_sample_of_where_reading_stopped(con, tmp_path, monkeypatch):
    # small pieces: the damage comes after some were read (a real file's pieces are 4 MiB)
    monkeypatch.setattr(staging, "read_line_batches", partial(read_line_batches, piece_bytes=4096))
    lines = [combined(client=f"85.76.{i // 250}.{i % 250 + 1}", ts=f"24/Nov/2026:10:{i % 60:02d}:00 +0200")
             for i in range(2000)]
    whole = write_log(tmp_path / "whole.log.gz", lines, gz=True).read_bytes()
    damaged = tmp_path / "access.log.gz"
    damaged.write_bytes(whole[: len(whole) // 2])
    stats = ingest(con, damaged)
    assert stats["file_errors"] and "damaged gzip" in stats["file_errors"][0]
    (sample,) = con.execute("SELECT sample FROM rejects WHERE line_no IS NULL").fetchall()[0]
    assert sample  # the line where reading stopped, cut short by the damage
    assert "85.76." not in sample and sample.startswith("[ip]")


def test_an_unreadable_gzip_keeps_an_empty_sample(con, tmp_path):
    path = tmp_path / "access.log.gz"
    path.write_bytes(b"\x1f\x8b" + b"not gzip at all")
    stats = ingest(con, path)
    assert stats["file_errors"]
    assert con.execute("SELECT sample FROM rejects WHERE line_no IS NULL").fetchall() == [("",)]


@pytest.mark.parametrize("cut", ['"85.76.1', '"85.76.', '"2a00:1450:40'])
def test_a_line_cut_inside_an_address_keeps_no_part_of_it(con, tmp_path, cut):
    # a log being written while it is read ends mid-line: the partial address is masked too
    path = tmp_path / "access.log"
    path.write_bytes((combined() + "\n" + combined(ts="24/Nov/2026:10:01:00 +0200") + " " + cut).encode())
    stats = ingest(con, path)
    assert stats["lines_rejected"] == 1
    (sample,) = con.execute("SELECT sample FROM rejects").fetchall()[0]
    assert sample.endswith(f'"{BROWSER}" "[ip]')
    assert "85.76" not in sample and "2a00" not in sample


def test_masking_comes_before_the_500_character_cut(con, tmp_path):
    # the address straddles the 500-character cut: masking comes first, so no digit of it is kept
    line = "y" * 495 + " 85.76.1.10 " + "z" * 10
    ingest(con, write_log(tmp_path / "access.log", [line]))
    (sample,) = con.execute("SELECT sample FROM rejects").fetchall()[0]
    assert len(sample) == 500 and "85" not in sample and "76" not in sample
