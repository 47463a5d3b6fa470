"""Last year's values: an enterprise that filed 2025 starts its 2026 filing from its 2025
contact, personnel and certificate holders, each confirmed or changed; projects and business
figures never carry over. Through the service on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bot.service import ChatService
from bot.workflow import load_filing
from dialogs import last_year, texts
from dialogs.cycle import Cycle, Grade
from dialogs.form import build_form
from dialogs.model import Filing, Key, Source
from dialogs.replies import Choice, Reply, Start, TextIn, reply_text
from dialogs.roster import RosterEntry
from dialogs.view import SKIPPED, View
from storage.db import Database
from storage.enterprises import EnterpriseRepository
from storage.invites import InviteRepository, new_code
from storage.last_year import last_filed
from storage.members import MemberRepository
from storage.repository import FilingRepository
from storage.workflow import WorkflowRepository, snapshot_of
from tests.fakes import CODE_A, ENTERPRISE_A, FrozenClock, fill_like_the_script, make_service

FORM_2026 = build_form(Cycle.for_year(2026))
FILED_AT = datetime(2025, 12, 1, 2, tzinfo=UTC)
NOW = datetime(2026, 11, 20, 2, tzinfo=UTC)
CHAT = "alice"


def _enterprise(database: Database) -> int:
    entry = RosterEntry(2, ENTERPRISE_A[0], CODE_A, Grade("乙"), "XJSI-2025-0088", 2025)
    with database.session() as session:
        enterprise_id, _created = EnterpriseRepository(session).upsert_from_roster(
            entry, 2025, FILED_AT
        )
    return enterprise_id


def _file_2025(database: Database, enterprise_id: int, until: str) -> int:
    """The scripted 2025 filing, moved through the workflow up to `until`."""
    with database.session() as session:
        filing_id = EnterpriseRepository(session).filing_for(enterprise_id, 2025, FILED_AT)
    fill_like_the_script(database, filing_id, FILED_AT)
    if until == "draft":
        return filing_id
    with database.session() as session:
        workflow = WorkflowRepository(session)
        filing = load_filing(session, filing_id)
        workflow.submit(filing_id, snapshot_of(filing), "test:alice", "test", FILED_AT)
        for status in ("approved", "complete")[
            : ("submitted", "approved", "complete").index(until)
        ]:
            assert workflow.transition(filing_id, status, "test:wang", "test", FILED_AT)
    return filing_id


@dataclass
class Contact:
    service: ChatService
    database: Database

    def say(self, text: str) -> list[Reply]:
        return list(self.service.handle("test", CHAT, TextIn(text)).replies)

    def text(self, text: str) -> str:
        return "\n".join(reply_text(r) for r in self.say(text))

    def filing(self) -> Filing:
        with self.database.session() as session:
            enterprise = MemberRepository(session).get("test", CHAT)
            assert enterprise is not None
            filing_id = EnterpriseRepository(session).filing_for(
                enterprise.enterprise_id, 2026, NOW
            )
            return FilingRepository(session).load(filing_id)


def _contact_2026(database: Database, tmp_path: Path, enterprise_id: int) -> Contact:
    service = make_service(database, tmp_path / "files", 2026, trial=())
    assert isinstance(service.clock, FrozenClock)
    service.clock.current = NOW
    with database.session() as session:
        MemberRepository(session).bind("test", CHAT, enterprise_id, "invite", NOW)
    return Contact(service, database)


def _filed_and_bound(database: Database, tmp_path: Path) -> tuple[Contact, int]:
    enterprise_id = _enterprise(database)
    _file_2025(database, enterprise_id, "complete")
    return _contact_2026(database, tmp_path, enterprise_id), enterprise_id


def test_contact_and_personnel_start_from_last_year(database: Database, tmp_path: Path) -> None:
    contact, _enterprise_id = _filed_and_bound(database, tmp_path)

    # Contact: shown first, nothing saved before it is confirmed.
    offer = contact.service.handle("test", CHAT, Start()).replies[-1]
    assert isinstance(offer, Choice)
    assert "去年（2025 年度）填报的「申报联系人」是：" in offer.text
    for line in ("联系人姓名：李娜", "联系人手机：13991234567", "电子邮箱：lina@tszl.cn"):
        assert line in offer.text
    assert [b.label for b in offer.options] == [texts.BTN_CARRY_ALL, texts.BTN_CARRY_EACH]
    assert not any(k.field.startswith("contact.") for k in contact.filing().answers)

    # Value by value: last year's value is the default, "保留" keeps it.
    question = contact.text("2")
    assert "请填写：联系人姓名" in question and "去年填报：李娜。沿用请发送“保留”" in question
    assert "✓ 已沿用去年：联系人姓名：李娜" in contact.text("保留")
    assert "✓ 已保存 联系人手机：13800138000" in contact.text("138 0013 8000")
    contact.text("保留")  # landline
    contact.text("跳过")  # e-mail: not this year
    answers = contact.filing().answers
    assert answers[Key("contact.name")].value == "李娜"
    assert answers[Key("contact.name")].source is Source.USER
    assert answers[Key("contact.mobile")].value == "13800138000"
    assert answers[Key("contact.email")].value == SKIPPED

    # Personnel: all of last year's at once.
    offer_text = contact.text("确认")
    assert "去年（2025 年度）填报的「1.1 人员情况」是：" in offer_text
    assert "职工总数：120 人" in offer_text and "技术人员总数：45 人" in offer_text
    assert "✓ 已沿用去年填报的「1.1 人员情况」（7 项）" in contact.text("1")
    answers = contact.filing().answers
    assert answers[Key("personnel.employees")].value == 120
    assert answers[Key("personnel.intermediate_title")].value == 20


def test_holders_are_confirmed_one_by_one(database: Database, tmp_path: Path) -> None:
    contact, enterprise_id = _filed_and_bound(database, tmp_path)
    contact.service.handle("test", CHAT, Start())
    for step in ("1", "确认", "1"):  # contact and personnel as last year
        contact.text(step)

    # Certificate holders: 孙丽's HCIP ended 2026-05-01, before the end of 2026.
    holders = contact.text("确认")
    assert "仍在有效期内的 8 本证书" in holders and "孙丽" not in holders
    assert "另有 1 本证书已过有效期" in holders
    assert "去年的持证人员（第 1/8 位）" in contact.text("2")
    assert "✓ 已沿用：持证人姓名 王强" in contact.text("1")  # 王强, 系统集成项目管理工程师
    edit = contact.text("2")  # 王 强, 信息系统项目管理师: changed
    assert "请填写：持证人姓名" in edit and "去年填报：王 强" in edit
    assert "去年填报：信息系统项目管理师" in contact.text("保留")
    contact.text("保留")
    contact.text("2024-0002")  # a new certificate number
    assert "去年的持证人员（第 3/8 位）" in contact.text("保留")  # valid until 2027-06-30
    assert "✓ 不再沿用：持证人姓名 刘洋" in contact.text("3")
    for _ in range(4):
        contact.text("1")
    summary = contact.text("1")
    assert "【1.2 管理人员证书 · 小结】" in summary and "持证人员（共 7 位）" in summary

    filing = contact.filing()
    view = View(FORM_2026, filing)
    ids = view.records("holders")
    assert ids == ("lyhol1", "lyhol2", "lyhol4", "lyhol5", "lyhol7", "lyhol8", "lyhol9")
    assert view.get("holder.number", "lyhol2") == "2024-0002"
    assert view.get("holder.valid_until", "lyhol2") == date(2027, 6, 30)
    assert view.get("holder.name", "lyhol9") == "郑浩"

    # Business figures and projects start empty, without last year's values.
    business = contact.text("确认")
    assert "请填写：2026年营业收入" in business and "去年" not in business
    assert not any(k.field.startswith(("business.", "project")) for k in filing.answers)
    assert filing.record_ids("projects") == ()
    previous = _previous(database, enterprise_id)
    fresh = View(FORM_2026, Filing(filing.id, 2026, previous=previous))
    assert previous.get(Key("business.revenue", "", 2025)) is not None
    assert last_year.default(fresh, Key("business.revenue", "", 2026)) is None
    assert last_year.default(fresh, Key("project.name", "lypro1"), records=True) is None
    assert not last_year.offer_due(fresh, FORM_2026.section("projects"))
    assert not last_year.offer_due(fresh, FORM_2026.section("business"))


def _previous(database: Database, enterprise_id: int) -> Filing:
    with database.session() as session:
        previous = last_filed(session, enterprise_id, 2026)
    assert previous is not None
    return previous


def test_an_unfiled_year_offers_nothing(database: Database, tmp_path: Path) -> None:
    enterprise_id = _enterprise(database)
    _file_2025(database, enterprise_id, "draft")
    with database.session() as session:
        assert last_filed(session, enterprise_id, 2026) is None
    contact = _contact_2026(database, tmp_path, enterprise_id)
    first = reply_text(contact.service.handle("test", CHAT, Start()).replies[-1])
    assert "请填写：联系人姓名" in first and "去年" not in first


def test_a_submitted_filing_counts_and_carried_values_are_refused_when_invalid(
    database: Database, tmp_path: Path
) -> None:
    enterprise_id = _enterprise(database)
    _file_2025(database, enterprise_id, "submitted")
    contact = _contact_2026(database, tmp_path, enterprise_id)
    contact.service.handle("test", CHAT, Start())
    contact.text("2")
    # A new value goes through the same parser as any answer, and is asked again if wrong.
    refused = contact.text("张三丰" * 20)
    assert refused.startswith("✗") and "去年填报：李娜" in refused
    assert Key("contact.name") not in contact.filing().answers
    assert "✓ 已保存 联系人姓名：张三" in contact.text("张三")


def test_binding_opens_on_last_years_contact(database: Database, tmp_path: Path) -> None:
    enterprise_id = _enterprise(database)
    _file_2025(database, enterprise_id, "approved")
    service = make_service(database, tmp_path / "files", 2026, trial=())
    assert isinstance(service.clock, FrozenClock)
    service.clock.current = NOW
    with database.session() as session:
        code = InviteRepository(session).issue(enterprise_id, NOW, timedelta(days=30), new_code())
    replies = service.handle("test", "bob", Start(code)).replies
    shown = "\n".join(reply_text(r) for r in replies)
    assert "✅ 绑定成功" in shown
    assert "去年（2025 年度）填报的「申报联系人」是：" in shown and "联系人姓名：李娜" in shown
