"""Projects from a spreadsheet: the template, the per-row report, importing the clean rows,
re-uploading (the imported set replaced after a confirmation that shows the difference),
through the pure engine, the service on SQLite and PostgreSQL, and the terminal chat."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from openpyxl import load_workbook

from bot.channels.console import ConsoleChat
from bot.project_sheet import NOTES_TITLE, SHEET_TITLE, read_sheet, template
from dialogs import engine, project_import, texts, totals
from dialogs.cycle import Cycle
from dialogs.effects import SendProjectTemplate
from dialogs.form import build_form
from dialogs.model import FileRef, Filing, Key, SetAnswer, apply_changes
from dialogs.project_import import header_of
from dialogs.replies import (
    Choice,
    Document,
    Event,
    FileIn,
    FileRequest,
    Reply,
    Start,
    TableIn,
    TextIn,
    reply_text,
)
from dialogs.state import ConvState, Mode
from dialogs.view import View
from storage.db import Database
from storage.migrate import upgrade
from storage.repository import FilingRepository
from tests.fakes import make_service

Y = 2025
FORM = build_form(Cycle.for_year(Y))
NOW = datetime(2025, 12, 1, 2, tzinfo=UTC)
FIELDS = project_import.group(FORM).fields
COLUMN = {f.id: i for i, f in enumerate(FIELDS)}
PROJECTS_SECTION = "6"  # the overview's entry of section 3 for an enterprise not new in Y

# Sheet rows: the header is row 1, the template's example row 2, project i is row i + 2.
BAD = (7, 13, 21, 34, 50)
GOOD = tuple(i for i in range(1, 61) if i not in BAD)


def project_row(i: int) -> list[object]:
    """Project i of the 60: mostly numbers and dates as Excel stores them, some typed text."""
    row: list[object] = [
        f"第{i}号信息化项目",
        f"建设单位{i % 7}",
        date(2024, 6, 1) + timedelta(days=i),
        date(2025, 1 + i % 12, 10),
        "是" if i % 10 == 0 else "否",
        i,  # 软件开发费: i 万元
        0.5 * i,  # 咨询设计费: a float cell
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
    ]
    special: dict[int, dict[str, object]] = {
        3: {"project.fee_integration": "１２３.５"},  # full-width digits
        4: {"project.hw_purchased": "1234500元"},  # in 元: 123.45 万元
        5: {"project.fee_maintenance": "1,234.5"},
        6: {"project.acceptance_date": "2025年7月1日"},
        7: {"project.name": None},  # missing name
        13: {"project.acceptance_date": date(2024, 12, 20)},  # outside Y
        21: {"project.fee_data": "约100万"},
        34: {
            "project.contract_date": date(2025, 8, 1),
            "project.acceptance_date": date(2025, 5, 1),
        },
        50: {"project.merged": "也许", "project.hw_selfmade": -5},
    }
    for field_id, value in special.get(i, {}).items():
        row[COLUMN[field_id]] = value
    return row


def sheet(rows: Sequence[Sequence[object]], base: bytes | None = None) -> bytes:
    """The template (or a given workbook) with these rows under the example row."""
    book = load_workbook(io.BytesIO(base if base is not None else template(FORM)))
    projects = book[SHEET_TITLE]
    for row in rows:
        projects.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def sixty() -> bytes:
    return sheet([project_row(i) for i in range(1, 61)])


def fixed(i: int) -> list[object]:
    """Project i as the contact corrects it for the second upload."""
    row = project_row(i)
    if i in BAD:
        row = project_row(1)
        row[COLUMN["project.name"]] = f"第{i}号信息化项目"
        row[COLUMN["project.client"]] = f"建设单位{i % 7}"
        row[COLUMN["project.fee_software"]] = i
        row[COLUMN["project.fee_consulting"]] = 0.5 * i
    if i == 1:
        row[COLUMN["project.fee_software"]] = 11  # changed: 1 -> 11
    return row


def table(data: bytes) -> TableIn:
    return read_sheet("projects.xlsx", data)


# Hand-computed totals of the 55 clean rows (1..60 without 7, 13, 21, 34, 50):
#   软件开发费 Σi = 1830 - 125 = 1705; 咨询设计费 0.5·Σi = 852.50; row 3 集成实施费 123.50;
#   row 5 运行维护费 1,234.50; row 4 硬件购置费 1,234,500 元 = 123.45 万元.
CLEAN_SERVICE = Decimal("1705") + Decimal("852.50") + Decimal("123.50") + Decimal("1234.50")
CLEAN_CONTRACT = CLEAN_SERVICE + Decimal("123.45")


@dataclass
class Chat:
    """The pure engine as a contact uses it; every outcome's changes applied."""

    filing: Filing = field(default_factory=lambda: Filing(1, Y))
    state: ConvState = field(default_factory=ConvState)
    effects: list[object] = field(default_factory=list)
    last_changes: tuple[object, ...] = ()

    def send(self, event: Event | str) -> list[Reply]:
        if isinstance(event, str):
            event = TextIn(event)
        outcome = engine.step(FORM, self.filing, self.state, event, NOW)
        self.filing = apply_changes(self.filing, outcome.changes)
        self.state = outcome.state
        self.effects.extend(outcome.effects)
        self.last_changes = outcome.changes
        return list(outcome.replies)

    def text(self, event: Event | str) -> str:
        return "\n".join(reply_text(r) for r in self.send(event))

    @property
    def view(self) -> View:
        return View(FORM, self.filing)


def at_projects() -> Chat:
    chat = Chat()
    chat.send(Start())
    chat.send("总览")
    shown = chat.text(PROJECTS_SECTION)
    assert "系统集成项目汇总" in shown
    return chat


def import_sixty() -> Chat:
    chat = at_projects()
    chat.send("表格导入")
    chat.send(table(sixty()))
    chat.send("1")  # 只导入无误的 55 行
    return chat


# --- the template --------------------------------------------------------------------------


def test_the_template_is_built_from_the_form_spec() -> None:
    book = load_workbook(io.BytesIO(template(FORM)))
    projects = book[SHEET_TITLE]
    header = [c.value for c in projects[1]]
    assert header == [header_of(f) for f in FIELDS]
    assert header[:4] == [
        "项目名称",
        "建设单位（甲方）",
        "合同签订日期（年-月-日）",
        "验收日期（年-月-日）",
    ]
    assert "软件开发费（万元）" in header and "是否为同类项目合并填报（是/否）" in header
    example = [c.value for c in projects[2]]
    assert str(example[0]).startswith(project_import.EXAMPLE_MARK)
    rules = {(v.type, v.formula1) for v in projects.data_validations.dataValidation}
    assert ("list", '"是,否"') in rules
    assert any(kind == "date" for kind, _ in rules)
    assert any(kind == "decimal" for kind, _ in rules)
    assert all(v.errorStyle == "warning" for v in projects.data_validations.dataValidation)
    notes = [[c.value for c in row] for row in book[NOTES_TITLE].iter_rows()]
    documented = {row[0] for row in notes}
    assert all(header_of(f) in documented for f in FIELDS)
    assert any("12345000元" in str(row[0]) for row in notes)
    # The template itself imports nothing: its only row is the example.
    assert (
        project_import.parse_table(FORM, table(template(FORM)).rows).fatal == texts.IMPORT_NO_ROWS
    )


def test_asking_for_the_template_in_the_project_section() -> None:
    chat = at_projects()
    replies = chat.send("表格导入")
    assert chat.effects == [SendProjectTemplate()]
    assert isinstance(replies[-1], FileRequest)
    assert replies[-1].accepted == (project_import.XLSX_TYPE,)
    assert chat.state.mode is Mode.IMPORT
    # The first question of a project and the summary offer it as a button too.
    chat.send("返回")
    question = chat.send("是")[-1]
    assert isinstance(question, Choice) and question.free_text
    assert [b.value for b in question.options] == ["表格导入"]
    # Elsewhere the same word is an ordinary answer, not the import.
    elsewhere = Chat()
    elsewhere.send(Start())
    assert "✓ 已保存 单位名称（汉字全称）：模板" in elsewhere.text("模板")
    # Where it cannot be an answer (a count), it says where the import is, and asks again.
    elsewhere.send("总览")
    elsewhere.send("3")  # 1.1 人员情况
    assert elsewhere.state.field == "personnel.employees"
    hint = elsewhere.text("表格导入")
    assert hint.startswith("表格导入用于批量填写项目，在「3 系统集成项目汇总」部分使用")
    assert elsewhere.state.field == "personnel.employees" and elsewhere.effects == []


# --- the report ------------------------------------------------------------------------------


def test_a_mixed_sheet_is_reported_row_by_row_and_nothing_is_imported() -> None:
    chat = at_projects()
    chat.send("表格导入")
    before = chat.filing
    replies = chat.send(table(sixty()))
    assert chat.last_changes == () and chat.filing == before
    assert chat.state.mode is Mode.IMPORT_CHOICE
    report = replies[-1]
    assert isinstance(report, Choice)
    text = report.text
    assert "共 60 行项目：55 行无误，5 行有问题（共 6 处）" in text
    assert "第 9 行「项目名称」：没有填写。例如：某某局信息化建设项目" in text
    assert (
        "第 15 行「验收日期（年-月-日）」：验收日期必须在 2025 年内，您填写的是 2024-12-20。"
        "例如：2025-03-01"
    ) in text
    assert "第 23 行「数据处理费（万元）」：" in text
    assert (
        "第 36 行「验收日期（年-月-日）」：验收日期 2025-05-01 早于合同签订日期 2025-08-01。"
        in text
    )
    assert "第 52 行「是否为同类项目合并填报（是/否）」：请回答“是”或“否”。例如：是 或 否" in text
    assert "第 52 行「自制硬件费（万元）」：这一项不能为负数。" in text
    # Rows that only look unusual are fine: full-width digits, 元, a thousands comma.
    for row in (5, 6, 7, 8):
        assert f"第 {row} 行" not in text
    assert texts.IMPORT_NOTHING_YET in text
    assert [b.label for b in report.options] == ["只导入无误的 55 行", "修改后重新上传", "取消导入"]
    assert not any(isinstance(r, Document) for r in replies)  # short: the chat holds it all


def test_importing_the_clean_rows_only() -> None:
    chat = at_projects()
    chat.send("表格导入")
    chat.send(table(sixty()))
    shown = chat.text("1")
    assert "✓ 已从表格导入 55 个项目（新增 55 个，更新 0 个，删除 0 个）" in shown
    # More than ten projects: the ten largest need their contract file, in section 6.
    assert "还需要上传 10 个项目的合同文件" in shown and "6 附件" in shown
    view = chat.view
    assert view.get("projects.has_projects") is True
    records = view.records(totals.PROJECTS)
    assert records == tuple(f"imp{n}" for n in range(1, 56))
    names = [view.get("project.name", r) for r in records]
    assert names == [f"第{i}号信息化项目" for i in GOOD]
    assert view.get("project.fee_integration", "imp3") == Decimal("123.50")
    assert view.get("project.hw_purchased", "imp4") == Decimal("123.45")
    assert view.get("project.acceptance_date", "imp6") == date(2025, 7, 1)
    assert view.get("project.merged", records[GOOD.index(10)]) is True
    column = totals.column_totals(view)
    assert column["project.fee_software"] == Decimal("1705")
    assert column["service_total"] == CLEAN_SERVICE == Decimal("3915.50")
    assert column["contract_amount"] == CLEAN_CONTRACT == Decimal("4038.95")
    completion = totals.completion_rows(view)[-1]
    assert (completion.count, completion.contract) == (55, CLEAN_CONTRACT)
    # The walk goes on to what the section still lacks.
    assert chat.state.key == Key("projects.self_developed_sales")


def test_a_long_report_also_comes_as_a_file() -> None:
    rows = [project_row(i) for i in GOOD[:30]]
    for row in rows:
        row[COLUMN["project.client"]] = None
    chat = at_projects()
    chat.send("表格导入")
    replies = chat.send(table(sheet(rows)))
    document, choice = replies[-2], replies[-1]
    assert isinstance(document, Document) and isinstance(choice, Choice)
    assert document.filename == project_import.REPORT_NAME
    lines = list(csv.reader(io.StringIO(document.content.decode("utf-8-sig"))))
    assert lines[0] == list(texts.IMPORT_REPORT_COLUMNS)
    assert len(lines) == 31 and lines[1][:3] == ["3", "建设单位（甲方）", "没有填写。"]
    assert choice.text.count("「建设单位（甲方）」") == project_import.REPORT_LIMIT
    assert "……另有 10 处问题" in choice.text
    assert "没有可导入的行" in choice.text
    assert [b.value for b in choice.options] == ["重新上传", "取消"]


def test_unusable_sheets_and_wrong_files_are_refused() -> None:
    chat = at_projects()
    chat.send("表格导入")
    book = load_workbook(io.BytesIO(sixty()))
    book[SHEET_TITLE].delete_cols(COLUMN["project.fee_data"] + 1)
    out = io.BytesIO()
    book.save(out)
    shown = chat.text(table(out.getvalue()))
    assert "✗ 表格无法读取：表格缺少这些列：数据处理费（万元）" in shown
    assert chat.state.mode is Mode.IMPORT
    assert "表格中没有项目" in chat.text(table(template(FORM)))
    assert "✗ 表格无法读取：文件不是有效的 Excel 表格" in chat.text(table(b"PK\x03\x04broken"))
    pdf = FileRef("0" * 64, "合同.pdf", 10, "application/pdf")
    assert texts.IMPORT_NEED_XLSX in chat.text(FileIn(pdf))
    assert chat.state.mode is Mode.IMPORT
    assert texts.IMPORT_CANCELLED in chat.text("取消")
    assert chat.filing.records == {} and chat.state.mode is Mode.ASK
    # A spreadsheet nobody asked for is not taken.
    assert texts.FILE_NOT_EXPECTED in chat.text(table(sixty()))
    assert chat.filing.records == {}


# --- uploading again -----------------------------------------------------------------------


def test_a_new_upload_replaces_the_imported_set_after_confirmation() -> None:
    chat = import_sixty()
    # A project typed in the chat, and the contract file of the first imported project.
    typed = Chat(chat.filing, ConvState(mode=Mode.SUMMARY, section="projects"))
    typed.send("添加")
    for answer in ("手工项目", "某某厅", "2025-01-02", "2025-02-03", "否"):
        typed.send(answer)
    for _ in range(10):
        typed.send("100")
    assert "pro56" in typed.filing.record_ids(totals.PROJECTS)
    contract = FileRef("a" * 64, "合同1.pdf", 2048, "application/pdf")
    chat.filing = apply_changes(
        typed.filing, [SetAnswer(Key("attach.project_file", "imp1"), contract)]
    )
    chat.state = ConvState(mode=Mode.SUMMARY, section="projects")
    before = chat.filing
    old_contract = totals.column_totals(chat.view)["contract_amount"]
    assert old_contract == CLEAN_CONTRACT + Decimal("1000")

    # Project 2 left out, project 1 changed, the five bad rows corrected.
    chat.send("表格导入")
    replies = chat.send(table(sheet([fixed(i) for i in range(1, 61) if i != 2])))
    confirm = replies[-1]
    assert isinstance(confirm, Choice) and chat.last_changes == () and chat.filing == before
    text = confirm.text
    assert "共 59 行项目，全部无误" in text
    assert "上次表格导入的 55 个项目将被替换：新增 5 个，更新 1 个，删除 1 个，不变 53 个" in text
    assert "新增：第7号信息化项目、第13号信息化项目、第21号信息化项目" in text
    assert "更新：第1号信息化项目" in text
    assert "删除：第2号信息化项目（已上传的合同文件一并删除）" in text
    assert "项目数：56 → 60 个" in text
    # The new contract total, by hand: +10 for project 1, -(2 + 1) for project 2, and the five
    # corrected projects at i + 0.5·i each (1.5 · 125 = 187.5).
    new_contract = old_contract + 10 - 3 + Decimal("187.5")
    assert f"合同金额合计：{old_contract:,.2f} → {new_contract:,.2f} 万元" in text
    assert [b.label for b in confirm.options] == ["确认替换", "取消导入"]

    shown = chat.text("确认替换")
    assert "✓ 已从表格导入 59 个项目（新增 5 个，更新 1 个，删除 1 个）" in shown
    view = chat.view
    records = view.records(totals.PROJECTS)
    assert "imp2" not in records and "pro56" in records and len(records) == 60
    assert records[-5:] == ("imp57", "imp58", "imp59", "imp60", "imp61")
    assert view.get("project.fee_software", "imp1") == Decimal("11")
    assert view.get("attach.project_file", "imp1") == contract  # its record was kept
    assert view.get("project.name", "pro56") == "手工项目"
    assert totals.column_totals(view)["contract_amount"] == new_contract


def test_cancelling_a_replacement_keeps_the_first_import() -> None:
    chat = import_sixty()
    chat.state = ConvState(mode=Mode.SUMMARY, section="projects")
    before = chat.filing
    chat.send("表格导入")
    chat.send(table(sheet([fixed(i) for i in range(1, 61)])))
    assert texts.IMPORT_CANCELLED in chat.text("2")  # 取消导入, by its number
    assert chat.filing == before
    chat.send("表格导入")
    assert texts.IMPORT_CANCELLED in chat.text("2")  # 返回, by its number
    assert chat.state.key == Key("projects.self_developed_sales")  # where the walk was


# --- through the service and the terminal --------------------------------------------------


def _turn_texts(replies: Sequence[Reply]) -> str:
    return "\n".join(reply_text(r) for r in replies)


def test_import_through_the_service(database: Database, tmp_path: Path) -> None:
    service = make_service(database, tmp_path / "files")
    chat = "contact"
    service.handle("test", chat, Start())
    service.handle("test", chat, TextIn("总览"))
    service.handle("test", chat, TextIn(PROJECTS_SECTION))
    # A spreadsheet is not read while nobody waits for one.
    refused = service.receive_file("test", chat, sixty(), "projects.xlsx")
    assert texts.FILE_NOT_EXPECTED in _turn_texts(refused.replies)
    assert refused.outcome is not None and not refused.outcome.changes

    asked = service.handle("test", chat, TextIn("表格导入"))
    document, request = asked.replies[0], asked.replies[-1]
    assert isinstance(document, Document) and document.filename.endswith(".xlsx")
    assert isinstance(request, FileRequest)
    filled = sheet([project_row(i) for i in range(1, 61)], base=document.content)
    report = service.receive_file("test", chat, filled, "2025年项目.xlsx")
    assert "55 行无误，5 行有问题" in _turn_texts(report.replies)
    assert report.filing_id is not None
    with database.session() as session:
        assert FilingRepository(session).load(report.filing_id).records == {}

    done = service.handle("test", chat, TextIn("1"))
    assert "✓ 已从表格导入 55 个项目" in _turn_texts(done.replies)
    with database.session() as session:
        stored = FilingRepository(session).load(report.filing_id)
    view = View(FORM, stored)
    assert len(view.records(totals.PROJECTS)) == 55
    assert totals.column_totals(view)["contract_amount"] == CLEAN_CONTRACT

    service.handle("test", chat, TextIn("表格导入"))
    again = sheet([fixed(i) for i in range(1, 61) if i != 2])
    confirm = service.receive_file("test", chat, again, "2025年项目（改）.xlsx")
    assert "新增 5 个，更新 1 个，删除 1 个" in _turn_texts(confirm.replies)
    service.handle("test", chat, TextIn("确认替换"))
    with database.session() as session:
        stored = FilingRepository(session).load(report.filing_id)
    view = View(FORM, stored)
    assert len(view.records(totals.PROJECTS)) == 59
    assert totals.column_totals(view)["contract_amount"] == (
        CLEAN_CONTRACT + 10 - 3 + Decimal("187.5")
    )


def test_import_at_the_terminal(tmp_path: Path) -> None:
    """As a user would: the template is saved by the terminal, filled, and sent back."""
    url = f"sqlite:///{tmp_path / 'nianjian.sqlite3'}"
    upgrade(url)
    db = Database.from_url(url)
    try:
        service = make_service(db, tmp_path / "files")
        out = io.StringIO()
        outbox = tmp_path / "outbox"
        terminal = ConsoleChat(service, "alice", io.StringIO(), out, outbox)
        for line in ("/start", "总览", PROJECTS_SECTION, "表格导入"):
            terminal.show(terminal.step(line))
        saved = outbox / texts.IMPORT_TEMPLATE_NAME.format(year=Y)
        assert f"已保存到：{saved}" in out.getvalue()
        filled = tmp_path / "我的项目.xlsx"
        filled.write_bytes(sheet([project_row(i) for i in GOOD], base=saved.read_bytes()))
        start = len(out.getvalue())
        terminal.show(terminal.step(f"/file {filled}"))
        terminal.show(terminal.step("0"))  # 自主研发产品销售额
        printed = out.getvalue()[start:]
        assert "✓ 已从表格导入 55 个项目" in printed
        assert "合同金额合计：4,038.95 万元" in printed  # the section summary's total
    finally:
        db.dispose()
