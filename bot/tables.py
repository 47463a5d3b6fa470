"""Reading spreadsheets people actually send: XLSX, or CSV in UTF-8 (with or without BOM) or
GBK (what Excel on a Chinese Windows writes)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from openpyxl import load_workbook


class UnreadableTable(ValueError):
    pass


def read_table(path: Path) -> tuple[list[str], list[list[object]]]:
    """The first sheet's header row and the rows under it."""
    data = path.read_bytes()
    if data[:4] == b"PK\x03\x04":
        return _xlsx(data)
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        rows = list(csv.reader(io.StringIO(text)))
        if not rows:
            raise UnreadableTable("文件是空的")
        return [h.strip() for h in rows[0]], [list(r) for r in rows[1:]]
    raise UnreadableTable("无法识别的文件：请使用 XLSX，或 UTF-8 / GBK 编码的 CSV")


@contextmanager
def xlsx_rows(data: bytes, title: str | None = None) -> Iterator[Iterator[tuple[object, ...]]]:
    """The cell values of the sheet named `title` row by row (of the first sheet without
    one, or when there is no such sheet). UnreadableTable when openpyxl cannot open the file
    or fails while reading it (it raises many kinds of errors for a damaged file)."""
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as error:
        raise UnreadableTable(f"XLSX 文件无法读取：{error}") from error
    try:
        sheet = book[title] if title in book.sheetnames else book.worksheets[0]
        yield sheet.iter_rows(values_only=True)
    except UnreadableTable:
        raise
    except Exception as error:
        raise UnreadableTable(f"XLSX 文件无法读取：{error}") from error
    finally:
        book.close()


def _xlsx(data: bytes) -> tuple[list[str], list[list[object]]]:
    with xlsx_rows(data) as values:
        rows: list[list[object]] = [list(row) for row in values]
    if not rows:
        raise UnreadableTable("表格是空的")
    header = ["" if h is None else str(h).strip() for h in rows[0]]
    return header, [_cells(r) for r in rows[1:]]


def _cells(row: Sequence[object]) -> list[object]:
    # Excel stores whole numbers typed into a cell as floats: 2019 -> 2019.0.
    return [int(c) if isinstance(c, float) and c.is_integer() else c for c in row]
