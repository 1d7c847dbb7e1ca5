"""The ledger of log lines already counted, keyed: no way back from the database to a line.

A log line holds an address and a user agent. An unkeyed hash of it (what
``log_lines`` held before) lets anyone with the database test guesses: with a
pageview's time, path and status and its network's range, a few thousand
tries recover the address. So the ledger's hash is an HMAC with a key derived
from the secret (which lives outside the database), computed set-based in
DuckDB: ``md5((K ⊕ opad) ‖ md5((K ⊕ ipad) ‖ line))`` — HMAC-MD5 (RFC 2104),
whose strength as a keyed function does not rest on MD5's collision
resistance, kept as the 128-bit number the ledger always held. HMAC-SHA-256
cost 1.5 s per million lines in the ingest, HMAC-MD5 about half of that.

Databases written before keep working: on the first run after the upgrade,
every old ledger entry (an MD5 of its line) is replaced by a keyed hash of
that MD5 and flagged ``legacy``; a line read again is compared with those
through the same derivation of its own MD5, so rotated files that were
counted before are still not counted twice — and nothing unkeyed is left.
Pageview ids derived from the old hashes are re-keyed the same way.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

import duckdb

#: The keyed hash of the text column ``l`` (bound parameters $ledger_ipad and $ledger_opad).
LINE_HASH = "md5_number($ledger_opad || unhex(md5($ledger_ipad || encode(l))))"
#: The keyed hash a legacy entry of the same line now holds (only computed inside the legacy entries'
#: time span: $legacy_first..$legacy_last, NULL when there are none).
LEGACY_HASH = ("CASE WHEN ts BETWEEN $legacy_first AND $legacy_last THEN md5_number($ledger_opad || "
               "unhex(md5($ledger_ipad || encode('legacy' || CAST(md5_number(l) AS VARCHAR))))) END")
_STATE_KEY = "log-ledger"
_SCHEME = "hmac-md5-v1"


def key_params(secret: bytes) -> dict:
    """The HMAC pads of the ledger's key (derived from the secret, never the secret itself)."""
    key = hmac.digest(secret, b"leadpipe log-line ledger", "sha256").ljust(64, b"\0")
    return {"ledger_ipad": bytes(b ^ 0x36 for b in key), "ledger_opad": bytes(b ^ 0x5C for b in key)}


def keyed_in_python(secret: bytes, text: str) -> int:
    """The same keyed hash as :data:`LINE_HASH`, in Python (for tests and checks)."""
    key = hmac.digest(secret, b"leadpipe log-line ledger", "sha256")
    return int.from_bytes(hmac.new(key, text.encode("utf-8", "surrogatepass"), hashlib.md5).digest(), "little")


def legacy_span(con: duckdb.DuckDBPyConnection) -> dict:
    """$legacy_first/$legacy_last: the time span of entries from before the keyed ledger (or NULLs)."""
    first, last = con.execute("SELECT min(ts), max(ts) FROM log_lines WHERE legacy").fetchall()[0]
    return {"legacy_first": first, "legacy_last": last}


def key_legacy_entries(con: duckdb.DuckDBPyConnection, secret: bytes, now: datetime) -> int:
    """Once per database: replace every unkeyed hash left by an older version. Returns the entries re-keyed."""
    done = con.execute("SELECT value FROM pipeline_state WHERE key = ?", [_STATE_KEY]).fetchall()
    if done and done[0][0] == _SCHEME:
        return 0
    params = key_params(secret)
    entries = con.execute(
        "UPDATE log_lines SET line_hash = md5_number($ledger_opad || unhex(md5($ledger_ipad || "
        "encode('legacy' || CAST(line_hash AS VARCHAR))))) WHERE legacy",
        params,
    ).fetchall()[0][0]
    for table in ("pageviews", "pending_pageviews"):
        con.execute("UPDATE " + table + " SET pageview_id = md5($ledger_opad || unhex(md5($ledger_ipad || "
                    "encode('legacy pageview' || pageview_id))))", params)
    con.execute("INSERT OR REPLACE INTO pipeline_state VALUES (?, ?, ?)", [_STATE_KEY, _SCHEME, now])
    return entries
