"""Existing customers (``customers``): Business IDs and domains imported from CRM exports.

Feeds leave them out (``exclude_customers``, the default). Rows are known by the file they came
from: importing the same file again replaces its rows; ``replace`` replaces every file's.
"""

from __future__ import annotations

from datetime import datetime

import duckdb


def store_customers(con: duckdb.DuckDBPyConnection, keys: set[tuple[str, str]], source_file: str,
                    now: datetime, replace: bool = False) -> dict:
    """Make ``source_file``'s rows exactly ``keys`` (with ``replace``: the table's rows).

    Returns:
        ``customers_imported`` (this file's rows), ``customers_removed`` (rows that went),
        ``customers`` (distinct customers now known).
    """
    before = con.execute("SELECT count(*) FROM customers").fetchall()[0][0]
    if replace:
        con.execute("DELETE FROM customers")
    else:
        con.execute("DELETE FROM customers WHERE source_file = ?", [source_file])
    removed = before - con.execute("SELECT count(*) FROM customers").fetchall()[0][0]
    con.executemany("INSERT INTO customers VALUES (?, ?, ?, ?)",
                    [[kind, value, source_file, now] for kind, value in sorted(keys)])
    total = con.execute("SELECT count(*) FROM (SELECT DISTINCT kind, value FROM customers)").fetchall()[0][0]
    return {"customers_imported": len(keys), "customers_removed": removed, "customers": total}


def list_customers(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Each imported file with its counts: ``source_file``, ``business_ids``, ``domains``, ``imported_at``."""
    rows = con.execute(
        """
        SELECT source_file, count(*) FILTER (WHERE kind = 'business_id'), count(*) FILTER (WHERE kind = 'domain'),
               max(imported_at)
        FROM customers GROUP BY source_file ORDER BY source_file
        """
    ).fetchall()
    return [{"source_file": f, "business_ids": b, "domains": d, "imported_at": str(t)} for f, b, d, t in rows]
