"""What the association prints and reads: the export's wording and the declaration form
(issue 14, items 6 and 7)."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook
from PIL import Image, ImageOps

from bot.declaration import declaration_pdf, register_font
from bot.export_formats import csv_files, xlsx_bytes
from bot.export_tables import ExportedFiling, build_tables
from dialogs import texts_input, totals
from dialogs.model import Key, SetAnswer, apply_changes
from dialogs.view import SKIPPED, View
from storage.enterprises import Enterprise
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


# --- the declaration form ---------------------------------------------------------------------

_A4_POINTS = (595.276, 841.89)
Word = tuple[int, float, float, float, float, str]  # page, xMin, yMin, xMax, yMax, text
_DPI = 40


def _poppler(*args: str) -> str:
    if shutil.which(args[0]) is None:
        message = f"{args[0]} (Debian poppler-utils) is needed to check the PDF"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return subprocess.run(list(args), capture_output=True, check=True, text=True).stdout


@pytest.fixture(scope="module")
def declaration(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The scripted filing's form, with an optional certificate validity left empty."""
    form, filing = completed_filing()
    assert filing.get(Key("holder.valid_until", "hol1")) == SKIPPED  # skipped in the script
    pdf = declaration_pdf(
        View(form, filing), version=3, fonts=register_font(), generated_at=GENERATED
    )
    path = tmp_path_factory.mktemp("declaration") / "form.pdf"
    path.write_bytes(pdf)
    return path


def test_the_form_prints_no_chat_words_and_no_file_sizes(declaration: Path) -> None:
    text = _poppler("pdftotext", "-layout", str(declaration), "-")
    assert "未填" not in text and "已跳过" not in text and "未填写" not in text
    assert not re.search(r"[（(]\s*\d+(\.\d+)?\s*[KM]B\s*[）)]", text), "a file size is printed"
    assert "营业执照.png" in text or "营业执照" in text
    assert re.search(r"^\s*1\s+王强\s+.*\s—\s*$", text, re.M), "an empty cell is a dash"


def test_the_form_has_real_metadata(declaration: Path) -> None:
    info = _poppler("pdfinfo", "-isodates", str(declaration))
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    assert "年检申报表" in fields["Title"] and "新疆天山智联信息技术有限公司" in fields["Title"]
    assert fields["Author"].strip() == "新疆天山智联信息技术有限公司"
    assert fields["CreationDate"].strip().startswith("2026-01-05T10:30:00+08")
    assert "2000" not in fields["CreationDate"]


def _words(declaration: Path) -> list[Word]:
    """Every word with its page and box (points from the top left), from pdftotext -bbox."""
    html = _poppler("pdftotext", "-bbox", str(declaration), "-")
    words = []
    for number, page in enumerate(html.split("<page ")[1:], 1):
        for match in re.finditer(
            r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>',
            page,
        ):
            x0, y0, x1, y1 = (float(match[i]) for i in range(1, 5))
            words.append((number, x0, y0, x1, y1, match[5]))
    return words


def _column_above(words: list[Word], anchor: str, values: list[str]) -> list[Word]:
    """The word `anchor` and, for each value, its occurrence closest above the anchor on the
    same page: a column of one table."""
    below = next(w for w in words if w[5] == anchor)
    found = [below]
    for value in values:
        above = [w for w in words if w[5] == value and w[0] == below[0] and w[2] < below[2]]
        found.append(max(above, key=lambda w: w[2]))
    return found


def test_business_and_completion_figures_are_right_aligned(declaration: Path) -> None:
    words = _words(declaration)
    for anchor, column in (
        ("3,100.00", ["4,567.89", "3,800.00", "88.80", "5,600.00"]),  # 2025 of 2 经营情况
        ("4,602.50", ["420.50", "650.00", "3,532.00"]),  # contract values of 4 完成情况
    ):
        found = _column_above(words, anchor, column)
        rights = [w[3] for w in found]
        lefts = [w[1] for w in found]
        assert max(rights) - min(rights) < 1.0, (column, rights)
        assert max(lefts) - min(lefts) > 3.0, (column, lefts)  # not merely equally long


def test_the_signature_block_leaves_room_to_sign_and_date(declaration: Path) -> None:
    words = _words(declaration)
    stamp = next(w for w in words if w[5].startswith("单位（盖章）"))
    dates = [w for w in words if w[0] == stamp[0] and w[5].startswith("日期")]
    assert dates, "a date line under the signature"
    date_line = min(dates, key=lambda w: w[1])
    mm = 72 / 25.4
    assert date_line[2] - stamp[4] > 35 * mm  # room for a stamp and a signature
    year = next(
        w for w in words if w[0] == stamp[0] and w[5] == "年" and abs(w[2] - date_line[2]) < 2
    )
    assert year[1] - date_line[3] > 15 * mm  # room to write the year by hand


def test_rendered_pages_are_a4_and_none_is_nearly_empty(declaration: Path, tmp_path: Path) -> None:
    _poppler("pdftoppm", "-r", str(_DPI), "-png", str(declaration), str(tmp_path / "page"))
    pages = sorted(tmp_path.glob("page-*.png"))
    assert 3 <= len(pages) <= 5
    expected = tuple(round(side / 72 * _DPI) for side in _A4_POINTS)
    for path in pages:
        with Image.open(path) as image:
            assert all(abs(a - b) <= 1 for a, b in zip(image.size, expected, strict=True))
            ink = ImageOps.invert(image.convert("L")).point(lambda v: 255 if v > 40 else 0)
            box = ink.getbbox()
            assert box is not None, f"{path.name} is blank"
            # below the running header, the content reaches at least a third down the page
            body = ink.crop(
                (0, round(image.height * 0.06), image.width, round(image.height * 0.94))
            )
            body_box = body.getbbox()
            assert body_box is not None and body_box[3] > body.height / 3, path.name
            inked = body.histogram()[255]
            assert inked > 0.01 * body.width * body.height, (path.name, inked)


def test_a_long_term_certificate_is_printed_and_exported_as_such(tmp_path: Path) -> None:
    form, filing = completed_filing()
    key = Key("holder.valid_until", "hol1")
    filing = apply_changes(filing, [SetAnswer(key, texts_input.LONG_TERM)])
    view = View(form, filing)
    assert totals.certificate_valid(view, "hol1")
    pdf = declaration_pdf(view, version=1, fonts=register_font(), generated_at=GENERATED)
    path = tmp_path / "form.pdf"
    path.write_bytes(pdf)
    assert re.search(
        r"^\s*1\s+王强\s+.*\s长期\s*$", _poppler("pdftotext", "-layout", str(path), "-"), re.M
    )
    enterprise = Enterprise(
        1, "91110108551385082Q", "某公司", "乙", "X", 2020, "active", GENERATED, GENERATED
    )
    tables = build_tables(form, [ExportedFiling(filing, enterprise, ())])
    holders = next(t for t in tables if any(c.id == "holder.valid_until" for c in t.columns))
    column = [c.id for c in holders.columns].index("holder.valid_until")
    assert holders.rows[0][column] == "长期"
    assert b"\xe9\x95\xbf\xe6\x9c\x9f" in csv_files(tables)[f"{holders.id}.csv"]  # 长期
