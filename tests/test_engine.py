"""Conversations with the pure engine: navigation, edits, records, overview, pause."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from dialogs import totals
from dialogs.cycle import Cycle
from dialogs.effects import StampedFormReceived, SubmitFiling
from dialogs.engine import Outcome, step
from dialogs.form import build_form
from dialogs.model import Answer, FileRef, Filing, Key, SetAnswer, Source, apply_changes
from dialogs.replies import Choice, Event, FileIn, FileRequest, Start, TextIn, reply_text
from dialogs.state import ConvState, Mode
from dialogs.view import SKIPPED, Status, View

FORM = build_form(Cycle.for_year(2025))
NOW = datetime(2025, 12, 1, 2, tzinfo=UTC)
ENTERPRISE = ["测试科技有限公司", "91110108551385082Q", "乙", "XJ-1", "2020", "确认"]
CONTACT = ["张三", "13800138000", "跳过", "跳过", "确认"]
PERSONNEL = ["100", "40", "5", "20", "10", "6", "12", "确认"]


@dataclass
class Chat:
    filing: Filing = field(default_factory=lambda: Filing(1, 2025))
    state: ConvState = field(default_factory=ConvState)
    last: Outcome | None = None

    def send(self, event: Event | str) -> str:
        if isinstance(event, str):
            event = TextIn(event)
        self.last = step(FORM, self.filing, self.state, event, NOW)
        self.filing = apply_changes(self.filing, self.last.changes)
        # What a restart sees: the state as stored, not the object in memory.
        self.state = ConvState.from_dict(self.last.state.to_dict())
        return "\n".join(reply_text(r) for r in self.last.replies)

    def run(self, *texts: str) -> str:
        out = ""
        for text in texts:
            out = self.send(text)
            assert not out.startswith("✗"), (text, out)
        return out

    @property
    def view(self) -> View:
        return View(FORM, self.filing)

    def value(self, field_id: str, record: str = "", year: int = 0) -> object:
        return self.filing.get(Key(field_id, record, year))

    @property
    def options(self) -> list[str]:
        assert self.last is not None
        reply = self.last.replies[-1]
        assert isinstance(reply, Choice | FileRequest)
        return [b.label for b in reply.options]


@pytest.fixture
def chat() -> Chat:
    c = Chat()
    assert "单位名称" in c.send(Start())
    return c


def test_welcome_then_first_question_with_progress(chat: Chat) -> None:
    assert chat.state.mode is Mode.ASK and chat.state.field == "enterprise.name"
    text = chat.send("测试科技有限公司")
    assert "✓ 已保存 单位名称（汉字全称）：测试科技有限公司" in text
    assert "【企业信息 · 第 2/5 项 · 总进度" in text
    assert chat.state.field == "enterprise.credit_code"


def test_refusal_shows_reason_example_and_asks_again(chat: Chat) -> None:
    chat.run("测试科技有限公司")
    text = chat.send("91110108551385082A")
    assert text.startswith("✗") and "例如" in text and "统一社会信用代码" in text
    assert chat.state.field == "enterprise.credit_code"
    assert chat.last is not None and not chat.last.changes


def test_back_shows_previous_answer_and_keep_leaves_it(chat: Chat) -> None:
    chat.run("测试科技有限公司", "91110108551385082Q")
    text = chat.send("返回")
    assert chat.state.field == "enterprise.credit_code"
    assert "当前值：91110108551385082Q" in text
    assert "✓ 保持不变" in chat.send("保留")
    assert chat.state.field == "enterprise.grade"
    # Back from the first question of a section shows the previous section's summary.
    chat.run("乙", "XJ-1", "2020", "确认")
    assert chat.state.field == "contact.name"
    text = chat.send("返回")
    assert chat.state.mode is Mode.SUMMARY and "企业信息 · 小结" in text


def test_keep_without_an_answer_asks_again(chat: Chat) -> None:
    text = chat.send("保留")
    assert "还没有填写" in text and chat.state.field == "enterprise.name"


def test_skip_only_optional_fields(chat: Chat) -> None:
    text = chat.send("跳过")
    assert "必填项，不能跳过" in text and chat.state.field == "enterprise.name"
    chat.run(*ENTERPRISE, "张三", "13800138000")
    assert chat.state.field == "contact.landline"
    assert "✓ 已跳过" in chat.send("跳过")
    assert chat.value("contact.landline") == SKIPPED
    assert chat.state.field == "contact.email"


def test_bare_number_picks_option_but_stays_an_answer_in_free_text(chat: Chat) -> None:
    chat.run("测试科技有限公司", "91110108551385082Q")
    assert chat.options[:4] == ["甲级", "乙级", "丙级", "丁级"]
    chat.run("3")
    assert chat.value("enterprise.grade") == "丙"
    chat.run("XJ-1", "2020")
    assert chat.state.mode is Mode.SUMMARY
    chat.run("1")  # the summary's first option: confirm
    assert chat.state.field == "contact.name"
    chat.run("张三", "13800138000", "跳过", "跳过", "确认", "1")  # a count of 1 employee
    assert chat.value("personnel.employees") == 1


def test_edit_from_summary_recomputes_and_rechecks(chat: Chat) -> None:
    chat.run(*ENTERPRISE, *CONTACT, *PERSONNEL[:-1])
    assert chat.state.mode is Mode.SUMMARY and chat.state.section == "personnel"
    text = chat.send("修改 2")  # technical staff
    assert chat.state.field == "personnel.technical" and chat.state.editing
    assert "当前值：40 人" in text
    # Lower than the parts already given: refused, with the conflict named.
    text = chat.send("30")
    assert text.startswith("✗") and "超过了技术人员总数" in text
    text = chat.send("38")
    assert "✓ 已修改 技术人员总数：38 人" in text
    assert chat.state.mode is Mode.SUMMARY and "技术人员总数：38 人，达到参考指标" in text
    # Cancelling an edit keeps the value and returns to the summary.
    chat.run("修改")
    chat.run("1")
    text = chat.send("取消")
    assert "已取消修改" in text and chat.value("personnel.employees") == 100


def test_pause_and_continue_resume_exactly(chat: Chat) -> None:
    chat.run("测试科技有限公司")
    text = chat.send("暂停")
    assert "已暂停" in text and "统一社会信用代码" in text
    assert "已暂停" in chat.send("91110108551385082Q")
    assert chat.value("enterprise.credit_code") is None
    text = chat.send("继续")
    assert chat.state.mode is Mode.ASK and chat.state.field == "enterprise.credit_code"
    assert "统一社会信用代码" in text
    # /start after an interruption welcomes back at the same question.
    assert "欢迎回来" in chat.send(Start()) and chat.state.field == "enterprise.credit_code"


def test_help_explains_the_field_and_asks_again(chat: Chat) -> None:
    chat.run("测试科技有限公司")
    text = chat.send("帮助")
    assert "18 位" in text and "返回" in text and "0991-2301105" in text
    assert chat.state.field == "enterprise.credit_code"


def _holder(chat: Chat, name: str, cert: str) -> None:
    chat.run(name, cert, "NO-1", "跳过")
    assert chat.state.mode is Mode.AFTER_RECORD


def test_records_add_list_edit_delete(chat: Chat) -> None:
    chat.run(*ENTERPRISE, *CONTACT, *PERSONNEL)
    assert chat.state.field == "holder.name"
    # Back from the first record's first question returns to the previous section's summary.
    text = chat.send("返回")
    assert chat.state.mode is Mode.SUMMARY and "1.1 人员情况 · 小结" in text
    assert "第1位持证人员 · 第 1/4 项" in chat.run("确认")
    _holder(chat, "王强", "网络工程师")
    chat.run("1")
    _holder(chat, "王强", "系统分析师")
    chat.run("1")
    _holder(chat, "李四", "CCIE")
    text = chat.run("2")
    assert chat.state.mode is Mode.SUMMARY
    assert "持证人员（共 3 位）" in text and "持证人员（不重复计人）：2 人" in text
    # Edit record 3's certificate.
    chat.run("编辑 3")
    assert chat.state.mode is Mode.RECORD
    assert chat.options[1].startswith("证书名称：CCIE")
    chat.run("2")
    assert chat.state.field == "holder.certificate" and chat.state.editing
    text = chat.run("HCIE")
    assert chat.state.mode is Mode.RECORD and "已修改 证书名称" in text
    chat.run("返回")
    # Delete record 1 after confirming.
    chat.run("删除")
    assert chat.state.mode is Mode.PICK_RECORD
    text = chat.run("1")
    assert chat.state.mode is Mode.CONFIRM_DELETE and "王强 网络工程师" in text
    text = chat.run("确定删除")
    assert "已删除" in text and len(chat.view.records("holders")) == 2
    assert totals.certified_people(chat.view) == 2
    assert not any(k.record == "hol1" for k in chat.filing.answers)
    # A new record never reuses the id of a live one.
    chat.run("添加")
    assert chat.state.record == "hol4"


def test_duplicate_certificate_of_one_person_is_refused(chat: Chat) -> None:
    chat.run(*ENTERPRISE, *CONTACT, *PERSONNEL)
    _holder(chat, "王强", "网络工程师")
    chat.run("1", "王 强")
    text = chat.send("网络工程师")
    assert text.startswith("✗") and "重复" in text


def test_overview_statuses_and_jump(chat: Chat) -> None:
    chat.run(*ENTERPRISE, "张三")
    text = chat.send("总览")
    assert chat.state.mode is Mode.OVERVIEW
    assert chat.options[0] == "✅ 企业信息：已完成"
    assert chat.options[1].startswith("⚠️ 申报联系人：未完成（联系人手机")
    assert chat.options[2] == "⬜ 1.1 人员情况：未开始"
    assert "参考指标（乙级）" in text
    chat.run("3")
    assert chat.state.field == "personnel.employees"
    chat.run("总览", "1")
    assert chat.state.mode is Mode.SUMMARY and chat.state.section == "enterprise"
    chat.run("总览", "继续填报")
    assert chat.state.field == "contact.mobile"


def test_existing_enterprise_files_one_year_and_roster_values_are_read_only(chat: Chat) -> None:
    chat.run(*ENTERPRISE, *CONTACT, *PERSONNEL)
    assert chat.view.business_years == (2025,)
    steps = chat.view.steps(FORM.section("business"))
    assert {k.year for k in steps} == {2025} and len(steps) == 9
    # A roster-imported completion figure is neither asked nor editable.
    answers = dict(chat.filing.answers)
    answers[Key("completion.count", "", 2023)] = Answer(4, Source.ROSTER)
    chat.filing = Filing(1, 2025, answers=answers)
    pending = chat.view.pending(FORM.section("completion"))
    assert pending == Key("completion.contract", "", 2023)


def test_project_acceptance_outside_year_and_record_totals(chat: Chat) -> None:
    chat.run(*ENTERPRISE, *CONTACT, *PERSONNEL)
    _holder(chat, "王强", "网络工程师")
    chat.run("2", "确认")
    chat.run(*(["0"] * 9), "确认")
    assert chat.state.field == "projects.has_projects"
    chat.run("是", "政务云", "数据局", "2024-01-01")
    text = chat.send("2024-12-31")
    assert text.startswith("✗") and "必须在 2025 年内" in text
    chat.run("2025-03-01", "否", "100", "10", "0", "0", "0", "0", "0", "50", "0")
    text = chat.run("1,000元")
    assert chat.state.mode is Mode.AFTER_RECORD
    assert "软件和信息技术服务费合计（自动计算）：110.00 万元" in text
    assert "合同金额（自动计算）：160.10 万元" in text


def test_files_rejected_and_unexpected(chat: Chat) -> None:
    text = chat.send(FileIn(FileRef("a" * 64, "x.pdf", 10, "application/pdf")))
    assert "现在不需要文件" in text and chat.state.field == "enterprise.name"
    chat.filing = Filing(1, 2025)
    chat.state = ConvState().asking(Key("attach.licence"), "attachments")
    text = chat.send(FileIn(None, "文件为空"))
    assert "文件未被接受：文件为空" in text and chat.state.field == "attach.licence"
    assert "需要上传文件" in chat.send("好的")
    text = chat.send(FileIn(FileRef("b" * 64, "执照.pdf", 2048, "application/pdf")))
    assert "已收到文件：执照.pdf（2 KB）" in text
    assert isinstance(chat.value("attach.licence"), FileRef)


def test_more_than_ten_projects_only_largest_ten_need_files() -> None:
    answers: dict[Key, Answer] = {Key("projects.has_projects"): Answer(True)}
    ids = tuple(f"pro{i}" for i in range(1, 13))
    for i, rid in enumerate(ids, 1):
        answers[Key("project.fee_software", rid)] = Answer(Decimal(i))
    view = View(FORM, Filing(1, 2025, answers=answers, records={"projects": ids}))
    spec = FORM.field("attach.project_file")
    required = [view.required(spec, Key(spec.id, rid)) for rid in ids]
    assert required == [False, False] + [True] * 10
    assert view.section_state(FORM.section("attachments")).status is Status.NOT_STARTED


# --- submission and after ---------------------------------------------------------------------


def _complete_chat(status: str = "draft", **extra: object) -> Chat:
    from dataclasses import replace

    from tests.fakes import completed_filing

    _form, filing = completed_filing()
    return Chat(filing=replace(filing, status=status, **extra))  # type: ignore[arg-type]


def test_submit_from_overview_after_the_check() -> None:
    chat = _complete_chat()
    chat.run("总览")
    assert chat.options[0] == "📤 提交审核"  # the next step on the first page (issue 14)
    text = chat.run("提交")
    assert chat.state.mode is Mode.SUBMIT
    assert "✓ 所有部分都已填写完整" in text and "合同金额合计：3,532.00 万元" in text
    assert chat.options[0] == "确认提交"
    text = chat.run("确认提交")
    assert chat.last is not None
    assert chat.last.effects == (SubmitFiling(1),)
    # 2025-12-01 10:00 Beijing is a Monday: the result is due the next working day.
    assert "第 1 版" in text and "2025年12月2日（周二）" in text


def test_submit_check_lists_what_is_missing_with_a_way_there(chat: Chat) -> None:
    chat.run(*ENTERPRISE, "张三")
    text = chat.run("提交")
    assert "✗ 申报联系人：联系人手机" in text and "补全后才能提交" in text
    assert "确认提交" not in chat.options
    assert chat.options[0] == "去填写：申报联系人"
    chat.run("1")
    assert chat.state.field == "contact.mobile"
    chat.run("提交")
    text = chat.send("确认提交")
    assert "补全后才能提交" in text and chat.last is not None and not chat.last.effects


def test_submitted_filing_is_locked_for_contacts() -> None:
    chat = _complete_chat("submitted", version=1, submitted_at=NOW)
    text = chat.send("修改")
    assert "正在审核中" in text and "2025年12月2日" in text
    assert chat.last is not None and not chat.last.changes


def test_approved_filing_takes_the_stamped_form() -> None:
    chat = _complete_chat("approved", version=2)
    text = chat.send("你好")
    assert "审核通过" in text and "盖章" in text
    assert chat.last is not None and isinstance(chat.last.replies[-1], FileRequest)
    stamped = FileRef("c" * 64, "盖章版.pdf", 4096, "application/pdf")
    text = chat.send(FileIn(stamped))
    assert "已收到盖章版申报表：盖章版.pdf（4 KB）" in text
    assert chat.last.effects == (StampedFormReceived(stamped),)
    assert chat.value("workflow.stamped_form") == stamped


def test_rejected_filing_shows_the_reason_and_the_sections_to_fix() -> None:
    chat = _complete_chat(
        "rejected", version=1, review_note="项目合同金额与附件不符", review_sections=("projects",)
    )
    text = chat.send(Start())
    assert "第 1 版审核未通过。原因：项目合同金额与附件不符" in text
    assert "需要修改：3 系统集成项目汇总" in text
    assert "❗ 3 系统集成项目汇总：审核员要求修改" in chat.options
    chat.run(str(chat.options.index("❗ 3 系统集成项目汇总：审核员要求修改") + 1))
    assert chat.state.mode is Mode.SUMMARY and chat.state.section == "projects"


def test_an_answer_based_on_stale_data_never_overwrites_silently(chat: Chat) -> None:
    chat.run(*ENTERPRISE, *CONTACT, "100")
    chat.run("返回")  # shows 职工总数 = 100 to this contact
    assert chat.state.field == "personnel.employees"
    # Meanwhile another contact of the enterprise changes it.
    other = step(
        FORM,
        chat.filing,
        ConvState().asking(Key("personnel.employees"), "personnel", seen=1),
        TextIn("120"),
        NOW,
    )
    chat.filing = apply_changes(chat.filing, other.changes)
    assert chat.value("personnel.employees") == 120
    text = chat.send("90")
    assert "刚刚已被同单位的其他联系人填写为：120 人" in text
    assert chat.value("personnel.employees") == 120 and chat.last is not None
    assert not chat.last.changes
    chat.run("90")  # seen the new value: now it is a deliberate change
    assert chat.value("personnel.employees") == 90


def test_optional_files_can_be_removed_required_ones_only_replaced() -> None:
    chat = _complete_chat()
    projects = chat.view.records("projects")
    # The two smallest of twelve projects need no contract file: theirs can be removed.
    optional = Key("attach.project_file", projects[-1])
    chat.filing = apply_changes(
        chat.filing, [SetAnswer(optional, FileRef("d" * 64, "合同12.pdf", 1024, "application/pdf"))]
    )
    chat.state = ConvState().asking(
        optional, "attachments", editing=True, back_to="summary", seen=2
    )
    assert chat.state.seen == chat.filing.answers[optional].revision
    chat.send("移除")
    assert chat.value("attach.project_file", projects[-1]) == SKIPPED
    required = Key("attach.licence")
    seen = chat.filing.answers[required].revision
    chat.state = ConvState().asking(
        required, "attachments", editing=True, back_to="summary", seen=seen
    )
    text = chat.send("移除")
    assert "不能移除" in text and isinstance(chat.value("attach.licence"), FileRef)


def test_a_trial_filing_is_checked_but_never_submitted() -> None:
    chat = _complete_chat(trial=True)
    chat.run("总览")
    text = chat.run("提交")
    assert "✓ 所有部分都已填写完整" in text and "试用填报" in text
    assert "确认提交" not in chat.options
    chat.send("确认提交")
    assert chat.last is not None and not chat.last.effects
