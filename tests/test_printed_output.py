"""What the association prints and reads: the export's wording and the declaration form
(issue 14, items 6 and 7)."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from openpyxl import load_workbook

from bot.export import ExportedFiling, build_tables, csv_files, xlsx_bytes
from dialogs.model import Key
from storage.accounts import Enterprise
from tests.fakes import completed_filing

GENERATED = datetime(2026, 1, 5, 2, 30, tzinfo=UTC)


def _export() -> tuple[dict[str, list[dict[str, object]]], dict[str, bytes]]:
    form, filing = completed_filing()
    enterprise = Enterprise(
        1,
        str(filing.get(Key("enterprise.credit_code"))),
        str(filing.get(Key("enterprise.name"))),
        "乙",
        "XJ-1",
        2020,
        "active",
        GENERATED,
        GENERATED,
    )
    tables = build_tables(form, [ExportedFiling(filing, enterprise, ())])
    book = load_workbook(io.BytesIO(xlsx_bytes(tables, title="年检", created=GENERATED)))
    sheets: dict[str, list[dict[str, object]]] = {}
    for sheet in book.worksheets:
        rows = list(sheet.iter_rows(values_only=True))
        ids = [str(c) for c in rows[1]]
        sheets[sheet.title] = [dict(zip(ids, row, strict=True)) for row in rows[2:]]
    return sheets, csv_files(tables)


def test_export_names_the_certificate_level_once_and_types_in_chinese() -> None:
    sheets, csvs = _export()
    holders = next(rows for rows in sheets.values() if rows and "holder.category" in rows[0])
    categories = {str(r["holder.category"]) for r in holders}
    assert "国家软考（中级）" in categories
    for category in categories:
        assert "中级 中级" not in category and "） " not in category, category
        assert not category.endswith(" 无")
    legend = sheets["字段说明"]
    kinds = {str(r["kind"]) for r in legend}
    assert {"文字", "金额", "整数", "日期", "自动计算"} <= kinds
    assert not kinds & {"text", "count", "amount", "computed", "date"}
    # the machine-readable legend keeps the stable ids
    assert b",count," in csvs["legend.csv"] and b",text," in csvs["legend.csv"]
