"""The project spreadsheet at the edge: the XLSX template built from the form spec, and an
uploaded sheet read into text cells for the engine (`dialogs.project_import` parses them with
the same parsers as typed answers).

The template has one column per project field (Chinese headers from the labels), an example
row the import ignores, Excel data validation where it helps (lists, dates, decimals, text
length; warnings only, since the import also understands "12345000元" or full-width digits)
and a sheet explaining every column.
"""

from __future__ import annotations

import io
import math
from datetime import date, datetime
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from bot.tables import UnreadableTable, xlsx_rows
from dialogs import parsing, project_import, texts
from dialogs.project_import import EXAMPLE_MARK, MAX_ROWS, header_of
from dialogs.replies import Document, TableIn, TableRow
from dialogs.spec import FieldSpec, FormSpec, Kind

SHEET_TITLE = "项目"
NOTES_TITLE = "填写说明"
_EXCEL_EPOCH = date(1899, 12, 30)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_EXAMPLE_FONT = Font(italic=True, color="808080")
_MAX_AMOUNT = 10_000_000  # 万元, as parsing.parse_amount's limit

_UNREADABLE = "文件不是有效的 Excel 表格（.xlsx），或已损坏。"
_NOTES_HEAD = (
    "填写说明",
    "• 在“项目”工作表中每行填写一个 {year} 年度已完成的系统集成项目；"
    "第一行的列名不要修改，列的顺序可以调整。",
    "• 第 2 行是示例（项目名称以“示例”开头），导入时会被忽略，可以保留或删除。",
    "• 金额单位为万元，最多两位小数；也可以写“12345000元”（自动换算为万元），全角数字同样可以。",
    "• 日期写成 {year}-03-01、{year}/3/1 或 {year}年3月1日 均可；验收日期必须在 {year} 年内。",
    "• 上传后会逐行检查，有问题的行会列出行号、列名和正确写法；确认之前不会导入任何内容。",
    "• 再次上传会替换上次从表格导入的项目（按项目名称和建设单位对应，已上传的合同文件保留）；"
    "在聊天中逐个填写的项目不受影响。",
    "• 导入后，各项目的合同文件仍需在聊天中逐个上传。",
)
_NOTES_COLUMNS = ("列名", "必填", "格式", "说明", "例如")


def template(form: FormSpec) -> bytes:
    """The XLSX template for the form's project fields."""
    fields = project_import.group(form).fields
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = SHEET_TITLE
    sheet.append([header_of(f) for f in fields])
    sheet.append([_example_value(form, f, i == 0) for i, f in enumerate(fields)])
    for column, spec in enumerate(fields, 1):
        letter = get_column_letter(column)
        header = sheet.cell(1, column)
        header.font = Font(bold=True)
        header.fill = _HEADER_FILL
        header.alignment = Alignment(wrap_text=True, vertical="center")
        example = sheet.cell(2, column)
        example.font = _EXAMPLE_FONT
        example.number_format = _number_format(spec)
        sheet.column_dimensions[letter].width = 30 if spec.kind is Kind.TEXT else 14
        validation = _validation(form, spec)
        if validation is not None:
            sheet.add_data_validation(validation)
            validation.add(f"{letter}2:{letter}{MAX_ROWS + 1}")
    sheet.freeze_panes = "A2"
    sheet.row_dimensions[1].height = 32
    _notes(book.create_sheet(NOTES_TITLE), form, fields)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def template_document(form: FormSpec) -> Document:
    year = form.cycle.year
    return Document(
        texts.IMPORT_TEMPLATE_NAME.format(year=year),
        template(form),
        texts.IMPORT_TEMPLATE_CAPTION.format(year=year),
        project_import.XLSX_TYPE,
    )


def _example_value(form: FormSpec, spec: FieldSpec, first: bool) -> object:
    if first:
        return f"{EXAMPLE_MARK}：{spec.example}"
    match spec.kind:
        case Kind.DATE:
            return parsing.parse_date(spec.example) if spec.example else None
        case Kind.AMOUNT | Kind.COUNT:
            return Decimal(spec.example or "0")
        case Kind.YESNO:
            return "否"
        case Kind.CHOICE:
            return spec.options[0].label if spec.options else ""
    return spec.example


def _number_format(spec: FieldSpec) -> str:
    return {Kind.DATE: "yyyy-mm-dd", Kind.AMOUNT: "0.00", Kind.COUNT: "0"}.get(spec.kind, "General")


def _serial(day: date) -> str:
    return str((day - _EXCEL_EPOCH).days)


def _validation(form: FormSpec, spec: FieldSpec) -> DataValidation | None:
    """Excel's own check of a column, as a warning: the import is the real check."""
    year = form.cycle.year
    title = spec.label[:32]
    match spec.kind:
        case Kind.YESNO:
            rule = DataValidation(type="list", formula1='"是,否"')
        case Kind.CHOICE:
            labels = ",".join(o.label for o in spec.options)
            if len(labels) > 250 or '"' in labels:
                return None  # Excel's inline list is limited to 255 characters
            rule = DataValidation(type="list", formula1=f'"{labels}"')
        case Kind.DATE:
            low, high = spec.date_range  # the same range the chat accepts
            rule = DataValidation(
                type="date",
                operator="between",
                formula1=_serial(date(year + low, 1, 1)),
                formula2=_serial(date(year + min(high, 0), 12, 31)),
            )
        case Kind.AMOUNT:
            low = -_MAX_AMOUNT if spec.allow_negative else 0
            rule = DataValidation(
                type="decimal", operator="between", formula1=str(low), formula2=str(_MAX_AMOUNT)
            )
        case Kind.COUNT:
            rule = DataValidation(type="whole", operator="greaterThanOrEqual", formula1="0")
        case Kind.TEXT:
            rule = DataValidation(
                type="textLength", operator="lessThanOrEqual", formula1=str(spec.max_len)
            )
        case _:
            return None
    rule.allow_blank = True
    rule.showErrorMessage = True
    rule.errorStyle = "warning"
    rule.errorTitle = title
    rule.error = _format(spec, year)[:255]
    rule.showInputMessage = True
    rule.promptTitle = title
    rule.prompt = (spec.help or _format(spec, year))[:255]
    return rule


def _format(spec: FieldSpec, year: int) -> str:
    match spec.kind:
        case Kind.AMOUNT:
            sign = "可以为负数；" if spec.allow_negative else ""
            return f"金额，单位万元，最多两位小数；{sign}也可写“12345000元”；不适用填 0。"
        case Kind.DATE:
            return f"日期，如 {year}-03-01、{year}/3/1 或 {year}年3月1日。"
        case Kind.YESNO:
            return "填“是”或“否”。"
        case Kind.COUNT:
            return "整数，没有填 0。"
        case Kind.CHOICE:
            return "以下之一：" + "、".join(o.label for o in spec.options)
        case Kind.TEXT:
            return f"文字，最多 {spec.max_len} 个字。"
    return spec.example


def _notes(sheet: Worksheet, form: FormSpec, fields: tuple[FieldSpec, ...]) -> None:
    year = form.cycle.year
    for line in _NOTES_HEAD:
        sheet.append([line.format(year=year)])
    sheet["A1"].font = Font(bold=True, size=13)
    sheet.append([])
    sheet.append(list(_NOTES_COLUMNS))
    heading_row = sheet.max_row
    for cell in sheet[heading_row]:
        cell.font = Font(bold=True)
        cell.fill = _HEADER_FILL
    for spec in fields:
        sheet.append(
            [
                header_of(spec),
                "是" if spec.required else "否",
                _format(spec, year),
                spec.help,
                spec.example or ("是 或 否" if spec.kind is Kind.YESNO else ""),
            ]
        )
    for letter, width in zip("ABCDE", (28, 6, 44, 50, 24), strict=True):
        sheet.column_dimensions[letter].width = width


# --- reading an upload ---------------------------------------------------------------------


def read_sheet(name: str, data: bytes) -> TableIn:
    """The first sheet's non-empty rows as text cells, with their row numbers."""
    rows: list[TableRow] = []
    try:
        with xlsx_rows(data, SHEET_TITLE) as sheet:
            # A header, the rows the import allows and one more, so "too many" is reported.
            for number, values in enumerate(sheet, start=1):
                cells = tuple(cell_text(v) for v in values)
                if any(cells):
                    rows.append(TableRow(number, cells))
                    if len(rows) > MAX_ROWS + 1:
                        break
    except UnreadableTable:
        return TableIn(name, (), rejected=_UNREADABLE)
    return TableIn(name, tuple(rows))


def cell_text(value: object) -> str:
    """A cell as the text a contact would have typed: dates as ISO dates, numbers without
    float noise or exponents."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return format(Decimal(repr(value)), "f")
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value).strip()
