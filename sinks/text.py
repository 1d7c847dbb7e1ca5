"""Text from outside made inert wherever it is shown: the terminal, the HTML report, the CSV.

Company names, campaigns, referrers and pages come from registries, exports and
visitors. Escaping markup is not enough: an ESC sequence rewrites a terminal
(clears it, plants a hyperlink), a bidi override shows ``Invoice<U+202E>gnp.exe``
as ``Invoiceexe.png``, and a spreadsheet runs a cell that starts with ``=``.
Every output passes its values through :func:`clean_text` (and the CSV through
:func:`csv_cell`), so the rule lives here, once.
"""

from __future__ import annotations

import re

# Breaks and tabs become spaces (words stay apart, a cell stays one line); other C0/C1
# controls and the characters that reorder text (embeddings, overrides, isolates, marks) go.
_BREAKS = re.compile("[\t\n\x0b\x0c\r\x85\u2028\u2029]")
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# OWASP CSV injection: a cell starting with these is a formula (or DDE) in Excel/LibreOffice;
# full-width forms are converted by some Excel input locales, so they count too.
_FORMULA_START = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")
# A plain number cannot compute anything, whatever its sign: it stays as it is.
_NUMBER = re.compile(r"[+-]?\d+(?:[.,]\d+)?")


def clean_text(text: str) -> str:
    """``text`` without control and bidi characters; line breaks and tabs become spaces."""
    return _UNSAFE.sub("", _BREAKS.sub(" ", text))


def clean(value: object) -> object:
    """:func:`clean_text` for strings (their type kept, e.g. Markup); any other value as it is."""
    return type(value)(clean_text(value)) if isinstance(value, str) else value


def csv_cell(value: object) -> object:
    """A value for a spreadsheet cell: numbers as numbers, text clean and never a formula.

    Text that would start a formula (after any leading spaces) gets a leading single
    quote, so spreadsheets show it as text; the CSV writer quotes every text cell.
    """
    if value is None or isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    text = clean_text(str(value))
    if text.lstrip(" ")[:1] in _FORMULA_START and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def json_text(data: object) -> str:
    """``data`` as indented JSON, exact, but with every control and bidi character escaped
    (``\\u202e``) as JSON allows: a subject's data may be shown on a terminal."""
    import json

    text = json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n"
    return _UNSAFE_JSON.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)


# Newlines inside values are already escaped by json.dumps; these are the raw ones it leaves.
_UNSAFE_JSON = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def one_line(exc: BaseException) -> str:
    """An exception as the one line shown to the operator and kept in ``runs.error``.

    No client address, no credential of a URL, no control or bidi character (it reaches terminals).
    """
    from enrich.errors import LeadpipeError
    from enrich.redact import mask_addresses, redact_secrets

    text = redact_secrets(mask_addresses(str(exc))).strip().splitlines()
    first = clean_text(text[0]).strip() if text else ""
    if isinstance(exc, LeadpipeError):
        return first or exc.__class__.__name__
    return f"{exc.__class__.__name__}: {first}" if first else exc.__class__.__name__
