"""The lead report: content from a small known database, and the HTML as a browser renders it."""

import csv
import re
import io
import os
import shutil
import stat
import struct
import subprocess
import zlib
from datetime import date

import duckdb
import pytest

from flows import engine
from flows.config import load_settings
from tests.conftest import combined, offline_night

NETWORKS = (
    "cidr,organisation,business_id,kind\n"
    "185.213.44.0/24,Kalliodata Oy,3141593-8,company\n"
    "193.166.220.0/24,Metsä Logistics Ab,2718282-8,company\n"
    "80.248.161.0/24,<script>alert(1)</script> Oy,,company\n"
    "91.152.138.0/24,Objecting Oy,,company\n"
    "84.249.0.0/16,Example Broadband,,isp\n"
)


@pytest.fixture
def reported(tmp_path):
    lines = [
        combined(client="185.213.44.10", ts="20/Nov/2026:10:00:00 +0200", request="GET /pricing?utm_campaign=autumn HTTP/1.1",
                 referrer="https://www.linkedin.com/feed/"),
        combined(client="185.213.44.10", ts="20/Nov/2026:10:05:00 +0200", request="GET /pricing HTTP/1.1"),
        combined(client="185.213.44.11", ts="22/Nov/2026:09:00:00 +0200", request="GET /contact HTTP/1.1"),
        combined(client="193.166.220.7", ts="21/Nov/2026:12:00:00 +0200", request="GET /blog HTTP/1.1"),
        combined(client="80.248.161.5", ts="21/Nov/2026:13:00:00 +0200"),
        combined(client="91.152.138.5", ts="21/Nov/2026:14:00:00 +0200", request="GET /pricing HTTP/1.1"),
        combined(client="84.249.1.1", ts="21/Nov/2026:15:00:00 +0200", request="GET /pricing HTTP/1.1"),
    ]
    networks = tmp_path / "networks.csv"
    networks.write_text(NETWORKS)

    def objection(settings) -> None:  # the data protection contact's flag (issue 7's command)
        with duckdb.connect(str(settings.db)) as con:
            con.execute("UPDATE companies SET marketing_objection = true WHERE name = 'Objecting Oy'")

    return offline_night(tmp_path, lines, networks, objection)


def test_report_files_and_content(reported):
    settings, stats = reported
    html_path, csv_path = stats["report_html"], stats["report_csv"]
    assert html_path.endswith("lead-report-2026-11-22.html") and csv_path.endswith("lead-report-2026-11-22.csv")
    assert stat.S_IMODE(os.stat(html_path).st_mode) == 0o600
    raw = open(csv_path, "rb").read()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 only with the BOM
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    names = [r["Company"] for r in rows]
    assert names[0] == "Kalliodata Oy" and "Metsä Logistics Ab" in names
    assert "Objecting Oy" not in names and "Example Broadband" not in names
    top = rows[0]
    assert (top["Visits"], top["Pageviews"], top["Visitors"]) == ("2", "3", "2")
    assert "viewed pricing twice" in top["Why"] and "viewed contact once" in top["Why"]
    assert top["Campaigns"] == "autumn" and "www.linkedin.com" in top["Referrers"]
    assert top["YTJ page"] == "https://tietopalvelu.ytj.fi/yritys/3141593-8"
    # Finnish Excel: a decimal comma, dd.mm.yyyy hh:mm, so numbers and times are numbers and times
    assert re.fullmatch(r"\d+(,\d+)?", top["Score"]) and re.fullmatch(r"\d\d\.\d\d\.\d{4} \d\d:\d\d", top["Last visit"])
    html = open(html_path, encoding="utf-8").read()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; Oy" in html
    assert "Objecting Oy" not in html
    assert "http://" not in html.replace("http://www.w3.org", "")  # nothing to fetch: self-contained
    assert "<svg" in html and 'href="https://tietopalvelu.ytj.fi/yritys/3141593-8"' in html


def test_report_regenerates_for_any_range(reported, tmp_path):
    settings, _ = reported
    older = load_settings({"db": str(settings.db), "report_dir": str(tmp_path / "older"), "since": "2026-11-20",
                           "until": "2026-11-20"}, None, {"LEADPIPE_CONFIG_DIR": str(tmp_path / "cfg")})
    stats = engine.execute(older, "report", ["report"])
    assert stats["report_companies"] == 1 and stats["report_html"].endswith("lead-report-2026-11-20.html")
    with duckdb.connect(str(settings.db), read_only=True) as con:
        assert [r[0] for r in con.execute("SELECT period_end FROM reports ORDER BY report_id").fetchall()] \
            == [date(2026, 11, 22), date(2026, 11, 20)]


def _chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _png_is_not_blank(path) -> bool:
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    idat, offset = b"", 8
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        if kind == b"IDAT":
            idat += data[offset + 8:offset + 8 + length]
        offset += 12 + length
    pixels = zlib.decompress(idat)
    return len(set(pixels[::7])) > 20


@pytest.mark.skipif(not _chromium(), reason="Debian's chromium is not installed (.ci/run installs it)")
def test_report_renders_in_headless_chromium(reported, tmp_path):
    _, stats = reported
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'chromium-profile'}"]
    url = f"file://{stats['report_html']}"
    dom = subprocess.run([_chromium(), *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert "Kalliodata Oy" in dom.stdout
    assert 'id="kpi-companies">3<' in dom.stdout  # Kalliodata, Metsä and the escaped one
    shot = tmp_path / "report.png"
    for size in ("1280,1600", "390,1400"):  # a laptop and a phone
        subprocess.run([_chromium(), *flags, f"--screenshot={shot}", f"--window-size={size}", url],
                       capture_output=True, timeout=120)
        assert shot.exists() and _png_is_not_blank(shot)
        shot.unlink()
