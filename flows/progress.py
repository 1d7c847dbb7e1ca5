"""How a long read shows its progress: a bar on a terminal, log lines otherwise."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

log = logging.getLogger("leadpipe")


@contextlib.contextmanager
def progress_reporter(enabled: bool = True) -> Iterator[Callable[[str, int], None]]:
    """A callback ``(source, lines)`` called after each batch a file yields."""
    if enabled and sys.stderr.isatty():
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.completed:,} lines"),
            TimeElapsedColumn(), transient=True,
        ) as bar:
            tasks: dict[str, int] = {}

            def advance(source: str, lines: int) -> None:
                if source not in tasks:
                    tasks[source] = bar.add_task(f"reading {Path(source).name}", total=None)
                bar.advance(tasks[source], lines)

            yield advance
        return
    totals: dict[str, int] = {}

    def report(source: str, lines: int) -> None:
        totals[source] = totals.get(source, 0) + lines
        log.info("read %s lines from %s", f"{totals[source]:,}", source)

    yield report
