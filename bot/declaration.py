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
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
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
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from dialogs import totals
from dialogs.indicators import evaluate_all
from dialogs.model import FileRef, Key
from dialogs.parsing import strip_invisible
from dialogs.spec import GroupSpec, SectionSpec
from dialogs.view import SKIPPED, View
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
CREATOR = "年检助手"
# An optional question left empty, or nothing to show: a dash, never chat words.
EMPTY = "—"
SUBTITLE = "申报单位：{name}　　统一社会信用代码：{code}　　资质等级：{grade}"
HEADER = "{name} · 申报表第 {version} 版"
FOOTER = "第 {page} 页 / 共 {pages} 页"
GENERATED = "生成时间：{when}（北京时间）"
STAMP_TITLE = "声明与盖章"
STAMP_TEXT = (
    "本单位承诺以上填报内容及所附材料真实、准确、完整，如有不实，愿承担相应责任。"
    "请打印本申报表，加盖单位公章、由法定代表人签字后，扫描回传至年检助手。"
)
STAMP_CELLS = ("单位（盖章）", "法定代表人（签字）")
# Room to write a date by hand: wide gaps before 年, 月 and 日.
# (No-break spaces: a paragraph collapses ordinary and ideographic ones.)
STAMP_DATE = "日期：" + "\u00a0" * 14 + "年" + "\u00a0" * 8 + "月" + "\u00a0" * 8 + "日"
PROJECT_NOTE = "金额单位：万元。服务费合计 = 前六项费用之和；合同金额 = 服务费合计 + 后四项。"
PROJECT_NOTE = "金额单位：万元。服务费合计 = 前六项费用之和；合同金额 = 服务费合计 + 后四项。"
PROJECT_LIST_HEAD = (
    "序号",
    "项目名称",
    "建设单位（甲方）",
    "合同签订日期",
    "验收日期",
    "合同金额（万元）",
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
            "heading",
            fontName=font,
            fontSize=12,
            leading=18,
            spaceBefore=8,
            spaceAfter=4,
            keepWithNext=1,  # a heading never ends a page without its table
        )
        self.cell = ParagraphStyle("cell", fontName=font, fontSize=8.5, leading=11, wordWrap="CJK")
        self.head = ParagraphStyle("head", parent=self.cell, alignment=TA_CENTER)
        self.small = ParagraphStyle("small", fontName=font, fontSize=8, leading=11, wordWrap="CJK")
        # The project table has seventeen columns: smaller type, figures right-aligned.
        self.dense = ParagraphStyle("dense", fontName=font, fontSize=7, leading=9, wordWrap="CJK")
        self.dense_head = ParagraphStyle("dense_head", parent=self.dense, alignment=TA_CENTER)
        self.stamp = ParagraphStyle("stamp", fontName=font, fontSize=10.5, leading=14)


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
        # Figures never wrap: drawn as plain right-aligned strings, several times cheaper to
        # lay out than paragraphs (a 200-project form has some 3,000 of them).
        cells = [
            [
                str(c)
                if r >= head and isinstance(c, _Figure)
                else self.p(c, head_style if r < head else cell_style)
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
            ("ALIGN", (0, head), (-1, -1), "RIGHT"),  # only the plain strings: the figures
            ("FONT", (0, head), (-1, -1), cell_style.fontName, cell_style.fontSize),
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

    def shown(self, key: Key) -> str:
        """An answer as printed: empty (skipped or not given) is a dash, a file its name only
        (the size is the chat's business), amounts and counts right-aligned figures."""
        value = self.view.filing.get(key)
        if value is None or value == SKIPPED:
            return EMPTY
        if isinstance(value, FileRef):
            return strip_invisible(value.name)
        return self.view.display(key)

    def figure(self, key: Key) -> str:
        """A figure of a table whose header names the unit: "1,234.56", right-aligned."""
        value = self.view.filing.get(key)
        if isinstance(value, Decimal):
            return _money(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return _Figure(str(value))
        return self.shown(key)

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
                (self.view.label(entry), self.shown(entry))
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
        unit = next((f.unit for f in fields if f.unit), "")
        head = [f"项目（{unit}）" if unit else "项目", *(f"{y}年" for y in years)]
        rows = [[f.label, *(self.figure(Key(f.id, "", y)) for y in years)] for f in fields]
        width = 110 * mm / max(len(years), 1)
        return self.table([head, *rows], [70 * mm, *([width] * len(years))])

    def records(self, group: GroupSpec) -> list[Any]:
        ids = self.view.records(group.id)
        fields = [f for f in group.fields if self.view.applies(f)]
        if not ids:
            return [self.p(f"{group.noun}：无")]
        head = ["序号", *(f.label for f in fields)]
        rows = [
            [str(i), *(self.shown(Key(f.id, rid)) for f in fields)] for i, rid in enumerate(ids, 1)
        ]
        first = 10 * mm
        width = 170 * mm / max(len(fields), 1)
        return [self.table([head, *rows], [first, *([width] * len(fields))])]

    def projects(self, heading: Paragraph) -> list[Any]:
        """Two portrait tables: what each project is, then its amounts (twelve figures wide),
        so the form keeps one orientation and never leaves a page nearly empty."""
        v = self.view
        out: list[Any] = [heading]
        ids = totals.project_records(v)
        has = Key("projects.has_projects")
        out.append(self.p(f"{v.label(has)}：{self.shown(has)}"))
        if ids:
            out.append(self.project_list(ids))
            out.append(Spacer(1, 2 * mm))
            out.append(self.project_amounts(ids))
            out.append(self.p(PROJECT_NOTE, self.s.small))
        sales = Key("projects.self_developed_sales")
        out.append(Spacer(1, 2 * mm))
        out.append(self.p(f"{v.label(sales)}：{self.shown(sales)}"))
        return out

    def project_list(self, ids: Sequence[str]) -> Table:
        v = self.view
        head = PROJECT_LIST_HEAD
        rows: list[list[object]] = []
        for i, rid in enumerate(ids, 1):
            merged = "（合并填报）" if v.get("project.merged", rid) is True else ""
            rows.append(
                [
                    str(i),
                    f"{self.shown(Key('project.name', rid))}{merged}",
                    self.shown(Key("project.client", rid)),
                    self.shown(Key("project.contract_date", rid)),
                    self.shown(Key("project.acceptance_date", rid)),
                    _money(totals.contract_amount(v, rid)),
                ]
            )
        col = totals.column_totals(v)
        rows.append(["合计", f"{len(ids)} 个项目", "", "", "", _money(col["contract_amount"])])
        widths = [12 * mm, 52 * mm, 40 * mm, 24 * mm, 24 * mm, 28 * mm]
        return self.table([head, *rows], widths)

    def project_amounts(self, ids: Sequence[str]) -> Table:
        v = self.view
        head = [
            "序号",
            *(v.spec.field(f).label for f in totals.SERVICE_FEES),
            "服务费合计",
            *(v.spec.field(f).label for f in totals.OTHER_COSTS),
            "合同金额",
        ]
        rows: list[list[object]] = []
        for i, rid in enumerate(ids, 1):
            rows.append(
                [
                    str(i),
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
                *(_money(col[f]) for f in totals.SERVICE_FEES),
                _money(col["service_total"]),
                *(_money(col[f]) for f in totals.OTHER_COSTS),
                _money(col["contract_amount"]),
            ]
        )
        figures = 1 + len(totals.SERVICE_FEES) + len(totals.OTHER_COSTS) + 1
        first = 9 * mm
        widths = [first] + [(180 * mm - first) / figures] * figures
        return self.table([head, *rows], widths, dense=True)

    def completion(self) -> list[Any]:
        rows = [("年度", "完成项目数", "合同总值（万元）", "服务费总值（万元）")]
        for row in totals.completion_rows(self.view):
            mark = "（自动）" if row.computed else ""
            rows.append(
                (
                    f"{row.year}{mark}",
                    _Figure(str(row.count)),
                    _money(row.contract),
                    _money(row.service),
                )
            )
        rows.append(("三年合计", "", _money(totals.three_year_total(self.view)), ""))
        return [self.table(rows, [40 * mm, 35 * mm, 52 * mm, 53 * mm])]

    def indicators(self) -> list[Any]:
        grade = self.view.grade
        rows: list[Sequence[object]] = [INDICATOR_HEAD]
        for result in evaluate_all(self.view):
            value = _money(result.value) if not isinstance(result.value, int) else str(result.value)
            need = "无要求" if result.threshold is None else f"≥ {result.threshold}"
            verdict = EMPTY if result.met is None else ("达到" if result.met else "低于（仅提示）")
            rows.append((result.spec.label, f"{value} {result.spec.unit}", need, verdict))
        title = INDICATORS_TITLE.format(grade=grade.value if grade else "")
        table = self.table(rows, [60 * mm, 45 * mm, 40 * mm, 35 * mm])
        return [KeepTogether([self.p(title, self.s.heading), table])]

    def stamp(self) -> list[Any]:
        """Room to stamp and sign, and a date line with room to write on."""
        cells = [
            [self.p(a, self.s.stamp) for a in STAMP_CELLS],
            [self.p(STAMP_DATE, self.s.stamp), self.p(STAMP_DATE, self.s.stamp)],
        ]
        table = Table(cells, colWidths=[90 * mm, 90 * mm], rowHeights=[45 * mm, 16 * mm])
        table.setStyle(
            TableStyle(
                [
                    ("BOX", (0, 0), (-1, -1), 0.8, colors.black),
                    ("INNERGRID", (0, 0), (-1, -1), 0.5, colors.black),
                    ("VALIGN", (0, 0), (-1, 0), "TOP"),
                    ("VALIGN", (0, 1), (-1, 1), "MIDDLE"),
                    ("TOPPADDING", (0, 0), (-1, 0), 4),
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


def _pdf_date(when: datetime) -> str:
    """A PDF date string (D:YYYYMMDDHHmmSS+08'00'), in Beijing time."""
    local = when.astimezone(SHANGHAI)
    offset = local.utcoffset() or timedelta(0)
    hours, minutes = divmod(int(offset.total_seconds()) // 60, 60)
    return f"D:{local:%Y%m%d%H%M%S}{hours:+03d}'{minutes:02d}'"


def _numbered_canvas(header: str, font: str, created: datetime) -> type[Canvas]:
    """A canvas that knows the page count before drawing headers and footers, and dates the
    document when it was made (reportlab's invariant mode would say 2000-01-01)."""
    stamp = _pdf_date(created)

    class NumberedCanvas(Canvas):  # type: ignore[misc]  # reportlab ships no types
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []
            self._doc.setDateFormatter(lambda *_parts: stamp)
            self.setCreator(CREATOR)

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
        title=f"{TITLE.format(year=view.year)}（{name}）" if name else TITLE.format(year=view.year),
        author=name or CREATOR,
        creator=CREATOR,
        subject=f"第 {version} 版",
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=16 * mm,
        bottomMargin=14 * mm,
        invariant=True,
    )
    portrait_frame = Frame(doc.leftMargin, doc.bottomMargin, doc.width, doc.height, id="p")
    doc.addPageTemplates([PageTemplate("portrait", [portrait_frame], pagesize=A4)])
    builder = DeclarationBuilder(view, version, fonts, generated_at)
    header = HEADER.format(name=name, version=version)
    doc.build(builder.story(), canvasmaker=_numbered_canvas(header, fonts.name, generated_at))
    return out.getvalue()
