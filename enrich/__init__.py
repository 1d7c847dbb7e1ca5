"""Sources, parsing, IP resolution and register enrichment."""
