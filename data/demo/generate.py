"""Generate the demo's access logs. SYNTHETIC DATA: no real visitor is in them.

Writes a week of nginx combined logs (with a trailing "$http_x_forwarded_for"
field, as behind a load balancer) for the fictional Finnish software company
of the demo, rotated the way logrotate leaves them:
``access.log`` (today), ``access.log.1`` (yesterday), ``access.log.2.gz`` ...
The rotation overlaps (copytruncate), so some lines appear in two files: the
pipeline must count them once.

The visitors are made up: organisations on made-up networks listed in
``data/demo/networks.csv``, home and mobile users, crawlers, monitors and
scanners, and a few broken lines. Run ``python data/demo/generate.py`` to
rebuild; the output is deterministic (fixed seed).
"""

from __future__ import annotations

import argparse
import gzip
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
EET = timezone(timedelta(hours=2))
LOAD_BALANCER = "10.0.0.5"

#: (organisation, network prefix, visitors, interest) — interest weights the intent pages.
ORGANISATIONS = [
    ("Kalliodata Oy", "185.213.44.", 4, 0.8),
    ("Metsä Logistics Ab", "193.166.220.", 3, 0.6),
    ("Pohjolan Konepaja Oy", "91.152.138.", 2, 0.9),
    ("Saimaa Analytics Oy", "213.216.77.", 2, 0.3),
    ("Turun Teräs Oyj", "80.248.161.", 3, 0.5),
    ("Nordic Fintech Ltd", "194.100.40.", 1, 0.7),
]
HOME_USERS = ["84.249.", "88.113.", "62.78."]  # consumer broadband pools
MOBILE_USERS = ["176.72.", "37.33."]  # mobile operators (CGNAT pools)
BROWSERS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
]
BOTS = [
    ("66.249.66.", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
    ("40.77.167.", "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"),
    ("157.55.39.", "curl/8.5.0"),
    ("3.120.11.", "python-requests/2.32.3"),
    ("10.0.0.9", "kube-probe/1.31"),
    ("52.58.4.", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36"),
    ("18.194.2.", ""),
]
PAGES = ["/", "/solutions", "/solutions/configurator", "/customers", "/blog/digital-twins", "/blog/erp-integration",
         "/about", "/careers", "/fi/", "/fi/ratkaisut", "/fi/asiakkaat"]
INTENT = ["/pricing", "/contact", "/demo", "/solutions/configurator/quote", "/fi/hinnasto", "/fi/yhteystiedot"]
ASSETS = ["/static/app.css", "/static/app.js", "/static/logo.svg", "/img/hero.webp", "/fonts/inter.woff2",
          "/favicon.ico", "/static/app.js.map"]
REFERRERS = ["-", "-", "https://www.google.com/", "https://www.linkedin.com/", "https://duckduckgo.com/",
             "https://www.bing.com/"]
CAMPAIGNS = [("linkedin", "paid-social", "autumn-configurator"), ("newsletter", "email", "nov-2026"),
             ("google", "cpc", "brand-fi")]


def line(ts: datetime, client: str, method: str, path: str, status: int, size: int, referrer: str, agent: str) -> str:
    stamp = ts.astimezone(EET).strftime("%d/%b/%Y:%H:%M:%S %z")
    return (
        f'{LOAD_BALANCER} - - [{stamp}] "{method} {path} HTTP/1.1" {status} {size} '
        f'"{referrer}" "{agent}" "{client}"'
    )


def session(rng: random.Random, start: datetime, client: str, agent: str, interest: float) -> list[tuple[datetime, str]]:
    """One human visit: pages with their assets, a referrer or campaign on landing."""
    out = []
    ts = start
    landing = rng.choice(PAGES)
    referrer = rng.choice(REFERRERS)
    if rng.random() < 0.25:
        source, medium, campaign = rng.choice(CAMPAIGNS)
        landing += f"?utm_source={source}&utm_medium={medium}&utm_campaign={campaign}"
    pages = [landing] + [
        rng.choice(INTENT) if rng.random() < interest * 0.5 else rng.choice(PAGES) for _ in range(rng.randint(0, 6))
    ]
    for index, page in enumerate(pages):
        status = 200 if rng.random() > 0.03 else rng.choice([404, 500])
        out.append((ts, line(ts, client, "GET", page, status, rng.randint(4000, 40000),
                             referrer if index == 0 else "https://www.example-software.fi" + pages[index - 1], agent)))
        for asset in rng.sample(ASSETS, 3):
            out.append((ts + timedelta(milliseconds=300), line(ts, client, "GET", asset, rng.choice([200, 304]),
                                                               rng.randint(200, 90000), "-", agent)))
        if page == "/contact" and rng.random() < 0.3:
            out.append((ts + timedelta(seconds=40), line(ts + timedelta(seconds=40), client, "POST", "/contact", 303,
                                                         0, "https://www.example-software.fi/contact", agent)))
        ts += timedelta(seconds=rng.randint(10, 300))
    if rng.random() < 0.1:  # a redirect: never a pageview
        out.append((ts, line(ts, client, "GET", "/old-pricing", 301, 0, "-", agent)))
    return out


def day_lines(rng: random.Random, day: datetime) -> list[tuple[datetime, str]]:
    out: list[tuple[datetime, str]] = []
    for org, prefix, visitors, interest in ORGANISATIONS:
        for v in range(visitors):
            if rng.random() < 0.55:
                client = f"{prefix}{10 + v * 7}"
                agent = BROWSERS[(v + len(org)) % len(BROWSERS)]
                start = day + timedelta(hours=rng.uniform(7, 17))
                out += session(rng, start, client, agent, interest)
    for _ in range(rng.randint(40, 60)):
        pool = rng.choice(HOME_USERS + MOBILE_USERS)
        client = f"{pool}{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        out += session(rng, day + timedelta(hours=rng.uniform(0, 24)), client, rng.choice(BROWSERS), 0.2)
    for prefix, agent in BOTS:
        for _ in range(rng.randint(20, 80)):
            client = prefix if prefix.count(".") == 3 and not prefix.endswith(".") else f"{prefix}{rng.randint(1, 254)}"
            ts = day + timedelta(seconds=rng.uniform(0, 86399))
            path = rng.choice(PAGES + ["/robots.txt", "/sitemap.xml", "/healthz", "/wp-login.php"])
            out.append((ts, line(ts, client, "GET", path, rng.choice([200, 200, 404]), 512, "-", agent)))
    # A night owl whose visit straddles midnight (continued in the next day's file).
    late = day + timedelta(hours=23, minutes=50)
    out += session(rng, late, "185.213.44.99", BROWSERS[0], 0.9)
    # Broken lines a real server writes now and then.
    ts = day + timedelta(hours=rng.uniform(0, 24))
    stamp = ts.astimezone(EET).strftime("%d/%b/%Y:%H:%M:%S %z")
    out.append((ts, f'{LOAD_BALANCER} - - [{stamp}] "\\x16\\x03\\x01\\x00\\xa5\\x01" 400 157 "-" "-" "45.148.10.3"'))
    out.append((ts, ' "Mozilla/5.0 (orphaned continuation line)"'))
    out.append((ts, f"{LOAD_BALANCER} - - [{stamp}] truncated"))
    return sorted(out, key=lambda item: item[0])


def generate(out_dir: Path, first_day: datetime, days: int, seed: int = 2026) -> list[Path]:
    rng = random.Random(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    per_day = [[text for _, text in day_lines(rng, first_day + timedelta(days=d))] for d in range(days)]
    written = []
    for age, d in enumerate(range(days - 1, -1, -1)):
        # copytruncate: the next day's first lines were also copied into this file.
        lines = per_day[d] + (per_day[d + 1][:3] if d + 1 < days else [])
        body = "\n".join(lines) + "\n"
        name = "access.log" if age == 0 else f"access.log.{age}"
        path = out_dir / (name + (".gz" if age >= 2 else ""))
        if age >= 2:
            with gzip.GzipFile(path, "wb", mtime=0) as handle:
                handle.write(body.encode())
        else:
            path.write_text(body)
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "logs")
    parser.add_argument("--first-day", default="2026-11-16")
    parser.add_argument("--days", type=int, default=7)
    args = parser.parse_args()
    first = datetime.fromisoformat(args.first_day).replace(tzinfo=EET)
    for path in generate(args.out, first, args.days):
        print(path)


if __name__ == "__main__":
    main()
