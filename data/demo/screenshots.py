"""The README's "For sales" screenshots, from the demo's report and morning e-mail, in headless Chromium.

    leadpipe demo                        # writes demo-output/reports/
    python data/demo/screenshots.py      # → docs/sales-report.png, docs/sales-email.png

Optional argument: the demo's output folder (default ``demo-output``). Needs ``chromium`` on the PATH.
"""

from __future__ import annotations

import email
import shutil
import subprocess
import sys
import tempfile
from email import policy
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"


def shoot(page: Path, png: Path, width: int, height: int) -> None:
    """One page as a PNG of ``width`` × ``height`` CSS pixels (the page's top)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        sys.exit("screenshots: chromium is not installed")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--user-data-dir={profile}", f"--window-size={width},{height}", f"--screenshot={png}",
                        page.as_uri()], check=True, capture_output=True, timeout=120)


def main(out: Path) -> None:
    reports = out / "reports"
    htmls = sorted(reports.glob("lead-report-????-??-??.html"))
    mails = sorted(reports.glob("lead-report-????-??-??-*.eml"))
    if not htmls or not mails:
        sys.exit(f"screenshots: no demo report and e-mail in {reports}: run leadpipe demo first")
    DOCS.mkdir(exist_ok=True)
    shoot(htmls[-1], DOCS / "sales-report.png", 1200, 1500)
    message = email.message_from_bytes(mails[-1].read_bytes(), policy=policy.default)
    with tempfile.TemporaryDirectory() as folder:
        page = Path(folder) / "mail.html"
        page.write_text(message.get_body(("html",)).get_content(), encoding="utf-8")
        shoot(page, DOCS / "sales-email.png", 800, 620)
    print(f"wrote {DOCS / 'sales-report.png'} and {DOCS / 'sales-email.png'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("demo-output"))
