"""CSV exports people open in a spreadsheet: cells a spreadsheet will not run as formulas."""

from __future__ import annotations

# A cell starting with one of these is a formula to Excel, LibreOffice and Sheets.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(text: str) -> str:
    """`text` as a cell that shows as text ("'" before a would-be formula)."""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def uncell(text: str) -> str:
    """Read back what `cell` wrote."""
    return text[1:] if text.startswith("'") and text[1:].startswith(_FORMULA_STARTS) else text
