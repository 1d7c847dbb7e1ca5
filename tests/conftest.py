"""Shared fixtures: an in-memory database, log files written on the fly, a secret."""

from __future__ import annotations

import gzip
import os
import tempfile
from pathlib import Path

import pytest

from enrich import bots
from enrich.clients import ProxyPolicy
from enrich.weblogs import expand_sources
from flows.config import DEFAULT_DATA_DIR
from sinks import database, runs
from sinks.pageviews import IngestOptions, ingest_logs
from sinks.visits import sessionize

# Hypothesis would keep its examples and caches in ./.hypothesis: tests never write into the checkout.
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(Path(tempfile.gettempdir()) / "leadpipe-hypothesis"))

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SECRET = b"test-secret-0123456789abcdef0123"

BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"


def combined(client="85.76.1.10", ts="24/Nov/2026:10:00:00 +0200", request="GET / HTTP/1.1", status=200,
             referrer="-", agent=BROWSER, extra="") -> str:
    """One combined log line."""
    return f'{client} - - [{ts}] "{request}" {status} 1234 "{referrer}" "{agent}"{extra}'


def write_log(path: Path, lines: list[str], gz: bool = False, newline: str = "\n") -> Path:
    data = ("".join(line + newline for line in lines)).encode("utf-8")
    if gz:
        with gzip.open(path, "wb") as handle:
            handle.write(data)
    else:
        path.write_bytes(data)
    return path


@pytest.fixture
def con():
    connection = database.connect(":memory:")
    yield connection
    connection.close()


@pytest.fixture(autouse=True)
def _private_config(tmp_path, monkeypatch):
    """Tests never touch ~/.config: each gets its own config dir."""
    monkeypatch.setenv("LEADPIPE_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("LEADPIPE_REPORT_DIR", str(tmp_path / "reports"))  # never into the checkout
    # Tests never reach a registry: anything not pointed at a local server fails at once, locally.
    monkeypatch.setenv("LEADPIPE_RDAP_URL", "http://127.0.0.1:9/rdap")
    monkeypatch.setenv("LEADPIPE_YTJ_URL", "http://127.0.0.1:9/ytj")
    monkeypatch.delenv("LEADPIPE_DB", raising=False)
    monkeypatch.delenv("LEADPIPE_LOGS", raising=False)


def options(**overrides) -> IngestOptions:
    values = dict(
        secret=SECRET,
        policy=ProxyPolicy.from_strings(overrides.pop("proxies", ()), ()),
        bot_patterns=bots.bot_patterns(DEFAULT_DATA_DIR / "bots-extra.txt"),
    )
    values.update(overrides)
    return IngestOptions(**values)


def ingest(con, *paths: Path, sessions: bool = True, **opts) -> dict:
    """Ingest files (and sessionize), as one run; returns the stats."""
    run_id = runs.start_run(con, "test")
    files = [(source, Path(source.location)) for source in expand_sources([str(p) for p in paths])]
    stats = ingest_logs(con, files, options(**opts), run_id)
    if sessions:
        stats.update(sessionize(con))
    return stats


def table_counts(con) -> dict:
    return {
        t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
        for t in ("visits", "pageviews", "log_lines")
    }


@pytest.fixture
def shared() -> Path:
    if not SHARED.exists():
        pytest.skip("../shared is absent (reference material is only beside the project)")
    return SHARED


_CHECKOUT = Path(__file__).resolve().parents[1]


def _checkout_files() -> set[str]:
    """What the checkout holds outside version control's ignore-free folders (cheap: no git)."""
    return {str(p.relative_to(_CHECKOUT)) for p in _CHECKOUT.iterdir()} | \
        {str(p.relative_to(_CHECKOUT)) for p in (_CHECKOUT / "data").rglob("*")}


def pytest_sessionstart(session):
    session.config._checkout_before = _checkout_files()


def pytest_sessionfinish(session, exitstatus):
    """Tests never write into the checkout (reports, databases, configs go to tmp_path)."""
    before = getattr(session.config, "_checkout_before", None)
    created = sorted(_checkout_files() - before - {".pytest_cache"}) if before is not None else []
    created = [name for name in created if "__pycache__" not in name]
    if created:
        print(f"\ntests wrote into the checkout: {created}")
        session.exitstatus = 1


def offline_night(tmp_path: Path, lines: list[str], networks: Path, before_report=None):
    """A database built offline from ``lines`` with the operator list ``networks``, then its report.

    ``before_report(settings)`` may change the database first (a flag, an objection).
    Returns ``(settings, report stats)``.
    """
    from flows import commands, engine
    from flows.config import load_settings

    settings = load_settings(
        {"db": str(tmp_path / "leads.duckdb"), "logs": [str(write_log(tmp_path / "access.log", lines))],
         "offline": True, "report_dir": str(tmp_path / "reports")},
        None, {"LEADPIPE_CONFIG_DIR": str(tmp_path / "cfg")},
    )
    engine.execute(settings, "networks import", [commands.import_network_list(networks, "operator")])
    engine.execute(settings, "run", ["ingest", "resolve", "load"])
    if before_report:
        before_report(settings)
    return settings, engine.execute(settings, "report", ["report"])
