"""Website form, chat and configurator submissions (JSON lines or CSV): pure parsing.

Each submission names a person (personal data: the pipeline keeps it only in
``contacts``, out of every analyst view) and usually a company. A submission
that cannot be read is a reject whose reason is a fixed text: a reason lives
in ``rejects``, beyond erasure, so it never quotes what the person wrote. A
Business ID that fails its check digit is left out of the submission (it would
link the person to the wrong company) and is a reject of its own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo

from enrich.business_ids import InvalidBusinessId, business_id as canonical_business_id
from enrich.tables import BadRow, map_columns, read_csv_table
from enrich.timestamps import IMPLAUSIBLE, is_plausible, parse_datetime

COLUMNS: dict[str, set[str]] = {
    "time": {"time", "timestamp", "submitted", "submitted at", "submitted_at", "date", "aika", "päivämäärä", "lähetetty"},
    "form": {"form", "form name", "form_name", "lomake", "widget", "channel"},
    "name": {"name", "full name", "nimi", "yhteyshenkilö", "contact"},
    "email": {"email", "e-mail", "email address", "sähköposti", "sahkoposti"},
    "phone": {"phone", "phone number", "puhelin", "puhelinnumero"},
    "company": {"company", "company name", "organisation", "organization", "yritys"},
    "business_id": {"business id", "business_id", "y-tunnus", "ytunnus"},
    "position": {"position", "title", "job title", "titteli", "asema", "tehtävä"},
    "message": {"message", "comment", "viesti", "kommentti", "lisätiedot"},
    "marketing_consent": {"marketing consent", "marketing_consent", "consent", "markkinointilupa",
                          "markkinointisuostumus", "newsletter"},
}
#: The most characters a field keeps (the rest is cut): names, companies and positions are short.
MAX_FIELD = 200
MAX_CHARS = {"message": 2000, "email": 254}
_YES = {"1", "true", "yes", "y", "kyllä", "kylla", "k", "on", "x"}
_NO = {"0", "false", "no", "n", "ei", "e", "off", ""}


@dataclass(frozen=True)
class Submission:
    line_no: int
    submitted_at: datetime | None
    form: str | None
    name: str | None
    email: str | None
    phone: str | None
    company: str | None
    business_id: str | None
    position: str | None
    message: str | None
    marketing_consent: bool | None


def normalise_email(email: str | None) -> str | None:
    text = (email or "").strip().lower()
    return text if "@" in text else None


def _consent(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value if value is not None else "").strip().lower()
    if text in _YES:
        return True
    return False if text in _NO else None


class _Unreadable(ValueError):
    """A submission that cannot be kept; the message is the reject's reason (a fixed text)."""


def _submission(line_no: int, values: dict, zone: tzinfo, now: datetime,
                rejects: list[tuple[int, str]]) -> Submission:
    """One submission; a Business ID that fails its check is left out (never a merge key) and is a
    reject of its own in ``rejects`` — the person's submission is kept."""
    if any(v is not None and not isinstance(v, (str, int, float)) for v in values.values()):
        raise _Unreadable("unreadable submission: a field that is not text")  # a list, an object

    def text(key: str) -> str | None:  # cut: a 10,000-character "company" is nobody's name
        value = values.get(key)
        return str(value).strip()[:MAX_CHARS.get(key, MAX_FIELD)] or None if value not in (None, "") else None

    if not (normalise_email(text("email")) or text("phone") or text("name")):
        raise _Unreadable("unreadable submission: no email, phone or name")
    try:
        submitted_at = parse_datetime(values.get("time"), zone)
    except (TypeError, ValueError, OverflowError):  # their messages quote the value
        raise _Unreadable("unreadable submission: unreadable time") from None
    if submitted_at is not None and not is_plausible(submitted_at, now):
        raise _Unreadable(IMPLAUSIBLE)
    try:
        business_id = canonical_business_id(values.get("business_id"))
    except InvalidBusinessId as exc:
        rejects.append((line_no, str(exc)))
        business_id = None
    return Submission(
        line_no=line_no, submitted_at=submitted_at, form=text("form"), name=text("name"),
        email=normalise_email(text("email")), phone=text("phone"), company=text("company"),
        business_id=business_id, position=text("position"), message=text("message"),
        marketing_consent=_consent(values.get("marketing_consent")),
    )


def _json_object(line: str) -> dict:
    try:
        raw = json.loads(line)
    except RecursionError:
        raise _Unreadable("unreadable submission: nested too deeply") from None
    except ValueError:
        raise _Unreadable("unreadable submission: not JSON") from None
    if not isinstance(raw, dict):
        raise _Unreadable("unreadable submission: not a JSON object")
    return raw


def parse_forms(
    data: bytes, zone: tzinfo = timezone.utc, now: datetime | None = None
) -> tuple[list[Submission], list[tuple[int, str]]]:
    """Submissions from JSON lines (one object a line) or CSV; (submissions, rejects).

    Times must be plausible for a run at ``now`` (default: the current time).

    Raises:
        InputError: a CSV without a readable header row.
    """
    now = now or datetime.now(timezone.utc)
    stripped = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    submissions, rejects = [], []
    if stripped[:1] == b"{":
        # Split at newlines only: U+2028 and friends may stand inside a JSON string.
        for line_no, line in enumerate(data.decode("utf-8-sig", errors="replace").split("\n"), start=1):
            if not line.strip():
                continue
            try:
                raw = _json_object(line)
                keys = map_columns(raw.keys(), COLUMNS)
                values = {keys[i]: v for i, v in enumerate(raw.values()) if i in keys}
                submissions.append(_submission(line_no, values, zone, now, rejects))
            except _Unreadable as exc:
                rejects.append((line_no, str(exc)))
        return submissions, rejects
    header, rows = read_csv_table(data)
    mapping = map_columns(header, COLUMNS)
    for line_no, cells in rows:
        if isinstance(cells, BadRow):
            rejects.append((line_no, cells.reason))
            continue
        if not any(str(c).strip() for c in cells):
            continue
        values = {mapping[i]: c for i, c in enumerate(cells) if i in mapping}
        try:
            submissions.append(_submission(line_no, values, zone, now, rejects))
        except _Unreadable as exc:
            rejects.append((line_no, str(exc)))
    return submissions, rejects
