"""PRH's bulk file (the /all_companies zip, or the JSON inside it) into the local register.

The file is streamed: DuckDB reads the JSON array object by object and the
entries are parsed and stored in batches, so the full register (hundreds of
thousands of companies) loads in bounded memory. A file that is not the
register's — no zip behind a ``.zip`` name, no JSON, no register entry in it —
is refused whole with a one-line reason; an entry that is not one, or whose
Business ID fails its check, is a reject.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import duckdb

from enrich.business_ids import InvalidBusinessId, business_id
from enrich.errors import ConfigError, PermanentError
from enrich.redact import mask_addresses
from enrich.ytj import parse_company
from sinks import database, erasure
from sinks import register as register_sinks
from sinks.rejects import reason_lines, record_rejects, top_reasons


#: What PRH's bulk file is, for the operator whose file is something else.
_SHAPE = "PRH's /all_companies zip, or the JSON inside it: an array of companies"
NOT_AN_ENTRY = "not a register entry"


def _json_file(path: Path, scratch: Path) -> tuple[Path, bytes]:
    """The JSON itself (unpacked into ``scratch`` from a zip) and its first bytes.

    Raises:
        ConfigError: no such file, a ``.zip`` that is no zip archive or holds no JSON, a file that is no JSON.
    """
    source = path
    try:
        with path.open("rb") as probe:
            magic = probe.read(4)
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                member = next((n for n in archive.namelist() if n.lower().endswith(".json")), None)
                if member is None:
                    raise ConfigError(f"{path}: the zip archive holds no .json file; expected {_SHAPE}")
                source = scratch / "all_companies.json"
                with archive.open(member) as packed, source.open("wb") as unpacked:
                    shutil.copyfileobj(packed, unpacked, 1 << 20)
        elif path.suffix.lower() == ".zip" or magic.startswith(b"PK"):
            raise ConfigError(f"{path}: not a zip archive; expected {_SHAPE}")
        with source.open("rb") as probe:
            head = probe.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc.__class__.__name__
        raise ConfigError(f"cannot read register file {path}: {reason}") from None
    if head[:1] not in (b"[", b"{"):
        raise ConfigError(f"{path}: not JSON; expected {_SHAPE}")
    return source, head


def _entry(text: str):
    """A register entry of the bulk file, its Business ID in its one form; ValueError with a fixed reason."""
    try:
        company = parse_company(json.loads(text))
    except (PermanentError, AttributeError, TypeError, ValueError, RecursionError):
        raise ValueError(NOT_AN_ENTRY) from None
    try:
        return replace(company, business_id=business_id(company.business_id))
    except InvalidBusinessId as exc:
        raise ValueError(str(exc)) from None


def import_bulk(con: duckdb.DuckDBPyConnection, path: Path, scratch: Path, secret: bytes, run_id: int,
                now: datetime, batch_size: int = 10_000) -> dict:
    """Store every entry of the register file; an object that is not an entry, or whose Business ID
    fails its check, is a reject.

    Returns:
        ``register_entries``, ``register_rejected``, the top reasons (``register_reject_reasons``) and
        the first rejected entries by number (``register_rejected_entries``).

    Raises:
        ConfigError: the file cannot be read as the register's JSON, or holds no register entry (one line).
    """
    source, head = _json_file(path, scratch)
    # The bulk file is a JSON array of companies; a /companies answer wraps them in {"companies": [...]}.
    query = ("SELECT unnest(json_extract(json, '$.companies[*]')) FROM read_json_objects(?, format = 'auto')"
             if head.startswith(b"{") else "SELECT json FROM read_json_objects(?, format = 'array')")
    erased = erasure.suppressed(con, "business_id")
    rejects: list[tuple[int, str]] = []
    stored = index = parsed = 0
    reader = con.cursor()
    try:
        result = reader.execute(query, [str(source)])
        with database.transaction(con):
            while rows := result.fetchmany(batch_size):
                entries = []
                for (text,) in rows:
                    index += 1
                    try:
                        entries.append(_entry(text))
                    except ValueError as exc:
                        rejects.append((index, str(exc)))
                parsed += len(entries)
                # an erased sole trader's entry never comes back with the next bulk file
                entries = [e for e in entries if erasure.business_id_key(secret, e.business_id) not in erased]
                stored += register_sinks.store_entries(con, entries, "bulk", now, None)
            if not parsed:  # nothing of the register's shape: refused whole, one line (the transaction undone)
                found = f"none of its {index} objects is a register entry" if index else "no companies in it"
                raise ConfigError(f"{path}: not the register's bulk file ({found}); expected {_SHAPE}")
            record_rejects(con, run_id, str(path), rejects)
    except duckdb.Error as exc:
        raise ConfigError(f"cannot read register file {path}: {mask_addresses(str(exc)).splitlines()[0]}") from None
    finally:
        reader.close()
    return {"register_entries": stored, "register_rejected": len(rejects),
            "register_reject_reasons": top_reasons(rejects),
            "register_rejected_entries": reason_lines(rejects, "entry")}
