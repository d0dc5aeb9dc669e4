"""Spreadsheet-safe exports: every cell a CSV export writes goes through `safe_cell`, so that text a
citizen typed (a complaint starting with "=", "+", "-", "@", a tab or a carriage return) is shown as
text by Excel, WPS and LibreOffice instead of being run as a formula (OWASP, CSV injection)."""
from __future__ import annotations

import csv
import io
from typing import Any, Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")


def safe_cell(value: Any) -> str:
    """The cell as text, with a leading ' when a spreadsheet would read it as a formula (also after
    leading spaces, which some spreadsheets skip)."""
    text = "" if value is None else str(value)
    if text.lstrip(" ").startswith(FORMULA_STARTS):
        return "'" + text
    return text


def csv_bytes(header: list[str], rows: Iterable[Iterable[Any]]) -> bytes:
    """UTF-8 CSV with a BOM (so Excel reads the Chinese), every cell made safe."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow([safe_cell(c) for c in header])
    for row in rows:
        writer.writerow([safe_cell(c) for c in row])
    return out.getvalue().encode("utf-8")
