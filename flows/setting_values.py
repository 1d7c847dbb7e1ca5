"""What a setting's value may be: the checks and the parsers ``flows/config.py`` declares settings with.

Each check raises ValueError with words for the operator (``config.py`` turns it into one line naming
the setting); each parser reads a value from TOML, the environment or the command line as its
declared type.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def positive(number: int) -> None:
    if number <= 0:
        raise ValueError("must be positive")


def two_timeouts(numbers: tuple[float, ...]) -> None:
    if len(numbers) != 2:
        raise ValueError("expected two numbers of seconds (connect, read)")


def memory(limit: str) -> None:
    if not re.fullmatch(r"(?i)\s*\d+(\.\d+)?\s*(b|kb|mb|gb|tb|kib|mib|gib|tib)?\s*", limit):
        raise ValueError("not an amount of memory such as 700MB or 2GB")


def zone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("not a time zone (an IANA name, Area/City: Europe/Stockholm)") from None


def intent_pages(value: object) -> tuple[tuple[str, str], ...]:
    """TOML: ``{pricing = "(?i)pric|hinnasto", ...}``; environment: ``label=pattern;label=pattern``."""
    pairs = value.items() if isinstance(value, dict) else (
        part.split("=", 1) for part in str(value).split(";") if "=" in part)
    return tuple((str(pattern), str(label)) for label, pattern in pairs)


def smtp_port(port: int) -> None:
    if not 0 <= port <= 65535:
        raise ValueError("not a port (0: the usual one of smtp_security)")


def smtp_security(mode: str) -> None:
    if mode not in ("starttls", "ssl", "none"):
        raise ValueError("expected starttls, ssl or none")


def address(text: str | None) -> None:
    if text is not None and not re.fullmatch(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\".]+", text):
        raise ValueError("not an e-mail address (the From address, e.g. leads@example.fi)")


def webhook_format(name: str) -> None:
    if name not in ("generic", "slack", "teams"):  # enrich/webhooks.py FORMATS
        raise ValueError("expected generic, slack or teams")


def _parse_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError("expected true or false")


def _parse_list(value: object) -> tuple[str, ...]:
    """A list from TOML, or text separated by ';' or newlines (globs and URLs may hold ':')."""
    if isinstance(value, str):
        return tuple(p.strip() for p in value.replace("\n", ";").split(";") if p.strip())
    return tuple(str(v) for v in value)  # type: ignore[union-attr]


def _parse_numbers(value: object) -> tuple[float, ...]:
    parts = value.replace(";", ",").split(",") if isinstance(value, str) else value
    numbers = tuple(float(p) for p in parts)  # type: ignore[union-attr]
    if not numbers or any(n < 0 for n in numbers):
        raise ValueError("expected non-negative seconds")
    return numbers


def _parse_float(value: object) -> float:
    number = float(value)  # type: ignore[arg-type]
    if number < 0:
        raise ValueError("must not be negative")
    return number


def _parse_date(value: object) -> date:
    if isinstance(value, date):
        return value
    try:
        day = datetime.strptime(str(value), "%Y-%m-%d").date()
    except ValueError as exc:
        reason = str(exc) if "out of range" in str(exc) else "not a day (YYYY-MM-DD)"
        raise ValueError(reason) from None
    if not 1970 <= day.year <= 9998:  # a window in any time zone, a day after it: still a date
        raise ValueError("not a day leadpipe can hold (1970–9998)")
    return day


PARSERS: dict[object, Callable[[object], Any]] = {
    Path: lambda v: Path(str(v)).expanduser(),
    bool: _parse_bool,
    int: lambda v: int(v),  # type: ignore[arg-type]
    float: _parse_float,
    str: str,
    str | None: lambda v: str(v).strip() or None,
    date | None: _parse_date,
    tuple[str, ...]: _parse_list,
    tuple[float, ...]: _parse_numbers,
}
