"""A filing as the declaration form shows it, as tables for the console's filing page: the same
sections, rows and computed totals as bot/declaration.py draws in the PDF, with each stored
file linked next to the figures it supports (a project's contract file in its row, the
statements beside the business figures)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.privacy import mask_mobile
from dialogs import totals
from dialogs.indicators import evaluate_all
from dialogs.model import FileRef, Key
from dialogs.spec import GroupSpec, Kind, SectionSpec
from dialogs.view import View


@dataclass(frozen=True, slots=True)
class Cell:
    text: str
    file: int = 0  # 1-based number of the attachment shown here; 0: none
    number: bool = False


@dataclass
class Block:
    title: str
    head: tuple[str, ...]
    rows: list[tuple[Cell, ...]] = field(default_factory=list)


@dataclass
class Section:
    id: str
    heading: str
    complete: bool
    blocks: list[Block] = field(default_factory=list)
    files: list[tuple[int, str, FileRef]] = field(default_factory=list)


def _money(value: object) -> str:
    try:
        return f"{value:,.2f}"
    except (TypeError, ValueError):
        return str(value)


class FilingPage:
    def __init__(self, view: View, attachments: Sequence[tuple[str, FileRef]]) -> None:
        self.view = view
        # Attachment numbers (as the file URLs use them) by the sha256 and name of the file.
        self.numbers = {(ref.sha256, ref.name): n for n, (_l, ref) in enumerate(attachments, 1)}
        self.attachments = attachments

    def number(self, value: object) -> int:
        if isinstance(value, FileRef):
            return self.numbers.get((value.sha256, value.name), 0)
        return 0

    def sections(self) -> list[Section]:
        out = []
        states = {s.section.id: s for s in self.view.iter_states()}
        for section in self.view.spec.sections:
            if not self.view.applies_section(section):
                continue
            state = states.get(section.id)
            done = state is not None and not state.missing and not state.problems
            page = Section(section.id, section.heading, done, self.blocks(section))
            page.files = self.files_of(section)
            out.append(page)
        return out

    def files_of(self, section: SectionSpec) -> list[tuple[int, str, FileRef]]:
        found = []
        for key in self.view.steps(section):
            value = self.view.filing.get(key)
            if isinstance(value, FileRef):
                found.append((self.number(value), self.view.label(key), value))
        return found

    def blocks(self, section: SectionSpec) -> list[Block]:
        v = self.view
        if section.id == "projects":
            return self.projects()
        if section.id == "completion":
            return [self.completion()]
        out: list[Block] = []
        years = v.section_years(section)
        if years:
            fields = [f for f in section.items if not isinstance(f, GroupSpec) and v.applies(f)]
            block = Block("", ("项目（万元）", *(f"{y}年" for y in years)))
            for f in fields:
                cells = [Cell(v.display(Key(f.id, "", y)), number=True) for y in years]
                block.rows.append((Cell(f.label), *cells))
            out.append(block)
        else:
            block = Block("", ("项目", "填报内容"))
            for entry in v.layout(section):
                if isinstance(entry, GroupSpec):
                    continue
                value = v.filing.get(entry)
                shown = v.display(entry)
                if v.spec.field(entry.field).kind is Kind.MOBILE:
                    shown = mask_mobile(shown)  # as everywhere reviewers look
                block.rows.append((Cell(v.label(entry)), Cell(shown, file=self.number(value))))
            if block.rows:
                out.append(block)
            for group in section.groups():
                if v.applies(group):
                    out.append(self.records(group))
        if section.totals is not None:
            computed = section.totals(v)
            if computed:
                block = Block("", ("自动计算", ""))
                block.rows.extend((Cell(str(a)), Cell(str(b), number=True)) for a, b in computed)
                out.append(block)
        return out

    def records(self, group: GroupSpec) -> Block:
        v = self.view
        fields = [f for f in group.fields if v.applies(f)]
        block = Block(group.noun, ("序号", *(f.label for f in fields)))
        for i, rid in enumerate(v.records(group.id), 1):
            cells = []
            for f in fields:
                value = v.filing.get(Key(f.id, rid))
                cells.append(Cell(v.display(Key(f.id, rid)), file=self.number(value)))
            block.rows.append((Cell(str(i)), *cells))
        return block

    def projects(self) -> list[Block]:
        v = self.view
        ids = totals.project_records(v)
        head = (
            "序号",
            "项目名称",
            "建设单位",
            "签订日期",
            "验收日期",
            "服务费合计",
            "合同金额",
            "合同/验收文件",
        )
        block = Block("系统集成项目（万元）", head)
        files = {rid: v.filing.get(Key("attach.project_file", rid)) for rid in ids}
        for i, rid in enumerate(ids, 1):
            merged = "（合并）" if v.get("project.merged", rid) is True else ""
            file = files.get(rid)
            block.rows.append(
                (
                    Cell(str(i)),
                    Cell(f"{v.get('project.name', rid) or ''}{merged}"),
                    Cell(str(v.get("project.client", rid) or "")),
                    Cell(v.display(Key("project.contract_date", rid))),
                    Cell(v.display(Key("project.acceptance_date", rid))),
                    Cell(_money(totals.service_total(v, rid)), number=True),
                    Cell(_money(totals.contract_amount(v, rid)), number=True),
                    Cell(file.name if isinstance(file, FileRef) else "—", file=self.number(file)),
                )
            )
        col = totals.column_totals(v)
        block.rows.append(
            (
                Cell("合计"),
                Cell(f"{len(ids)} 个项目"),
                Cell(""),
                Cell(""),
                Cell(""),
                Cell(_money(col["service_total"]), number=True),
                Cell(_money(col["contract_amount"]), number=True),
                Cell(""),
            )
        )
        fees = Block(
            "费用构成（万元）",
            ("序号", *(v.spec.field(f).label for f in (*totals.SERVICE_FEES, *totals.OTHER_COSTS))),
        )
        for i, rid in enumerate(ids, 1):
            fees.rows.append(
                (
                    Cell(str(i)),
                    *(
                        Cell(_money(v.num(f, rid)), number=True)
                        for f in (*totals.SERVICE_FEES, *totals.OTHER_COSTS)
                    ),
                )
            )
        sales = Key("projects.self_developed_sales")
        other = Block("", ("项目", "填报内容"))
        other.rows.append((Cell(v.label(sales)), Cell(v.display(sales), number=True)))
        return [block, fees, other] if ids else [other]

    def completion(self) -> Block:
        block = Block("", ("年度", "完成项目数", "合同总值（万元）", "服务费总值（万元）"))
        for row in totals.completion_rows(self.view):
            mark = "（自动）" if row.computed else ""
            block.rows.append(
                (
                    Cell(f"{row.year}{mark}"),
                    Cell(str(row.count), number=True),
                    Cell(_money(row.contract), number=True),
                    Cell(_money(row.service), number=True),
                )
            )
        total = _money(totals.three_year_total(self.view))
        block.rows.append((Cell("三年合计"), Cell(""), Cell(total, number=True), Cell("")))
        return block

    def indicators(self) -> list[tuple[str, str, str, bool | None]]:
        rows = []
        for result in evaluate_all(self.view):
            value = result.value
            shown = _money(value) if not isinstance(value, int) else str(value)
            need = "无要求" if result.threshold is None else f"≥ {result.threshold}"
            rows.append((result.spec.label, f"{shown} {result.spec.unit}", need, result.met))
        return rows
