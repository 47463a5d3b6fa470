"""The whole workflow in WeChat: the real WeChat channel (tornado, wechatpy) against the fake
WeChat of tests/fake_wechat.py, which posts signed, AES-encrypted callbacks as WeChat does. A
contact follows the Official Account, binds with an invite code, answers by typing and by
tapping menu options, sends the business licence as a photo (fetched through the media API)
and a financial statement as a PDF through the upload page in headless Chromium, submits; a
reviewer who never wrote gets a template message, then rejects in WeChat; the contact is told
by a customer-service message, fixes and resubmits; two days later the approval reaches the
contact as template messages (the declaration PDF behind a download link); the stamped form
comes back through the upload page. And a filing begun in the terminal is continued in WeChat
by a second contact of the same enterprise."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from bot.admin import import_roster, issue_invite
from bot.app import bootstrap
from bot.channels.console import ConsoleChat
from bot.channels.wechat.delivery import CHANNEL
from dialogs.model import Key
from dialogs.replies import Reply, reply_text
from storage.messaging import SENT
from storage.migrate import upgrade
from storage.repository import ConversationRepository
from tests.fake_wechat import TEMPLATE_ID, FakeWeChat
from tests.fakes import (
    CODE_A,
    ENTERPRISE_A,
    FrozenClock,
    fill_like_the_script,
    pdf_text,
    write_roster,
)
from tests.filing_script import pdf_bytes
from tests.test_telegram import jpeg_bytes
from tests.wechat_harness import (
    Bot,
    Person,
    bot_running,
    download,
    headless_chromium,
    wechat_settings,
)

CONTACT, REVIEWER = "oQ5bX0t2Lina_contact", "oQ5bX0t2Wang_reviewer"
NAME = ENTERPRISE_A[0]
REASON = "项目1的软件开发费与合同不符"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def fake(clock: FrozenClock) -> Iterator[FakeWeChat]:
    with FakeWeChat(clock) as server:
        yield server


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    """A phone-sized window."""
    with headless_chromium(390, 844, "the upload page") as driver:
        yield driver


def _prepare(fake: FakeWeChat, tmp_path: Path, clock: FrozenClock, count: int = 1) -> list[str]:
    """What the association does before: the roster, and invite codes to hand out."""
    settings = wechat_settings(fake, tmp_path)
    upgrade(settings.database_url)
    admin = bootstrap(settings, clock)
    try:
        report = import_roster(admin, write_roster(tmp_path / "roster.xlsx", [ENTERPRISE_A]))
        assert report.created == 1 and not report.problems
        codes = []
        for _ in range(count):
            lines, found = issue_invite(admin, CODE_A)
            assert found
            match = re.search(r"邀请码：([A-Z0-9]{8})", "\n".join(lines))
            assert match is not None, lines
            codes.append(match.group(1))
    finally:
        admin.db.dispose()
    return codes


def _filing_id(bot: Bot, openid: str) -> int:
    with bot.db.session() as session:
        stored = ConversationRepository(session).get(CHANNEL, openid)
    assert stored is not None and stored.filing_id is not None
    return stored.filing_id


def test_the_whole_workflow_over_wechat(
    fake: FakeWeChat, tmp_path: Path, clock: FrozenClock, browser: webdriver.Chrome
) -> None:
    (code,) = _prepare(fake, tmp_path, clock)
    options: dict[str, Any] = {"reviewers": f"wechat:{REVIEWER}"}
    with bot_running(fake, tmp_path, clock, **options) as bot:
        contact, reviewer = Person(bot, CONTACT), Person(bot, REVIEWER)
        _bind_and_fill(bot, contact, code, browser)
        _submit(bot, contact, reviewer)
        _reject(contact, reviewer)
        _fix_and_resubmit(contact, reviewer)
        _approve_two_days_later(bot, contact, reviewer, tmp_path)
        _complete(bot, contact, reviewer)
    assert fake.errors == [] and fake.refused == []  # never over WeChat's limits
    # Every callback was answered at the first try, well within WeChat's five seconds.
    assert all(len(d.attempts) == 1 and d.answered for d in fake.deliveries)


def _bind_and_fill(bot: Bot, contact: Person, code: str, browser: webdriver.Chrome) -> None:
    welcome = contact.event("subscribe")
    assert "邀请码" in welcome and "1. <a href=" in welcome
    bound = contact.send(code)
    assert bound.startswith(f"✅ 绑定成功：{NAME}")
    assert "请填写：联系人姓名" in bound
    # The confirmation was the passive reply; the question followed as a customer-service
    # message: both were delivered, once.
    kinds = [s.kind for s in bot.fake.shown_to(CONTACT)]
    assert kinds == ["passive", "passive", "custom"]

    assert "请填写：联系人手机" in contact.send("李娜")
    landline = contact.send("+86 139-9123-4567")
    assert "请填写：固定电话" in landline and "也可以发送：" in landline
    assert "✓ 已跳过：固定电话" in contact.tap("跳过")  # a menu link, tapped
    summary = contact.send("lina@TSZL.cn")
    assert "【申报联系人 · 小结】" in summary and "联系人手机：13991234567" in summary

    def leave(key: Key) -> bool:
        return key.field.startswith("contact.") or key.field in (
            "attach.licence",
            "attach.income_statement",
        )

    now = bot.clock.now()
    fill_like_the_script(
        bot.db, _filing_id(bot, CONTACT), now, files=bot.service.files, leave=leave
    )
    ask = contact.tap("确认，下一部分")
    assert "请上传：营业执照" in ask and "点击这里上传文件" in ask

    # The licence as a photo: WeChat hands the bot a media id, the bot fetches the image.
    photo = contact.send_image(jpeg_bytes())
    assert re.search(r"✓ 已收到文件：营业执照\.jpg（\d+ KB），已保存为“营业执照”", photo), photo
    assert "请上传：利润表" in photo

    # The income statement is a PDF: through the upload page, on a phone-sized Chromium.
    link = contact.page_links()[-1]
    assert "/wechat/upload/" in link
    statement = bot.settings.attachments_dir.parent / "利润表.pdf"
    statement.write_bytes(pdf_bytes("income statement"))
    browser.get(link)
    assert browser.find_element(By.ID, "slot").text == "利润表"
    assert "请上传：利润表" in browser.find_element(By.ID, "question").text
    browser.find_element(By.ID, "file").send_keys(str(statement))
    browser.find_element(By.ID, "send").click()
    WebDriverWait(browser, 20).until(
        expected_conditions.presence_of_element_located((By.ID, "said"))
    )
    assert browser.find_element(By.ID, "status").text == "已收到"
    said = browser.find_element(By.ID, "said").text
    assert re.search(r"✓ 已收到文件：利润表\.pdf（\d+ KB），已保存为“利润表”", said), said
    # The chat got the same acknowledgement, and the section's summary.
    after = contact.text()
    assert "✓ 已收到文件：利润表.pdf" in after and "【6 附件 · 小结】" in after
    # The link was for that question only: used again now, it refuses.
    again = httpx.post(link, files={"file": ("x.pdf", pdf_bytes("other"))}, timeout=20)
    assert again.status_code == 409 and "对话已经到了别的问题" in again.text
    assert "所有部分都已填写完整" in contact.tap("确认，下一部分")


def _submit(bot: Bot, contact: Person, reviewer: Person) -> None:
    check = contact.tap("📤 提交审核")
    assert "✓ 所有部分都已填写完整。" in check and "合同金额合计：3,532.00 万元" in check
    assert "已提交审核（第 1 版）" in contact.tap("确认提交")
    # The reviewer never wrote to the account: outside the 48-hour window, a template.
    (notice,) = reviewer.receive()
    assert notice.kind == "template" and notice.template_id == TEMPLATE_ID
    assert notice.data["first"]["value"] == "年检助手通知"
    assert notice.data["keyword1"]["value"].startswith("📥 新的年检申报待审核")
    assert notice.data["keyword2"]["value"] == "2025-12-01 10:00"  # Beijing time
    page = download(notice.url)
    assert page.status_code == 200
    assert (
        f"📥 新的年检申报待审核：{NAME}（乙级）第 1 版。" in page.text and "打开审核" in page.text
    )
    assert "正在审核中" in contact.send("总览")  # frozen while under review


def _reject(contact: Person, reviewer: Person) -> None:
    # Writing opens the reviewer's window; the number picks the option as a tap would.
    queue = reviewer.send("你好")
    assert NAME in queue, queue
    opened = reviewer.send("1")
    assert f"【审核】{NAME} · 第 1 版 · 待审核" in opened
    assert "请输入驳回原因" in reviewer.tap("❌ 驳回")
    sections = reviewer.send(REASON)
    assert sections.startswith(f"驳回原因：{REASON}\n请勾选需要企业修改的部分")
    assert "☑ 3 系统集成项目汇总" in reviewer.tap("☐ 3 系统集成项目汇总")
    assert f"❌ 已驳回 {NAME} 第 1 版" in reviewer.tap("📨 发送驳回")

    # The notice with its numbered options (a deep link among them) may take two messages.
    notices = contact.receive()
    assert all(n.kind == "custom" for n in notices)  # the contact wrote minutes ago
    text = "\n".join(n.text for n in notices)
    assert f"❗ 第 1 版审核未通过。原因：{REASON}" in text
    assert "需要修改：3 系统集成项目汇总。修改后请重新提交审核。" in text
    assert "✏️ 修改第1个项目：乌鲁木齐市政务云平台" in text


def _fix_and_resubmit(contact: Person, reviewer: Person) -> None:
    # The rejection's deep link, then the pre-submit check right after the answer.
    assert "当前值：120.50 万元" in contact.tap("✏️ 修改第1个项目")
    check = contact.send("100")
    assert "✓ 已修改 软件开发费：100.00 万元" in check
    assert "合同金额合计：3,511.50 万元" in check
    assert "已提交审核（第 2 版）" in contact.tap("确认提交")
    (notice,) = reviewer.receive()
    assert notice.kind == "custom"
    assert notice.text.startswith(f"📥 新的年检申报待审核：{NAME}（乙级）第 2 版。")


def _approve_two_days_later(bot: Bot, contact: Person, reviewer: Person, workdir: Path) -> None:
    bot.clock.advance(hours=49)  # the contact's window has closed
    opened = reviewer.tap("打开审核")  # the tap is a message too: the reviewer's window opens
    assert f"【审核】{NAME} · 第 2 版 · 待审核" in opened
    assert "软件开发费：120.50 万元 → 100.00 万元" in opened
    assert f"✅ 已通过 {NAME} 第 2 版" in reviewer.tap("✅ 通过")

    # Outside the window: template messages, each opening what it stands for.
    document, notice = contact.receive()
    assert document.kind == notice.kind == "template"
    assert document.data["keyword1"]["value"].startswith(NAME)
    assert document.data["keyword2"]["value"] == "2025-12-03 11:00"
    assert "/wechat/file/" in document.url and "/wechat/view/" in notice.url
    assert notice.data["keyword1"]["value"].startswith("🎉 您的年检申报（第 2 版）已审核通")
    pdf = download(document.url)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert "filename*=UTF-8''" in pdf.headers["content-disposition"]
    assert pdf.content.startswith(b"%PDF-")
    text = pdf_text(pdf.content, workdir)
    assert NAME in text and "91110108551385082Q" in text
    assert re.search(r"^\s*合计\s+12 个项目\s+3,511\.50$", text, re.M)
    assert re.search(r"^\s*合计\s.*\s1,685\.65\s.*\s3,511\.50$", text, re.M)
    assert "已审核通过" in download(notice.url).text


def _complete(bot: Bot, contact: Person, reviewer: Person) -> None:
    # The contact writes again (the window reopens) and gets the stamped form's upload link.
    reply = contact.send("你好")
    assert "盖章" in reply
    link = contact.page_links()[-1]
    page = httpx.get(link, timeout=20)
    assert page.status_code == 200 and "盖章版申报表" in page.text
    done = httpx.post(link, files={"file": ("盖章版申报表.pdf", pdf_bytes("stamped"))}, timeout=20)
    assert done.status_code == 200 and "年检网上填报环节已全部完成" in done.text
    assert "✅ 已收到盖章版申报表：盖章版申报表.pdf" in contact.text()
    (notice,) = reviewer.receive()
    assert notice.text == f"📮 {NAME} 已回传盖章版申报表，年检填报完成。"
    sent = [row for row in bot.outbox(CONTACT) if row.status != SENT]
    assert sent == []  # everything queued for the contact was delivered


def test_a_filing_begun_in_the_terminal_is_continued_in_wechat(
    fake: FakeWeChat, tmp_path: Path, clock: FrozenClock
) -> None:
    terminal_code, wechat_code = _prepare(fake, tmp_path, clock, count=2)
    with bot_running(fake, tmp_path, clock, trial_channels="") as bot:
        # The first contact binds and starts in the terminal chat.
        console = ConsoleChat(bot.service, "wang", io.StringIO(), io.StringIO(), tmp_path)
        assert "请填写：联系人姓名" in _said(console.step(terminal_code))
        for answer in ("王强", "13800138000", "跳过"):
            assert "✗" not in _said(console.step(answer))
        assert "【申报联系人 · 小结】" in _said(console.step("wang@example.cn"))

        # The second contact binds in WeChat: the same filing, the contact section done.
        contact = Person(bot, CONTACT)
        bound = contact.send(wechat_code)
        assert bound.startswith(f"✅ 绑定成功：{NAME}")
        assert "请填写：联系人姓名" not in bound and "请填写：职工总数（人）" in bound
        assert "✅ 申报联系人：已完成" in contact.send("总览")
        # Answers given in WeChat are the terminal contact's filing too.
        assert "请填写：职工总数（人）" in contact.tap("继续填报")
        assert "请填写：技术人员总数" in contact.send("35")
        assert "请填写：技术人员总数" in _said(console.step("继续"))
        assert _filing_id(bot, CONTACT) == _console_filing(bot)


def _said(replies: Sequence[Reply]) -> str:
    return "\n\n".join(reply_text(r) for r in replies)


def _console_filing(bot: Bot) -> int:
    with bot.db.session() as session:
        stored = ConversationRepository(session).get("console", "wang")
    assert stored is not None and stored.filing_id is not None
    return stored.filing_id


def test_a_refused_choice_keeps_the_listed_options_working(
    fake: FakeWeChat, tmp_path: Path, clock: FrozenClock
) -> None:
    """After a refused answer to the 39 certificates, WeChat does not send the list again: it
    says why, asks the question and points to the list above, whose links still answer it."""
    (code,) = _prepare(fake, tmp_path, clock)
    with bot_running(fake, tmp_path, clock) as bot:
        contact = Person(bot, CONTACT)
        contact.send(code)
        contact.send("总览")
        assert "请填写：持证人姓名" in contact.tap("1.2 管理人员证书")
        listed = contact.send("王强")
        assert listed.count("<a href=") >= 39 and "IT 服务经理（ITSS）" in listed
        before = contact.option("网络工程师")
        refused = contact.send("不知道")
        assert "✗ 没有找到与“不知道”相符的选项。" in refused and "例如：软件设计师" in refused
        assert "请选择：证书名称" in refused and "（选项见上一条消息" in refused
        assert "<a href=" not in refused
        # The earlier message's option, tapped now, answers the question.
        assert contact.option("网络工程师") == before
        assert "✓ 已保存 证书名称：网络工程师" in contact.tap("网络工程师")
        assert fake.errors == [] and fake.refused == []
