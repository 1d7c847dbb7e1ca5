"""A first-time user on a fresh clone, scripted: the README's demo, then the mistakes people make.

Each mistake must be one line on stderr with the README's exit status, and leave no stray file in
the clone; the published demo database must open read-only in the DuckDB command-line client the
package index serves (installed by the test command with the ``test`` extra).
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DUCKDB_CLI = Path(sys.executable).parent / "duckdb"

pytestmark = pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(),
                                reason="needs git and a git checkout to clone")


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    """A fresh clone of the committed project (the code under test is the checkout's, run from the clone)."""
    target = tmp_path_factory.mktemp("first-use") / "leadpipe"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(target)], check=True)
    # The working tree's files, so that what is tested is what is about to be committed.
    for folder in ("flows", "enrich", "sinks", "data"):
        shutil.copytree(ROOT / folder, target / folder, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return target


def _leadpipe(clone: Path, *args, config_dir: Path):
    env = {**os.environ, "LEADPIPE_CONFIG_DIR": str(config_dir), "PYTHONDONTWRITEBYTECODE": "1"}
    for name in ("LEADPIPE_DB", "LEADPIPE_LOGS", "LEADPIPE_REPORT_DIR", "PREFECT_API_URL"):
        env.pop(name, None)
    return subprocess.run([sys.executable, "-m", "flows.cli", *map(str, args)], cwd=clone, env=env,
                          capture_output=True, text=True, timeout=300)


def _files(clone: Path) -> set[str]:
    """Every file in the clone but git's own and byte-code."""
    return {str(p.relative_to(clone)) for p in clone.rglob("*")
            if ".git" not in p.parts and "__pycache__" not in p.parts}


def _stray(clone: Path, before: set[str]) -> list[str]:
    """Files that appeared since ``before``, other than the demo's own output."""
    return sorted(f for f in _files(clone) - before if not f.startswith("demo-output"))


def test_the_demo_then_every_mistake_on_a_fresh_clone(clone, tmp_path):
    config = tmp_path / "config"
    before = _files(clone)
    demo = _leadpipe(clone, "demo", config_dir=config)
    assert demo.returncode == 0, demo.stderr
    db = clone / "demo-output" / "leadpipe-demo.duckdb"
    assert db.exists() and "Lead report" in demo.stdout
    assert "Traceback" not in demo.stderr and "prefect" not in demo.stderr.lower()
    assert _stray(clone, before) == []

    mistakes = [
        (["run", "--db", db, "--logs", "data/demo/logs/acess.log*", "--offline"], 1, "matches no file"),
        (["run", "--db", db, "--since", "2026-11-31", "--offline"], 1, "out of range"),
        (["report", "--db", "demo-output/leadpipe-demo.duckbd"], 1, "no database at"),
        (["subject-export", "--email", "someone@example.fi", "--db", "demo-ouput/leadpipe-demo.duckdb"], 1,
         "no database at"),
        (["forget", "--ip", "300.1.2.3", "--db", db], 1, "not an IP address"),
        (["report", "--db", db, "--bogus"], 2, "No such option"),
        (["demo", "--out", "/proc/leadpipe-first-use"], 1, "cannot write there"),
        (["run", "--db", "demo-output", "--offline"], 1, "is a folder"),
        (["networks", "import", "data/demo/networks.cvs", "--db", db], 1, "networks.cvs"),
    ]
    for args, status, words in mistakes:
        result = _leadpipe(clone, *args, config_dir=config)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == status, (args, result.stderr)
        assert len(lines) == 1 and words in lines[0], (args, result.stderr)
        assert _stray(clone, before) == [], args

    other_user = _leadpipe(clone, "subject-export", "--email", "someone@example.fi", "--db", db,
                           config_dir=tmp_path / "another-config")
    assert other_user.returncode == 1 and "there is no secret.key" in other_user.stderr
    assert not (tmp_path / "another-config").exists()  # nor is a key made for the wrong folder


@pytest.mark.skipif(not DUCKDB_CLI.exists(), reason="the duckdb-cli package (the test extra) is not installed")
def test_the_published_demo_opens_read_only_in_the_package_indexs_duckdb_cli(clone, tmp_path):
    db = clone / "demo-output" / "leadpipe-demo.duckdb"
    if not db.exists():
        assert _leadpipe(clone, "demo", config_dir=tmp_path / "config").returncode == 0
    result = subprocess.run([str(DUCKDB_CLI), "-readonly", str(db), "-csv", "-c",
                             "SELECT count(*) > 0 FROM lead_scores; SELECT count(*) FROM visits_enriched;"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "true" in result.stdout
