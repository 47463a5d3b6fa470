"""The WeChat channel's own behaviour, against the fake WeChat: URL verification and signature
checks, safe mode, the five-second rule with a slow database, duplicate callbacks, menu taps
and stale options, images and the upload page, proactive messages inside and outside the
48-hour window with every failure recorded, and signed links. The whole filing is in
tests/test_wechat_workflow.py."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bot.channels.wechat import texts
from bot.channels.wechat.delivery import CHANNEL, NO_TEMPLATE
from bot.channels.wechat.links import UPLOAD, LinkSigner
from bot.channels.wechat.render import MAX_BYTES, menu_press, split_text
from bot.channels.wechat.server import EMPTY_ACK
from bot.channels.wechat.texts import UNSUPPORTED
from bot.clock import SystemClock
from dialogs.replies import Button as Option
from dialogs.replies import Choice, Text, to_payload
from storage.db import Database
from storage.messaging import BLOCKED, FAILED, PENDING, SENT, ChannelChats, Outbox
from storage.migrate import upgrade
from storage.models import OutboxRow, ProcessedEventRow
from storage.repository import ConversationRepository
from tests.fake_telegram import FakeTelegram
from tests.fake_wechat import AES_KEY, APP_ID, APP_SECRET, TOKEN, FakeWeChat, sign
from tests.fakes import FrozenClock, fill_like_the_script
from tests.filing_script import pdf_bytes
from tests.reminder_fixtures import seed
from tests.test_telegram import jpeg_bytes
from tests.wechat_harness import (
    TIMEOUT,
    Bot,
    Person,
    SlowDatabase,
    bot_running,
    wait_until,
    wechat_settings,
)

USER = "oX7f2mTrialUser0001"
WELCOME = "您好！我是年检助手"
TRIAL: dict[str, Any] = {"trial_channels": "console,wechat"}  # unbound chats fill a trial filing


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def fake(clock: FrozenClock) -> Iterator[FakeWeChat]:
    with FakeWeChat(clock) as server:
        yield server


@pytest.fixture
def bot(fake: FakeWeChat, tmp_path: Path, clock: FrozenClock) -> Iterator[Bot]:
    with bot_running(fake, tmp_path, clock, **TRIAL) as running:
        yield running


def _signed() -> dict[str, str]:
    timestamp, nonce = str(int(time.time())), "n0nce42"
    return {"signature": sign(TOKEN, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}


def _processed(bot: Bot) -> int:
    with bot.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(ProcessedEventRow)) or 0)


# --- the callback: verification, signatures, safe mode -----------------------------------------


def test_url_verification_echoes_only_a_genuine_signature(bot: Bot) -> None:
    ok = httpx.get(bot.url, params=_signed() | {"echostr": "5838479218127813673"})
    assert ok.status_code == 200 and ok.text == "5838479218127813673"
    forged = _signed() | {"echostr": "1", "signature": "0" * 40}
    assert httpx.get(bot.url, params=forged).status_code == 403
    assert httpx.get(bot.url, params={"echostr": "1"}).status_code == 403


def test_callbacks_that_are_not_from_wechat_are_refused(bot: Bot, fake: FakeWeChat) -> None:
    message = f"<xml><ToUserName>gh</ToUserName><FromUserName>{USER}</FromUserName>"
    message += "<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>你好</Content>"
    message += "<MsgId>1</MsgId></xml>"
    # Wrong signature.
    bad = _signed() | {"signature": "f" * 40, "encrypt_type": "aes", "msg_signature": "x"}
    assert httpx.post(bot.url, params=bad, content=message).status_code == 403
    # Right signature, but plain text while safe mode is configured.
    assert httpx.post(bot.url, params=_signed(), content=message).status_code == 403
    # Right signature, ciphertext signed with another token.
    params = _signed()
    envelope = fake.crypto.encrypt_message(message, params["nonce"], params["timestamp"])
    encrypted = re.search(r"<Encrypt><!\[CDATA\[(.*?)\]\]>", envelope)
    assert encrypted is not None
    body = f"<xml><ToUserName>gh</ToUserName><Encrypt>{encrypted.group(1)}</Encrypt></xml>"
    forged = params | {"encrypt_type": "aes", "msg_signature": sign("other", "1", "2", "3")}
    assert httpx.post(bot.url, params=forged, content=body).status_code == 403
    # Nothing of it was processed or stored.
    assert _processed(bot) == 0 and bot.outbox(USER) == []
    assert fake.shown == []


def test_plain_text_mode(tmp_path: Path, clock: FrozenClock) -> None:
    with FakeWeChat(clock, encrypted=False) as fake, bot_running(fake, tmp_path, clock, **TRIAL):
        delivery = fake.send_event(USER, "subscribe")
        assert delivery.passive is not None and WELCOME in delivery.passive


# --- the five-second rule, duplicates ------------------------------------------------------------


def test_a_quick_answer_is_the_passive_reply_and_is_not_sent_again(bot: Bot) -> None:
    person = Person(bot, USER)
    welcome = person.event("subscribe")
    assert WELCOME in welcome and "请填写：单位名称" in welcome
    (shown,) = bot.fake.shown_to(USER)
    assert shown.kind == "passive"
    rows = bot.outbox(USER)
    assert [r.status for r in rows] == [SENT]  # the passive reply was recorded as delivered
    time.sleep(3 * bot.channel.sweep_interval)  # the sweeper has nothing left to send
    assert [s.kind for s in bot.fake.shown_to(USER)] == ["passive"]


def test_a_slow_database_never_breaks_the_five_second_rule(bot: Bot) -> None:
    person = Person(bot, USER)
    person.event("subscribe")
    slow = SlowDatabase(bot.db, seconds=6.0)
    slow.on.set()
    delivery = bot.fake.send_text(USER, "新疆天山智联信息技术有限公司")
    slow.on.clear()
    # Answered at the first try, before WeChat's five seconds, with the empty acknowledgement.
    (attempt,) = delivery.attempts
    assert attempt.status == 200 and attempt.body == EMPTY_ACK
    assert attempt.seconds < 5.0
    assert delivery.passive is None
    # The engine's answer follows as a customer-service message, once.
    bot.fake.wait_for(USER, 2)
    answer = person.receive()
    assert [s.kind for s in answer] == ["custom"]
    assert "✓ 已保存 单位名称（汉字全称）：新疆天山智联信息技术有限公司" in answer[0].text
    time.sleep(3 * bot.channel.sweep_interval)
    assert len(bot.fake.shown_to(USER)) == 2


def test_copies_of_one_message_are_answered_once(bot: Bot) -> None:
    person = Person(bot, USER)
    person.event("subscribe")
    # Three copies at once (WeChat retried while the first answer was on its way).
    delivery = bot.fake.send_text(USER, "新疆天山智联信息技术有限公司", tries=3)
    assert len(delivery.attempts) == 3
    answers = {a.body for a in delivery.attempts}
    assert len(answers) == 1 and "✓ 已保存 单位名称" in answers.pop()  # the same passive reply
    assert len(person.receive()) == 1
    # A copy after the answer: the same answer again, nothing stored or sent twice.
    again = bot.fake.redeliver(delivery)
    assert again.status == 200 and "✓ 已保存 单位名称" in again.body
    time.sleep(3 * bot.channel.sweep_interval)
    assert person.receive() == []
    assert len(bot.outbox(USER)) == 2  # the welcome and this one answer


def test_a_copy_arriving_while_the_first_is_in_flight_is_answered_once(bot: Bot) -> None:
    person = Person(bot, USER)
    person.event("subscribe")
    slow = SlowDatabase(bot.db, seconds=2.0)
    slow.on.set()
    delivery = bot.fake.send_text(USER, "新疆天山智联信息技术有限公司", tries=2)
    slow.on.clear()
    assert all(a.status == 200 and a.seconds < 5.0 for a in delivery.attempts)
    # Each copy's nonce is checked in the (slow) database first: the answer may well come
    # as a customer-service message after both were acknowledged.
    bot.fake.wait_for(USER, 2)
    answers = person.receive()
    assert len(answers) == 1 and "✓ 已保存 单位名称" in answers[0].text
    time.sleep(3 * bot.channel.sweep_interval)
    assert len(bot.fake.shown_to(USER)) == 2


def test_a_copy_after_a_restart_is_recognised(fake: FakeWeChat, tmp_path: Path) -> None:
    clock = FrozenClock()
    with bot_running(fake, tmp_path, clock, **TRIAL) as bot:
        person = Person(bot, USER)
        person.event("subscribe")
        delivery = fake.send_text(USER, "新疆天山智联信息技术有限公司")
        person.receive()
    with bot_running(fake, tmp_path, clock, **TRIAL) as bot:
        attempt = fake.redeliver(delivery)
        assert attempt.status == 200 and attempt.body == EMPTY_ACK
        time.sleep(3 * bot.channel.sweep_interval)
        assert len(fake.shown_to(USER)) == 2 and len(bot.outbox(USER)) == 2


def test_an_event_posted_twice_is_handled_once(bot: Bot) -> None:
    delivery = bot.fake.send_event(USER, "subscribe")
    bot.fake.redeliver(delivery)  # same sender, same CreateTime
    bot.settled(USER)
    assert len(bot.outbox(USER)) == 1
    assert _processed(bot) == 1


# --- options, texts, images, the upload page ---------------------------------------------------


def test_options_are_numbered_menu_links_and_a_stale_one_is_refused(bot: Bot) -> None:
    person = Person(bot, USER)
    person.event("subscribe")
    person.send("新疆天山智联信息技术有限公司")
    grade = person.send("91110108551385082Q")
    assert re.search(
        r"\n1\. <a href=\"weixin://bizmsgmenu\?msgmenucontent=甲级&msgmenuid=\d+\">", grade
    )
    first_prompt = person.option("乙级")
    assert "✓ 已保存 资质等级：乙级" in person.tap("乙级")
    # The options of that question are used up: tapping one again changes nothing.
    delivery = bot.fake.send_text(USER, "丙级", menu_id=first_prompt[1])
    assert delivery.passive == texts.STALE_OPTION
    # Typing still works everywhere.
    assert "✗" not in person.send("XJSI-2025-0088")


def test_long_texts_are_split_within_wechat_limits(bot: Bot) -> None:
    labels = [f"证书{i}：信息系统项目管理师（高级）第{i}号" for i in range(60)]
    choice = Choice(
        "请选择证书。" * 80, tuple(Option(label, str(i)) for i, label in enumerate(labels))
    )
    Person(bot, USER).event("subscribe")
    with bot.db.session() as session:
        seq = ChannelChats(session).new_prompt(
            CHANNEL, USER, [[o.label, o.value] for o in choice.options], bot.clock.now()
        )
        Outbox(session).add(CHANNEL, USER, [to_payload(choice) | {"seq": seq}], bot.clock.now())
    bot.call(bot.channel.sender.deliver(USER))
    shown = Person(bot, USER, seen=1).receive()
    assert len(shown) > 3 and all(len(s.text.encode()) <= MAX_BYTES for s in shown)
    joined = "\n".join(s.text for s in shown)
    for number, label in enumerate(labels, 1):
        assert f"\n{number}. <a href=" in f"\n{joined}" and f">{label}</a>" in joined
    menu_ids = re.findall(r"msgmenuid=(\d+)", joined)
    assert [menu_press(m) for m in menu_ids] == [(seq, i) for i in range(len(labels))]
    assert split_text("a" * 5000) == ["a" * 2048, "a" * 2048, "a" * 904]
    assert all(len(p.encode()) <= 2048 for p in split_text("汉" * 1500))


def test_unsupported_messages_get_a_hint(bot: Bot) -> None:
    delivery = bot.fake.deliver(USER, {"MsgType": "voice", "MediaId": "m", "MsgId": "77"})
    assert delivery.passive == UNSUPPORTED


def _to_licence(bot: Bot, person: Person) -> str:
    """A bound-like trial chat at the business licence question."""
    person.event("subscribe")
    with bot.db.session() as session:
        stored = ConversationRepository(session).get(CHANNEL, USER)
    assert stored is not None and stored.filing_id is not None
    fill_like_the_script(
        bot.db,
        stored.filing_id,
        bot.clock.now(),
        files=bot.service.files,
        leave=lambda key: key.field.startswith("attach."),
    )
    person.send("保留")  # the question on screen was answered meanwhile: keep it
    person.send("总览")
    return person.tap("6 附件")


def test_an_image_that_cannot_be_fetched_is_asked_again(bot: Bot) -> None:
    person = Person(bot, USER)
    assert "请上传：营业执照" in _to_licence(bot, person)
    bot.fake.fail_next("media", 40007)
    reply = person.send_image(jpeg_bytes())
    assert texts.UNREADABLE in reply and "请上传：营业执照" in reply
    assert "✓ 已收到文件：营业执照.jpg" in person.send_image(jpeg_bytes())


def test_the_upload_page_checks_files_like_every_channel(bot: Bot) -> None:
    person = Person(bot, USER)
    _to_licence(bot, person)
    link = person.page_links()[-1]
    page = httpx.get(link)
    assert page.status_code == 200 and "营业执照" in page.text
    assert 'accept="application/pdf,image/jpeg,image/png,application/ofd' in page.text
    # A renamed text file: refused with the store's reason, asked again with a new link.
    text_file = b"just some text\n" * 20
    refused = httpx.post(link, files={"file": ("营业执照.pdf", text_file)})
    assert refused.status_code == 200 and "没有保存" in refused.text and "✗" in refused.text
    again = re.search(r'id="again" href="([^"]+)">重新上传<', refused.text)
    assert again is not None and again.group(1) != link
    chat = person.text()
    assert "✗" in chat and again.group(1).split("/upload/")[1] in chat
    # Nothing kept; then a real PDF through the new link is stored.
    assert not list(bot.settings.attachments_dir.rglob(hashlib.sha256(text_file).hexdigest()))
    done = httpx.post(again.group(1), files={"file": ("营业执照.pdf", pdf_bytes("licence"))})
    assert done.status_code == 200 and "已收到" in done.text
    # The next question asks for a file as well: the page leads straight to its upload.
    following = re.search(r'id="again" href="([^"]+)">继续上传：资产负债表<', done.text)
    assert following is not None
    assert "请上传：资产负债表" in httpx.get(following.group(1)).text
    assert "✓ 已收到文件：营业执照.pdf" in person.text()
    # The same upload posted again (a reload) is recognised.
    twice = httpx.post(again.group(1), files={"file": ("营业执照.pdf", pdf_bytes("licence"))})
    assert twice.status_code == 200 and texts.UPLOAD_DUPLICATE in twice.text


def test_links_are_personal_signed_and_expire(bot: Bot) -> None:
    person = Person(bot, USER)
    _to_licence(bot, person)
    link = person.page_links()[-1]
    base, token = link.rsplit("/", 1)
    item_id, stamp, signature = token.split(".")
    for forged in (
        f"{int(item_id) - 1}.{stamp}.{signature}",  # another item
        f"{item_id}.{int(stamp) + 86400}.{signature}",  # a longer life
        f"{item_id}.{stamp}.{signature[:-2]}xx",
    ):
        assert httpx.get(f"{base}/{forged}").status_code == 403
    # A link of one kind does not open another kind of page.
    assert httpx.get(link.replace("/upload/", "/file/")).status_code == 403
    bot.clock.advance(hours=bot.settings.wechat_upload_link_hours, seconds=1)
    expired = httpx.get(link)
    assert expired.status_code == 403 and texts.LINK_INVALID in expired.text
    signer = LinkSigner(b"another secret", base.removesuffix("/upload"))
    other = signer.url(UPLOAD, int(item_id), bot.clock.now() + timedelta(hours=1))
    assert httpx.get(other).status_code == 403


# --- proactive messages: the 48-hour window, templates, failures ----------------------------------


def _queue(bot: Bot, *texts_: str) -> list[int]:
    """What a reminder run or a reviewer's decision does: replies queued for the chat."""
    with bot.db.session() as session:
        payloads = [to_payload(Text(t)) for t in texts_]
        return Outbox(session).add(CHANNEL, USER, payloads, bot.clock.now())


def _statuses(bot: Bot) -> list[tuple[str, str | None]]:
    return [(r.status, r.last_error) for r in bot.outbox(USER)]


def test_within_the_window_customer_service_messages_outside_a_template(bot: Bot) -> None:
    person = Person(bot, USER)
    person.event("subscribe")
    _queue(bot, "⏰ 提醒：请在 2026-04-30 前办理证书续期。")
    (reminder,) = person.receive()  # the sweeper delivers whatever is queued
    assert reminder.kind == "custom" and reminder.text.startswith("⏰ 提醒")
    bot.clock.advance(hours=47, minutes=56)
    _queue(bot, "⏰ 第二次提醒：请尽快办理证书续期，办理后发送“续证已办理”。")
    (later,) = person.receive()
    assert later.kind == "template"  # too close to the end of the window to risk it
    assert later.data["keyword1"]["value"] == "⏰ 第二次提醒：请尽快办理证书续期，办…"
    page = httpx.get(later.url)
    assert "办理后发送“续证已办理”" in page.text
    assert [s for s, _e in _statuses(bot)] == [SENT, SENT, SENT]


def test_when_wechat_says_the_window_closed_a_template_goes_instead(bot: Bot) -> None:
    person = Person(bot, USER)
    person.event("subscribe")
    bot.fake.fail_next("custom", 45015)
    _queue(bot, "审核结果：已通过")
    (shown,) = person.receive()
    assert shown.kind == "template" and "审核结果：已通过" in shown.text


def test_without_a_template_a_message_waits_for_the_user(
    fake: FakeWeChat, tmp_path: Path, clock: FrozenClock
) -> None:
    with bot_running(fake, tmp_path, clock, wechat_template_id=None, **TRIAL) as bot:
        person = Person(bot, USER)
        person.event("subscribe")
        bot.clock.advance(hours=49)
        _queue(bot, "❗ 第 1 版审核未通过。")
        wait_until(lambda: _statuses(bot)[-1][1] or None)
        assert _statuses(bot)[-1] == (PENDING, NO_TEMPLATE)  # kept, with the reason
        assert len(fake.shown_to(USER)) == 1
        # The user writes: the window opens, the waiting message goes first, then the reply.
        fake.send_text(USER, "继续")
        shown = person.receive()
        assert shown[0].text == "❗ 第 1 版审核未通过。" and "单位名称" in shown[-1].text
        assert all(s == SENT for s, _e in _statuses(bot))


def test_failures_are_recorded_never_dropped(bot: Bot) -> None:
    person = Person(bot, USER)
    person.event("subscribe")
    # WeChat busy: kept pending, retried by the sweeper, delivered.
    bot.fake.fail_next("custom", -1)
    _queue(bot, "第一条")
    wait_until(lambda: _statuses(bot)[-1][1] or None)
    assert _statuses(bot)[-1] == (PENDING, "wechat -1: injected")
    bot.clock.advance(seconds=31)  # the sweeper tries again after its back-off
    wait_until(lambda: [s for s in person.fake.shown_to(USER) if s.text == "第一条"] or None)
    # Refused for good: kept as failed with WeChat's reason; the next message still goes.
    bot.fake.fail_next("custom", 40003)
    _queue(bot, "第二条", "第三条")
    shown = person.receive()
    assert [s.text for s in shown] == ["第一条", "第三条"]
    failed = [(s, e) for s, e in _statuses(bot) if s == FAILED]
    assert failed == [(FAILED, "wechat 40003: injected")]
    # The user unfollows: what is queued is kept as blocked, and not tried again.
    person.event("unsubscribe")
    _queue(bot, "第四条")
    wait_until(lambda: _statuses(bot)[-1][0] == BLOCKED or None)
    with bot.db.session() as session:
        info = ChannelChats(session).get(CHANNEL, USER)
    assert info is not None and info.blocked_at is not None
    assert [s.text for s in bot.fake.shown_to(USER)][-1] == "第三条"


def test_an_unfollow_marks_the_chat_blocked(bot: Bot) -> None:
    person = Person(bot, USER)
    person.event("subscribe")
    delivery = bot.fake.send_event(USER, "unsubscribe")
    assert delivery.passive is None
    _queue(bot, "审核结果")
    wait_until(lambda: _statuses(bot)[-1][0] == BLOCKED or None)
    with bot.db.session() as session:
        pending = session.scalar(
            select(func.count()).select_from(OutboxRow).where(OutboxRow.status == PENDING)
        )
    assert pending == 0


def test_reminders_reach_wechat_users(fake: FakeWeChat, tmp_path: Path) -> None:
    """The channel hosting the reminder runner (WeChat alone in `nianjian run`): what falls
    due is queued for the WeChat chat and delivered like any message, here as a template (the
    contact has not written for months)."""
    results_day = datetime(2026, 3, 15, 1, 1, tzinfo=UTC)  # 09:01 in Beijing
    settings = wechat_settings(fake, tmp_path)
    upgrade(settings.database_url)
    db = Database.from_url(settings.database_url)
    (chat,) = seed(db, 1, now=datetime(2025, 12, 1, tzinfo=UTC), channel=CHANNEL, first_chat=7001)
    db.dispose()
    with bot_running(fake, tmp_path, FrozenClock(results_day), reminders=True) as bot:
        (shown,) = fake.wait_for(chat, 1)
        assert shown.kind == "template"
        assert shown.data["keyword1"]["value"].startswith("【年检结果】")
        assert "【年检结果】2025年度年检结果已于2026年3月15日" in httpx.get(shown.url).text
        bot.settled(chat)
        assert [r.status for r in bot.outbox(chat)] == [SENT]


# --- `nianjian run` -------------------------------------------------------------------------------


def test_nianjian_run_serves_wechat_beside_telegram(tmp_path: Path) -> None:
    """One process, both channels: the CLI as an operator starts it, SIGTERM stops it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    database = f"sqlite:///{tmp_path / 'run.sqlite3'}"
    upgrade(database)
    with FakeWeChat(SystemClock()) as wechat, FakeTelegram() as telegram:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NIANJIAN_", "WECHAT_"))}
        env |= {
            "DATABASE_URL": database,
            "NIANJIAN_ATTACHMENTS_DIR": str(tmp_path / "files"),
            "NIANJIAN_TRIAL_CHANNELS": "console,wechat,telegram",
            "TELEGRAM_TOKEN": telegram.token,
            "TELEGRAM_BASE_URL": telegram.base_url,
            "TELEGRAM_BASE_FILE_URL": telegram.base_file_url,
            "WECHAT_APP_ID": APP_ID,
            "WECHAT_APP_SECRET": APP_SECRET,
            "WECHAT_TOKEN": TOKEN,
            "WECHAT_ENCODING_AES_KEY": AES_KEY,
            "WEB_HOST": "127.0.0.1",
            "WEB_PORT": str(port),
            "WECHAT_API_BASE_URL": wechat.base_url,
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run"],
            cwd=tmp_path,
            env=env | {"PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            wechat.callback_url = f"http://127.0.0.1:{port}/wechat"
            wait_until(lambda: _listening(port) or None)
            delivery = wechat.send_event(USER, "subscribe")
            assert delivery.passive is not None and WELCOME in delivery.passive
            telegram.send_text(4242, "/start")
            (reply,) = telegram.wait_for_messages(4242, 1, timeout=TIMEOUT)
            assert WELCOME in (reply.body or "")
        finally:
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=TIMEOUT)
        assert process.returncode == 0, output


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0
