"""What the database records about how it was built: its time zone and its secret's fingerprint.

The configured time zone is kept in the database beside the data it gives days to.

Views and macros (``daily_company_activity``, ``lead_scores_for``, ``lead_scores``) read the
zone through the SQL macro ``configured_timezone()`` (migration 012), from ``pipeline_state``
key ``timezone``. Every run records its configured zone before it writes anything, so a
report, a view and an analyst's query count the same days whatever their session's zone.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb

TIMEZONE_KEY = "timezone"


def record_timezone(con: duckdb.DuckDBPyConnection, zone: str) -> bool:
    """Store ``zone`` (an IANA name, e.g. ``Europe/Helsinki``) as the database's time zone.

    Args:
        con: a writable connection.
        zone: the configured time zone.

    Returns:
        True when the stored zone changed (nothing is written when it is the same).

    Raises:
        ValueError: ``zone`` is not a time zone both Python and DuckDB know.
    """
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {zone!r}") from None
    if not con.execute("SELECT count(*) FROM pg_timezone_names() WHERE name = ?", [zone]).fetchall()[0][0]:
        raise ValueError(f"unknown time zone {zone!r}")
    changed = con.execute(
        """
        INSERT INTO pipeline_state VALUES (?, ?, current_timestamp)
        ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
        WHERE pipeline_state.value <> excluded.value
        """,
        [TIMEZONE_KEY, zone],
    ).fetchall()[0][0]
    return bool(changed)


def recorded_timezone(con: duckdb.DuckDBPyConnection) -> str:
    """The zone views use: the recorded one, or ``UTC`` before any run has recorded one."""
    return con.execute("SELECT configured_timezone()").fetchall()[0][0]


SECRET_KEY = "secret_fingerprint"


def secret_fingerprint(secret: bytes) -> str:
    """A keyed hash of a constant: tells two keys apart, and says nothing about either."""
    return hmac.new(secret, b"leadpipe: the keyed-hash secret of this database", hashlib.sha256).hexdigest()


#: The one command that may give a database a new key (``leadpipe secret adopt``): the old one is lost.
ADOPT_SECRET = "secret adopt"


def check_secret(con: duckdb.DuckDBPyConnection, secret: bytes, adopt: bool = False) -> bool:
    """Record the fingerprint of ``secret`` on first use; afterwards, accept only the same key.

    Every keyed hash in the database (visitor keys, e-mail keys, the line ledger) was made with one
    key. With another one, a privacy request would silently find nothing and a run would count every
    visitor and line again, so a different key is refused.

    With ``adopt``, ``secret`` replaces the recorded key (the old one is lost: what was keyed with it
    can no longer be found by address or e-mail).

    Returns:
        True when the fingerprint was recorded now (a new database, one older than fingerprints, adopted).

    Raises:
        ValueError: the database was built with another key.
    """
    stored = con.execute("SELECT value FROM pipeline_state WHERE key = ?", [SECRET_KEY]).fetchall()
    mine = secret_fingerprint(secret)
    if stored and adopt:
        con.execute("UPDATE pipeline_state SET value = ?, updated_at = current_timestamp WHERE key = ?",
                    [mine, SECRET_KEY])
        return stored[0][0] != mine
    if stored:
        if not hmac.compare_digest(stored[0][0], mine):
            raise ValueError("its keyed hashes were made with another secret.key")
        return False
    con.execute("INSERT INTO pipeline_state VALUES (?, ?, current_timestamp)", [SECRET_KEY, mine])
    return True


def recorded_fingerprint(db: Path) -> str | None:
    """The secret fingerprint a published database file records, read without writing anything;
    None when it records none (older than fingerprints).

    Raises:
        ValueError: the file cannot be opened as a DuckDB database (empty, cut short, damaged).
    """
    try:
        con = duckdb.connect(str(db), read_only=True)
    except duckdb.Error as exc:
        raise ValueError(str(exc).splitlines()[0]) from None
    with con:
        try:
            found = con.execute("SELECT value FROM pipeline_state WHERE key = ?", [SECRET_KEY]).fetchall()
        except duckdb.CatalogException:  # a database older than pipeline_state
            return None
    return found[0][0] if found else None
