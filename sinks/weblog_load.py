"""Temporary: moved to sinks.pageviews, sinks.visits and sinks.database (delete once flows/ imports them)."""
from sinks.database import count_rows  # noqa: F401
from sinks.pageviews import IngestOptions, ingest_logs  # noqa: F401
from sinks.visits import sessionize  # noqa: F401
