"""The private file of addresses waiting for resolution: outside DuckDB, 0600, bounded in time.

A client address is personal data, so DuckDB never holds one. But an address
that no registry has answered for yet — ``--offline``, ``leadpipe ingest`` on
its own, the request budget, a registry's outage — must not be thrown away,
or its visits stay anonymous for good. It waits here, beside the secret,
until a later run settles it or ``unresolved_keep_days`` pass.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path


class PendingAddresses:
    """Addresses not yet resolved, kept for later runs (0600, outside the database, bounded in time).

    An address enters when a run ingests it and leaves when a final answer
    attributes it, or after ``days``: a registry's bad night, the request
    budget or ``--offline`` must not cost a company its visits, nor keep an
    address for long. One file per database.

    Changes are held in memory, prepared beside the file before the run
    publishes its database and committed after (:meth:`prepare`,
    :meth:`commit`, :meth:`settle`): a run killed anywhere leaves the file
    as the published database expects it (an erasure's :meth:`drop` is
    written at once — privacy first).
    """

    def __init__(self, config_dir: Path, db: Path, days: int = 7):
        # One database, one file, however its path is spelled (relative, through a symlink).
        digest = hashlib.sha256(str(db.expanduser().resolve()).encode()).hexdigest()[:16]
        self.path = config_dir / f"pending-addresses-{digest}.json"
        self.days = days
        self._held: dict[str, dict] | None = None
        self._dirty = False

    def _read(self) -> dict[str, dict]:
        # A write cut short (a kill) left raw addresses in its temporary file: they expire with it.
        self.path.with_suffix(".tmp").unlink(missing_ok=True)
        try:  # never through a symlink: someone else's file is not ours to read
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, encoding="utf-8") as handle:
                entries = json.load(handle)
        except (OSError, ValueError):
            return {}
        if not isinstance(entries, list):
            return {}
        return {e["client_key"]: e for e in entries if isinstance(e, dict) and e.get("client_key") and e.get("address")}

    def _entries(self) -> dict[str, dict]:
        if self._held is None:
            self._held = self._read()
        return self._held

    def load(self, now: datetime) -> list[tuple[str, str]]:
        """(client_key, address) of every unexpired entry."""
        cutoff = (now - timedelta(days=self.days)).isoformat()
        entries = self._entries()
        expired = [key for key, e in entries.items() if e.get("since", "") < cutoff]
        for key in expired:
            del entries[key]
        self._dirty |= bool(expired)
        return [(e["client_key"], e["address"]) for e in entries.values()]

    def holds(self, client_key: str) -> bool:
        return client_key in self._entries()

    def add(self, pairs: list[tuple[str, str]], now: datetime) -> None:
        """Keep ``pairs`` besides what is waiting already."""
        entries = self._entries()
        for key, address in pairs:
            entries.setdefault(key, {"client_key": key, "address": address, "since": now.isoformat()})
        self._dirty = True

    def keep_only(self, pairs: list[tuple[str, str]], now: datetime) -> None:
        """Keep exactly ``pairs`` (each with the time it first waited)."""
        entries = self._entries()
        self._held = {key: entries.get(key) or {"client_key": key, "address": address, "since": now.isoformat()}
                      for key, address in pairs}
        self._dirty = True

    def drop(self, client_key: str, now: datetime) -> int:
        """Remove one address (erasure), from the file at once; returns how many entries went."""
        gone = self._entries().pop(client_key, None)
        on_disk = self._read()
        if on_disk.pop(client_key, None) is not None:
            self._write(on_disk, now)
        return 1 if gone else 0

    # A run changes the file in two steps around publishing its database: prepare() before the
    # rename, commit() after it. A kill between the two leaves the prepared file, tagged with the
    # run; the next run's settle() keeps it if that run was published and drops it if not.

    def save(self, now: datetime) -> None:
        """Write what changed at once (outside a run: both steps in one)."""
        self.prepare(now, 0)
        self.commit()

    @property
    def prepared_path(self) -> Path:
        return self.path.with_suffix(".next")

    def prepare(self, now: datetime, run_id: int) -> None:
        """Before publishing: what this run leaves waiting, beside the file, tagged with ``run_id``."""
        self.prepared_path.unlink(missing_ok=True)
        if self._dirty:
            self._write(self._entries(), now, self.prepared_path, {"run_id": run_id})

    def commit(self) -> None:
        """After publishing: the prepared file becomes the file (an empty one removes it)."""
        try:
            fd = os.open(self.prepared_path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            return
        with os.fdopen(fd, encoding="utf-8") as handle:
            prepared = json.load(handle)
        if prepared.get("entries"):
            self._write_file(self.path, prepared["entries"])
        else:
            self.path.unlink(missing_ok=True)
        self.prepared_path.unlink(missing_ok=True)
        self._dirty = False

    def settle(self, published: Callable[[int], bool]) -> bool:
        """At a run's start: a file prepared by a run killed between publishing and :meth:`commit`
        becomes the file when that run was published (``published(run_id)``), and goes when it was not.

        Returns:
            Whether a prepared file was found.
        """
        try:
            fd = os.open(self.prepared_path, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, encoding="utf-8") as handle:
                run_id = json.load(handle).get("run_id")
        except FileNotFoundError:
            return False
        except (OSError, ValueError, AttributeError):
            run_id = None
        if isinstance(run_id, int) and published(run_id):
            self.commit()
        else:
            self.prepared_path.unlink(missing_ok=True)
        self._held = None
        return True

    def _write(self, entries: dict[str, dict], now: datetime, path: Path | None = None,
               tag: dict | None = None) -> None:
        cutoff = (now - timedelta(days=self.days)).isoformat()
        kept = [e for e in entries.values() if e.get("since", "") >= cutoff]
        if tag is not None:  # a prepared file: written even when empty (committing it empties the file)
            self._write_file(path or self.path, {**tag, "entries": kept})
        elif not kept:
            self.path.unlink(missing_ok=True)
        else:
            self._write_file(path or self.path, kept)

    def _write_file(self, path: Path, content: object) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = self.path.with_suffix(".tmp")
        temporary.unlink(missing_ok=True)  # a leftover (or planted) file keeps its own mode: start afresh
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(content, handle)
        os.replace(temporary, path)
