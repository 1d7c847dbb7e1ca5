"""The DuckDB file: connections, schema migrations, the working copy and publishing.

DuckDB lets one process write a file and no other process open it meanwhile,
so analysts never open the file a run writes. ``--db PATH`` names the
published snapshot; a run works in a private copy beside it
(``.PATH.work``) and, when it succeeds, renames that copy over ``PATH`` — an
atomic replace. A failed or killed run leaves ``PATH`` as it was, and its
rerun starts again from that snapshot, so it produces exactly what an
uninterrupted run would have.

Every file is written in DuckDB storage format :data:`STORAGE_VERSION`, so
analysts open it with any DuckDB 1.x (the CLI, BI drivers); a file in a newer
format (written before this rule) is rewritten in it at its next publish.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from importlib import resources
from pathlib import Path

import duckdb

from enrich.errors import BusyError, ConfigError
from sinks import faults
from sinks.files import private_dir

log = logging.getLogger(__name__)

#: The storage format (DuckDB's ``STORAGE_VERSION``) of every file leadpipe writes. DuckDB 2.0
#: writes format 69 by default, which no DuckDB 1.x opens ("version number 69"): neither the
#: duckdb-cli on PyPI (1.5.x) nor the 1.x JDBC/ODBC drivers BI tools bundle. v1.0.0 (format 64) is
#: the first 1.x format; tried with our schema, DuckDB 1.1.3, 1.2.2, 1.3.2, 1.4.4 and the 1.5.6 CLI
#: read every table, view and macro (1.0.0 itself cannot read 2.0's primary-key indexes). The engine
#: stays current (no pin). Cost on a 1 M-line database: the file about 10% larger, a night's run and
#: queries up to about 10% slower (within this machine's noise), the one-off conversion a few seconds.
STORAGE_VERSION = "v1.0.0"


def configure(
    con: duckdb.DuckDBPyConnection, memory_limit: str | None = None, temp_directory: Path | None = None
) -> duckdb.DuckDBPyConnection:
    """Settings every leadpipe connection gets: no extension downloads, UTC; spills in a private folder."""
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET preserve_insertion_order = false")
    # A run ends with one CHECKPOINT before publishing (a killed run's copy is discarded, WAL and
    # all). The default 16 MB threshold added one in a night's ingest and one in its load, and the
    # first checkpoint of a table costs more the more row groups it has: at 13 months of a 100 k-line
    # site, ingest 2.96 -> 1.84 s and load 1.21 -> 0.50 s with this (bench/bench_nightly.py).
    con.execute("SET checkpoint_threshold = '1GB'")
    if memory_limit:
        con.execute("SET memory_limit = ?", [memory_limit])
    if temp_directory is not None:
        temp_directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(temp_directory, 0o700)
        con.execute("SET temp_directory = ?", [str(temp_directory)])
    return con


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """One transaction: committed when the block ends, rolled back if it raises."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def migrations() -> list[tuple[int, str, str]]:
    """The versioned migrations shipped in ``sinks/migrations``: (version, name, sql)."""
    found = []
    for entry in resources.files("sinks").joinpath("migrations").iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def migrate(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply the migrations this database lacks, each in its own transaction.

    Returns the versions applied.
    """
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
    )
    done = {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}
    applied = []
    for version, name, sql in migrations():
        if version in done:
            continue
        with transaction(con):
            con.execute(sql)
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, current_timestamp)", [version, name])
        applied.append(version)
    return applied


def connect(
    path: Path | str = ":memory:", memory_limit: str | None = None, temp_directory: Path | None = None
) -> duckdb.DuckDBPyConnection:
    """Open (creating 0600 if new) and migrate a database."""
    if str(path) != ":memory:":
        path = Path(path)
        if not path.exists():
            private_dir(path.parent)
    previous = os.umask(0o077)
    try:  # a new file gets STORAGE_VERSION; an existing one keeps its own (working_copy converts it)
        con = duckdb.connect(str(path), config={"storage_compatibility_version": STORAGE_VERSION})
    finally:
        os.umask(previous)
    configure(con, memory_limit, temp_directory)
    migrate(con)
    return con


def storage_version(con: duckdb.DuckDBPyConnection) -> str | None:
    """The storage format of the connection's database file, as DuckDB names it (``v1.0.0+``)."""
    return con.execute(
        "SELECT tags['storage_version'] FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchall()[0][0]


def has_storage_version(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the connection's file is in :data:`STORAGE_VERSION` (or no file at all)."""
    version = storage_version(con)
    return version is None or version == f"{STORAGE_VERSION}+"


def work_path(db: Path) -> Path:
    return db.with_name(f".{db.name}.work")


def lock_path(db: Path) -> Path:
    return db.with_name(f".{db.name}.lock")


#: Locks this process holds for a run it is about to start, by the lock file's path: the CLI takes
#: the lock before Prefect starts, and the engine inside the flow enters it without blocking itself.
_HELD: dict[Path, int] = {}


@contextlib.contextmanager
def exclusive(db: Path, hand_over: bool = False) -> Iterator[None]:
    """Hold the database's run lock, or raise BusyError at once (never through a symlink).

    Args:
        db: the published database.
        hand_over: let a nested ``exclusive(db)`` in this process (the run it starts) enter
            the held lock instead of refusing.
    """
    path = lock_path(db)
    if path in _HELD:
        _HELD[path] += 1
        try:
            yield
        finally:
            _HELD[path] -= 1
        return
    private_dir(db.parent)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise ConfigError(f"cannot take the lock {path}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BusyError(f"another leadpipe run is using {db}; try again when it has finished") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        if not hand_over:
            yield
            return
        _HELD[path] = 1
        try:
            yield
        finally:
            del _HELD[path]
    finally:
        os.close(fd)


def compact(source: Path, memory_limit: str | None = None) -> None:
    """Rewrite a database file into a fresh one in :data:`STORAGE_VERSION`.

    Deleted rows leave no trace in free blocks, and a file in another storage format is converted.
    """
    fresh = source.with_name(source.name + ".compact")
    fresh.unlink(missing_ok=True)
    previous = os.umask(0o077)
    try:
        with configure(duckdb.connect(), memory_limit) as con:
            con.execute("ATTACH ? AS old_file (READ_ONLY)", [str(source)])
            con.execute(f"ATTACH ? AS new_file (STORAGE_VERSION '{STORAGE_VERSION}')", [str(fresh)])
            con.execute("COPY FROM DATABASE old_file TO new_file")
            con.execute("DETACH new_file")
            con.execute("DETACH old_file")
    finally:
        os.umask(previous)
    os.replace(fresh, source)


#: Linux's FICLONE ioctl: the target shares the source's blocks (btrfs, XFS, bcachefs, OCFS2).
_FICLONE = 0x40049409


def clone_file(source: Path, target: Path) -> str:
    """Copy ``source`` into a new private ``target`` as cheaply as the filesystem allows.

    A reflink shares the blocks and writes no data; where the filesystem has
    none (ext4), ``copy_file_range`` copies inside the kernel; elsewhere a plain
    copy. Never through a symlink (``O_NOFOLLOW``), never over an existing file.

    Returns:
        The method used: ``reflink``, ``copy_file_range`` or ``copy``.
    """
    with open(source, "rb") as src:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            with contextlib.suppress(OSError):
                fcntl.ioctl(fd, _FICLONE, src.fileno())
                return "reflink"
            size = os.fstat(src.fileno()).st_size
            try:
                copied = 0
                while copied < size and (n := os.copy_file_range(src.fileno(), fd, size - copied)):
                    copied += n
                if copied == size:
                    return "copy_file_range"
            except OSError:
                pass
            src.seek(0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.ftruncate(fd, 0)
            with os.fdopen(os.dup(fd), "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
            return "copy"
        finally:
            os.close(fd)


def discard_working_copy(db: Path) -> None:
    """What a run of ``db`` leaves while it works: its copy, the copy's WAL, a half-written compaction
    (which holds pre-erasure rows). Only for the holder of :func:`exclusive`."""
    work = work_path(db)
    for leftover in (work, work.with_name(work.name + ".wal"), work.with_name(work.name + ".compact")):
        leftover.unlink(missing_ok=True)


def scratch_prefix(db: Path) -> str:
    """The name every private scratch folder of a run of ``db`` starts with (beside ``db``)."""
    return f".leadpipe-{db.name}-"


def discard_run_leftovers(db: Path) -> None:
    """Everything a run of ``db`` leaves while it works or when it is killed: the working copy (see
    :func:`discard_working_copy`) and its scratch folders (downloads, DuckDB's spill files).
    Only for the holder of :func:`exclusive`."""
    discard_working_copy(db)
    for scratch in db.parent.glob(scratch_prefix(db) + "*"):
        shutil.rmtree(scratch, ignore_errors=True)


@contextlib.contextmanager
def working_copy(
    db: Path, memory_limit: str | None = None, compact_when: Callable[[], bool] | None = None,
    temp_directory: Path | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to a private copy of the published database.

    On normal exit the copy is checkpointed (rewritten into a fresh file when
    ``compact_when()`` says so, e.g. after an erasure, or when it is in another
    storage format than :data:`STORAGE_VERSION`) and atomically renamed over
    ``db``; on an exception it is discarded and ``db`` stays as it was.
    Callers hold :func:`exclusive` around this.
    """
    if db.exists() and db.is_dir():
        raise ConfigError(f"--db {db} is a directory")
    work = work_path(db)
    discard_working_copy(db)  # a killed run's copy, its WAL and a half-written compaction go first
    if db.exists():
        clone_file(db, work)
    try:
        con = connect(work, memory_limit, temp_directory)
    except BaseException:  # a damaged file: its copy goes too
        discard_working_copy(db)
        raise
    try:
        yield con
        con.execute("CHECKPOINT")
        convert = not has_storage_version(con)
        con.close()
        if (compact_when is not None and compact_when()) or convert:
            if convert:
                log.info("rewriting %s in DuckDB storage format %s (readable by DuckDB 1.x)", db, STORAGE_VERSION)
            compact(work, memory_limit)
        os.chmod(work, 0o600)
        with open(work, "rb") as handle:
            os.fsync(handle.fileno())
        faults.point("publish:before-rename")
        os.replace(work, db)
        _fsync_dir(db.parent)
    except BaseException:
        with contextlib.suppress(Exception):
            con.close()
        work.unlink(missing_ok=True)
        work.with_name(work.name + ".wal").unlink(missing_ok=True)
        raise


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def open_snapshot(db: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the published snapshot (what analysts use)."""
    if not db.exists():
        raise ConfigError(f"no database at {db}; run 'leadpipe run' or 'leadpipe demo' first")
    try:
        return configure(duckdb.connect(str(db), read_only=True))
    except duckdb.Error as exc:
        raise ConfigError(f"--db {db} cannot be opened as a DuckDB database ({str(exc).splitlines()[0]})") from None


def count_rows(con: duckdb.DuckDBPyConnection, tables: Iterable[str]) -> dict[str, int]:
    """Row counts of the named tables (names from code, never from input)."""
    return {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in tables}
