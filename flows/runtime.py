"""Process-wide set-up that must happen before Prefect is imported."""

from __future__ import annotations

import logging
import os

from flows.config import Settings, ensure_private_dir


def prepare_prefect(settings: Settings) -> None:
    """Keep Prefect's state in our config dir and switch its telemetry off.

    PRODUCT.md: nothing phones home. Prefect reads these variables when it is
    first imported, so call this before importing ``flows.nightly``.
    """
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ["DO_NOT_TRACK"] = "1"
    os.environ.setdefault("PREFECT_HOME", str(ensure_private_dir(settings.prefect_home)))
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
    # The temporary local API server prints a banner per process; keep output for the operator.
    os.environ.setdefault("PREFECT_UI_ENABLED", "false")


def setup_logging(verbose: bool = False) -> None:
    level = logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "httpcore", "urllib3", "prefect", "uvicorn", "alembic", "aiosqlite"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
