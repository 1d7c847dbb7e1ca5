"""Named points where a test can kill the process, to prove crash consistency.

Production never sets ``KILL_AT``. The crash test's child process sets it to
a point name (``stage:ingest:after``, ``ingest:batch``, ``load:before-commit``,
``publish:before-rename`` ...), and :func:`point` sends SIGKILL to the process
there — no sleeps, no races.
"""

from __future__ import annotations

import os
import signal

KILL_AT: str | None = None


def point(name: str) -> None:
    """A place a run can die; killed here when ``KILL_AT`` names it."""
    if KILL_AT is not None and KILL_AT == name:
        os.kill(os.getpid(), signal.SIGKILL)
