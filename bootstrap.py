#!/usr/bin/env python3
"""Set up and run leadpipe from a fresh clone with nothing but Python 3.11+.

    python3 bootstrap.py demo     # the whole nightly flow on the bundled demo data
    python3 bootstrap.py test     # the test suite (offline)
    python3 bootstrap.py leadpipe ARGS...   # any leadpipe command

The first call creates ``.venv`` and installs the project into it; later
calls reinstall only when ``pyproject.toml`` has changed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".leadpipe-installed"


def ensure_environment() -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"leadpipe needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text().strip() == wanted:
        return
    if not (BIN / "python").exists():
        print("leadpipe: creating .venv", file=sys.stderr)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("leadpipe: installing dependencies into .venv (first run only)", file=sys.stderr)
    pip = [str(BIN / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-e", f"{ROOT}[test]"], check=True)
    STAMP.write_text(wanted)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"demo", "test", "leadpipe"}:
        print(__doc__, file=sys.stderr)
        return 2
    ensure_environment()
    command, rest = argv[0], argv[1:]
    env = {**os.environ, "DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    if command == "test":
        # One worker per core (pytest-xdist), each test module on one worker: its module fixtures
        # (a Prefect server, a registry) are started once. "-n 0" runs in one process.
        parallel = [] if any(a == "-n" or a.startswith(("-n", "--numprocesses")) for a in rest) else [
            "--numprocesses", "auto", "--dist", "loadfile"]
        args = [str(BIN / "python"), "-m", "pytest", *parallel, *rest]
    elif command == "demo":
        args = [str(BIN / "leadpipe"), "demo", *rest]
    else:
        args = [str(BIN / "leadpipe"), *rest]
    return subprocess.run(args, cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
