"""Prefect flows and the ``leadpipe`` command line (thin: they call enrich/ and sinks/)."""

__version__ = "0.1.0"
