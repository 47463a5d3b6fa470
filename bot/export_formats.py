"""The export's tables written in two formats.

- **XLSX** for people: one sheet per table; row 1 holds the Chinese headers, row 2 the stable
  column ids, data starts on row 3; 万元 amounts are numbers formatted ``#,##0.00``; computed
  columns have grey headers, like the grey cells of the web form.
- **CSV** for machines: one file per table named by its stable id (``records_projects.csv``),
  UTF-8 with BOM so Excel opens it too, the column ids as the only header row, choices as
  their stable values, yes/no as ``true``/``false``, amounts as ``1234.50``, dates and times
  in ISO 8601 (+08:00). Written as a zip (one file to send) or into a directory.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from bot.export_tables import Cell, Column, Table
from dialogs.workdays import SHANGHAI

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ZIP_TYPE = "application/zip"
AMOUNT_FORMAT = "#,##0.00"
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"

# --- XLSX --------------------------------------------------------------------------------------

# What a worksheet cell holds: choices as labels, yes/no as 是/否, times without a zone.
Shown = Decimal | int | date | datetime | str | None

_HEAD_FILL = PatternFill("solid", fgColor="DDEBF7")
_COMPUTED_FILL = PatternFill("solid", fgColor="D9D9D9")
_HEAD_FONT = Font(bold=True)
_ID_FONT = Font(color="808080", size=9)
_WRAP = Alignment(wrap_text=True, vertical="center")


def xlsx_bytes(tables: Sequence[Table], *, title: str, created: datetime) -> bytes:
    book = Workbook()
    first = book.active
    if first is not None:
        book.remove(first)
    book.properties.title = title
    book.properties.creator = "nianjian"
    book.properties.created = created.astimezone(SHANGHAI).replace(tzinfo=None)
    for table in tables:
        _sheet(book.create_sheet(table.title), table)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _sheet(sheet: Worksheet, table: Table) -> None:
    widths = [_text_width(c.label) / 2 + 2 for c in table.columns]
    for index, column in enumerate(table.columns, 1):
        head = sheet.cell(row=1, column=index, value=column.label)
        head.font = _HEAD_FONT
        head.fill = _COMPUTED_FILL if column.computed else _HEAD_FILL
        head.alignment = _WRAP
        sheet.cell(row=2, column=index, value=column.id).font = _ID_FONT
        widths[index - 1] = max(widths[index - 1], len(column.id) * 0.9)
    for number, row in enumerate(table.rows, 3):
        for index, (column, value) in enumerate(zip(table.columns, row, strict=True), 1):
            shown = _xlsx_value(column, value)
            cell = sheet.cell(row=number, column=index, value=shown)
            if isinstance(value, Decimal):
                cell.number_format = AMOUNT_FORMAT
            elif isinstance(value, datetime):
                cell.number_format = DATETIME_FORMAT
            elif isinstance(value, date):
                cell.number_format = DATE_FORMAT
            widths[index - 1] = max(widths[index - 1], _width_of(shown))
    for index, width in enumerate(widths, 1):
        sheet.column_dimensions[get_column_letter(index)].width = min(max(width, 6.0), 50.0)
    sheet.row_dimensions[1].height = 32
    sheet.freeze_panes = f"{get_column_letter(table.frozen + 1)}3"
    last = get_column_letter(len(table.columns))
    sheet.auto_filter.ref = f"A2:{last}{max(len(table.rows) + 2, 3)}"


def _label(column: Column, value: str) -> str:
    for option in column.options:
        if option.value == value:
            return option.label
    return value


def _xlsx_value(column: Column, value: Cell) -> Shown:
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, tuple):
        return "、".join(_label(column, v) for v in value) or None
    if isinstance(value, str):
        return _label(column, value) if column.options else value
    if isinstance(value, datetime):
        # Excel has no time zones: the headers say the times are Beijing time.
        return value.astimezone(SHANGHAI).replace(tzinfo=None)
    return value


def _text_width(text: str) -> float:
    """Excel column width units: a CJK character is about two Latin ones."""
    return float(sum(2 if ord(ch) > 0x2E7F else 1 for ch in text))


def _width_of(shown: Shown) -> float:
    if shown is None:
        return 0.0
    if isinstance(shown, Decimal):
        return len(f"{shown:,.2f}") + 2.0
    if isinstance(shown, datetime):
        return 17.0
    if isinstance(shown, date):
        return 11.0
    return _text_width(str(shown)) + 1.0


# --- CSV ---------------------------------------------------------------------------------------


def csv_value(value: Cell) -> str:
    """The machine form of a cell: stable values, ISO dates, amounts with two decimals."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, datetime):
        return value.astimezone(SHANGHAI).isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple):
        return ";".join(value)
    return str(value)


def csv_files(tables: Sequence[Table]) -> dict[str, bytes]:
    """One CSV per table, UTF-8 with BOM, the column ids as header."""
    files = {}
    for table in tables:
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow([c.id for c in table.columns])
        writer.writerows([csv_value(v) for v in row] for row in table.rows)
        files[f"{table.id}.csv"] = text.getvalue().encode("utf-8-sig")
    return files


def csv_zip(tables: Sequence[Table]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in csv_files(tables).items():
            archive.writestr(name, data)
    return out.getvalue()
