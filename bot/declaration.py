"""The declaration form (申报表) as a PDF: every section of the filing in tables laid out like
an official form, computed totals and indicators, a stamp and signature area.

Chinese text is set in an embedded TrueType CJK font found on the system (or configured);
reportlab's STSong-Light, which readers must supply themselves, is only the last resort.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    Frame,
    KeepTogether,
    NextPageTemplate,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from dialogs import totals
from dialogs.indicators import evaluate_all
from dialogs.model import Key
from dialogs.spec import GroupSpec, SectionSpec
from dialogs.view import View
from dialogs.workdays import SHANGHAI

log = logging.getLogger(__name__)

FONT_NAME = "NianjianCJK"
FALLBACK_FONT = "STSong-Light"

# Where Debian and other systems put CJK TrueType fonts (fonts-wqy-zenhei first).
FONT_CANDIDATES: tuple[Path, ...] = (
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/truetype/arphic/uming.ttc"),
    Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"),
    Path("/System/Library/Fonts/PingFang.ttc"),
    Path("C:/Windows/Fonts/simhei.ttf"),
)

TITLE = "{year} 年度计算机信息系统集成（信息工程）企业年检申报表"
SUBTITLE = "申报单位：{name}　　统一社会信用代码：{code}　　资质等级：{grade}"
HEADER = "{name} · 申报表第 {version} 版"
FOOTER = "第 {page} 页 / 共 {pages} 页"
GENERATED = "生成时间：{when}（北京时间）"
STAMP_TITLE = "声明与盖章"
STAMP_TEXT = (
    "本单位承诺以上填报内容及所附材料真实、准确、完整，如有不实，愿承担相应责任。"
    "请打印本申报表，加盖单位公章、由法定代表人签字后，扫描回传至年检助手。"
)
STAMP_CELLS = (
    ("单位（盖章）", "法定代表人（签字）"),
    ("日期：　　年　　月　　日", "日期：　　年　　月　　日"),
)
INDICATORS_TITLE = "参考指标（{grade}级）"
INDICATOR_HEAD = ("指标", "本单位", "要求", "结论")


@dataclass(frozen=True)
class Fonts:
    name: str
    embedded: bool


def register_font(configured: Path | None = None) -> Fonts:
    """Registers a CJK TrueType font (embedded in the PDF); falls back to STSong-Light."""
    for path in (configured, *FONT_CANDIDATES):
        if path is None or not path.is_file():
            continue
        try:
            if FONT_NAME not in pdfmetrics.getRegisteredFontNames():
                pdfmetrics.registerFont(TTFont(FONT_NAME, str(path), subfontIndex=0))
            return Fonts(FONT_NAME, embedded=True)
        except Exception as error:  # a broken font file: try the next one
            log.warning("cannot use font %s: %s", path, error)
    log.warning("no CJK TrueType font found; using non-embedded %s", FALLBACK_FONT)
    if FALLBACK_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FALLBACK_FONT))
    return Fonts(FALLBACK_FONT, embedded=False)


class _Styles:
    def __init__(self, font: str) -> None:
        self.title = ParagraphStyle(
            "title", fontName=font, fontSize=16, leading=22, alignment=TA_CENTER
        )
        self.subtitle = ParagraphStyle(
            "subtitle", fontName=font, fontSize=9, leading=13, alignment=TA_CENTER
        )
        self.heading = ParagraphStyle(
            "heading", fontName=font, fontSize=12, leading=18, spaceBefore=8, spaceAfter=4
        )
        self.cell = ParagraphStyle("cell", fontName=font, fontSize=8.5, leading=11, wordWrap="CJK")
        self.head = ParagraphStyle("head", parent=self.cell, alignment=TA_CENTER)
        self.small = ParagraphStyle("small", fontName=font, fontSize=8, leading=11, wordWrap="CJK")
        # The project table has seventeen columns: smaller type, figures right-aligned.
        self.dense = ParagraphStyle("dense", fontName=font, fontSize=7, leading=9, wordWrap="CJK")
        self.dense_head = ParagraphStyle("dense_head", parent=self.dense, alignment=TA_CENTER)
        self.figure = ParagraphStyle("figure", parent=self.dense, alignment=TA_RIGHT)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class DeclarationBuilder:
    def __init__(self, view: View, version: int, fonts: Fonts, generated_at: datetime) -> None:
        self.view = view
        self.version = version
        self.fonts = fonts
        self.generated_at = generated_at
        self.s = _Styles(fonts.name)

    def p(self, text: object, style: ParagraphStyle | None = None) -> Paragraph:
        return Paragraph(_escape(str(text)), style or self.s.cell)

    def table(
        self,
        rows: Sequence[Sequence[object]],
        widths: Sequence[float],
        *,
        head: int = 1,
        dense: bool = False,
    ) -> Table:
        head_style, cell_style = (
            (self.s.dense_head, self.s.dense) if dense else (self.s.head, self.s.cell)
        )
        cells = [
            [
                self.p(c, head_style if r < head else self._cell_style(c, cell_style, dense))
                for c in row
            ]
            for r, row in enumerate(rows)
        ]
        table = Table(cells, colWidths=list(widths), repeatRows=head)
        style: list[tuple[Any, ...]] = [
            ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ("TOPPADDING", (0, 0), (-1, -1), 2),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
        ]
        if head:
            style.append(("BACKGROUND", (0, 0), (-1, head - 1), colors.HexColor("#E8E8E8")))
        if dense:
            # Narrow columns: with the default 6 pt padding an amount such as 1,179.60 or a
            # date wraps in the middle ("1,179.6" / "0"); 1.5 pt keeps every figure on one line.
            style.append(("LEFTPADDING", (0, 0), (-1, -1), 1.5))
            style.append(("RIGHTPADDING", (0, 0), (-1, -1), 1.5))
        table.setStyle(TableStyle(style))
        return table

    def _cell_style(self, value: object, default: ParagraphStyle, dense: bool) -> ParagraphStyle:
        if dense and isinstance(value, _Figure):
            return self.s.figure
        return default

    # --- sections ------------------------------------------------------------------------------

    def story(self) -> list[Any]:
        v = self.view
        name = str(v.get("enterprise.name") or "")
        story: list[Any] = [
            self.p(TITLE.format(year=v.year), self.s.title),
            self.p(
                SUBTITLE.format(
                    name=name,
                    code=v.get("enterprise.credit_code") or "",
                    grade=f"{v.grade.value}级" if v.grade else "",
                ),
                self.s.subtitle,
            ),
            self.p(
                GENERATED.format(
                    when=self.generated_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
                ),
                self.s.subtitle,
            ),
            Spacer(1, 4 * mm),
        ]
        for section in v.spec.sections:
            if not v.applies_section(section):
                continue
            story.extend(self.section(section))
        story.extend(self.indicators())
        story.extend(self.stamp())
        return story

    def section(self, section: SectionSpec) -> list[Any]:
        heading = self.p(section.heading, self.s.heading)
        if section.id == "projects":
            return self.projects(heading)
        if section.id == "completion":
            return [heading, *self.completion()]
        out: list[Any] = [heading]
        years = self.view.section_years(section)
        if years:
            out.append(self.per_year(section, years))
        else:
            rows = [
                (self.view.label(entry), self.view.display(entry))
                for entry in self.view.layout(section)
                if not isinstance(entry, GroupSpec)
            ]
            if rows:
                out.append(self.table([("项目", "填报内容"), *rows], [70 * mm, 110 * mm]))
            for group in section.groups():
                if self.view.applies(group):
                    out.extend(self.records(group))
        if section.totals is not None:
            computed = section.totals(self.view)
            if computed:
                out.append(Spacer(1, 2 * mm))
                out.append(self.table([("自动计算", ""), *computed], [70 * mm, 110 * mm]))
        return out

    def per_year(self, section: SectionSpec, years: Sequence[int]) -> Table:
        fields = [f for f in section.items if not isinstance(f, GroupSpec) and self.view.applies(f)]
        head = ["项目（万元）", *(f"{y}年" for y in years)]
        rows = [[f.label, *(self.view.display(Key(f.id, "", y)) for y in years)] for f in fields]
        width = 110 * mm / max(len(years), 1)
        return self.table([head, *rows], [70 * mm, *([width] * len(years))])

    def records(self, group: GroupSpec) -> list[Any]:
        ids = self.view.records(group.id)
        fields = [f for f in group.fields if self.view.applies(f)]
        if not ids:
            return [self.p(f"{group.noun}：无")]
        head = ["序号", *(f.label for f in fields)]
        rows = [
            [str(i), *(self.view.display(Key(f.id, rid)) for f in fields)]
            for i, rid in enumerate(ids, 1)
        ]
        first = 10 * mm
        width = 170 * mm / max(len(fields), 1)
        return [self.table([head, *rows], [first, *([width] * len(fields))])]

    def projects(self, heading: Paragraph) -> list[Any]:
        v = self.view
        out: list[Any] = [NextPageTemplate("landscape"), PageBreak(), heading]
        ids = totals.project_records(v)
        out.append(
            self.p(
                f"{v.label(Key('projects.has_projects'))}：{v.display(Key('projects.has_projects'))}"
            )
        )
        if ids:
            head = [
                "序号",
                "项目名称",
                "建设单位",
                "签订日期",
                "验收日期",
                *(v.spec.field(f).label for f in totals.SERVICE_FEES),
                "服务费合计",
                *(v.spec.field(f).label for f in totals.OTHER_COSTS),
                "合同金额",
            ]
            rows: list[list[object]] = []
            for i, rid in enumerate(ids, 1):
                merged = "（合并）" if v.get("project.merged", rid) is True else ""
                rows.append(
                    [
                        i,
                        f"{v.get('project.name', rid) or ''}{merged}",
                        v.get("project.client", rid) or "",
                        v.display(Key("project.contract_date", rid)),
                        v.display(Key("project.acceptance_date", rid)),
                        *(_money(v.num(f, rid)) for f in totals.SERVICE_FEES),
                        _money(totals.service_total(v, rid)),
                        *(_money(v.num(f, rid)) for f in totals.OTHER_COSTS),
                        _money(totals.contract_amount(v, rid)),
                    ]
                )
            col = totals.column_totals(v)
            rows.append(
                [
                    "合计",
                    f"{len(ids)} 个项目",
                    "",
                    "",
                    "",
                    *(_money(col[f]) for f in totals.SERVICE_FEES),
                    _money(col["service_total"]),
                    *(_money(col[f]) for f in totals.OTHER_COSTS),
                    _money(col["contract_amount"]),
                ]
            )
            widths = [8 * mm, 33 * mm, 24 * mm, 15 * mm, 15 * mm] + [14.3 * mm] * 12
            out.append(self.table([head, *rows], widths, dense=True))
            out.append(
                self.p(
                    "金额单位：万元。服务费合计 = 前六项费用之和；合同金额 = 服务费合计 + 后四项。",
                    self.s.small,
                )
            )
        sales = Key("projects.self_developed_sales")
        out.append(Spacer(1, 2 * mm))
        out.append(self.p(f"{v.label(sales)}：{v.display(sales)}"))
        out.extend([NextPageTemplate("portrait"), PageBreak()])
        return out

    def completion(self) -> list[Any]:
        rows = [("年度", "完成项目数", "合同总值（万元）", "服务费总值（万元）")]
        for row in totals.completion_rows(self.view):
            mark = "（自动）" if row.computed else ""
            rows.append(
                (f"{row.year}{mark}", str(row.count), _money(row.contract), _money(row.service))
            )
        rows.append(("三年合计", "", _money(totals.three_year_total(self.view)), ""))
        return [self.table(rows, [40 * mm, 35 * mm, 52 * mm, 53 * mm])]

    def indicators(self) -> list[Any]:
        grade = self.view.grade
        rows: list[Sequence[object]] = [INDICATOR_HEAD]
        for result in evaluate_all(self.view):
            value = _money(result.value) if not isinstance(result.value, int) else str(result.value)
            need = "无要求" if result.threshold is None else f"≥ {result.threshold}"
            verdict = "—" if result.met is None else ("达到" if result.met else "低于（仅提示）")
            rows.append((result.spec.label, f"{value} {result.spec.unit}", need, verdict))
        title = INDICATORS_TITLE.format(grade=grade.value if grade else "")
        table = self.table(rows, [60 * mm, 45 * mm, 40 * mm, 35 * mm])
        return [KeepTogether([self.p(title, self.s.heading), table])]

    def stamp(self) -> list[Any]:
        cells = [[self.p(a), self.p(b)] for a, b in STAMP_CELLS]
        table = Table(cells, colWidths=[90 * mm, 90 * mm], rowHeights=[40 * mm, 10 * mm])
        table.setStyle(
            TableStyle(
                [
                    ("BOX", (0, 0), (-1, -1), 0.8, colors.black),
                    ("INNERGRID", (0, 0), (-1, -1), 0.5, colors.black),
                    ("VALIGN", (0, 0), (-1, 0), "TOP"),
                ]
            )
        )
        return [
            KeepTogether(
                [self.p(STAMP_TITLE, self.s.heading), self.p(STAMP_TEXT), Spacer(1, 3 * mm), table]
            )
        ]


class _Figure(str):
    """A formatted amount: right-aligned in dense tables."""

    __slots__ = ()


def _money(value: object) -> str:
    return _Figure(f"{value:,.2f}")


def _numbered_canvas(header: str, font: str) -> type[Canvas]:
    """A canvas that knows the page count before drawing headers and footers."""

    class NumberedCanvas(Canvas):  # type: ignore[misc]  # reportlab ships no types
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self._decorate(total)
                super().showPage()
            super().save()

        def _decorate(self, total: int) -> None:
            width, height = self._pagesize
            self.saveState()
            self.setFont(font, 8)
            self.drawString(15 * mm, height - 10 * mm, header)
            self.drawRightString(
                width - 15 * mm, 8 * mm, FOOTER.format(page=self._pageNumber, pages=total)
            )
            self.restoreState()

    return NumberedCanvas


def declaration_pdf(view: View, *, version: int, fonts: Fonts, generated_at: datetime) -> bytes:
    out = io.BytesIO()
    name = str(view.get("enterprise.name") or "")
    doc = BaseDocTemplate(
        out,
        pagesize=A4,
        title=TITLE.format(year=view.year),
        author=name,
        subject=f"第 {version} 版",
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=16 * mm,
        bottomMargin=14 * mm,
        invariant=True,
    )
    portrait_frame = Frame(doc.leftMargin, doc.bottomMargin, doc.width, doc.height, id="p")
    lw, lh = landscape(A4)
    landscape_frame = Frame(15 * mm, 14 * mm, lw - 30 * mm, lh - 30 * mm, id="l")
    doc.addPageTemplates(
        [
            PageTemplate("portrait", [portrait_frame], pagesize=A4),
            PageTemplate("landscape", [landscape_frame], pagesize=landscape(A4)),
        ]
    )
    builder = DeclarationBuilder(view, version, fonts, generated_at)
    header = HEADER.format(name=name, version=version)
    doc.build(builder.story(), canvasmaker=_numbered_canvas(header, fonts.name))
    return out.getvalue()
