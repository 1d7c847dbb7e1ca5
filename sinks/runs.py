"""The ``runs`` table: one row per run, with its counts as JSON."""

from __future__ import annotations

import json

import duckdb


def start_run(con: duckdb.DuckDBPyConnection, command: str) -> int:
    """Insert a ``running`` row and return its id."""
    return con.execute(
        "INSERT INTO runs (command, started_at, status) VALUES (?, current_timestamp, 'running') RETURNING run_id",
        [command],
    ).fetchall()[0][0]


def finish_run(
    con: duckdb.DuckDBPyConnection, run_id: int, status: str, stats: dict, error: str | None = None
) -> None:
    con.execute(
        "UPDATE runs SET finished_at = current_timestamp, status = ?, stats = ?, error = ? WHERE run_id = ?",
        [status, json.dumps(stats, default=str, sort_keys=True), error, run_id],
    )


def record_failure(con: duckdb.DuckDBPyConnection, command: str, error: str) -> int:
    """A failed run leaves no data behind, only this row saying it failed and why."""
    run_id = start_run(con, command)
    finish_run(con, run_id, "failed", {}, error)
    return run_id


def succeeded(con: duckdb.DuckDBPyConnection, run_id: int) -> bool:
    """Whether run ``run_id`` finished successfully in this database (and so was published)."""
    return con.execute("SELECT count(*) FROM runs WHERE run_id = ? AND status = 'success'",
                       [run_id]).fetchall()[0][0] > 0
