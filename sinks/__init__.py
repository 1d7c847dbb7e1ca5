"""Where data lands: the DuckDB schema, loading, publishing, reports."""
