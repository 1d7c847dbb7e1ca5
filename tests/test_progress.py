"""Long runs say where they are: a Rich display of every stage on a terminal, log lines when piped."""

from __future__ import annotations

import io
import logging
import re
import threading

import pytest
from rich.console import Console

from enrich.errors import LeadpipeError
from enrich.weblogs import LogSource
from flows import engine, progress
from flows.config import load_settings
from flows.stages import PIPELINE
from tests.conftest import combined, write_log
from tests.test_enrich import LINES, servers  # noqa: F401 - a fixture: RDAP and YTJ on 127.0.0.1
from tests.test_enrich import _settings as online_settings

STAGES = [stage.__name__ for stage in PIPELINE]
STEPS = ["reading", "parsing", "resolving", "enriching", "sessions"]
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _night(tmp_path):
    """Two files, one of them compressed; their sizes as stored."""
    plain = write_log(tmp_path / "access.log", [combined(client=f"85.76.1.{i}", ts=f"24/Nov/2026:10:{i:02d}:00 +0200")
                                                for i in range(30)])
    packed = write_log(tmp_path / "access.log.1.gz", [combined(client=f"85.76.2.{i}",
                                                               ts=f"23/Nov/2026:10:{i:02d}:00 +0200")
                                                      for i in range(30)], gz=True)
    settings = load_settings({"db": str(tmp_path / "leads.duckdb"), "logs": [str(tmp_path / "access.log*")],
                              "offline": True, "report_dir": str(tmp_path / "reports")}, None, None)
    return settings, plain.stat().st_size + packed.stat().st_size


def _last_screen(output: str) -> list[str]:
    """The rows as the terminal keeps them: the display's last drawing, without colours."""
    return [line.rstrip() for line in _CONTROL.sub("", output.rsplit("\x1b[2K", 1)[-1]).splitlines() if line.strip()]


def test_a_terminal_shows_every_stage_and_reading_in_bytes_and_keeps_them_as_the_summary(tmp_path, capsys):
    settings, size = _night(tmp_path)
    screen = io.StringIO()
    with progress.shown(Console(file=screen, force_terminal=True, width=120)):
        engine.execute(settings, "run")
    rows = _last_screen(screen.getvalue())
    labels = [row.split()[1] for row in rows]
    assert labels == ["ingest", "reading", "parsing", "leadfeeder", "forms", "resolve", "resolving", "enrich",
                      "enriching", "load", "sessions", "retention", "report", "deliver", "push", "publishing"]
    assert all(row.startswith("✓") and re.search(r"\d\.\d s", row) for row in rows)
    reading = next(row for row in rows if row.split()[1] == "reading")
    assert f"{size / 1000:.1f}/{size / 1000:.1f} kB" in reading and "60 lines from 2 files" in reading
    assert "85.76." not in screen.getvalue()  # addresses never reach the screen
    assert capsys.readouterr().out == ""  # stdout stays for a command's JSON
    assert type(progress.current()) is progress.LogProgress  # the display ends with its command


def test_piped_each_stage_is_one_log_line(tmp_path, caplog):
    settings, size = _night(tmp_path)
    screen = io.StringIO()
    with caplog.at_level(logging.INFO, logger="leadpipe"), progress.shown(Console(file=screen)):
        engine.execute(settings, "run")
    messages = [record.getMessage() for record in caplog.records]
    for name in [*STAGES, "publishing"]:
        assert len([m for m in messages if m.startswith(f"stage {name} ")]) == 1, name
        assert any(re.fullmatch(rf"stage {name} finished in \d+\.\d s", m) for m in messages), name
    for step in STEPS:
        assert any(m.startswith(f"{step} finished in ") for m in messages), step
    assert any(m.startswith("reading finished in") and "60 lines from 2 files" in m for m in messages)
    assert screen.getvalue() == ""  # no display where no terminal is


def test_a_run_outside_a_command_logs_its_stages_too(tmp_path, caplog):
    settings, _ = _night(tmp_path)
    with caplog.at_level(logging.INFO, logger="leadpipe"):
        engine.execute(settings, "ingest", ["ingest"])  # e.g. a served run: no display, log lines
    messages = [record.getMessage() for record in caplog.records]
    assert [m.split(" finished")[0] for m in messages if " finished in " in m] == \
        ["reading", "parsing", "stage ingest", "stage publishing"]


def test_a_failed_stage_says_so(tmp_path, caplog):
    settings, _ = _night(tmp_path)

    def broken(ctx):
        raise ValueError("nothing to see")

    with caplog.at_level(logging.DEBUG, logger="leadpipe"), progress.shown(Console(file=io.StringIO())):
        with pytest.raises(LeadpipeError):
            engine.execute(settings, "run", ["ingest", broken])
    messages = [record.getMessage() for record in caplog.records]
    assert any(m.startswith("stage ingest finished in") for m in messages)
    failed = [r for r in caplog.records if r.getMessage().startswith("stage broken failed after")]
    assert failed and failed[0].levelno == logging.DEBUG  # the error's own line says it; --verbose says where
    assert not any("publishing" in m for m in messages)


def test_reading_counts_each_file_once_reading_has_moved_past_it(tmp_path):
    first = write_log(tmp_path / "a.log", [combined()] * 10)
    second = write_log(tmp_path / "b.log.gz", [combined()] * 10, gz=True)
    files = [(LogSource(str(first), "a.log"), first), (LogSource(str(second), "b.log"), second),
             (LogSource(str(tmp_path / "gone.log"), "gone.log"), tmp_path / "gone.log")]
    shown = progress.RunProgress()
    with shown.steps() as steps:
        reading = progress.Reading(steps, files)
        row = reading.row
        total = first.stat().st_size + second.stat().st_size
        assert (row.done, row.total, row.unit) == (0, total, "bytes")
        reading(str(first), 10)
        assert row.done == 0 and row.detail == "10 lines, a.log"
        reading(str(second), 7)
        assert row.done == first.stat().st_size and row.detail == "17 lines, b.log.gz"
        reading(str(second), 0, 20)  # a reader that says how far into the file it is
        assert row.done == first.stat().st_size + 20
        reading.parsing()
        assert (row.done, row.state, row.detail) == (total, "done", "17 lines from 3 files")
        assert steps.row.label == "parsing" and steps.row.state == "running"
    assert steps.row.state == "done" and shown.running == []


def test_a_long_step_logs_where_it_is_with_the_time_it_still_needs(caplog):
    shown = progress.LogProgress(every=0)
    with caplog.at_level(logging.INFO, logger="leadpipe"), shown:
        with shown.stage("ingest"), shown.step("reading", unit="bytes") as row:
            row.update(0, 2_000_000, "0 lines, access.log")
            row.started -= 10  # ten seconds for the first quarter: thirty more for the rest
            row.update(500_000, None, "1,000 lines, access.log")
    messages = [record.getMessage() for record in caplog.records]
    assert messages[1] == "reading: 0.5/2.0 MB, 30.0 s left, 1,000 lines, access.log"
    assert messages[2].startswith("reading finished in 10.0 s (0.5/2.0 MB, ")
    assert messages[3].startswith("stage ingest finished in")


def test_rows_show_no_address_no_credential_and_no_control_character():
    row = progress.RunProgress().step("reading", unit="bytes")
    row.update(detail="https://user:pw@logs.example.fi/a.log?token=abc from 85.76.1.10 \x1b[2J\u202e")
    assert row.detail == "https://***@logs.example.fi/a.log?token=*** from x.x.x.x [2J"


def test_registry_walks_count_addresses_lookups_and_requests(tmp_path, httpserver, servers, caplog):  # noqa: F811
    settings = online_settings(tmp_path, httpserver, write_log(tmp_path / "access.log", LINES))
    with caplog.at_level(logging.INFO, logger="leadpipe"), progress.shown(Console(file=io.StringIO()), every=0):
        stats = engine.execute(settings, "run", ["ingest", "resolve", "enrich", "load"])
    messages = [record.getMessage() for record in caplog.records]
    budget = f"requests (budget {settings.rdap_max_requests:,})"
    assert "resolving: 0/5 addresses, 0 " + budget in messages
    assert any(m.startswith("resolving finished in") and f"5/5 addresses, {stats['rdap_requests']} {budget}" in m
               for m in messages)
    enriched = next(m for m in messages if m.startswith("enriching finished in"))
    planned = re.search(r"(\d+)/(\d+) lookups", enriched)
    assert planned and planned[1] == planned[2] and int(planned[2]) >= stats["companies_checked"] > 0
    assert f"{stats['register_requests']} register requests" in enriched and stats["register_requests"] > 0


def test_rows_are_safe_to_touch_from_many_threads():
    shown = progress.TerminalProgress(Console(file=io.StringIO(), force_terminal=True, width=120))
    with shown:
        stage = shown.stage("resolve")
        rows = [shown.step(f"step {n}", unit="lookups") for n in range(8)]

        def work(row):
            for done in range(1, 501):
                row.update(done, 500, f"{done} requests")
            row.finish()

        threads = [threading.Thread(target=work, args=(row,)) for row in rows]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        stage.finish()
    assert all((row.done, row.state) == (500, "done") for row in rows) and shown.running == []


def test_log_lines_during_the_display_are_printed_above_it():
    import sys

    handler = logging.StreamHandler(sys.stderr)
    logger = logging.getLogger("leadpipe.test-progress")
    logger.addHandler(handler)
    screen = io.StringIO()
    try:
        with progress.shown(Console(file=screen, force_terminal=True, width=120)) as shown:
            with shown.stage("ingest"):
                logger.warning("a file could not be read")
            inner = progress.shown()
            with inner as same:
                assert same is shown  # a command inside a command: one display
    finally:
        logger.removeHandler(handler)
    assert "a file could not be read" in screen.getvalue()
    assert handler.stream is sys.stderr


@pytest.mark.parametrize("gz", [False, True])
def test_one_big_file_reports_how_far_reading_has_come(tmp_path, gz):
    """A night's single log file moves the bar while it is read, not only when it ends: each batch
    says how many bytes of the file (compressed, for gzip) are behind it."""
    from enrich.weblogs import ReadResult, read_line_batches

    path = write_log(tmp_path / ("big.log.gz" if gz else "big.log"),
                     [combined(request=f"GET /page/{n} HTTP/1.1") for n in range(20_000)], gz=gz)
    result, positions = ReadResult(), []
    for _ in read_line_batches(path, result, batch_bytes=64 * 1024, piece_bytes=16 * 1024):
        positions.append(result.bytes_read)
    size = path.stat().st_size
    assert len(positions) > 3 and positions == sorted(positions)
    assert 0 < positions[0] < size and positions[-1] == size
