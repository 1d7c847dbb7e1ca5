"""Times in exports and forms, and which timestamps are believable.

:func:`parse_datetime` reads the shapes exports and forms write. A log line
dated 9999, an export whose last visit is in 2100 or a form sent "before" the
web existed is a reject (:data:`IMPLAUSIBLE`), never a row: stored, one such
time would move the report's default period for good.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone, tzinfo

#: No access log, export or form worth reading predates 1995.
EARLIEST = datetime(1995, 1, 1, tzinfo=timezone.utc)
#: Clocks drift and exports are written in other zones, but never a day ahead of the run.
FUTURE_SLACK = timedelta(days=1)
#: UTC-12:00 to UTC+14:00 (Kiribati) bound every zone on Earth.
MAX_UTC_OFFSET = timedelta(hours=14)
IMPLAUSIBLE = "implausible timestamp"
_FINNISH_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})(?:\s+(\d{1,2})[:.](\d{2})(?:[:.](\d{2}))?)?$")


def is_plausible(when: datetime, now: datetime) -> bool:
    """Whether ``when`` (aware) lies in [1995, ``now`` + 1 day] with an offset within ±14:00."""
    offset = when.utcoffset()
    if offset is not None and abs(offset) > MAX_UTC_OFFSET:
        return False
    return EARLIEST <= when <= now + FUTURE_SLACK


def parse_datetime(value: object, zone: tzinfo = timezone.utc) -> datetime | None:
    """Finnish Excel (``24.11.2026 14:05``), ISO (``2026-11-24``, ``2026-11-24T14:05:00Z``) or a datetime.

    Times without a zone are local times of ``zone`` (an export shows the
    user's clock). Raises ValueError for anything it cannot read (its message
    may quote the value: never show it).
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=zone)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=zone)
    if not isinstance(value, str):
        raise ValueError("not a date")
    text = value.strip()
    match = _FINNISH_DATE.match(text)
    if match:
        day, month, year, hour, minute, second = match.groups()
        return datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
                        tzinfo=zone)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)
