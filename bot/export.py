"""The association's export: every enterprise's filing of one inspection year, as data.

Two renderings of the same tables:

- **XLSX** for people: one sheet per section (a row per enterprise, per enterprise and year
  for the business figures and the completion table, per record for certificate holders,
  projects and innovation items), the computed totals, the grade indicators, each filing's
  status and its review history. Row 1 holds the Chinese headers, row 2 the stable column ids
  (field ids where the column is a field), data starts on row 3; 万元 amounts are numbers
  formatted ``#,##0.00``; computed columns have grey headers, like the grey cells of the web
  form; the sheet ``字段说明`` lists every column.
- **CSV** for machines: one file per table named by a stable id (``records_projects.csv``),
  UTF-8 with BOM so Excel opens it too, the column ids as the only header row, choices as
  their stable values, yes/no as ``true``/``false``, amounts as ``1234.50``, dates and times
  in ISO 8601 (+08:00). ``legend.csv`` maps ids to the Chinese headers. Written as a zip (one
  file to send) or into a directory.

Values are the filings' current answers (after submission they are frozen anyway); trial
filings, which belong to no enterprise, are left out.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.privacy import mask_mobile
from dialogs import catalog, totals
from dialogs import texts_review as tr
from dialogs.form import form_of_year
from dialogs.indicators import evaluate
from dialogs.model import FileRef, Filing, Key, Source, Value
from dialogs.parsing import Option
from dialogs.spec import FieldSpec, FormSpec, GroupSpec, Kind, SectionSpec
from dialogs.view import SKIPPED, Status, View
from dialogs.workdays import SHANGHAI
from storage.accounts import (
    APPROVED,
    SUBMITTED,
    Enterprise,
    EnterpriseRepository,
    Transition,
    WorkflowRepository,
)
from storage.models import FilingRow
from storage.repository import FilingRepository

if TYPE_CHECKING:
    from bot.app import App

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ZIP_TYPE = "application/zip"
AMOUNT_FORMAT = "#,##0.00"
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"

# --- Chinese texts of the export (headers of columns that are not form fields) ---------------

WORKBOOK_TITLE = "{year} 年度计算机信息系统集成（信息工程）企业年检数据"
FILENAME = "{year}年度年检数据-{stamp}.xlsx"
CAPTION = "{year} 年度年检数据：{count} 家企业的申报（导出时间 {when}，北京时间）"
COL_FILING = "申报编号"
COL_STATUS = "状态"
COL_RECORD_NO = "序号"
COL_RECORD_ID = "记录编号"
COL_YEAR = "年度"
COL_VERSION = "已提交版本"
COL_PROGRESS = "填报进度（%）"
COL_INCOMPLETE = "未完成的部分"
COL_SUBMITTED_AT = "最近提交时间（北京时间）"
COL_DECIDED_AT = "最近审核时间（北京时间）"
COL_COMPLETED_AT = "完成时间（北京时间）"
COL_REVIEW_NOTE = "最近驳回原因"
COL_REVIEW_SECTIONS = "驳回要求修改的部分"
COL_SOURCE = "数据来源"
COL_SERVICE_TOTAL = "软件和信息技术服务费合计（万元）"
COL_CONTRACT_AMOUNT = "合同金额（万元）"
COL_FILE_REQUIRED = "必须上传合同文件"
COL_CERT_CATEGORY = "证书类别"
COL_CERT_COUNTED = "计入持证人数"
COL_FILES_UPLOADED = "已上传项目合同文件（个）"
COL_FILES_REQUIRED = "必须上传的项目合同文件（个）"
COL_PEOPLE = "持证人员（不重复计人）（人）"
COL_CERTIFICATES = "有效证书（本）"
COL_PROJECTS = "项目数（个）"
COL_COLUMN_TOTAL = "{label}合计（万元）"
COL_SERVICE_SUM = "软件和信息技术服务费合计（万元）"
COL_CONTRACT_SUM = "合同金额合计（万元）"
COL_THREE_YEAR = "三年系统集成项目总值（万元）"
COL_INNOVATIONS = "创新成果（项）"
COL_INDICATOR = "指标"
COL_VALUE = "本单位"
COL_UNIT = "单位"
COL_THRESHOLD = "参考指标（≥）"
COL_RESULT = "结论"
COL_FROM = "原状态"
COL_TO = "新状态"
COL_AT = "时间（北京时间）"
COL_ACTOR = "操作人"
COL_CHANNEL = "渠道"
COL_REASON = "原因"
COL_SECTIONS = "要求修改的部分"
LEGEND_HEAD = ("工作表", "CSV 文件", "列", "列 ID", "表头", "类型", "单位", "可选值（值=显示）")
SOURCES = (
    Option("computed", "由项目汇总自动计算"),
    Option("roster", "协会导入"),
    Option("user", "企业填报"),
)
RESULTS = (
    Option("met", "达到"),
    Option("below", "低于（仅提示）"),
    Option("none", "该等级无要求"),
    Option("unknown", "资质等级未知"),
)
STATUSES = tuple(Option(value, label) for value, label in tr.STATUS.items())
TITLE_STATUS = "申报状态"
TITLE_DETAILS = "{number} {noun}明细"
TITLE_TOTALS = "计算合计"
TITLE_INDICATORS = "参考指标"
TITLE_HISTORY = "审核记录"
TITLE_LEGEND = "字段说明"

# --- the tables ------------------------------------------------------------------------------

Cell = Decimal | int | bool | date | datetime | str | tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class Column:
    id: str  # stable: a field id where the column is a field
    label: str  # the Chinese header
    kind: str = "text"  # a form Kind, or "computed" / "datetime" / "sections" for the legend
    unit: str = ""
    # Choice columns hold the stable value; the workbook shows the label.
    options: tuple[Option, ...] = ()
    computed: bool = False  # derived, never typed (grey header)


@dataclass(frozen=True, slots=True)
class Table:
    id: str  # the CSV file's name
    title: str  # the sheet's name
    columns: tuple[Column, ...]
    rows: list[tuple[Cell, ...]] = field(default_factory=list)
    frozen: int = 3  # leading columns kept in view (申报编号 and 单位名称)


@dataclass(frozen=True, slots=True)
class ExportedFiling:
    filing: Filing  # with the workflow's status and version
    enterprise: Enterprise
    history: tuple[Transition, ...]


def collect(session: Session, year: int) -> list[ExportedFiling]:
    """Every enterprise's filing of `year` (all statuses), ordered by enterprise name."""
    rows = session.execute(
        select(FilingRow.id, FilingRow.enterprise_id).where(
            FilingRow.year == year, FilingRow.enterprise_id.is_not(None)
        )
    ).all()
    enterprises = EnterpriseRepository(session)
    workflow = WorkflowRepository(session)
    filings = FilingRepository(session)
    found = []
    for filing_id, enterprise_id in rows:
        enterprise = enterprises.get(enterprise_id) if enterprise_id is not None else None
        if enterprise is None:
            continue
        status, version = workflow.status(filing_id)
        history = tuple(workflow.history(filing_id))
        submitted = [m.at for m in history if m.to_status == SUBMITTED]
        filing = replace(
            filings.load(filing_id),
            status=status,
            version=version,
            submitted_at=submitted[-1] if submitted else None,
        )
        found.append(ExportedFiling(filing, enterprise, history))
    return sorted(found, key=lambda e: (e.enterprise.name, e.filing.id))


def build_tables(
    form: FormSpec, filings: Sequence[ExportedFiling], *, mask_mobiles: bool = False
) -> list[Table]:
    """The export's tables in sheet order, the legend last."""
    items = [(item, View(form, item.filing)) for item in filings]
    builder = _Builder(form, mask_mobiles)
    tables = [builder.status(items)]
    for section in form.sections:
        tables.extend(builder.section(section, items))
    tables += [builder.totals(items), builder.indicators(items), builder.history(items)]
    tables.append(legend(tables))
    return tables


# --- building --------------------------------------------------------------------------------

Row = tuple[Cell, ...]
_Item = tuple[ExportedFiling, View]


def _key_columns(form: FormSpec) -> tuple[Column, ...]:
    return (
        Column("filing.id", COL_FILING, "count"),
        Column("enterprise.name", form.field("enterprise.name").label),
        Column("enterprise.credit_code", form.field("enterprise.credit_code").label),
        Column("filing.status", COL_STATUS, "choice", options=STATUSES),
    )


def _key_cells(item: ExportedFiling) -> Row:
    return (
        item.filing.id,
        item.enterprise.name,
        item.enterprise.credit_code,
        item.filing.status,
    )


def field_column(spec: FieldSpec) -> Column:
    label = f"{spec.label}（{spec.unit}）" if spec.unit else spec.label
    options = spec.options if spec.kind is Kind.CHOICE else ()
    return Column(spec.id, label, spec.kind.value, spec.unit, options)


def _shanghai(moment: datetime) -> datetime:
    return moment.astimezone(SHANGHAI)


@dataclass(frozen=True, slots=True)
class _Computed:
    """A value derived per record, shown next to the answers it comes from."""

    after: str  # the field id it follows
    column: Column
    value: Callable[[View, str], Cell]


def _required_file(view: View, rid: str) -> Cell:
    spec = view.spec.field("attach.project_file")
    return view.required(spec, Key(spec.id, rid))


def _source(filing: Filing, scalars: Sequence[FieldSpec], year: int) -> str | None:
    """Who gave a typed year of the completion table: the association (roster) or the
    enterprise; None when nothing is given."""
    answers = [filing.answers.get(Key(s.id, "", year)) for s in scalars]
    given = [a.source for a in answers if a is not None]
    if not given:
        return None
    return Source.ROSTER.value if Source.ROSTER in given else Source.USER.value


def _category(view: View, rid: str) -> Cell:
    cert = view.get("holder.certificate", rid)
    found = catalog.BY_ID.get(cert) if isinstance(cert, str) else None
    return f"{found.category} {found.level}" if found is not None else None


_RECORD_COMPUTED: dict[str, tuple[_Computed, ...]] = {
    totals.PROJECTS: (
        _Computed(
            "project.fee_operation",
            Column("project.service_total", COL_SERVICE_TOTAL, "computed", "万元", computed=True),
            totals.service_total,
        ),
        _Computed(
            "project.other",
            Column(
                "project.contract_amount", COL_CONTRACT_AMOUNT, "computed", "万元", computed=True
            ),
            totals.contract_amount,
        ),
    ),
    totals.HOLDERS: (
        _Computed(
            "holder.certificate",
            Column("holder.category", COL_CERT_CATEGORY, "computed", computed=True),
            _category,
        ),
        _Computed(
            "holder.valid_until",
            Column("holder.counted", COL_CERT_COUNTED, "computed", computed=True),
            totals.certificate_valid,
        ),
    ),
}


class _Builder:
    def __init__(self, form: FormSpec, mask_mobiles: bool) -> None:
        self.form = form
        self.mask_mobiles = mask_mobiles
        self.keys = _key_columns(form)
        self.sections = tuple(Option(s.id, s.heading) for s in form.sections)

    def cell(self, spec: FieldSpec, value: Value | None) -> Cell:
        if value is None or value == SKIPPED:
            return None
        if isinstance(value, FileRef):
            return value.name
        if spec.kind is Kind.MOBILE and self.mask_mobiles and isinstance(value, str):
            return mask_mobile(value)
        return value

    def answer(self, view: View, spec: FieldSpec, record: str = "", year: int = 0) -> Cell:
        if not view.applies(spec):
            return None
        return self.cell(spec, view.get(spec.id, record, year))

    # --- status ---

    def status(self, items: Sequence[_Item]) -> Table:
        columns = (
            *self.keys,
            field_column(self.form.field("enterprise.grade")),
            Column("filing.version", COL_VERSION, "count"),
            Column("filing.progress", COL_PROGRESS, "computed", "%", computed=True),
            Column("filing.incomplete", COL_INCOMPLETE, "sections", options=self.sections),
            Column("filing.submitted_at", COL_SUBMITTED_AT, "datetime"),
            Column("filing.decided_at", COL_DECIDED_AT, "datetime"),
            Column("filing.completed_at", COL_COMPLETED_AT, "datetime"),
            Column("filing.review_note", COL_REVIEW_NOTE),
            Column(
                "filing.review_sections", COL_REVIEW_SECTIONS, "sections", options=self.sections
            ),
        )
        rows = []
        for item, view in items:
            incomplete = tuple(
                state.section.id
                for state in view.iter_states()
                if view.applies_section(state.section) and state.status is not Status.DONE
            )
            decided = [m for m in item.history if m.to_status in (APPROVED, "rejected")]
            done = [m for m in item.history if m.to_status == "complete"]
            rejected = [m for m in item.history if m.to_status == "rejected"]
            rows.append(
                (
                    *_key_cells(item),
                    self.answer(view, self.form.field("enterprise.grade")),
                    item.filing.version,
                    view.progress(),
                    incomplete,
                    _shanghai(item.filing.submitted_at) if item.filing.submitted_at else None,
                    _shanghai(decided[-1].at) if decided else None,
                    _shanghai(done[-1].at) if done else None,
                    (rejected[-1].reason or None) if rejected else None,
                    tuple(rejected[-1].sections or ()) if rejected else None,
                )
            )
        return Table("status", TITLE_STATUS, columns, rows)

    # --- sections ---

    def section(self, section: SectionSpec, items: Sequence[_Item]) -> list[Table]:
        scalars = [
            item
            for item in section.items
            if isinstance(item, FieldSpec)
            and not item.for_records
            and item.id not in ("enterprise.name", "enterprise.credit_code")
        ]
        tables = []
        if section.id == "completion":
            tables.append(self.completion(section, scalars, items))
        elif section.years is not None:
            tables.append(self.per_year(section, scalars, items))
        elif scalars or section.id == "attachments":
            tables.append(self.per_enterprise(section, scalars, items))
        for group in section.groups():
            title = (
                TITLE_DETAILS.format(number=section.number, noun=group.noun).strip()
                if scalars
                else section.heading
            )
            tables.append(self.records(group, title, items))
        return tables

    def per_enterprise(
        self, section: SectionSpec, scalars: Sequence[FieldSpec], items: Sequence[_Item]
    ) -> Table:
        columns = [*self.keys, *(field_column(s) for s in scalars)]
        per_record = [
            s
            for s in self.form.all_fields()
            if s.for_records and self.form.section_of(s.id) is section
        ]
        for spec in per_record:
            columns.append(
                Column(f"{spec.id}.uploaded", COL_FILES_UPLOADED, "computed", "个", (), True)
            )
            columns.append(
                Column(f"{spec.id}.required", COL_FILES_REQUIRED, "computed", "个", (), True)
            )
        rows = []
        for item, view in items:
            row: list[Cell] = [*_key_cells(item), *(self.answer(view, s) for s in scalars)]
            for spec in per_record:
                keys = view.field_keys(spec) if view.applies(spec) else []
                row.append(sum(1 for k in keys if isinstance(view.filing.get(k), FileRef)))
                row.append(sum(1 for k in keys if view.required(spec, k)))
            rows.append(tuple(row))
        return Table(f"section_{section.id}", section.heading, tuple(columns), rows)

    def per_year(
        self, section: SectionSpec, scalars: Sequence[FieldSpec], items: Sequence[_Item]
    ) -> Table:
        columns = (
            *self.keys,
            Column("year", COL_YEAR, "year"),
            *(field_column(s) for s in scalars),
        )
        rows = []
        for item, view in items:
            for year in view.section_years(section):
                cells = (self.answer(view, s, year=year) for s in scalars)
                rows.append((*_key_cells(item), year, *cells))
        return Table(f"section_{section.id}", section.heading, columns, rows)

    def completion(
        self, section: SectionSpec, scalars: Sequence[FieldSpec], items: Sequence[_Item]
    ) -> Table:
        """All three years of the table: Y from the project summary, earlier years typed or
        imported, with where each row comes from."""
        columns = (
            *self.keys,
            Column("year", COL_YEAR, "year"),
            *(field_column(s) for s in scalars),
            Column("completion.source", COL_SOURCE, "choice", options=SOURCES, computed=True),
        )
        rows = []
        for item, view in items:
            for row in totals.completion_rows(view):
                source = "computed" if row.computed else _source(item.filing, scalars, row.year)
                if source is None:  # not given (yet) for this year
                    rows.append((*_key_cells(item), row.year, *(None,) * len(scalars), None))
                    continue
                values: dict[str, Cell] = {
                    "completion.count": row.count,
                    "completion.contract": row.contract,
                    "completion.service": row.service,
                }
                cells = (values.get(s.id) for s in scalars)
                rows.append((*_key_cells(item), row.year, *cells, source))
        return Table(f"section_{section.id}", section.heading, columns, rows)

    def records(self, group: GroupSpec, title: str, items: Sequence[_Item]) -> Table:
        computed = _RECORD_COMPUTED.get(group.id, ())
        files = [s for s in self.form.all_fields() if s.for_records == group.id]
        plan: list[tuple[Column, Callable[[View, str], Cell]]] = []
        for spec in group.fields:
            plan.append((field_column(spec), self._getter(spec)))
            plan.extend((c.column, c.value) for c in computed if c.after == spec.id)
        for spec in files:
            plan.append((field_column(spec), self._getter(spec)))
            if spec.id == "attach.project_file":
                column = Column(f"{spec.id}.required", COL_FILE_REQUIRED, "computed", computed=True)
                plan.append((column, _required_file))
        columns = (
            *self.keys,
            Column("record.no", COL_RECORD_NO, "count"),
            Column("record.id", COL_RECORD_ID),
            *(c for c, _ in plan),
        )
        rows = []
        for item, view in items:
            ids = view.records(group.id) if view.applies(group) else ()
            for number, rid in enumerate(ids, 1):
                cells = (get(view, rid) for _, get in plan)
                rows.append((*_key_cells(item), number, rid, *cells))
        return Table(f"records_{group.id}", title, columns, rows, frozen=3)

    def _getter(self, spec: FieldSpec) -> Callable[[View, str], Cell]:
        return lambda view, rid: self.answer(view, spec, rid)

    # --- computed ---

    def totals(self, items: Sequence[_Item]) -> Table:
        fees = (*totals.SERVICE_FEES, *totals.OTHER_COSTS)
        columns = (
            *self.keys,
            Column("total.holders.people", COL_PEOPLE, "computed", "人", computed=True),
            Column("total.holders.certificates", COL_CERTIFICATES, "computed", "本", computed=True),
            Column("total.projects.count", COL_PROJECTS, "computed", "个", computed=True),
            *(
                Column(
                    f"total.{fid}",
                    COL_COLUMN_TOTAL.format(label=self.form.field(fid).label),
                    "computed",
                    "万元",
                    computed=True,
                )
                for fid in fees
            ),
            Column(
                "total.projects.service_total", COL_SERVICE_SUM, "computed", "万元", computed=True
            ),
            Column(
                "total.projects.contract_amount",
                COL_CONTRACT_SUM,
                "computed",
                "万元",
                computed=True,
            ),
            Column(
                "total.completion.three_year", COL_THREE_YEAR, "computed", "万元", computed=True
            ),
            Column("total.innovations.count", COL_INNOVATIONS, "computed", "项", computed=True),
        )
        rows = []
        for item, view in items:
            col = totals.column_totals(view)
            innovations = (
                len(view.records(totals.INNOVATIONS))
                if view.get("innovation.has_items") is True
                else 0
            )
            rows.append(
                (
                    *_key_cells(item),
                    totals.certified_people(view),
                    totals.certificate_count(view),
                    len(totals.project_records(view)),
                    *(col[fid] for fid in fees),
                    col["service_total"],
                    col["contract_amount"],
                    totals.three_year_total(view),
                    innovations,
                )
            )
        return Table("totals", TITLE_TOTALS, columns, rows)

    def indicators(self, items: Sequence[_Item]) -> Table:
        options = tuple(Option(i.id, i.label) for i in self.form.indicators)
        columns = (
            *self.keys,
            field_column(self.form.field("enterprise.grade")),
            Column("indicator", COL_INDICATOR, "choice", options=options),
            Column("indicator.value", COL_VALUE, "computed", computed=True),
            Column("indicator.unit", COL_UNIT),
            Column("indicator.threshold", COL_THRESHOLD, "computed", computed=True),
            Column("indicator.result", COL_RESULT, "choice", options=RESULTS, computed=True),
        )
        rows = []
        for item, view in items:
            for spec in self.form.indicators:
                result = evaluate(view, spec)
                if result.met is not None:
                    verdict = "met" if result.met else "below"
                else:
                    verdict = "unknown" if view.grade is None else "none"
                rows.append(
                    (
                        *_key_cells(item),
                        view.grade.value if view.grade is not None else None,
                        spec.id,
                        result.value,
                        spec.unit,
                        result.threshold,
                        verdict,
                    )
                )
        return Table("indicators", TITLE_INDICATORS, columns, rows)

    def history(self, items: Sequence[_Item]) -> Table:
        columns = (
            *self.keys,
            Column("transition.version", COL_VERSION, "count"),
            Column("transition.from", COL_FROM, "choice", options=STATUSES),
            Column("transition.to", COL_TO, "choice", options=STATUSES),
            Column("transition.at", COL_AT, "datetime"),
            Column("transition.actor", COL_ACTOR),
            Column("transition.channel", COL_CHANNEL),
            Column("transition.reason", COL_REASON),
            Column("transition.sections", COL_SECTIONS, "sections", options=self.sections),
        )
        rows = [
            (
                *_key_cells(item),
                move.version,
                move.from_status,
                move.to_status,
                _shanghai(move.at),
                move.actor,
                move.channel,
                move.reason,
                move.sections,
            )
            for item, _view in items
            for move in item.history
        ]
        return Table("history", TITLE_HISTORY, columns, rows)


def legend(tables: Iterable[Table]) -> Table:
    """Every column of every table: where it is, its id, header, type, unit and options."""
    columns = tuple(
        Column(cid, label)
        for cid, label in zip(
            ("sheet", "csv", "column", "id", "label", "kind", "unit", "options"),
            LEGEND_HEAD,
            strict=True,
        )
    )
    rows: list[Row] = []
    for table in tables:
        for index, column in enumerate(table.columns, 1):
            options = "; ".join(f"{o.value}={o.label}" for o in column.options)
            rows.append(
                (
                    table.title,
                    f"{table.id}.csv",
                    get_column_letter(index),
                    column.id,
                    column.label,
                    column.kind,
                    column.unit or None,
                    options or None,
                )
            )
    return Table("legend", TITLE_LEGEND, columns, rows, frozen=0)


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


# --- the whole export --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Export:
    year: int
    tables: list[Table]
    count: int  # filings
    generated_at: datetime

    @property
    def title(self) -> str:
        return WORKBOOK_TITLE.format(year=self.year)

    def xlsx(self) -> bytes:
        return xlsx_bytes(self.tables, title=self.title, created=self.generated_at)

    @property
    def filename(self) -> str:
        stamp = self.generated_at.astimezone(SHANGHAI).strftime("%Y%m%d-%H%M")
        return FILENAME.format(year=self.year, stamp=stamp)

    @property
    def caption(self) -> str:
        when = self.generated_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
        return CAPTION.format(year=self.year, count=self.count, when=when)


def export_year(
    session: Session, form: FormSpec, now: datetime, *, mask_mobiles: bool = False
) -> Export:
    """The export of the form's inspection year from the database."""
    filings = collect(session, form.cycle.year)
    tables = build_tables(form, filings, mask_mobiles=mask_mobiles)
    return Export(form.cycle.year, tables, len(filings), now)


def write(export: Export, out: Path, fmt: str | None = None) -> list[Path]:
    """Writes the export: XLSX (`.xlsx`), a zip of CSVs (`.zip`), or with `fmt="csv"` and any
    other name a directory of CSVs. Returns the files written."""
    fmt = fmt or ("csv" if out.suffix.lower() in (".zip", ".csv") else "xlsx")
    if out.suffix.lower() == ".csv":
        raise ValueError(CSV_SUFFIX)
    if fmt == "xlsx":
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(export.xlsx())
        return [out]
    if out.suffix.lower() == ".zip":
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(csv_zip(export.tables))
        return [out]
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in csv_files(export.tables).items():
        (out / name).write_bytes(data)
        written.append(out / name)
    return written


def form_for(form: FormSpec, year: int) -> FormSpec:
    """The form of another inspection year (labels, windows and checks follow the year)."""
    return form_of_year(form, year)


def run_export(
    app: App, year: int | None, out: Path | None, fmt: str | None
) -> tuple[list[str], bool]:
    """`nianjian export`: the association's own copy, mobile numbers in full."""
    form = form_for(app.form, year or app.form.cycle.year)
    with app.db.session() as session:
        export = export_year(session, form, app.service.clock.now())
    target = out or Path(export.filename if fmt != "csv" else export.filename.removesuffix(".xlsx"))
    try:
        written = write(export, target, fmt)
    except ValueError as error:
        return [f"✗ {error}"], False
    lines = [WRITTEN.format(year=export.year, count=export.count, path=target)]
    if len(written) > 1:
        lines.extend(f"  {path.name}" for path in written)
    return lines, True


CSV_SUFFIX = "CSV 导出是每个工作表一个文件：请用 --out 目录 --format csv，或 --out 文件.zip。"
WRITTEN = "已导出 {year} 年度 {count} 家企业的申报：{path}"
