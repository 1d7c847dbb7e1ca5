"""Reading tabular exports (CSV, XLSX): header matching by alias, delimiter and encoding detection.

Rows are yielded one by one as ``(row number, cells)``. A row that cannot be
read is yielded as ``(row number, BadRow(reason))`` so the caller counts it as
a reject and goes on: one bad row never costs the file.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from enrich.errors import InputError

#: Reasons for rows that cannot be read; they never quote the row's values.
FIELD_TOO_LARGE = "a field over the size limit"
UNREADABLE_ROW = "a row that cannot be read as CSV"
DAMAGED_AFTER = "the file is damaged after this row: the rest is not read"


@dataclass(frozen=True)
class BadRow:
    """A row that could not be read, and why (a fixed text, never a value)."""

    reason: str


Rows = Iterable[tuple[int, "list[object] | BadRow"]]


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


def decode_text(data: bytes) -> str:
    """A spreadsheet's text: UTF-8 with or without BOM, else Excel's Windows encoding (cp1252)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Excel's "CSV" on Windows; the five bytes cp1252 leaves undefined must not stop the file.
        return data.decode("cp1252", errors="replace")


def read_csv_table(data: bytes) -> tuple[list[object], Rows]:
    """Header and numbered rows of a CSV: UTF-8 with or without BOM (else cp1252), comma, semicolon or tab.

    A field larger than the csv module's limit (128 KB) makes its row a
    :class:`BadRow`; reading goes on with the next row.

    Raises:
        InputError: no header row, or a header the csv module cannot read.
    """
    text = decode_text(data)
    first = re.split(r"[\r\n]", text, maxsplit=1)[0]
    delimiter = max((";", ",", "\t"), key=first.count)
    # newline="": the csv module itself tells line ends (\r\n, \n, an old Mac's \r) from
    # line breaks inside quoted fields, as its documentation asks.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise InputError(f"the header row: {_reason(exc)}") from None
    if not header:
        raise InputError("empty file: no header row")
    return header, _rows(reader)


def _rows(reader) -> Iterator[tuple[int, list[object] | BadRow]]:
    number = 1
    while True:
        number += 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            # The reader starts afresh at the next line: the bad field costs its row only.
            yield number, BadRow(_reason(exc))
            continue
        yield number, row


def _reason(exc: csv.Error) -> str:
    """A fixed reason for a csv error (its message may quote the row)."""
    return FIELD_TOO_LARGE if "field limit" in str(exc) else UNREADABLE_ROW


def read_xlsx_table(path: Path) -> tuple[list[object], Rows]:
    """Header and numbered rows of the first sheet of an XLSX file, streamed.

    openpyxl's read-only mode reads the sheet row by row, in bounded memory.
    It trusts the sheet's ``<dimension>``, which some writers get wrong (too
    small: rows are lost; ``A1:XFD1048576``: every row is 16,384 cells), so the
    dimension is reset and the rows are read as they are. A sheet damaged part
    way yields its rows up to the damage, then one :class:`BadRow`.

    Raises:
        InputError: not an XLSX file, or no header row (one line, no cell values).
    """
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
        sheet = workbook.worksheets[0]
        sheet.reset_dimensions()
        rows = sheet.iter_rows(values_only=True)
        header = list(next(rows, None) or [])
    except Exception as exc:  # openpyxl raises many types on a damaged file; their texts may quote cells
        raise InputError(f"cannot read the file as XLSX ({exc.__class__.__name__})") from None
    while header and header[-1] is None:
        header.pop()  # trailing empty cells are no columns
    if not header:
        workbook.close()
        raise InputError("the first sheet is empty")
    return header, _xlsx_rows(workbook, rows)


def _xlsx_rows(workbook, rows) -> Iterator[tuple[int, list[object] | BadRow]]:
    number = 1
    try:
        for number, row in enumerate(rows, start=2):
            yield number, list(row)
    except Exception:  # a damaged sheet: XML, zip or CRC errors, as openpyxl meets them
        yield number, BadRow(DAMAGED_AFTER)
    finally:
        workbook.close()
