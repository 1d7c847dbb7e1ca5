"""Where a run is: a row per stage and per long step on a terminal, log lines when piped.

A command wraps its runs in :func:`shown`, which installs one :class:`RunProgress`
for the process (the Prefect flow runs in-process, its tasks perhaps in worker
threads: every row is safe to touch from any thread). The engine opens a row per
stage and one for publishing; a stage opens rows for its long steps (reading,
parsing, resolving, enriching, sessions) and feeds them from the plain callbacks
of ``sinks``/``enrich`` (:class:`Reading`, :func:`lookups`).

On a terminal the rows are a Rich display on stderr (stdout stays for a
command's JSON) that stays as the run's summary. Piped, each stage is one log
line when it ends, each step one more, and a long step says where it is every
:data:`LOG_EVERY` seconds; so do runs outside :func:`shown` (a served run, a test).
Rows name stages and files, never an address.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from rich.console import Console
from rich.filesize import pick_unit_and_suffix
from rich.progress import Progress, ProgressColumn
from rich.progress_bar import ProgressBar
from rich.spinner import Spinner
from rich.table import Column
from rich.text import Text

from enrich.redact import mask_addresses, redact_secrets
from enrich.weblogs import LogSource
from sinks.text import clean_text

log = logging.getLogger("leadpipe")

LOG_EVERY = 10.0  # seconds between two log lines about one long step, piped


class Row:
    """One stage, or one long step of a stage: running from its creation until :meth:`finish`
    (or the end of its ``with`` block, failed by an exception)."""

    def __init__(self, progress: RunProgress, label: str, step: bool, unit: str | None) -> None:
        self.progress, self.label, self.step, self.unit = progress, label, step, unit
        self.started, self.ended = time.monotonic(), None
        self.done, self.total, self.detail = 0, None, ""
        self.state = "running"  # then "done" or "failed"

    @property
    def seconds(self) -> float:
        return (self.ended or time.monotonic()) - self.started

    def update(self, done: int | None = None, total: int | None = None, detail: str | None = None) -> None:
        """How far the step is: ``done`` of ``total`` (in ``unit``), and a few words (a file name)."""
        with self.progress.lock:
            if self.state != "running":
                return
            self.done = self.done if done is None else done
            self.total = self.total if total is None else total
            if detail is not None:  # also what a terminal shows: no credential, address or control character
                self.detail = clean_text(redact_secrets(mask_addresses(detail)))
            self.progress._updated(self)

    def finish(self, ok: bool = True) -> None:
        with self.progress.lock:
            if self.state == "running":
                self.state, self.ended = ("done" if ok else "failed"), time.monotonic()
                self.progress.running.remove(self)
                self.progress._finished(self)

    def __enter__(self) -> Row:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        self.finish(ok=kind is None)


class Steps:
    """A stage's steps one after another: :meth:`next` ends the current one and starts another."""

    def __init__(self, progress: RunProgress) -> None:
        self.progress, self.row = progress, None

    def next(self, label: str, unit: str | None = None) -> Row:
        if self.row is not None:
            self.row.finish()
        self.row = self.progress.step(label, unit)
        return self.row

    def __enter__(self) -> Steps:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if self.row is not None:
            self.row.finish(ok=kind is None)


class RunProgress:
    """The rows of a command's runs; this base shows none of them."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.running: list[Row] = []

    def stage(self, name: str) -> Row:
        """A stage's row (the engine's): ``with progress.stage(name): ...``."""
        return self._open(name, False, None)

    def step(self, label: str, unit: str | None = None) -> Row:
        """A long step's row inside the running stage; ``unit`` names what its count counts."""
        return self._open(label, True, unit)

    def steps(self) -> Steps:
        return Steps(self)

    def _open(self, label: str, step: bool, unit: str | None) -> Row:
        with self.lock:
            row = Row(self, label, step, unit)
            self.running.append(row)
            self._started(row)
            return row

    def _started(self, row: Row) -> None:
        pass

    def _updated(self, row: Row) -> None:
        pass

    def _finished(self, row: Row) -> None:
        pass

    def __enter__(self) -> RunProgress:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        for row in list(self.running):  # e.g. a run killed by KeyboardInterrupt
            row.finish(ok=False)


def _amount(row: Row) -> str:
    if row.total is None or row.unit is None:
        return ""
    if row.unit == "bytes":
        unit, suffix = pick_unit_and_suffix(row.total, ["bytes", "kB", "MB", "GB", "TB", "PB"], 1000)
        digits = 0 if unit == 1 else 1
        return f"{row.done / unit:,.{digits}f}/{row.total / unit:,.{digits}f} {suffix}"
    return f"{row.done:,}/{row.total:,} {row.unit}"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"


def _left(row: Row) -> str:
    """The time a measured step still needs at its pace so far."""
    if row.state != "running" or not row.total or not row.done or row.done >= row.total:
        return ""
    return f"{_duration(row.seconds * (row.total - row.done) / row.done)} left"


def _where(row: Row) -> str:
    return ", ".join(part for part in (_amount(row), _left(row), row.detail) if part)


class LogProgress(RunProgress):
    """Piped: a log line per stage and step when it ends; a long step's position every ``every`` seconds."""

    def __init__(self, every: float = LOG_EVERY) -> None:
        super().__init__()
        self.every = every
        self.logged: dict[int, float] = {}

    @staticmethod
    def _name(row: Row) -> str:
        return row.label if row.step else f"stage {row.label}"

    def _started(self, row: Row) -> None:
        self.logged[id(row)] = row.started
        log.debug("%s started", self._name(row))

    def _updated(self, row: Row) -> None:
        now = time.monotonic()
        if row.unit and now - self.logged.get(id(row), 0.0) >= self.every:
            self.logged[id(row)] = now
            log.info("%s: %s", row.label, _where(row))

    def _finished(self, row: Row) -> None:
        self.logged.pop(id(row), None)
        how = "finished in" if row.state == "done" else "failed after"
        where = _where(row)
        # A failure is the command's one error line; where it stopped is for --verbose.
        log.log(logging.INFO if row.state == "done" else logging.DEBUG, "%s %s %s%s", self._name(row), how,
                _duration(row.seconds), f" ({where})" if where else "")


class _Cell(ProgressColumn):
    """A column drawn from a task's row: plain text (never markup), ``(text, style)`` or a renderable."""

    def __init__(self, draw: Callable, **column) -> None:
        super().__init__(table_column=Column(no_wrap=True, **column))
        self.draw = draw

    def render(self, task):
        shown = self.draw(task.fields["row"], task)
        if isinstance(shown, tuple):
            return Text(*shown)
        return Text(shown) if isinstance(shown, str) else shown


class TerminalProgress(RunProgress):
    """A terminal: a Rich display on ``console`` (stderr), kept on screen as the run's summary."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        spinner = Spinner("dots", style="progress.spinner")

        def status(row: Row, task):
            if row.state == "running":
                return spinner.render(task.get_time())
            return ("✓", "green") if row.state == "done" else ("✗", "red")

        def bar(row: Row, task):
            if row.total is None or row.unit is None:
                return ""
            return ProgressBar(total=max(row.total, 1), completed=min(row.done, row.total), width=24,
                               animation_time=task.get_time())

        self.display = Progress(
            _Cell(status), _Cell(lambda row, task: (f"  {row.label}" if row.step else row.label,
                                                   "" if row.step else "bold"), min_width=14),
            _Cell(lambda row, task: _duration(row.seconds), justify="right", min_width=7),
            _Cell(bar), _Cell(lambda row, task: _amount(row)), _Cell(lambda row, task: _left(row)),
            _Cell(lambda row, task: (row.detail, "dim")),
            console=console, transient=False, redirect_stdout=False, redirect_stderr=True, refresh_per_second=5,
        )
        self.swapped: list[tuple[logging.StreamHandler, object]] = []

    def _started(self, row: Row) -> None:
        self.display.add_task(row.label, row=row)

    def __enter__(self) -> TerminalProgress:
        before = sys.stderr
        self.display.start()
        if sys.stderr is not before:  # Rich prints what goes to stderr above its rows: so do log lines
            self.swapped = [(handler, handler.setStream(sys.stderr)) for handler in _handlers_writing_to(before)]
        return self

    def __exit__(self, kind, value, traceback) -> None:
        super().__exit__(kind, value, traceback)
        for handler, stream in self.swapped:
            handler.setStream(stream)
        self.swapped = []
        self.display.stop()


def _handlers_writing_to(stream) -> list[logging.StreamHandler]:
    loggers = [logging.getLogger(), *(logger for logger in list(logging.root.manager.loggerDict.values())
                                      if isinstance(logger, logging.Logger))]
    found = {id(h): h for logger in loggers for h in logger.handlers
             if isinstance(h, logging.StreamHandler) and h.stream is stream}
    return list(found.values())


class Reading:
    """The ingest's "reading" row, fed with staging's ``(file, lines of a batch)``; then its "parsing" row.

    Bytes are the files' sizes as stored (a compressed file's compressed size): a file counts
    whole once reading has moved past it, and before that ``position`` (its bytes read so far, as
    stored) when the reader says it; today's staging does not, so a file counts when it is done.
    """

    def __init__(self, steps: Steps, files: list[tuple[LogSource, Path]]) -> None:
        self.steps, self.row = steps, steps.next("reading", unit="bytes")
        self.locations = [source.location for source, _ in files]
        self.sizes = [_size(path) for _, path in files]
        self.file, self.lines = 0, 0
        self.row.update(0, sum(self.sizes))

    def __call__(self, source: str, lines: int, position: int = 0) -> None:
        while self.file < len(self.locations) - 1 and self.locations[self.file] != source:
            self.file += 1
        self.lines += lines
        done = sum(self.sizes[: self.file]) + min(position, self.sizes[self.file])
        self.row.update(done, None, f"{self.lines:,} lines, {Path(source).name}")

    def parsing(self) -> None:
        """Every file is read: deduplicating and staging follow."""
        files = len(self.locations)
        self.row.update(self.row.total, None, f"{self.lines:,} lines from {files} file{'s' * (files != 1)}")
        self.steps.next("parsing")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def lookups(row: Row, requests: str) -> Callable[[int, int, int], None]:
    """``(done, planned, requests sent)`` of a registry walk shown on ``row``; ``requests`` names them."""
    def report(done: int, planned: int, sent: int) -> None:
        if planned:  # nothing to look up: nothing to count
            row.update(done, planned, f"{sent:,} {requests}")
    return report


_idle = LogProgress()  # outside ``shown``: log lines
_current: RunProgress = _idle
_installing = threading.Lock()


def current() -> RunProgress:
    """The rows the runs of this process show (by default: as log lines)."""
    return _current


@contextlib.contextmanager
def shown(console: Console | None = None, every: float = LOG_EVERY) -> Iterator[RunProgress]:
    """While the block runs, runs show where they are: a Rich display on ``console`` (default:
    stderr) when it is a terminal, log lines otherwise. Inside another ``shown``, the outer one serves."""
    global _current
    with _installing:
        outer = _current is not _idle
        if not outer:
            console = console or Console(stderr=True)
            _current = TerminalProgress(console) if console.is_terminal else LogProgress(every)
        display = _current
    if outer:
        yield display
        return
    try:
        with display:
            yield display
    finally:
        _current = _idle
