"""The declaration form PDF: every section, the totals, an embedded CJK font, page numbers and
the enterprise and version on every page."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from bot.declaration import declaration_pdf, register_font
from dialogs.view import View
from tests.fakes import completed_filing, pdf_text


def test_declaration_has_every_section_total_and_page_furniture(tmp_path: Path) -> None:
    form, filing = completed_filing()
    fonts = register_font()
    pdf = declaration_pdf(
        View(form, filing), version=3, fonts=fonts, generated_at=datetime(2026, 1, 5, tzinfo=UTC)
    )
    assert pdf.startswith(b"%PDF-")
    if fonts.embedded:
        assert b"/FontFile2" in pdf  # the TrueType font travels with the document
    text = pdf_text(pdf, tmp_path)
    pages = text.split("\f")[:-1] if text.endswith("\f") else text.split("\f")
    assert len(pages) >= 3
    for number, page in enumerate(pages, 1):
        compact = "".join(page.split())  # pdftotext drops some spaces
        assert "新疆天山智联信息技术有限公司·申报表第3版" in compact
        assert f"第{number}页/共{len(pages)}页" in compact
    for heading in ("企业信息", "申报联系人", "1.1 人员情况", "1.2 管理人员证书", "2 经营情况"):
        assert heading in text
    for heading in ("3 系统集成项目汇总", "4 系统集成项目完成情况", "5 企业技术创新", "6 附件"):
        assert heading in text
    assert "91110108551385082Q" in text
    assert "乌鲁木齐市政务云平台" in text and "塔城地区办公网络维护" in text
    assert "3,532.00" in text and "1,706.15" in text  # contract and service-fee totals
    # The project tables' figures and dates stay whole in their narrow columns.
    assert re.search(r"^\s*合计\s+12 个项目\s+3,532\.00$", text, re.M)
    assert re.search(r"^\s*合计\s+1,179\.60\s.*1,706\.15\s.*3,532\.00$", text, re.M)
    assert re.search(
        r"^\s*1\s+乌鲁木齐市政务云平台\s+乌鲁木齐市数据局\s+2024-03-01\s+2025-01-20\s", text, re.M
    )
    assert "4,602.50" in text  # three-year total
    assert "单位（盖章）" in text and "法定代表人（签字）" in text
    assert "2026-01-05 08:00" in text  # generated at, Beijing time
