"""The association's export: three enterprises' filings (one rejected and resubmitted, then
approved; one waiting for review; one draft) written as XLSX and CSV, read back and compared
with the database, on SQLite and PostgreSQL; the CLI; the reviewer's chat command."""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from openpyxl.worksheet.worksheet import Worksheet

from bot import cli
from bot.admin import import_roster
from bot.app import App, bootstrap
from bot.export import Export, export_year
from bot.export_formats import AMOUNT_FORMAT, XLSX_TYPE, csv_zip
from bot.settings import Settings
from dialogs.model import FileRef, Filing, Key, SetAnswer, Value
from dialogs.replies import Document, TextIn, reply_text
from dialogs.spec import FormSpec, Kind
from dialogs.texts_review import STATUS
from dialogs.view import View
from storage.db import Database
from storage.enterprises import EnterpriseRepository
from storage.repository import FilingRepository
from storage.statuses import APPROVED, SUBMITTED
from storage.workflow import WorkflowRepository, snapshot_of
from tests import filing_script as script
from tests.fakes import ENTERPRISE_A, ENTERPRISE_B, FrozenClock, fill_like_the_script, write_roster

CHANNEL, REVIEWER = "tg", "wang"
CODE_C = "91650102MA7C4KQX1H"
ENTERPRISE_C = ("新疆昆仑软件有限公司", CODE_C, "甲", "XJSI-2018-0007", 2018)
SHEETS = [
    "申报状态",
    "企业信息",
    "申报联系人",
    "1.1 人员情况",
    "1.2 管理人员证书",
    "2 经营情况",
    "3 系统集成项目汇总",
    "3 项目明细",
    "4 系统集成项目完成情况",
    "5 企业技术创新",
    "5 创新成果明细",
    "6 附件",
    "计算合计",
    "参考指标",
    "审核记录",
    "字段说明",
]


@dataclass
class World:
    app: App
    ids: dict[str, int]  # credit code -> filing id

    @property
    def form(self) -> FormSpec:
        return self.app.form

    def now(self) -> datetime:
        return self.app.service.clock.now()

    def export(self) -> Export:
        with self.app.db.session() as session:
            return export_year(session, self.form, self.now())

    def filing(self, code: str) -> Filing:
        with self.app.db.session() as session:
            return FilingRepository(session).load(self.ids[code])


def _world(database: Database, tmp_path: Path) -> World:
    settings = Settings(
        database_url=database.engine.url.render_as_string(hide_password=False),
        attachments_dir=tmp_path / "files",
        reviewers=f"{CHANNEL}:{REVIEWER}",
        trial_channels="console",
    )
    clock = FrozenClock()
    app = bootstrap(settings, clock)
    import_roster(
        app, write_roster(tmp_path / "roster.xlsx", [ENTERPRISE_A, ENTERPRISE_B, ENTERPRISE_C])
    )
    ids = {}
    now = clock.now()
    with app.db.session() as session:
        enterprises = EnterpriseRepository(session)
        for code in (script_code(ENTERPRISE_A), ENTERPRISE_B[1], CODE_C):
            enterprise = enterprises.by_credit_code(code)
            assert enterprise is not None
            ids[enterprise.credit_code] = enterprises.filing_for(enterprise.id, 2025, now)
    world = World(app, ids)
    a, b, c = (world.ids[k] for k in (script_code(ENTERPRISE_A), ENTERPRISE_B[1], CODE_C))
    fill_like_the_script(app.db, a, now)
    fill_like_the_script(app.db, b, now)
    # C: a draft with its own figures, the attachments still missing.
    fill_like_the_script(app.db, c, now, leave=lambda key: key.field.startswith("attach."))
    with app.db.session() as session:
        filings = FilingRepository(session)
        draft = filings.load(c)
        fee, mobile = (
            Key("project.fee_software", draft.record_ids("projects")[0]),
            Key("contact.mobile"),
        )
        filings.apply(
            c,
            [
                SetAnswer(fee, Decimal("999.99"), draft.get(fee)),
                SetAnswer(mobile, "13912345678", draft.get(mobile)),
            ],
            actor="test",
            now=now,
        )
        # A trial filing of the terminal: no enterprise, never exported.
        trial = filings.create(2025, now)
        filings.apply(trial, [SetAnswer(Key("contact.name"), "试填")], actor="t", now=now)
    _review(world, a, b)
    return world


def script_code(row: tuple[object, ...]) -> str:
    return str(row[1]).replace(" ", "").upper()


def _review(world: World, a: int, b: int) -> None:
    """A: submitted, rejected (projects), resubmitted, approved. B: submitted."""
    clock = world.app.service.clock
    assert isinstance(clock, FrozenClock)
    for filing_id, moves in ((a, 4), (b, 1)):
        with world.app.db.session() as session:
            flow = WorkflowRepository(session)
            flow.submit(
                filing_id,
                snapshot_of(FilingRepository(session).load(filing_id)),
                "tg:alice",
                "tg",
                clock.now(),
            )
            if moves > 1:
                clock.advance(hours=2)
                flow.transition(
                    filing_id,
                    "rejected",
                    "tg:wang",
                    "tg",
                    clock.now(),
                    reason="项目1金额有误",
                    sections=["projects"],
                )
                clock.advance(hours=1)
                flow.submit(
                    filing_id,
                    snapshot_of(FilingRepository(session).load(filing_id)),
                    "tg:alice",
                    "tg",
                    clock.now(),
                )
                clock.advance(hours=1)
                flow.transition(filing_id, APPROVED, "tg:wang", "tg", clock.now())
        clock.advance(minutes=5)


# --- reading the workbook back -------------------------------------------------------------------


def _rows(sheet: Worksheet) -> list[dict[str, object]]:
    """Data rows keyed by the column ids of row 2."""
    ids = [c.value for c in sheet[2]]
    return [
        {str(k): v for k, v in zip(ids, row, strict=True)}
        for row in sheet.iter_rows(min_row=3, values_only=True)
    ]


def _shown(form: FormSpec, field_id: str, value: Value) -> object:
    """What the workbook must show for a stored value."""
    spec = form.field(field_id)
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, FileRef):
        return value.name
    if spec.kind is Kind.CHOICE:
        return next(o.label for o in spec.options if o.value == value)
    if isinstance(value, Decimal):
        return value
    if isinstance(value, date):
        return value
    return value


def _same(cell: object, expected: object) -> bool:
    if isinstance(expected, Decimal):
        return (
            isinstance(cell, int | float)
            and Decimal(str(cell)).quantize(Decimal("0.01")) == expected
        )
    if isinstance(expected, date) and isinstance(cell, datetime):
        return cell.date() == expected
    if expected == "":
        return cell is None
    return cell == expected


def test_workbook_matches_the_database(database: Database, tmp_path: Path) -> None:
    world = _world(database, tmp_path)
    export = world.export()
    assert export.count == 3  # the trial filing is not there
    book = load_workbook(io.BytesIO(export.xlsx()))
    assert book.sheetnames == SHEETS

    status = {r["enterprise.credit_code"]: r for r in _rows(book["申报状态"])}
    a, b, c = script_code(ENTERPRISE_A), ENTERPRISE_B[1], CODE_C
    assert set(status) == {a, b, c}
    assert status[a]["filing.status"] == STATUS["approved"] and status[a]["filing.version"] == 2
    assert status[b]["filing.status"] == STATUS["submitted"] and status[b]["filing.version"] == 1
    assert status[c]["filing.status"] == STATUS["draft"] and status[c]["filing.version"] == 0
    assert status[c]["filing.incomplete"] == "6 附件"
    assert (
        status[a]["filing.progress"] == 100 and status[a]["filing.review_note"] == "项目1金额有误"
    )
    assert status[a]["filing.review_sections"] == "3 系统集成项目汇总"
    assert status[a]["filing.submitted_at"] == datetime(2025, 12, 1, 13, 0)  # 10:00 + 3 h, Beijing
    # Ordered by enterprise name (as stored); the key columns and frozen panes on every sheet.
    names = [str(r["enterprise.name"]) for r in _rows(book["申报状态"])]
    assert names == sorted(names)
    for title in SHEETS[:-1]:
        sheet = book[title]
        assert sheet.freeze_panes == "D3"
        assert [c.value for c in sheet[2]][:4] == [
            "filing.id",
            "enterprise.name",
            "enterprise.credit_code",
            "filing.status",
        ]
        assert sheet["A1"].value == "申报编号"

    compared = _compare_answers(world, book)
    for code in (a, b, c):
        view = View(world.form, world.filing(code))
        applicable = {
            key
            for section in world.form.sections
            for key in view.steps(section)
            if key.field not in ("enterprise.name", "enterprise.credit_code")
            and not key.field.startswith("completion.")
            and view.filing.get(key) not in (None, "")
        }
        assert applicable <= compared[world.ids[code]], applicable - compared[world.ids[code]]

    _check_totals(world, book)
    _check_history(book)


def _compare_answers(world: World, book: Workbook) -> dict[int, set[Key]]:
    """Every field cell of every section sheet equals the stored answer; returns the keys seen."""
    seen: dict[int, set[Key]] = {fid: set() for fid in world.ids.values()}
    filings = {fid: world.filing(code) for code, fid in world.ids.items()}
    fields = {s.id for s in world.form.all_fields()}
    for title in SHEETS[1:12]:
        sheet = book[title]
        ids = [str(c.value) for c in sheet[2]]
        for number, row in enumerate(sheet.iter_rows(min_row=3), 3):
            values = {i: cell for i, cell in zip(ids, row, strict=True)}
            filing = filings[int(str(values["filing.id"].value))]
            record = str(values["record.id"].value) if "record.id" in values else ""
            year = int(str(values["year"].value)) if "year" in values else 0
            for column, cell in values.items():
                if column not in fields or column in ("enterprise.name", "enterprise.credit_code"):
                    continue
                if column.startswith("completion."):
                    continue  # the computed year is checked against the totals below
                key = Key(column, record, year)
                stored = filing.get(key)
                if stored is None or stored == "":
                    assert cell.value is None, (title, number, column)
                    continue
                expected = _shown(world.form, column, stored)
                assert _same(cell.value, expected), (title, number, column, cell.value, expected)
                if isinstance(stored, Decimal):
                    assert cell.number_format == AMOUNT_FORMAT
                    assert not isinstance(cell.value, str)
                seen[filing.id].add(key)
    return seen


def _check_totals(world: World, book: Workbook) -> None:
    a = script_code(ENTERPRISE_A)
    totals = {r["enterprise.credit_code"]: r for r in _rows(book["计算合计"])}[a]
    assert totals["total.holders.people"] == script.CERTIFIED_PEOPLE
    assert totals["total.holders.certificates"] == script.CERTIFICATES
    assert totals["total.projects.count"] == len(script.PROJECT_TOTALS)
    for fid, expected in script.COLUMN_TOTALS.items():
        column = f"total.{fid}" if fid.startswith("project.") else f"total.projects.{fid}"
        assert _same(totals[column], expected), (column, totals[column])
    assert _same(totals["total.completion.three_year"], script.THREE_YEAR_TOTAL)
    sheet = book["计算合计"]
    amounts = [c for c in sheet[3] if isinstance(c.value, float)]
    assert amounts and all(c.number_format == AMOUNT_FORMAT for c in amounts)

    projects = [r for r in _rows(book["3 项目明细"]) if r["enterprise.credit_code"] == a]
    assert [(r["project.service_total"], r["project.contract_amount"]) for r in projects] == [
        (float(s), float(c)) for s, c in script.PROJECT_TOTALS
    ]
    assert [r["attach.project_file.required"] for r in projects].count("是") == 10
    completion = [
        r for r in _rows(book["4 系统集成项目完成情况"]) if r["enterprise.credit_code"] == a
    ]
    assert [r["year"] for r in completion] == [2023, 2024, 2025]
    assert completion[2]["completion.source"] == "由项目汇总自动计算"
    assert _same(completion[2]["completion.contract"], script.COLUMN_TOTALS["contract_amount"])
    indicators = [r for r in _rows(book["参考指标"]) if r["enterprise.credit_code"] == a]
    assert [r["indicator"] for r in indicators] == [
        "技术人员总数",
        "持证人员总数",
        "三年系统集成项目总值",
    ]
    assert [r["indicator.result"] for r in indicators] == ["达到", "达到", "达到"]
    assert _same(indicators[2]["indicator.value"], script.THREE_YEAR_TOTAL)
    business = [r for r in _rows(book["2 经营情况"]) if r["enterprise.credit_code"] == a]
    assert [r["year"] for r in business] == [2023, 2024, 2025]  # first certified in 2025
    b_rows = [
        r for r in _rows(book["2 经营情况"]) if r["enterprise.credit_code"] == ENTERPRISE_B[1]
    ]
    assert [r["year"] for r in b_rows] == [2025]


def _check_history(book: Workbook) -> None:
    a = script_code(ENTERPRISE_A)
    moves = [r for r in _rows(book["审核记录"]) if r["enterprise.credit_code"] == a]
    assert [(r["transition.from"], r["transition.to"]) for r in moves] == [
        (STATUS["draft"], STATUS["submitted"]),
        (STATUS["submitted"], STATUS["rejected"]),
        (STATUS["rejected"], STATUS["submitted"]),
        (STATUS["submitted"], STATUS["approved"]),
    ]
    assert moves[1]["transition.reason"] == "项目1金额有误"
    assert moves[1]["transition.sections"] == "3 系统集成项目汇总"
    assert moves[1]["transition.actor"] == "tg:wang"
    first = moves[0]["transition.at"]
    assert isinstance(first, datetime) and moves[3]["transition.at"] == first + timedelta(hours=4)
    legend = _rows(book["字段说明"])
    assert {"sheet": "3 项目明细", "id": "project.fee_software"}.items() <= next(
        r for r in legend if r["id"] == "project.fee_software"
    ).items()


def test_csv_matches_the_workbook_tables(database: Database, tmp_path: Path) -> None:
    world = _world(database, tmp_path)
    export = world.export()
    archive = zipfile.ZipFile(io.BytesIO(csv_zip(export.tables)))
    names = set(archive.namelist())
    assert {"status.csv", "records_projects.csv", "section_business.csv", "legend.csv"} <= names
    assert names == {f"{t.id}.csv" for t in export.tables}
    raw = archive.read("records_projects.csv")
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 only with a BOM
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    c = world.filing(CODE_C)
    first = c.record_ids("projects")[0]
    row = next(r for r in rows if r["enterprise.credit_code"] == CODE_C and r["record.id"] == first)
    assert row["project.fee_software"] == "999.99"
    assert row["project.merged"] in ("true", "false")
    assert row["project.acceptance_date"] == str(c.get(Key("project.acceptance_date", first)))
    projects = sum(len(world.filing(code).record_ids("projects")) for code in world.ids)
    assert len(rows) == projects
    status = list(csv.DictReader(io.StringIO(archive.read("status.csv").decode("utf-8-sig"))))
    assert sorted(r["filing.status"] for r in status) == sorted([APPROVED, SUBMITTED, "draft"])
    history = list(csv.DictReader(io.StringIO(archive.read("history.csv").decode("utf-8-sig"))))
    rejected = next(r for r in history if r["transition.to"] == "rejected")
    assert rejected["transition.sections"] == "projects"
    assert rejected["transition.at"].endswith("+08:00")
    contacts = list(
        csv.DictReader(io.StringIO(archive.read("section_contact.csv").decode("utf-8-sig")))
    )
    assert "13912345678" in {r["contact.mobile"] for r in contacts}  # the association's copy: whole


def test_cli_writes_xlsx_zip_and_a_csv_directory(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = _world(database, tmp_path)
    monkeypatch.setenv("DATABASE_URL", world.app.settings.database_url)
    monkeypatch.setenv("NIANJIAN_ATTACHMENTS_DIR", str(tmp_path / "files"))
    out = tmp_path / "out" / "年检.xlsx"
    assert cli.main(["export", "--year", "2025", "--out", str(out)]) == 0
    book = load_workbook(out)
    assert book.sheetnames == SHEETS and len(_rows(book["申报状态"])) == 3
    assert cli.main(["export", "--out", str(tmp_path / "data.zip")]) == 0
    assert "records_holders.csv" in zipfile.ZipFile(tmp_path / "data.zip").namelist()
    assert cli.main(["export", "--format", "csv", "--out", str(tmp_path / "csv")]) == 0
    assert (tmp_path / "csv" / "totals.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert cli.main(["export", "--out", str(tmp_path / "one.csv")]) == 1
    # Another year has no filings: an empty but valid workbook.
    assert cli.main(["export", "--year", "2024", "--out", str(tmp_path / "2024.xlsx")]) == 0
    assert _rows(load_workbook(tmp_path / "2024.xlsx")["申报状态"]) == []


def test_reviewer_gets_the_workbook_in_chat(database: Database, tmp_path: Path) -> None:
    world = _world(database, tmp_path)
    turn = world.app.service.handle(CHANNEL, REVIEWER, TextIn("导出"))
    documents = [r for r in turn.replies if isinstance(r, Document)]
    assert len(documents) == 1, [reply_text(r) for r in turn.replies]
    document = documents[0]
    assert document.content_type == XLSX_TYPE and document.filename.endswith(".xlsx")
    assert "3 家企业" in document.caption
    book = load_workbook(io.BytesIO(document.content))
    assert book.sheetnames == SHEETS
    mobiles = {r["contact.mobile"] for r in _rows(book["申报联系人"])}
    assert "139****5678" in mobiles and "13912345678" not in mobiles  # masked in chats
    text = "\n".join(
        reply_text(r)
        for r in world.app.service.handle(CHANNEL, REVIEWER, TextIn("导出 2024")).replies
    )
    assert "2024 年度还没有企业的申报" in text
    text = "\n".join(
        reply_text(r)
        for r in world.app.service.handle(CHANNEL, REVIEWER, TextIn("导出 abc")).replies
    )
    assert "格式：导出" in text
    # A contact typing the same word gets no export: it is a reviewer's command.
    contact = world.app.service.handle(CHANNEL, "stranger", TextIn("导出"))
    assert not any(isinstance(r, Document) for r in contact.replies)
