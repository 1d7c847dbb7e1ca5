"""The ledger of log lines already counted, keyed: no way back from the database to a line.

A log line holds an address and a user agent. An unkeyed hash of it (what
``log_lines`` held before) lets anyone with the database test guesses: with a
pageview's time, path and status and its network's range, a few thousand
tries recover the address. So the ledger's hash is HMAC-SHA-256 with the
secret (which lives outside the database), computed set-based in DuckDB:
``sha256((K ⊕ opad) ‖ sha256((K ⊕ ipad) ‖ line))``, the first 128 bits kept.
It costs about 0.5 s per million lines on two cores.

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
LINE_HASH = ("CAST('0x' || left(sha256($ledger_opad || unhex(sha256($ledger_ipad || encode(l)))), 32) "
             "AS UHUGEINT)")
#: The keyed hash a legacy entry of the same line now holds (only computed inside the legacy entries'
#: time span: $legacy_first..$legacy_last, NULL when there are none).
LEGACY_HASH = ("CASE WHEN ts BETWEEN $legacy_first AND $legacy_last THEN CAST('0x' || left(sha256($ledger_opad || "
               "unhex(sha256($ledger_ipad || encode('legacy' || CAST(md5_number(l) AS VARCHAR))))), 32) AS UHUGEINT) "
               "END")
_STATE_KEY = "log-ledger"
_SCHEME = "hmac-sha256-v1"


def key_params(secret: bytes) -> dict:
    """The HMAC pads of the ledger's key (derived from the secret, never the secret itself)."""
    key = hmac.digest(secret, b"leadpipe log-line ledger", "sha256").ljust(64, b"\0")
    return {"ledger_ipad": bytes(b ^ 0x36 for b in key), "ledger_opad": bytes(b ^ 0x5C for b in key)}


def keyed_in_python(secret: bytes, text: str) -> int:
    """The same keyed hash as :data:`LINE_HASH`, in Python (for tests and checks)."""
    key = hmac.digest(secret, b"leadpipe log-line ledger", "sha256")
    return int(hmac.new(key, text.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:32], 16)


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
    derive = ("left(sha256($ledger_opad || unhex(sha256($ledger_ipad || encode({text})))), 32)")
    entries = con.execute(
        "UPDATE log_lines SET line_hash = CAST('0x' || " + derive.format(text="'legacy' || CAST(line_hash AS VARCHAR)")
        + " AS UHUGEINT) WHERE legacy",
        params,
    ).fetchall()[0][0]
    for table in ("pageviews", "pending_pageviews"):
        con.execute("UPDATE " + table + " SET pageview_id = " + derive.format(text="'legacy pageview' || pageview_id"),
                    params)
    con.execute("INSERT OR REPLACE INTO pipeline_state VALUES (?, ?, ?)", [_STATE_KEY, _SCHEME, now])
    return entries
