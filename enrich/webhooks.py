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
"""

from __future__ import annotations

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


def check_format(name: str) -> None:
    """Raises ValueError: not one of :data:`FORMATS`."""
    if name not in FORMATS:
        raise ValueError(f"expected one of {', '.join(FORMATS)}")


def clean_text(text: str) -> str:
    """``text`` without control and bidi characters; line breaks and tabs become spaces."""
    return _UNSAFE.sub("", _BREAKS.sub(" ", text))


def _text(value: object) -> str | None:
    return clean_text(str(value)).strip() or None if value is not None else None


def _form_lines(row: dict, zone: ZoneInfo) -> list[str]:
    """``form submitted: configurator, 20.11.2026`` per submission: the kind and the day, nothing of the person."""
    lines = []
    for entry in row.get("forms") or []:
        if not isinstance(entry, dict):
            continue  # a free text may name the person: never sent
        kind = next((entry[k] for k in ("form", "kind", "source", "type") if entry.get(k)), "form")
        when = next((entry[k] for k in ("submitted_at", "at", "day", "date") if entry.get(k)), None)
        day = _form_day(when, zone)
        lines.append(f"form submitted: {_text(kind)}{day}")
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
    (one push per company and day); ``report_url`` the report's link or None.
    """
    tz = ZoneInfo(zone)
    last = row.get("last_visit")
    return {
        "schema": SCHEMA,
        "event": "lead.new" if row.get("new") else "lead.changed",
        "day": day.isoformat(),
        "company": _text(row.get("name")),
        "business_id": row.get("business_id"),
        "website": _text(row.get("website")),
        "industry": _text(row.get("industry")),
        "city": _text(row.get("city")),
        "score": row.get("score"),
        "rank": row.get("rank"),
        "reasons": _text(row.get("reasons")),
        "visits": row.get("visits"),
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


def _short(text: str | None, limit: int = MAX_REASONS) -> str:
    text = text or ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _web(url: str | None) -> str | None:
    """A link target: http(s) only, with a scheme added to a bare host; None for anything else."""
    if not url:
        return None
    url = url if re.match(r"(?i)https?://", url) else "https://" + url
    if not re.fullmatch(r"(?i)https?://[^\s<>|\"'`]+", url):
        return None
    return url


def _facts(message: dict) -> list[tuple[str, str]]:
    last = message["last_visit"]
    facts = [("Score", f"{message['score']:g}" if isinstance(message["score"], (int, float)) else "–"),
             ("Business ID", message["business_id"] or "–")]
    if last:
        moment = datetime.fromisoformat(last)
        facts.append(("Last visit", f"{moment:%-d.%-m.%Y %H:%M}"))
    if message.get("visits") is not None:
        facts.append(("Visits", str(message["visits"])))
    place = ", ".join(v for v in (message.get("industry"), message.get("city")) if v)
    if place:
        facts.append(("Company", place))
    return facts


def slack_escape(text: str) -> str:
    """Slack's mrkdwn control characters as entities (Slack's own rule: only ``&``, ``<``, ``>``)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_link(url: str | None, label: str) -> str:
    target = _web(url)
    return f"<{slack_escape(target)}|{slack_escape(label).replace('|', '¦')}>" if target else slack_escape(label)


def slack(message: dict) -> dict:
    """A Slack incoming-webhook message: ``text`` for the notification, ``blocks`` for the card."""
    name = message["company"] or "(no name)"
    label = "New lead" if message["new"] else "Lead"
    head = f"*{_slack_link(message['website'], name)}*"
    facts = " · ".join(f"{k} {slack_escape(v)}" for k, v in _facts(message))
    lines = [head, facts]
    if message["reasons"]:
        lines.append(slack_escape(_short(message["reasons"])))
    lines += [slack_escape(line) for line in message["forms"]]
    links = [_slack_link(url, text) for url, text in ((message["report_url"], "Lead report"),
                                                       (message["ytj_url"], "YTJ")) if _web(url)]
    blocks: list[dict] = [{"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}}]
    if links:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(links)}]})
    return {"text": slack_escape(f"{label}: {name} (score {_facts(message)[0][1]})"), "blocks": blocks}


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
         "text": teams_escape(("New lead: " if message["new"] else "Lead: ") + name)},
        {"type": "FactSet", "facts": [{"title": k, "value": teams_escape(v)} for k, v in _facts(message)]},
    ]
    if message["reasons"]:
        body.append({"type": "TextBlock", "wrap": True, "text": teams_escape(_short(message["reasons"]))})
    body += [{"type": "TextBlock", "wrap": True, "isSubtle": True, "text": teams_escape(line)}
             for line in message["forms"]]
    actions = [{"type": "Action.OpenUrl", "title": title, "url": _web(url)}
               for url, title in ((message["report_url"], "Lead report"), (message["website"], "Website"),
                                  (message["ytj_url"], "YTJ")) if _web(url)]
    card = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
            "version": "1.4", "body": body}
    if actions:
        card["actions"] = actions
    return {"type": "message", "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}]}
