"""A lead as a webhook message: generic JSON, Slack or Microsoft Teams. Pure: no I/O.

The generic shape (:data:`SCHEMA`) is versioned; a receiver reads ``schema`` first.
Chat formats are made for people: Slack's incoming webhooks take ``text`` (the
notification) and ``blocks`` (what is shown); Teams' Workflows ("When a Teams webhook
request is received") take a ``message`` whose one attachment is an Adaptive Card
(Workflows accept Adaptive Cards only, not the retired connectors' MessageCard).

A webhook is a third party: a lead carries the company's facts and why it scored,
never a contact person's name or e-mail (a form at most as ``form submitted:
configurator, 20.11.2026``). Every text from outside is cleaned of control and bidi
characters, and escaped for the format's markup: Slack's ``<>&`` (no ``<!channel>``,
no planted link), Teams' Markdown punctuation.

Every text is cut to what its platform takes, with an ellipsis, counted after escaping (an entity or
an escape is never split): Slack's Block Kit takes 3,000 characters in a section's text and 150 in a
header's plain_text (a company name here is cut to that); Slack truncates the top-level ``text`` at
40,000 and advises 4,000 (a notification line here: 300). A Teams Adaptive Card stays well under
Teams' 28 KB (the title 150 characters; the whole card under :data:`TEAMS_BYTES`). The generic
message caps its strings too (:data:`GENERIC_LIMITS`): a receiver's columns are not endless.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

# sinks/text.py's rule (enrich does not import sinks): breaks and tabs become spaces; other C0/C1
# controls and the characters that reorder text go. tests/test_push.py keeps the two in step.
_BREAKS = re.compile("[\t\n\x0b\x0c\r\x85\u2028\u2029]")
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")

FORMATS = ("generic", "slack", "teams")
#: The generic payload's shape and version: a new field keeps it, a changed or removed one bumps it.
SCHEMA = "leadpipe.lead/1"
MAX_REASONS = 600  # characters of "why" in a chat message (Slack's section text stops at 3,000)
#: The generic message's longest strings (characters, the ellipsis included); forms: at most this many.
GENERIC_LIMITS = {"company": 300, "website": 1000, "industry": 200, "city": 200, "reasons": 2000, "form": 100,
                  "forms": 20}
SLACK_SECTION = 3000  # Block Kit: a section's text
NAME_CHARS = 150  # a company name in a chat message, a Teams title: Block Kit header plain_text's limit
SLACK_TEXT = 300  # the top-level text: the notification line (Slack truncates at 40,000, advises 4,000)
CHAT_FIELD = 150  # a fact's value or a form's line in a chat message
CHAT_URL = 1000  # a longer link target is not linked
TEAMS_BYTES = 20_000  # a card's JSON in UTF-8: well under Teams' 28 KB


def check_format(name: str) -> None:
    """Raises ValueError: not one of :data:`FORMATS`."""
    if name not in FORMATS:
        raise ValueError(f"expected one of {', '.join(FORMATS)}")


def clean_text(text: str) -> str:
    """``text`` without control and bidi characters; line breaks and tabs become spaces."""
    return _UNSAFE.sub("", _BREAKS.sub(" ", text))


def _text(value: object, limit: int | None = None) -> str | None:
    text = clean_text(str(value)).strip() or None if value is not None else None
    return _fit(text, limit) if text and limit else text


def _units(text: str) -> int:
    """``text``'s length in UTF-16 code units, as JavaScript (and so a chat platform) counts it."""
    return len(text.encode("utf-16-le")) // 2


def _fit(text: str | None, limit: int, escape=lambda part: part) -> str:  # noqa: ANN001
    """``escape(text)`` in at most ``limit`` units: cut a character at a time, with "…" (an escape never split)."""
    text = text or ""
    whole = escape(text)
    if _units(whole) <= limit:
        return whole
    pieces, used = [], 0
    for char in text:
        piece = escape(char)
        if used + _units(piece) > limit - 1:
            break
        pieces.append(piece)
        used += _units(piece)
    return "".join(pieces) + "…"


def _form_lines(row: dict, zone: ZoneInfo) -> list[str]:
    """``form submitted: configurator, 20.11.2026`` per submission: the kind and the day, nothing of the person."""
    lines = []
    for entry in (row.get("forms") or [])[:GENERIC_LIMITS["forms"]]:
        if not isinstance(entry, dict):
            continue  # a free text may name the person: never sent
        kind = next((entry[k] for k in ("form", "kind", "source", "type") if entry.get(k)), "form")
        when = next((entry[k] for k in ("submitted_at", "at", "day", "date") if entry.get(k)), None)
        day = _form_day(when, zone)
        lines.append(f"form submitted: {_text(kind, GENERIC_LIMITS['form'])}{day}")
    return lines


_LOCAL_DAY = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")  # sinks.leads' "20.11.2026 09:05", already local


def _form_day(when: object, zone: ZoneInfo) -> str:
    """``, 20.11.2026``: a submission's day in ``zone``; nothing for a value that is not a moment or a day."""
    if isinstance(when, str):
        found = _LOCAL_DAY.match(when.strip())
        if found:
            return ", {}.{}.{}".format(*(int(part) for part in found.groups()))
        try:
            when = datetime.fromisoformat(when.strip())
        except ValueError:
            return ""
    if isinstance(when, datetime):
        when = when.astimezone(zone) if when.tzinfo else when
    return f", {when:%-d.%-m.%Y}" if isinstance(when, (date, datetime)) else ""


def lead_message(row: dict, *, day: date, zone: str, report_url: str | None) -> dict:
    """The generic payload of one lead (a row of ``sinks.leads.report_data``'s ``companies``).

    ``last_visit`` is ISO 8601 in the configured zone, with its offset; ``day`` is the push's day
    (one push per company and day); ``report_url`` the report's link or None. ``event`` is
    ``lead.new`` only for a row whose ``first_push`` is true (``sinks.pushes.due``: the webhook never
    had the company); ``new`` is the report's flag (new since the previous report).
    """
    tz = ZoneInfo(zone)
    last = row.get("last_visit")
    website = _text(row.get("website"))
    return {
        "schema": SCHEMA,
        "event": "lead.new" if row.get("first_push") else "lead.changed",
        "day": day.isoformat(),
        "company": _text(row.get("name"), GENERIC_LIMITS["company"]),
        "business_id": row.get("business_id"),
        "website": website if website is None or len(website) <= GENERIC_LIMITS["website"] else None,
        "industry": _text(row.get("industry"), GENERIC_LIMITS["industry"]),
        "city": _text(row.get("city"), GENERIC_LIMITS["city"]),
        "score": row.get("score"),
        "rank": row.get("rank"),
        "reasons": _text(row.get("reasons"), GENERIC_LIMITS["reasons"]),
        "visits": row.get("visits"),  # our logs'
        "export_visits": row.get("export_visits"),  # Leadfeeder's own figure (never added to visits), or null
        "last_visit": last.astimezone(tz).isoformat() if isinstance(last, datetime) else None,
        "forms": _form_lines(row, tz),
        "new": bool(row.get("new")),
        "report_url": report_url,
        "ytj_url": row.get("ytj_url"),
    }


def render(message: dict, fmt: str) -> dict:
    """``message`` (:func:`lead_message`) in the format ``fmt`` (:data:`FORMATS`)."""
    check_format(fmt)
    if fmt == "slack":
        return slack(message)
    if fmt == "teams":
        return teams(message)
    return message


def _web(url: str | None) -> str | None:
    """A link target: http(s) only, with a scheme added to a bare host; None for anything else."""
    if not url:
        return None
    url = url if re.match(r"(?i)https?://", url) else "https://" + url
    if len(url) > CHAT_URL or not re.fullmatch(r"(?i)https?://[^\s<>|\"'`]+", url):
        return None
    return url


def _label(message: dict) -> str:
    return "New lead" if message["event"] == "lead.new" else "Lead"


def _facts(message: dict) -> list[tuple[str, str]]:
    """(name, value) pairs, each value at most :data:`CHAT_FIELD` characters, unescaped."""
    last = message["last_visit"]
    facts = [("Score", f"{message['score']:g}" if isinstance(message["score"], (int, float)) else "–"),
             ("Business ID", message["business_id"] or "–")]
    if last:
        moment = datetime.fromisoformat(last)
        facts.append(("Last visit", f"{moment:%-d.%-m.%Y %H:%M}"))
    if message.get("visits"):
        facts.append(("Visits", str(message["visits"])))
    if message.get("export_visits") is not None:
        facts.append(("Leadfeeder visits", str(message["export_visits"])))
    if message.get("industry"):
        facts.append(("Industry", message["industry"]))
    if message.get("city"):
        facts.append(("City", message["city"]))
    return [(key, _fit(value, CHAT_FIELD)) for key, value in facts]


def slack_escape(text: str) -> str:
    """Slack's mrkdwn control characters as entities (Slack's own rule: only ``&``, ``<``, ``>``)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_link(url: str | None, label: str) -> str:
    """``<url|label>``, the label at most :data:`NAME_CHARS` characters once escaped; the label alone
    for a target that is not a web address (or longer than :data:`CHAT_URL`)."""
    target = _web(url)
    if target is None or len(slack_escape(target)) > CHAT_URL:
        return _fit(label, NAME_CHARS, slack_escape)
    return f"<{slack_escape(target)}|{_fit(label, NAME_CHARS, lambda c: slack_escape(c).replace('|', '¦'))}>"


def _section(head: str, lines: list[str], escape, limit: int) -> str:  # noqa: ANN001
    """``head`` (markup, short) and ``lines`` (plain, escaped here), one a line, cut to ``limit`` units in all."""
    text = head
    for line in lines:
        room = limit - _units(text) - 1  # the line break
        if room < 2:
            break
        text += "\n" + _fit(line, room, escape)
    return text


def slack(message: dict) -> dict:
    """A Slack incoming-webhook message: ``text`` for the notification, ``blocks`` for the card."""
    name = message["company"] or "(no name)"
    facts = _facts(message)
    lines = [" · ".join(f"{k} {v}" for k, v in facts)]
    if message["reasons"]:
        lines.append(_fit(message["reasons"], MAX_REASONS))
    lines += [_fit(line, CHAT_FIELD) for line in message["forms"]]
    section = _section(f"*{_slack_link(message['website'], name)}*", lines, slack_escape, SLACK_SECTION)
    links = [_slack_link(url, text) for url, text in ((message["report_url"], "Lead report"),
                                                       (message["ytj_url"], "YTJ")) if _web(url)]
    blocks: list[dict] = [{"type": "section", "text": {"type": "mrkdwn", "text": section}}]
    if links:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(links)}]})
    text = f"{_label(message)}: {_fit(name, NAME_CHARS)} (score {facts[0][1]})"
    return {"text": _fit(text, SLACK_TEXT, slack_escape), "blocks": blocks}


# Links ([x](url)), emphasis (* _ ~), code (`), and the raw angle brackets some clients autolink.
_MARKDOWN = re.compile(r"([\\`*_\[\]<>~|])")


def teams_escape(text: str) -> str:
    """Markdown punctuation backslash-escaped: a name such as ``[Win](https://x)`` stays text in a TextBlock."""
    return _MARKDOWN.sub(r"\\\1", text)


def teams(message: dict) -> dict:
    """A message with one Adaptive Card (1.4), as Teams' Workflows webhook trigger takes it."""
    name = message["company"] or "(no name)"
    body: list[dict] = [
        {"type": "TextBlock", "size": "Medium", "weight": "Bolder", "wrap": True,
         "text": _fit(f"{_label(message)}: {name}", NAME_CHARS, teams_escape)},
        {"type": "FactSet", "facts": [{"title": k, "value": teams_escape(v)} for k, v in _facts(message)]},
    ]
    if message["reasons"]:
        body.append({"type": "TextBlock", "wrap": True, "text": _fit(message["reasons"], MAX_REASONS, teams_escape)})
    body += [{"type": "TextBlock", "wrap": True, "isSubtle": True, "text": _fit(line, CHAT_FIELD, teams_escape)}
             for line in message["forms"]]
    actions = [{"type": "Action.OpenUrl", "title": title, "url": _web(url)}
               for url, title in ((message["report_url"], "Lead report"), (message["website"], "Website"),
                                  (message["ytj_url"], "YTJ")) if _web(url)]
    card = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
            "version": "1.4", "body": body}
    if actions:
        card["actions"] = actions
    payload = {"type": "message", "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}]}
    while _bytes(payload) > TEAMS_BYTES and len(body) > 2:  # the last forms, then the reasons go
        body.pop()
    return payload


def _bytes(payload: dict) -> int:
    """The size of ``payload`` as ``enrich.webhook_client`` sends it (UTF-8 JSON)."""
    return len(json.dumps(payload, ensure_ascii=False).encode("utf-8"))
