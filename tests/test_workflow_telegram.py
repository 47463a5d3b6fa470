"""The whole workflow on Telegram: the real python-telegram-bot channel against the fake Bot
API server, a contact and a reviewer as two Telegram users. Roster import and invite on the
same database, the deep link, filling (mostly pre-filled, some typed and pressed, the licence
sent as a document), submission, rejection with a reason and a section, the fix, the change
shown to the reviewer, approval with the declaration PDF as a Telegram document, the stamped
form, and the history."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.admin import import_roster, issue_invite
from bot.app import bootstrap
from bot.channels.telegram import render
from bot.channels.telegram.sender import CHANNEL
from dialogs.model import Key
from storage.migrate import upgrade
from storage.repository import ConversationRepository
from tests.fake_telegram import BOT_USERNAME, FakeTelegram, SentMessage
from tests.fakes import (
    CODE_A,
    ENTERPRISE_A,
    FrozenClock,
    fill_like_the_script,
    pdf_text,
    write_roster,
)
from tests.filing_script import pdf_bytes
from tests.test_telegram import TIMEOUT, Bot, bot_running, run, settings_for

CONTACT, REVIEWER = 4242, 777
NAME = ENTERPRISE_A[0]
REASON = "项目1的软件开发费与合同不符"
OPTIONS: dict[str, Any] = {
    "reviewers": f"telegram:{REVIEWER}",
    "trial_channels": "console",  # a Telegram chat must bind to an enterprise first
}


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server


@dataclass
class Person:
    """A Telegram user talking to the bot; `seen` counts the messages already read."""

    bot: Bot
    user: int
    seen: int = 0
    pressed: list[str] = field(default_factory=list)

    @property
    def fake(self) -> FakeTelegram:
        return self.bot.fake

    async def receive(self, count: int = 1) -> list[SentMessage]:
        """The next `count` messages to this user (replies, or notices the sweeper delivers)."""
        sent = await self.fake.wait_for_messages_async(self.user, self.seen + count, TIMEOUT)
        new, self.seen = sent[self.seen : self.seen + count], self.seen + count
        return new

    async def send(self, text: str, count: int = 1) -> str:
        self.fake.send_text(self.user, text)
        return "\n\n".join(m.body or "" for m in await self.receive(count))

    async def upload(self, name: str, data: bytes) -> str:
        self.fake.send_document(self.user, name, data, "application/pdf")
        return (await self.receive())[0].body or ""

    async def press(self, label: str, count: int = 1) -> str:
        """Presses the button whose label contains `label` on the newest message with buttons,
        turning the keyboard's pages until it shows."""
        message = [m for m in self.fake.messages_to(self.user) if m.callback_data][-1]
        live = await asyncio.to_thread(self.bot.service.live_prompt, CHANNEL, str(self.user))
        assert live is not None and message.callback_data, f"no buttons on {message.body!r}"
        seq, options = live
        assert message.callback_data[0].startswith(f"{seq}:"), "the last message is not live"
        index = next(i for i, (text, _value) in enumerate(options) if label in text)
        wanted = f"{seq}:{index}"
        while wanted not in self.visible(message):
            await self.next_page(message)
        self.fake.press_button(self.user, message.message_id, wanted)
        self.pressed.append(options[index][0])
        return "\n\n".join(m.body or "" for m in await self.receive(count))

    def last(self) -> SentMessage:
        return self.fake.messages_to(self.user)[self.seen - 1]

    def buttons(self) -> list[str]:
        """The labels of the last message's keyboard (its first page)."""
        return [str(b["text"]) for b in self.fake.messages_to(self.user)[-1].buttons]

    def visible(self, message: SentMessage) -> list[str]:
        current = self.fake.message(self.user, message.message_id) or {}
        rows = (current.get("reply_markup") or {}).get("inline_keyboard", [])
        return [str(b.get("callback_data")) for row in rows for b in row]

    async def next_page(self, message: SentMessage) -> None:
        current = self.fake.message(self.user, message.message_id) or {}
        rows = (current.get("reply_markup") or {}).get("inline_keyboard", [])
        data = next(
            b["callback_data"] for row in rows for b in row if b["text"] == render.NEXT_PAGE
        )
        before = len(self.fake.edits)
        self.fake.press_button(self.user, message.message_id, data)
        await self.fake.wait_for_async(
            lambda: [e for e in self.fake.edits[before:] if e.message_id == message.message_id],
            TIMEOUT,
        )


def _prepare(fake: FakeTelegram, tmp_path: Path) -> str:
    """What the association does before the bot runs: the roster and an invite link."""
    settings = settings_for(fake, tmp_path, **OPTIONS)
    upgrade(settings.database_url)
    admin = bootstrap(settings, FrozenClock())
    try:
        report = import_roster(admin, write_roster(tmp_path / "roster.xlsx", [ENTERPRISE_A]))
        assert report.created == 1 and not report.problems
        lines, found = issue_invite(admin, CODE_A)
    finally:
        admin.db.dispose()
    assert found
    # The bot's username comes from getMe on the (fake) Bot API: a deep link to hand out.
    link = next(line for line in lines if "https://t.me/" in line)
    match = re.search(rf"https://t\.me/{BOT_USERNAME}\?start=([A-Z0-9]{{8}})$", link)
    assert match is not None, lines
    return match.group(1)


def _filing_id(bot: Bot) -> int:
    with bot.db.session() as session:
        stored = ConversationRepository(session).get(CHANNEL, str(CONTACT))
    assert stored is not None and stored.filing_id is not None
    return stored.filing_id


def _prefill(bot: Bot) -> None:
    """Everything but the contact section and the licence, typed and sent over Telegram."""

    def leave(key: Key) -> bool:
        return key.field.startswith("contact.") or key.field == "attach.licence"

    now = bot.service.clock.now()
    fill_like_the_script(bot.db, _filing_id(bot), now, files=bot.service.files, leave=leave)


def test_the_whole_workflow_over_telegram(fake: FakeTelegram, tmp_path: Path) -> None:
    code = _prepare(fake, tmp_path)

    async def scenario() -> tuple[Person, Person]:
        async with bot_running(fake, tmp_path, sweep_interval=0.05, **OPTIONS) as bot:
            contact, reviewer = Person(bot, CONTACT), Person(bot, REVIEWER)
            await _bind_and_fill(bot, contact, code)
            await _submit(contact, reviewer)
            await _reject(contact, reviewer)
            await _fix_and_resubmit(contact, reviewer)
            await _approve(contact, reviewer, tmp_path)
            await _complete(contact, reviewer)
            return contact, reviewer

    contact, reviewer = run(scenario())
    # Buttons were pressed wherever a person would; every press was echoed on its message.
    for label in (
        "跳过",
        "确认，下一部分",
        "📤 提交审核",
        "确认提交",
        "✏️ 修改第1个项目：乌鲁木齐市政务云平台，合同金额 401.50 万元 · 软件开发费",
    ):
        assert label in contact.pressed
    for label in ("打开审核", "✅ 通过", "❌ 驳回", "☐ 3 系统集成项目汇总", "📨 发送驳回"):
        assert label in reviewer.pressed
    echoes = [e.text or "" for e in fake.edits if e.method == "editMessageText"]
    assert len(echoes) == len(contact.pressed) + len(reviewer.pressed)
    assert fake.errors == []


async def _bind_and_fill(bot: Bot, contact: Person, code: str) -> None:
    # Not bound yet: a Telegram chat gets the onboarding, not a trial filing.
    assert "邀请码" in await contact.send("你好")
    # The deep link: Telegram sends "/start CODE". The confirmation comes before the question.
    bound, question = (await contact.send(f"/start {code}", count=2)).split("\n\n", 1)
    assert bound.startswith(f"✅ 绑定成功：{NAME}")
    assert question.rstrip().endswith("例如：张三") and "请填写：联系人姓名" in question

    assert "请填写：联系人手机" in await contact.send("李娜")
    assert "请填写：固定电话" in await contact.send("+86 139-9123-4567")
    assert "✓ 已跳过：固定电话" in await contact.press("跳过")
    summary = await contact.send("lina@TSZL.cn")
    assert "【申报联系人 · 小结】" in summary and "联系人手机：13991234567" in summary

    await asyncio.to_thread(_prefill, bot)
    assert "请上传：营业执照" in await contact.press("确认，下一部分")
    reply = await contact.upload("营业执照.pdf", pdf_bytes("licence"))
    assert re.search(r"✓ 已收到文件：营业执照\.pdf（\d+ KB），已保存为“营业执照”", reply), reply
    assert "【6 附件 · 小结】" in reply
    assert "所有部分都已填写完整" in await contact.press("确认，下一部分")


async def _submit(contact: Person, reviewer: Person) -> None:
    check = await contact.press("📤 提交审核")  # on the overview's second page
    assert "✓ 所有部分都已填写完整。" in check and "合同金额合计：3,532.00 万元" in check
    assert "已提交审核（第 1 版）" in await contact.press("确认提交")
    (notice,) = await reviewer.receive()
    assert notice.body == f"📥 新的年检申报待审核：{NAME}（乙级）第 1 版。"
    assert [b["text"] for b in notice.buttons] == ["打开审核"]
    assert "正在审核中" in await contact.send("总览")  # frozen while under review


async def _reject(contact: Person, reviewer: Person) -> None:
    opened = await reviewer.press("打开审核")
    assert f"【审核】{NAME} · 第 1 版 · 待审核" in opened
    assert "系统集成项目：12 个，合同金额 3,532.00 万元" in opened
    assert "请输入驳回原因" in await reviewer.press("❌ 驳回")
    sections = await reviewer.send(REASON)
    assert sections.startswith(f"驳回原因：{REASON}\n请勾选需要企业修改的部分")
    assert "☐ 3 系统集成项目汇总" in reviewer.buttons()
    await reviewer.press("☐ 3 系统集成项目汇总")
    assert "☑ 3 系统集成项目汇总" in reviewer.buttons()
    assert f"❌ 已驳回 {NAME} 第 1 版" in await reviewer.press("📨 发送驳回")

    (notice,) = await contact.receive()
    text = notice.body or ""
    assert f"❗ 第 1 版审核未通过。原因：{REASON}" in text
    assert "需要修改：3 系统集成项目汇总。修改后请重新提交审核。" in text
    assert any("❗ 3 系统集成项目汇总：审核员要求修改" in b["text"] for b in notice.buttons)


async def _fix_and_resubmit(contact: Person, reviewer: Person) -> None:
    # Issue 14: the rejection's link leads to the answer the reason names, the corrected
    # answer to the pre-submit check: three taps from the notice to the resubmission.
    assert contact.buttons()[:2] == [
        "📤 提交审核",
        "✏️ 修改第1个项目：乌鲁木齐市政务云平台，合同金额 401.50 万元 · 软件开发费",
    ]
    assert "当前值：120.50 万元" in await contact.press(contact.buttons()[1])
    check = await contact.send("100")
    assert "✓ 已修改 软件开发费：100.00 万元" in check
    assert "合同金额合计：3,511.50 万元" in check
    assert "三年系统集成项目总值：4,582.00 万元" in check
    assert "已提交审核（第 2 版）" in await contact.press("确认提交")

    (notice,) = await reviewer.receive()
    assert notice.body == f"📥 新的年检申报待审核：{NAME}（乙级）第 2 版。"
    opened = await reviewer.press("打开审核")
    assert f"【审核】{NAME} · 第 2 版 · 待审核" in opened
    assert (
        "与上次驳回版本相比的修改：\n• 第1个项目：乌鲁木齐市政务云平台，合同金额 381.00 万元 · "
        "软件开发费：120.50 万元 → 100.00 万元"
    ) in opened
    assert "系统集成项目：12 个，合同金额 3,511.50 万元" in opened
    assert f"审核驳回（第 1 版）：{REASON}" in opened

    # The reviewer fetches the licence the contact sent: the same bytes, as a document.
    assert "这份申报的附件" in await reviewer.press("📎 附件")
    listed, licence = await reviewer.press("营业执照：营业执照.pdf", count=2), reviewer.last()
    assert "📎 正在发送：营业执照（营业执照.pdf）" in listed
    assert licence.method == "sendDocument" and licence.filename == "营业执照.pdf"
    assert licence.document == pdf_bytes("licence")
    assert f"【审核】{NAME} · 第 2 版" in await reviewer.press("↩ 返回申报")


async def _approve(contact: Person, reviewer: Person, workdir: Path) -> None:
    assert f"✅ 已通过 {NAME} 第 2 版" in await reviewer.press("✅ 通过")
    document, notice = await contact.receive(2)
    assert document.method == "sendDocument" and document.document is not None
    assert document.filename == f"{NAME}-年检申报表-第2版.pdf"
    assert document.caption == f"{NAME} 2025 年度年检申报表（第 2 版）"
    assert "已审核通过" in (notice.body or "")

    pdf = document.document
    assert pdf.startswith(b"%PDF-")
    text = pdf_text(pdf, workdir)
    compact = "".join(text.split())
    assert NAME in text and "91110108551385082Q" in text
    assert f"{NAME}·申报表第2版" in compact  # the header of every page
    # The totals after the fix: project 1's software fee 120.50 -> 100.00 (20.50 less).
    assert re.search(r"^\s*合计\s+12 个项目\s+3,511\.50$", text, re.M)
    assert re.search(r"^\s*合计\s.*\s1,685\.65\s.*\s3,511\.50$", text, re.M)
    assert re.search(r"^三年合计\s+4,582\.00", text, re.M)
    assert "3,532.00" not in text and "4,602.50" not in text


async def _complete(contact: Person, reviewer: Person) -> None:
    reply = await contact.upload("盖章版申报表.pdf", pdf_bytes("stamped"))
    assert reply.startswith("✅ 已收到盖章版申报表：盖章版申报表.pdf")
    assert "年检网上填报环节已全部完成" in reply
    (notice,) = await reviewer.receive()
    assert notice.body == f"📮 {NAME} 已回传盖章版申报表，年检填报完成。"
    assert "已全部完成（第 2 版）" in await contact.send("你好")

    history = await contact.send("/history")
    lines = history.splitlines()
    assert lines[0] == "【处理记录】"
    assert [line.split(" ", 2)[2] for line in lines[1:]] == [
        "提交审核（第 1 版）",
        f"审核驳回（第 1 版）：{REASON}",
        "提交审核（第 2 版）",
        "审核通过（第 2 版）",
        "已回传盖章版申报表，填报完成",
    ]
    assert all(line.startswith("2025-12-01 10:00 ") for line in lines[1:])  # Beijing time
