"""Website form, chat and configurator submissions (JSON lines or CSV): pure parsing.

Each submission names a person (personal data: the pipeline keeps it only in
``contacts``, out of every analyst view) and usually a company.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo

from enrich.leadfeeder import parse_datetime
from enrich.tables import map_columns, read_csv_table

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


def _submission(line_no: int, values: dict, zone: tzinfo) -> Submission:
    def text(key: str) -> str | None:
        value = values.get(key)
        return str(value).strip() or None if value not in (None, "") else None

    if not (normalise_email(text("email")) or text("phone") or text("name")):
        raise ValueError("no email, phone or name")
    return Submission(
        line_no=line_no, submitted_at=parse_datetime(values.get("time"), zone), form=text("form"), name=text("name"),
        email=normalise_email(text("email")), phone=text("phone"), company=text("company"),
        business_id=text("business_id"), position=text("position"), message=text("message"),
        marketing_consent=_consent(values.get("marketing_consent")),
    )


def parse_forms(data: bytes, zone: tzinfo = timezone.utc) -> tuple[list[Submission], list[tuple[int, str]]]:
    """Submissions from JSON lines (one object a line) or CSV; (submissions, rejects)."""
    stripped = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    submissions, rejects = [], []
    if stripped[:1] == b"{":
        for line_no, line in enumerate(data.decode("utf-8-sig", errors="replace").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
                if not isinstance(raw, dict):
                    raise ValueError("not an object")
                keys = map_columns(raw.keys(), COLUMNS)
                values = {keys[i]: v for i, v in enumerate(raw.values()) if i in keys}
                submissions.append(_submission(line_no, values, zone))
            except ValueError as exc:
                rejects.append((line_no, f"unreadable submission: {exc}"))
        return submissions, rejects
    header, rows = read_csv_table(data)
    mapping = map_columns(header, COLUMNS)
    for line_no, cells in rows:
        if not any(str(c).strip() for c in cells):
            continue
        values = {mapping[i]: c for i, c in enumerate(cells) if i in mapping}
        try:
            submissions.append(_submission(line_no, values, zone))
        except ValueError as exc:
            rejects.append((line_no, f"unreadable submission: {exc}"))
    return submissions, rejects
