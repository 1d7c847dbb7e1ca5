"""Reading tabular exports (CSV): header matching by alias, delimiter and encoding detection."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable

from enrich.errors import InputError


def map_columns(header: Iterable[object], aliases: dict[str, set[str]]) -> dict[int, str]:
    """Column index → field name, for the columns whose title is a known alias (case-insensitive)."""
    mapping = {}
    for index, title in enumerate(header):
        key = re.sub(r"\s+", " ", str(title or "").strip().lower().replace("_", " "))
        for name, names in aliases.items():
            if key in names or key.replace(" ", "_") in names:
                mapping.setdefault(index, name)
                break
    return mapping


def read_csv_table(data: bytes) -> tuple[list[object], list[tuple[int, list[object]]]]:
    """Header and numbered rows of a CSV: UTF-8 with or without BOM (else cp1252), comma, semicolon or tab."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252")  # Excel's "CSV" on Windows; every byte decodes
    first = text.split("\n", 1)[0]
    delimiter = max((";", ",", "\t"), key=first.count)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = next(reader, None)
    if not header:
        raise InputError("empty file: no header row")
    return header, [(number, row) for number, row in enumerate(reader, start=2)]
