"""What a command checks before it starts anything: one line, exit 1, and nothing created.

A typo in ``--db``, ``--logs`` or ``--out``, or another user's ``secret.key``,
is found here, before Prefect starts, before a lock, a folder or a key is made:
only ``run``, ``ingest`` and ``demo`` may create a database, and only once
their inputs are known to exist.
"""

from __future__ import annotations

import hmac
import os
import tempfile
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from enrich.downloads import expand_templates
from enrich.errors import ConfigError
from enrich.weblogs import expand_locations
from flows.config import Settings, load_or_create_secret
from sinks import state

#: The commands that may create the database they are given.
CREATING = frozenset({"run", "ingest", "demo"})


def database_path(settings: Settings, creates: bool) -> Path:
    """``settings.db`` as its real path, checked for a command that ``creates`` one or not.

    Raises:
        ConfigError: no database there and the command does not create one; a folder
            or something other than a file there; a file we cannot read and write.
    """
    db = settings.db.expanduser().resolve()
    if db.is_dir():
        raise ConfigError(f"--db {db} is a folder; give the database file, e.g. {db / 'leadpipe.duckdb'}")
    if db.exists():
        if not db.is_file():
            raise ConfigError(f"--db {db} is not a regular file")
        if not os.access(db, os.R_OK | os.W_OK):
            raise ConfigError(f"--db {db}: no permission to read and write it")
        with db.open("rb") as handle:
            header = handle.read(12)
        if header[8:12] != b"DUCK":  # DuckDB's magic bytes (an empty file has none)
            raise ConfigError(f"--db {db} is not a DuckDB database; give the analysts' .duckdb file")
        return db
    if not creates:
        raise ConfigError(f"no database at {db}: check --db (or LEADPIPE_DB); only run, ingest and demo create one")
    return db


def writable_folder(path: Path, option: str) -> Path:
    """Prove that ``path`` can be created and written, without creating it: a file is made and removed
    in its nearest existing folder.

    Raises:
        ConfigError: that folder cannot be written, or a level of ``path`` is a file (one line,
            naming ``option``).
    """
    existing = path.expanduser().absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"{option} {path}: {existing} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".leadpipe-probe-", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(f"{option} {path}: cannot write there ({exc.strerror or exc})") from None
    return path


def output_file(path: Path, option: str) -> Path:
    """A file a command will write (``subject-export --out``): not a folder, in a folder that can be written.

    Raises:
        ConfigError: one line naming ``option``.
    """
    target = path.expanduser()
    if target.is_dir():
        raise ConfigError(f"{option} {path} is a folder; give the file to write")
    if target.is_symlink() or (target.exists() and not target.is_file()):
        # a device (/dev/full), a pipe or a link: never replaced by a private file
        raise ConfigError(f"{option} {path} is not a regular file; give a new file's name, or leave --out out "
                          "for standard output")
    writable_folder(target.parent, option)
    return path


def secret_key(settings: Settings, db: Path) -> None:
    """The database was built with the ``secret.key`` this command would use (read, never created here).

    Raises:
        ConfigError: the database records a key and ``config_dir`` holds none, or another one.
    """
    try:
        recorded = state.recorded_fingerprint(db) if db.exists() else None
    except ValueError as exc:
        raise ConfigError(f"--db {db} cannot be opened as a DuckDB database ({exc})") from None
    if recorded is None:
        return
    if not settings.secret_path.exists():
        raise other_key(settings, f"there is no secret.key in {settings.config_dir}")
    if not hmac.compare_digest(state.secret_fingerprint(load_or_create_secret(settings)), recorded):
        raise other_key(settings, f"its keyed hashes were made with another secret.key, not {settings.secret_path}")


def other_key(settings: Settings, what: str) -> ConfigError:
    """The one line for a database built with another key than this command's."""
    return ConfigError(f"{settings.db}: {what}; run as the user (or with the config_dir / LEADPIPE_CONFIG_DIR) "
                       "that built it (a lost key: leadpipe secret adopt)")


def inputs(settings: Settings) -> None:
    """Every local ``--logs``, ``--leadfeeder`` and ``--forms`` path or glob names a file (URLs are
    fetched by the run). Date templates are filled for today in the configured time zone.

    Raises:
        InputError: a path that does not exist, a folder, or a glob that matches no file.
        ConfigError: a bad date template.
    """
    today = datetime.now(ZoneInfo(settings.timezone)).date()
    for option, patterns in (("--logs", settings.logs), ("--leadfeeder", settings.leadfeeder),
                             ("--forms", settings.forms)):
        if patterns:
            expand_locations(expand_templates(patterns, today), option)


def check(settings: Settings, command: str, *, creates: bool | None = None, reads_inputs: bool = False) -> Path:
    """All of the above for ``command`` (``creates``: default, whether it is one of :data:`CREATING`);
    returns the database's real path.

    The database's folder is created only for a creating command, after its inputs
    were found, so a failed check leaves nothing behind.
    """
    db = database_path(settings, command in CREATING if creates is None else creates)
    if command != state.ADOPT_SECRET:
        secret_key(replace(settings, db=db), db)
    if reads_inputs:
        inputs(settings)
    writable_folder(db.parent, "--db")  # the run's lock and working copy go beside the file
    return db


def input_file(path: Path, what: str) -> Path:
    """A file the operator names on the command line (a list, the register's bulk file), checked
    before the run starts.

    Raises:
        ConfigError: no such file, a folder, or a file we cannot read.
    """
    shown = path.expanduser()
    if shown.is_dir():
        raise ConfigError(f"{what} {path} is a folder; give the file")
    if not shown.is_file():
        raise ConfigError(f"{what} {path}: no such file")
    if not os.access(shown, os.R_OK):
        raise ConfigError(f"{what} {path}: no permission to read it")
    return shown
