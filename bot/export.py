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
filings, which belong to no enterprise, are left out. This module reads them from the database
and writes the result; `bot.export_tables` builds the tables (pure) and `bot.export_formats`
renders them as XLSX and CSV.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.export_formats import csv_files, csv_zip, xlsx_bytes
from bot.export_tables import ExportedFiling, Table, build_tables
from dialogs.form import form_of_year
from dialogs.spec import FormSpec
from dialogs.workdays import SHANGHAI
from storage.enterprises import EnterpriseRepository
from storage.models import FilingRow
from storage.repository import FilingRepository
from storage.statuses import SUBMITTED
from storage.workflow import WorkflowRepository

WORKBOOK_TITLE = "{year} 年度计算机信息系统集成（信息工程）企业年检数据"
FILENAME = "{year}年度年检数据-{stamp}.xlsx"
CAPTION = "{year} 年度年检数据：{count} 家企业的申报（导出时间 {when}，北京时间）"


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


CSV_SUFFIX = "CSV 导出是每个工作表一个文件：请用 --out 目录 --format csv，或 --out 文件.zip。"
