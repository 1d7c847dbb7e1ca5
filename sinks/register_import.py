"""PRH's bulk file (the /all_companies zip, or the JSON inside it) into the local register.

The file is streamed: DuckDB reads the JSON array object by object and the
entries are parsed and stored in batches, so the full register (hundreds of
thousands of companies) loads in bounded memory.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from datetime import datetime
from pathlib import Path

import duckdb

from enrich.errors import ConfigError, PermanentError
from enrich.redact import mask_addresses
from enrich.ytj import parse_company
from sinks import database, erasure
from sinks import register as register_sinks
from sinks.rejects import record_rejects


def _json_file(path: Path, scratch: Path) -> tuple[Path, bytes]:
    """The JSON itself (unpacked into ``scratch`` from a zip) and its first bytes."""
    source = path
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                member = next(n for n in archive.namelist() if n.lower().endswith(".json"))
                source = scratch / "all_companies.json"
                with archive.open(member) as packed, source.open("wb") as unpacked:
                    shutil.copyfileobj(packed, unpacked, 1 << 20)
        with source.open("rb") as probe:
            head = probe.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    except (OSError, StopIteration, zipfile.BadZipFile) as exc:
        raise ConfigError(f"cannot read register file {path}: {exc.__class__.__name__}: {exc}") from None
    return source, head


def import_bulk(con: duckdb.DuckDBPyConnection, path: Path, scratch: Path, secret: bytes, run_id: int,
                now: datetime, batch_size: int = 10_000) -> dict:
    """Store every entry of the register file; an object that is not an entry is a reject.

    Raises:
        ConfigError: the file cannot be read as the register's JSON (one line).
    """
    source, head = _json_file(path, scratch)
    # The bulk file is a JSON array of companies; a /companies answer wraps them in {"companies": [...]}.
    query = ("SELECT unnest(json_extract(json, '$.companies[*]')) FROM read_json_objects(?, format = 'auto')"
             if head.startswith(b"{") else "SELECT json FROM read_json_objects(?, format = 'array')")
    erased = erasure.suppressed(con, "business_id")
    rejects: list[tuple[int, str]] = []
    stored = index = 0
    reader = con.cursor()
    try:
        result = reader.execute(query, [str(source)])
        with database.transaction(con):
            while rows := result.fetchmany(batch_size):
                entries = []
                for (text,) in rows:
                    index += 1
                    try:
                        entries.append(parse_company(json.loads(text)))
                    except (PermanentError, AttributeError, TypeError, ValueError, RecursionError):
                        rejects.append((index, "not a register entry"))
                # an erased sole trader's entry never comes back with the next bulk file
                entries = [e for e in entries if erasure.business_id_key(secret, e.business_id) not in erased]
                stored += register_sinks.store_entries(con, entries, "bulk", now, None)
            record_rejects(con, run_id, str(path), rejects)
    except duckdb.Error as exc:
        raise ConfigError(f"cannot read register file {path}: {mask_addresses(str(exc)).splitlines()[0]}") from None
    finally:
        reader.close()
    return {"register_entries": stored, "register_rejected": len(rejects)}
