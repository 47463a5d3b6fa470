"""From the roster to a completed filing, through the service on a real database: import,
invite, binding, submission, rejection, resubmission with its changes, approval with the
declaration PDF, the stamped form, and the history."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.admin import import_roster, issue_invite
from bot.app import App, bootstrap
from bot.privacy import mask_mobile, mask_personal
from bot.settings import Settings
from dialogs.model import Key
from dialogs.replies import Choice, Document, Reply, Start, TextIn, from_payload, reply_text
from storage.db import Database
from storage.messaging import Outbox
from storage.repository import FilingRepository
from tests.fakes import ENTERPRISE_A, FrozenClock, fill_like_the_script, write_roster
from tests.filing_script import pdf_bytes

CHANNEL = "tg"  # a messaging channel: replies go through the outbox, no trial filings
CONTACT, REVIEWER, STRANGER = "alice", "wang", "mallory"


def _roster(path: Path) -> Path:
    return write_roster(
        path, [ENTERPRISE_A, ("坏代码有限公司", "91110108551385082A", "丙", "X-2", 2019)]
    )


@dataclass
class World:
    app: App

    def send(self, chat: str, text: str) -> str:
        turn = self.app.service.handle(CHANNEL, chat, TextIn(text), queue=True)
        return "\n".join(reply_text(r) for r in turn.replies)

    def outbox(self, chat: str) -> list[Reply]:
        with self.app.db.session() as session:
            items = Outbox(session).pending(CHANNEL, chat)
        return [from_payload(item.payload) for item in items]

    def outbox_text(self, chat: str) -> str:
        return "\n".join(reply_text(r) for r in self.outbox(chat))


def _world(database: Database, tmp_path: Path) -> World:
    settings = Settings(
        database_url=database.engine.url.render_as_string(hide_password=False),
        attachments_dir=tmp_path / "files",
        reviewers=f"{CHANNEL}:{REVIEWER}",
        trial_channels="console",
    )
    return World(bootstrap(settings, FrozenClock()))


def _fill_like_the_script(world: World, filing_id: int) -> None:
    """Every answer of the scripted filing except the roster's own (section 1)."""
    fill_like_the_script(world.app.db, filing_id, world.app.service.clock.now())


def test_from_roster_to_completed_filing(database: Database, tmp_path: Path) -> None:
    world = _world(database, tmp_path)
    report = import_roster(world.app, _roster(tmp_path / "roster.xlsx"))
    lines, ok = report.result()
    assert not ok and report.created == 1
    assert "第 3 行「统一社会信用代码」：统一社会信用代码校验位不正确" in "\n".join(lines)
    again = import_roster(world.app, _roster(tmp_path / "roster2.xlsx"))
    assert (again.created, again.updated) == (0, 1)  # a re-import updates, never duplicates

    filing_id = _bind(world)
    _submit_and_reject(world, filing_id)
    _resubmit_and_approve(world, filing_id)
    _complete(world)


def _bind(world: World) -> int:
    # Binding needs proof: an invite code, used once.
    assert "邀请码" in world.send(CONTACT, "你好")
    assert "无效" in world.send(CONTACT, "ABCDEFGH")
    invite, found = issue_invite(world.app, "91110108551385082Q")
    assert found
    code = invite[0].split("：")[1][:8]
    turn = world.app.service.handle(CHANNEL, CONTACT, Start(code), queue=True)
    text = "\n".join(reply_text(r) for r in turn.replies)
    assert "绑定成功：新疆天山智联信息技术有限公司" in text
    assert "联系人姓名" in text  # section 1 came from the roster: the walk starts at contact
    assert "无效" in world.send(STRANGER, code)
    filing_id = turn.filing_id
    assert filing_id is not None
    # Roster values are the association's: read-only for the contact.
    with world.app.db.session() as session:
        filing = FilingRepository(session).load(filing_id)
    assert filing.answers[Key("enterprise.grade")].source == "roster"
    return filing_id


def _submit_and_reject(world: World, filing_id: int) -> None:
    _fill_like_the_script(world, filing_id)
    text = world.send(CONTACT, "提交")
    assert "✓ 所有部分都已填写完整" in text
    text = world.send(CONTACT, "确认提交")
    assert "已提交审核（第 1 版）" in text
    assert "新的年检申报待审核：新疆天山智联信息技术有限公司（乙级）第 1 版" in world.outbox_text(
        REVIEWER
    )
    assert "正在审核中" in world.send(CONTACT, "修改")

    # The reviewer rejects, naming the project summary.
    assert "【待审核 1 份】" in world.send(REVIEWER, "待审")
    text = world.send(REVIEWER, f"打开 {filing_id}")
    assert "第 1 版 · 待审核" in text
    world.send(REVIEWER, "驳回")
    world.send(REVIEWER, "项目1的软件开发费与合同不符")
    world.send(REVIEWER, "部分 projects")
    assert "已驳回" in world.send(REVIEWER, "完成")
    notice = world.outbox_text(CONTACT)
    assert "第 1 版审核未通过。原因：项目1的软件开发费与合同不符" in notice
    assert "需要修改：3 系统集成项目汇总" in notice


def _resubmit_and_approve(world: World, filing_id: int) -> None:
    # The contact follows the rejection's link to the answer the reason names (issue 14:
    # three taps from the notice to the resubmission), corrects it and resubmits.
    notice = [r for r in world.outbox(CONTACT) if isinstance(r, Choice)][-1]
    link = next(o for o in notice.options if o.label.startswith("✏️"))
    assert "第1个项目：乌鲁木齐市政务云平台" in link.label and "软件开发费" in link.label
    assert "软件开发费（万元）" in world.send(CONTACT, link.value)
    text = world.send(CONTACT, "100")
    assert "已修改 软件开发费：100.00 万元" in text and "【提交前检查】" in text
    assert "已提交审核（第 2 版）" in world.send(CONTACT, "确认提交")

    text = world.send(REVIEWER, f"打开 {filing_id}")
    assert "与上次驳回版本相比的修改" in text
    assert "软件开发费" in text
    assert "120.50 万元 → 100.00 万元" in text
    assert "第1个项目：乌鲁木齐市政务云平台，合同金额 381.00 万元 · 软件开发费" in text
    assert "已通过" in world.send(REVIEWER, "通过")
    replies = world.outbox(CONTACT)
    documents = [r for r in replies if isinstance(r, Document)]
    assert documents and documents[-1].content.startswith(b"%PDF-")
    assert documents[-1].filename == "新疆天山智联信息技术有限公司-年检申报表-第2版.pdf"
    assert "已审核通过" in world.outbox_text(CONTACT)


def _complete(world: World) -> None:
    # The stamped form completes the filing; the reviewers hear of it.
    stamped = world.app.service.receive_file(
        CHANNEL, CONTACT, pdf_bytes("stamped"), "盖章版.pdf", queue=True
    )
    assert "已收到盖章版申报表" in reply_text(stamped.replies[0])
    assert "已回传盖章版申报表" in world.outbox_text(REVIEWER)
    assert "已全部完成" in world.send(CONTACT, "你好")

    history = world.send(CONTACT, "/history")
    for step in (
        "提交审核（第 1 版）",
        "审核驳回（第 1 版）",
        "提交审核（第 2 版）",
        "审核通过（第 2 版）",
    ):
        assert step in history
    assert "填报完成" in history


def test_binding_request_and_registration_approved_by_a_reviewer(
    database: Database, tmp_path: Path
) -> None:
    world = _world(database, tmp_path)
    import_roster(world.app, _roster(tmp_path / "roster.xlsx"))

    # A contact of an enterprise on the roster, without an invite code.
    world.send("bob", "你好")
    assert "请输入您的真实姓名" in world.send("bob", "申请绑定")
    world.send("bob", "王小明")
    assert "✗" in world.send("bob", "91110108551385082A")  # check digit
    assert "申请已提交" in world.send("bob", "91110108551385082Q")
    assert "正在等待审核员确认" in world.send("bob", "你好")
    notice = world.outbox_text(REVIEWER)
    assert "新的绑定申请" in notice and "王小明 申请绑定 新疆天山智联信息技术有限公司" in notice

    # A newly certified enterprise registers.
    world.send("carol", "注册")
    world.send("carol", "新疆新星数据科技有限公司")
    code = "91110000600037341L"  # a valid code not on the roster
    world.send("carol", code)
    world.send("carol", "丁")
    world.send("carol", "XJSI-2025-0201")
    world.send("carol", "赵敏")
    assert "申请已提交" in world.send("carol", "139 9123 4567")
    assert "新疆新星数据科技有限公司" in world.outbox_text(REVIEWER)
    assert "139****4567" in world.outbox_text(REVIEWER)  # masked for the reviewer

    text = world.send(REVIEWER, "申请")
    assert "【待处理的申请 2 个】" in text
    ids = [int(line.split()[0][1:]) for line in text.splitlines() if line.startswith("#")]
    world.send(REVIEWER, f"批准申请 {ids[0]}")
    world.send(REVIEWER, f"批准申请 {ids[1]}")
    assert "您的申请已通过" in world.outbox_text("bob")
    assert "绑定成功：新疆天山智联信息技术有限公司" in world.outbox_text("bob")
    assert "绑定成功：新疆新星数据科技有限公司" in world.outbox_text("carol")
    # Bound now: their messages reach their filing.
    assert "联系人" in world.send("carol", "继续")


def test_reviewers_promote_others_and_issue_invites(database: Database, tmp_path: Path) -> None:
    world = _world(database, tmp_path)
    import_roster(world.app, _roster(tmp_path / "roster.xlsx"))
    world.send(REVIEWER, "添加审核员 tg:li")
    assert "目前没有待审核的申报" in world.send("li", "待审")  # li is a reviewer now
    text = world.send(REVIEWER, "邀请 91110108551385082Q")
    code = text.split("邀请码：")[1][:8]
    assert "绑定成功" in world.send("dave", code)


def test_personal_numbers_are_masked() -> None:
    assert mask_mobile("13991234567") == "139****4567"
    text = mask_personal("联系人 13991234567，身份证 650102199001011234，代码 91110108551385082Q")
    assert "139****4567" in text and "650102********1234" in text
    assert "91110108551385082Q" in text  # credit codes are public, not personal
    url = "POST https://api.telegram.org/bot123456:AAHk-x_Yz/getUpdates"
    assert mask_personal(url) == "POST https://api.telegram.org/bot<token>/getUpdates"
