"""The Telegram channel end to end: the real python-telegram-bot Application (long polling, and
a webhook once) against the fake Bot API server of tests/fake_telegram.py, on a migrated SQLite
database, with the real service, engine and attachment store behind it.

Every wait is on a condition with a timeout; the only fixed sleeps are the short grace periods
after which something must NOT have happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
import threading
import time
import zipfile
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from pydantic import SecretStr

from bot.app import App, bootstrap
from bot.channels.telegram import render
from bot.channels.telegram.adapter import TelegramChannel
from bot.channels.telegram.sender import CHANNEL
from bot.clock import Clock
from bot.service import ChatService, Press, Turn
from bot.settings import Settings
from bot.web import WebServer
from dialogs import totals
from dialogs.model import FileRef, Value
from dialogs.replies import Event, Start, Text, to_payload
from dialogs.spec import FormSpec
from dialogs.state import ConvState
from dialogs.view import View
from storage.db import Database
from storage.files import AttachmentStore
from storage.messaging import BLOCKED, PENDING, ChannelChats, Inbox, Outbox
from storage.migrate import upgrade
from storage.repository import ConversationRepository, FilingRepository
from tests import filing_script as script
from tests.fake_telegram import EditRecord, FakeTelegram, SentMessage
from tests.fakes import FrozenClock, play

T = TypeVar("T")
JSON = dict[str, Any]

TIMEOUT = 15.0
GRACE = 0.3  # how long "nothing more happens" is watched
USER = 4242
CHAT = str(USER)
STEPS = script.filing_script()
NEXT = render.NEXT_PAGE


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server


# --- the bot under test ---------------------------------------------------------------------


@dataclass(frozen=True)
class Handled:
    chat_id: str
    event: Event | Press
    event_id: str | None
    turn: Turn


class RecordingService(ChatService):
    """The real service, remembering every event a channel handed it and what came of it."""

    def __init__(
        self, db: Database, form: FormSpec, clock: Clock, files: AttachmentStore, **options: Any
    ) -> None:
        super().__init__(db, form, clock, files, **options)
        self.handled: list[Handled] = []

    def handle(
        self,
        channel: str,
        chat_id: str,
        event: Event | Press,
        *,
        event_id: str | None = None,
        queue: bool = False,
        sent_at: datetime | None = None,
    ) -> Turn:
        turn = super().handle(
            channel, chat_id, event, event_id=event_id, queue=queue, sent_at=sent_at
        )
        self.handled.append(Handled(chat_id, event, event_id, turn))
        return turn

    def events(self, chat_id: str = CHAT) -> list[Event | Press]:
        return [h.event for h in self.handled if h.chat_id == chat_id]


@dataclass(frozen=True)
class Bot:
    fake: FakeTelegram
    service: RecordingService
    channel: TelegramChannel

    @property
    def db(self) -> Database:
        return self.service.db


def settings_for(fake: FakeTelegram, tmp_path: Path, **overrides: Any) -> Settings:
    values: JSON = {
        "database_url": f"sqlite:///{tmp_path / 'nianjian.sqlite3'}",
        "telegram_token": SecretStr(fake.token),
        "telegram_base_url": fake.base_url,
        "telegram_base_file_url": fake.base_file_url,
        "attachments_dir": tmp_path / "files",
        "telegram_poll_timeout": 1,
        "telegram_rate": 1000.0,
        # Telegram's pace of about one message a second per chat would stretch the 300-step
        # filing to five minutes: each chat gets a burst that never runs out.
        "telegram_chat_burst": 1000,
        # These chats fill trial filings without an invite (binding has its own tests).
        "trial_channels": "console,telegram",
    }
    return Settings(**(values | overrides))


S = TypeVar("S", bound=RecordingService)


async def recording(settings: Settings, kind: type[S]) -> tuple[App, S]:
    """The app of these settings (its database migrated) and a recording service on it."""
    await asyncio.to_thread(upgrade, settings.database_url)
    app = bootstrap(settings, FrozenClock())
    service = kind(
        app.db,
        app.form,
        app.service.clock,
        app.service.files,
        reviewers=settings.reviewer_ids(),
        trial_channels=settings.trial_channel_names(),
        fonts=app.service.fonts,
    )
    return app, service


@contextlib.asynccontextmanager
async def bot_running(
    fake: FakeTelegram,
    tmp_path: Path,
    *,
    album_wait: float = 0.3,
    sweep_interval: float = 5.0,
    **overrides: Any,
) -> AsyncIterator[Bot]:
    """A TelegramChannel on the database in tmp_path (migrated; kept across restarts)."""
    settings = settings_for(fake, tmp_path, **overrides)
    app, service = await recording(settings, RecordingService)
    channel = TelegramChannel(
        service, settings, album_wait=album_wait, sweep_interval=sweep_interval
    )
    await channel.start()
    try:
        yield Bot(fake, service, channel)
    finally:
        await channel.stop()
        app.db.dispose()


# --- talking to it --------------------------------------------------------------------------


async def replies_after(
    fake: FakeTelegram, chat: int, send: Callable[[], object], count: int = 1
) -> list[SentMessage]:
    """Does `send` (what the user does) and waits for the next `count` messages to `chat`."""
    before = len(fake.messages_to(chat))
    send()
    sent = await fake.wait_for_messages_async(chat, before + count, TIMEOUT)
    return sent[before:]


async def reply_after(fake: FakeTelegram, chat: int, send: Callable[[], object]) -> SentMessage:
    return (await replies_after(fake, chat, send))[0]


async def say(bot: Bot, text: str, chat: int = USER) -> str:
    reply = await reply_after(bot.fake, chat, lambda: bot.fake.send_text(chat, text))
    return text_of(reply)


def text_of(message: SentMessage) -> str:
    return message.body or ""


async def eventually(check: Callable[[], T], what: str) -> T:
    """Polls `check` (in a thread: it may read the database) until it is truthy."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while not (result := await asyncio.to_thread(check)):
        if loop.time() > deadline:
            raise AssertionError(f"not within {TIMEOUT}s: {what}")
        await asyncio.sleep(0.02)
    return result


async def nothing_more(fake: FakeTelegram, chat: int, expected: int) -> None:
    await asyncio.sleep(GRACE)
    assert len(fake.messages_to(chat)) == expected, [m.body for m in fake.messages_to(chat)]


def fast_forward(service: ChatService, steps: Sequence[script.Step], chat: str = CHAT) -> None:
    """Plays steps through the service directly (no Telegram, nothing queued): a quick way to
    a question further on; the test then goes on over Telegram."""
    service.handle(CHANNEL, chat, Start())
    for step in steps:
        play(service, chat, step, channel=CHANNEL)


def steps_before(wanted: script.Step) -> list[script.Step]:
    return STEPS[: STEPS.index(wanted)]


def buttons_now(fake: FakeTelegram, message_id: int, chat: int = USER) -> list[JSON]:
    """The inline buttons the message shows now (after any edits)."""
    message = fake.message(chat, message_id) or {}
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [button for row in rows for button in row]


async def press(bot: Bot, message: SentMessage, data: str) -> SentMessage:
    fake = bot.fake
    return await reply_after(fake, USER, lambda: fake.press_button(USER, message.message_id, data))


async def next_page(fake: FakeTelegram, message_id: int) -> EditRecord:
    data = next(b["callback_data"] for b in buttons_now(fake, message_id) if b["text"] == NEXT)
    before = len(fake.edits)
    fake.press_button(USER, message_id, data)

    def markup_edited() -> list[EditRecord]:
        return [
            e
            for e in fake.edits[before:]
            if e.message_id == message_id and e.method == "editMessageReplyMarkup"
        ]

    return (await fake.wait_for_async(markup_edited, TIMEOUT))[0]


async def choose(bot: Bot, message: SentMessage, index: int) -> SentMessage:
    """Presses option `index` of the message's keyboard, turning pages until it shows."""
    seq = message.callback_data[0].partition(":")[0]
    wanted = f"{seq}:{index}"
    while wanted not in [b.get("callback_data") for b in buttons_now(bot.fake, message.message_id)]:
        await next_page(bot.fake, message.message_id)
    return await press(bot, message, wanted)


def option_index(options: Sequence[Sequence[str]], text: str) -> int | None:
    """The button a person would press instead of typing `text`: the one showing or sending
    that text, the Nth for a bare number N, or the only one whose label begins with it."""
    for index, (label, value) in enumerate(options):
        if text in (label, value):
            return index
    if text.isdecimal() and 1 <= int(text) <= len(options):
        return int(text) - 1
    starting = [i for i, (label, _value) in enumerate(options) if label.startswith(text)]
    return starting[0] if len(starting) == 1 else None


async def option_for(bot: Bot, message: SentMessage, text: str) -> tuple[int, str] | None:
    """(index, label) of the option `text` means on the message's keyboard, if it has one."""
    if not message.callback_data:
        return None
    live = await asyncio.to_thread(bot.service.live_prompt, CHANNEL, CHAT)
    assert live is not None, "a message with buttons but no live prompt"
    seq, options = live
    assert message.callback_data[0].startswith(f"{seq}:"), "the last message is not the live one"
    index = option_index(options, text)
    return None if index is None else (index, options[index][0])


# --- reading the database (run in threads) ---------------------------------------------------


def view_of(bot: Bot, chat: str = CHAT) -> View:
    with bot.db.session() as session:
        stored = ConversationRepository(session).get(CHANNEL, chat)
        assert stored is not None and stored.filing_id is not None
        filing = FilingRepository(session).load(stored.filing_id)
    return View(bot.service.form, filing)


def answers_of(bot: Bot, chat: str = CHAT) -> dict[str, Value]:
    filing = view_of(bot, chat).filing
    return {f"{k.field}#{k.record}#{k.year}": a.value for k, a in filing.answers.items()}


def current_field(bot: Bot, chat: str = CHAT) -> str:
    with bot.db.session() as session:
        stored = ConversationRepository(session).get(CHANNEL, chat)
    assert stored is not None
    return ConvState.from_dict(stored.state).field


def blocked_at(bot: Bot, chat: str = CHAT) -> datetime | None:
    with bot.db.session() as session:
        info = ChannelChats(session).get(CHANNEL, chat)
    return None if info is None else info.blocked_at


def outbox_count(bot: Bot, status: str) -> int:
    with bot.db.session() as session:
        return Outbox(session).count(CHANNEL, status)


# --- files ----------------------------------------------------------------------------------


def jpeg_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 40, 40)).save(out, "JPEG")
    return out.getvalue()


def docx_bytes() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<document/>")
    return out.getvalue()


# --- 1. the whole filing as a Telegram user ----------------------------------------------------


async def play_step(bot: Bot, step: script.Step, pressed: list[str]) -> str:
    """One scripted step the way a person does it in Telegram: a button when the last message
    offers the answer, typing otherwise, photos or documents for files."""
    fake = bot.fake
    if isinstance(step, script.Upload):
        return await upload(bot, step)
    text = step.text if isinstance(step, script.Bad) else step
    last = fake.messages_to(USER)[-1]
    option = None if isinstance(step, script.Bad) else await option_for(bot, last, text)
    if option is None:
        reply = await say(bot, text)
    else:
        reply = text_of(await choose(bot, last, option[0]))
        pressed.append(option[1])
    if isinstance(step, script.Bad):
        assert reply.startswith("✗"), f"{step.text!r} should be refused, got: {reply[:200]}"
    else:
        assert "✗" not in reply, f"{step!r} was refused: {reply[:300]}"
    return reply


async def upload(bot: Bot, step: script.Upload) -> str:
    fake = bot.fake
    if step.name == "营业执照.png":  # the licence, photographed as two pages
        photos = [script.png_bytes(), jpeg_bytes()]
        reply = text_of(await reply_after(fake, USER, lambda: fake.send_album(USER, photos)))
        assert re.search(r"已收到文件：营业执照（2页）\.pdf（\d+ [KM]B）", reply), reply
        return reply
    send = partial(fake.send_document, USER, step.name, step.data, "application/pdf")
    reply = text_of(await reply_after(fake, USER, send))
    assert re.search(rf"已收到文件：{re.escape(step.name)}（\d+ [KM]B）", reply), reply
    return reply


def test_complete_filing_over_telegram(fake: FakeTelegram, tmp_path: Path) -> None:
    pressed: list[str] = []

    async def scenario() -> tuple[str, View]:
        async with bot_running(fake, tmp_path) as bot:
            assert "单位名称" in await say(bot, "/start")
            reply = ""
            for step in STEPS:
                reply = await play_step(bot, step, pressed)
            return reply, await asyncio.to_thread(view_of, bot)

    last, view = run(scenario())
    assert "所有部分都已填写完整" in last

    # The same totals as the scripted filing through the service (test_e2e_filing).
    assert totals.column_totals(view)["contract_amount"] == script.COLUMN_TOTALS["contract_amount"]
    assert totals.three_year_total(view) == script.THREE_YEAR_TOTAL
    assert totals.certified_people(view) == script.CERTIFIED_PEOPLE
    assert totals.certificate_count(view) == script.CERTIFICATES
    assert view.get("business.revenue", year=2025) == Decimal("4567.89")

    # The two photos of the album became one two-page PDF in the licence slot.
    licence = view.get("attach.licence")
    assert isinstance(licence, FileRef) and licence.content_type == "application/pdf"
    store = AttachmentStore(tmp_path / "files")
    assert store.exists(licence.sha256)
    pdf = store.read(licence.sha256)
    assert pdf.startswith(b"%PDF") and b"/Count 2" in pdf and licence.name == "营业执照（2页）.pdf"

    # Buttons were pressed wherever a person would press them; each press was echoed.
    for label in ("乙级", "确认，下一部分", "添加完毕", "继续添加一位持证人员", "是", "否"):
        assert label in pressed, label
    assert "系统集成项目管理工程师" in pressed  # on the second page of 39 certificates
    echoes = [e for e in fake.edits if e.method == "editMessageText"]
    assert len(echoes) == len(pressed)
    assert all(
        (e.text or "").endswith(f"👉 {label}") for e, label in zip(echoes, pressed, strict=True)
    )

    # Every callback_data ever sent or edited in stays within Telegram's 64 bytes.
    markups = [m.reply_markup for m in fake.sent] + [e.reply_markup for e in fake.edits]
    data = [b["callback_data"] for m in markups if m for row in m["inline_keyboard"] for b in row]
    assert data and all(len(d.encode()) <= render.MAX_CALLBACK_BYTES for d in data)
    assert fake.errors == []


# --- 2. restart ----------------------------------------------------------------------------


def test_restart_mid_filing_continues_at_the_same_question(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    grade_question = STEPS.index("乙")

    async def scenario() -> None:
        async with bot_running(fake, tmp_path) as bot:
            await say(bot, "/start")
            for step in STEPS[:grade_question]:
                await play_step(bot, step, [])
            grade = fake.messages_to(USER)[-1]
            assert "资质等级" in text_of(grade) and len(grade.callback_data) == 4
        sent_before_restart = len(fake.messages_to(USER))

        async with bot_running(fake, tmp_path) as bot:
            # A button of a message sent before the restart still answers its question: the
            # live buttons are in the database, not in the old process's memory.
            reply = text_of(await press(bot, grade, grade.callback_data[1]))
            assert "✓ 已保存 资质等级：乙级" in reply and "请填写：证书编号" in reply
            welcome = await say(bot, "/start")
            assert "欢迎回来" in welcome and "请填写：证书编号" in welcome
            assert len(fake.messages_to(USER)) == sent_before_restart + 2
            view = await asyncio.to_thread(view_of, bot)
            assert view.get("enterprise.name") == "新疆天山智联信息技术有限公司"
            assert view.get("enterprise.grade") == "乙"

    run(scenario())


# --- 3. duplicated updates -----------------------------------------------------------------


def test_duplicated_update_is_handled_once(fake: FakeTelegram, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with bot_running(fake, tmp_path) as bot:
            await say(bot, "/start")
            updates: list[JSON] = []
            await reply_after(fake, USER, lambda: updates.append(fake.send_text(USER, "天山智联")))
            sent = len(fake.messages_to(USER))
            update_id = str(updates[0]["update_id"])

            fake.duplicate(updates[0])
            seen = await eventually(
                lambda: [h for h in bot.service.handled if h.event_id == update_id][1:],
                "the redelivered update reaches the service",
            )
            assert seen[0].turn.duplicate
            await nothing_more(fake, USER, sent)

            answers = await asyncio.to_thread(answers_of, bot)
            assert answers == {"enterprise.name##0": "天山智联"}
            assert await asyncio.to_thread(current_field, bot) == "enterprise.credit_code"

    run(scenario())


# --- 4. flood control and network failures ---------------------------------------------------


def test_replies_survive_429_bursts_and_network_failures(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with bot_running(fake, tmp_path) as bot:
            await say(bot, "/start")

            fake.fail_next("sendMessage", 3, 429, retry_after=1)
            before = fake.requests["sendMessage"]
            assert "单位名称（汉字全称）：天山智联" in await say(bot, "天山智联")
            await nothing_more(fake, USER, 2)
            assert fake.requests["sendMessage"] == before + 4
            assert [e.status for e in fake.errors] == [429, 429, 429]

            fake.fail_network_next("sendMessage", 2)
            before = fake.requests["sendMessage"]
            assert "统一社会信用代码：91110108551385082Q" in await say(bot, "91110108551385082Q")
            await nothing_more(fake, USER, 3)
            assert fake.requests["sendMessage"] == before + 3
            assert [e.status for e in fake.errors][3:] == [0, 0]

    run(scenario())


# --- 5. users who blocked the bot -----------------------------------------------------------


def test_blocked_user_is_recorded_not_retried_and_reachable_again(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    sweep = 0.2

    def sends_to_user() -> int:
        return sum(
            1 for c in fake.calls if c.method == "sendMessage" and c.params.get("chat_id") == USER
        )

    async def scenario() -> None:
        async with bot_running(fake, tmp_path, sweep_interval=sweep) as bot:
            await say(bot, "/start")
            fake.block_user(USER)
            fake.send_text(USER, "天山智联")
            await eventually(lambda: blocked_at(bot), "the chat is recorded as blocked")
            assert await asyncio.to_thread(outbox_count, bot, BLOCKED) >= 1
            assert [e.status for e in fake.errors] == [403]
            attempts = sends_to_user()
            assert attempts == 2  # the reply to /start, then the refused one
            assert await asyncio.to_thread(outbox_count, bot, PENDING) == 0
            await asyncio.sleep(2.5 * sweep)  # a few sweeps go by
            assert sends_to_user() == attempts

            fake.unblock_user(USER)
            reply = await say(bot, "91110108551385082Q")
            # The answer sent while blocked was kept; only its acknowledgement was lost.
            assert "统一社会信用代码：91110108551385082Q" in reply and "资质等级" in reply
            assert await asyncio.to_thread(blocked_at, bot) is None

    run(scenario())


# --- 6. inline keyboards ---------------------------------------------------------------------


def test_buttons_press_echo_and_stale(fake: FakeTelegram, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with bot_running(fake, tmp_path) as bot:
            await asyncio.to_thread(fast_forward, bot.service, steps_before("乙"))
            await say(bot, "/start")
            grade = fake.messages_to(USER)[-1]
            assert [b["text"] for b in grade.buttons] == ["甲级", "乙级", "丙级", "丁级"]

            # Typing the answer supersedes the keyboard; its buttons are stale from now on.
            assert "资质等级：乙级" in await say(bot, "乙")
            sent = len(fake.messages_to(USER))
            answers = await asyncio.to_thread(answers_of, bot)
            fake.press_button(USER, grade.message_id, grade.callback_data[0])
            await fake.wait_for_async(
                lambda: [a for a in fake.callback_answers if a.text == render.STALE_BUTTON],
                TIMEOUT,
            )
            await nothing_more(fake, USER, sent)
            assert await asyncio.to_thread(answers_of, bot) == answers
            assert await asyncio.to_thread(current_field, bot) == "enterprise.cert_number"
            assert buttons_now(fake, grade.message_id) == []  # the stale keyboard is gone

            # Pressing a live button removes the keyboard and echoes the choice.
            assert "首次获证年份" in await say(bot, "XJSI-2025-0088")
            summary = await reply_after(fake, USER, lambda: fake.send_text(USER, "2025"))
            confirm = summary.button("确认")["callback_data"]
            reply = await press(bot, summary, confirm)
            assert "申报联系人" in text_of(reply)
            echo = [e for e in fake.edits if e.message_id == summary.message_id][-1]
            assert echo.method == "editMessageText" and echo.reply_markup is None
            assert echo.text == f"{summary.text}\n\n👉 确认，下一部分"
            assert buttons_now(fake, summary.message_id) == []
            assert fake.errors == []

    run(scenario())


def test_long_option_list_is_paged(fake: FakeTelegram, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with bot_running(fake, tmp_path) as bot:
            steps = steps_before("系统集成项目管理工程师")
            await asyncio.to_thread(fast_forward, bot.service, steps)
            await say(bot, "/start")
            question = fake.messages_to(USER)[-1]
            assert "证书名称" in text_of(question)
            labels = [b["text"] for b in question.buttons]
            assert len(labels) == render.PAGE_SIZE + 2 and labels[-1] == "下一页 ▶"

            edit = await next_page(fake, question.message_id)
            assert edit.reply_markup is not None
            page2 = [b["text"] for row in edit.reply_markup["inline_keyboard"] for b in row]
            assert page2[0] == "系统集成项目管理工程师" and "◀ 上一页" in page2
            assert [a.text for a in fake.callback_answers] == [None]

            seq = question.callback_data[0].partition(":")[0]
            reply = await press(bot, question, f"{seq}:8")
            assert "✓ 已保存 证书名称：系统集成项目管理工程师" in text_of(reply)
            view = await asyncio.to_thread(view_of, bot)
            (holder,) = view.records(totals.HOLDERS)
            assert view.get("holder.name", holder) == "王强"
            assert view.get("holder.certificate", holder) is not None

    run(scenario())


# --- 7. long texts -----------------------------------------------------------------------------


def test_long_reply_is_split_into_ordered_messages(fake: FakeTelegram, tmp_path: Path) -> None:
    paragraphs = [f"第{i:03d}段：" + "年检" * 60 for i in range(100)]
    text = "\n\n".join(paragraphs)
    assert len(text) > 3 * render.MAX_TEXT

    def queue_reply(bot: Bot) -> None:
        with bot.db.session() as session:
            Outbox(session).add(CHANNEL, CHAT, [to_payload(Text(text))], bot.service.clock.now())

    async def scenario() -> list[str]:
        async with bot_running(fake, tmp_path) as bot:
            await asyncio.to_thread(queue_reply, bot)
            await bot.channel.sender.deliver(CHAT)
            return [text_of(m) for m in fake.messages_to(USER)]

    parts = run(scenario())
    assert len(parts) == 4 and all(len(part) <= render.MAX_TEXT for part in parts)
    assert "\n\n".join(parts) == text  # cut at paragraph boundaries, in order, nothing lost


def test_split_text_short_text_is_one_part() -> None:
    assert render.split_text("你好") == ["你好"]
    assert render.split_text("x" * 4096) == ["x" * 4096]


def test_split_text_prefers_paragraph_and_line_boundaries() -> None:
    assert render.split_text("aaa\n\nbbb\nccc", limit=8) == ["aaa\n\nbbb", "ccc"]
    assert render.split_text("aaaa\nbbbb\ncccc", limit=9) == ["aaaa\nbbbb", "cccc"]
    lines = [f"{i:04d}" + "行" * 95 for i in range(100)]  # 100 lines of 99 characters
    parts = render.split_text("\n".join(lines))
    assert [len(p) for p in parts] == [4099 - 100, 4099 - 100, 1999]  # 41, 41, 18 lines
    assert "\n".join(parts).split("\n") == lines


def test_split_text_cuts_only_an_over_long_line() -> None:
    assert render.split_text("x" * 4097) == ["x" * 4096, "x"]
    assert render.split_text("x" * 10_000) == ["x" * 4096, "x" * 4096, "x" * 1808]
    assert render.split_text("head\n" + "y" * 12 + "\ntail", limit=5) == [
        "head",
        "yyyyy",
        "yyyyy",
        "yy",
        "tail",
    ]


@given(st.text(alphabet="ab \n年", max_size=60), st.integers(min_value=1, max_value=12))
def test_split_text_keeps_every_character_within_the_limit(text: str, limit: int) -> None:
    parts = render.split_text(text, limit)
    if len(text) <= limit:
        assert parts == [text]
        return
    assert all(0 < len(part) <= limit for part in parts)
    assert "".join(parts).replace("\n", "") == text.replace("\n", "")


def _rows(markup: Any) -> list[list[tuple[str, str]]]:
    return [[(b.text, str(b.callback_data)) for b in row] for row in markup.inline_keyboard]


def test_keyboard_short_lists_are_not_paged() -> None:
    rows = _rows(render.keyboard([["甲级", "1"], ["乙级", "2"], ["丙级", "3"]], seq=7))
    assert rows == [[("甲级", "7:0"), ("乙级", "7:1"), ("丙级", "7:2")]]
    ten = [[f"选项{i}", str(i)] for i in range(render.PAGE_SIZE + 2)]
    assert sum(len(row) for row in _rows(render.keyboard(ten, seq=1))) == 10


def test_keyboard_pages_long_lists() -> None:
    options = [[f"证书名称{i:02d}号", str(i)] for i in range(39)]
    first = _rows(render.keyboard(options, seq=12))
    shown = [b for row in first[:-1] for b in row]
    assert shown == [(f"证书名称{i:02d}号", f"12:{i}") for i in range(8)]
    assert first[-1] == [("1/5", "12:p0"), ("下一页 ▶", "12:p1")]
    second = _rows(render.keyboard(options, seq=12, page=1))
    assert second[0][0] == ("证书名称08号", "12:8")
    assert second[-1] == [("◀ 上一页", "12:p0"), ("2/5", "12:p1"), ("下一页 ▶", "12:p2")]
    last = _rows(render.keyboard(options, seq=12, page=99))  # clamped to the last page
    assert [b for row in last[:-1] for b in row][-1] == ("证书名称38号", "12:38")
    assert last[-1] == [("◀ 上一页", "12:p3"), ("5/5", "12:p4")]
    assert _rows(render.keyboard(options, seq=12, page=-3)) == first


def test_keyboard_labels_and_callback_data_stay_within_limits() -> None:
    options = [["很长的选项" * 30, "值" * 100], ["短", "x"]]
    markup = render.keyboard(options, seq=10**12)
    buttons = [b for row in markup.inline_keyboard for b in row]
    assert len(buttons[0].text) == render.BUTTON_LABEL and buttons[0].text.endswith("…")
    assert all(len(str(b.callback_data).encode()) <= render.MAX_CALLBACK_BYTES for b in buttons)
    assert render.parse_callback(str(buttons[1].callback_data)) == (10**12, "1")
    assert render.label_of(markup, str(buttons[1].callback_data)) == "短"
    assert render.parse_callback("garbage") is None and render.parse_callback("x:1") is None


# --- 8. attachments --------------------------------------------------------------------------


def test_attachments_too_large_wrong_type_and_photo(fake: FakeTelegram, tmp_path: Path) -> None:
    licence = next(s for s in STEPS if isinstance(s, script.Upload) and s.name == "营业执照.png")

    async def scenario() -> None:
        async with bot_running(fake, tmp_path) as bot:
            await asyncio.to_thread(fast_forward, bot.service, steps_before(licence))
            assert "请上传：营业执照" in await say(bot, "/start")

            big = script.pdf_bytes("big")
            reply = await reply_after(
                fake,
                USER,
                lambda: fake.send_document(USER, "年报.pdf", big, size_override=21 * 1024 * 1024),
            )
            assert "超过 20 MB" in text_of(reply) and "请上传：营业执照" in text_of(reply)

            for name, data, what in [
                ("x.pdf", b"just some notes, not a scan\n" * 20, "纯文本"),
                ("执照.pdf", docx_bytes(), "Word 文档（DOCX）"),
            ]:
                send = partial(fake.send_document, USER, name, data, "application/pdf")
                reply = await reply_after(fake, USER, send)
                assert text_of(reply).startswith("✗") and "只接受 PDF" in text_of(reply)
                assert what in text_of(reply) and "请上传：营业执照" in text_of(reply)
            assert await asyncio.to_thread(current_field, bot) == "attach.licence"

            photo = jpeg_bytes()
            reply = await reply_after(fake, USER, lambda: fake.send_photo(USER, photo))
            assert "已收到文件：营业执照.jpg" in text_of(reply)  # named after its slot
            assert "请上传：资产负债表" in text_of(reply)
            stored = (await asyncio.to_thread(view_of, bot)).get("attach.licence")
            assert isinstance(stored, FileRef) and stored.content_type == "image/jpeg"
            assert bot.service.files.read(stored.sha256) == photo

    run(scenario())


# --- 9. commands -----------------------------------------------------------------------------


def test_commands_menu_status_and_start_payload(fake: FakeTelegram, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with bot_running(fake, tmp_path) as bot:
            names = {c["command"] for c in fake.commands}
            assert {"start", "status", "help", "cancel"} <= names
            assert "单位名称" in await say(bot, "/start SOMEPAYLOAD")
            assert Start("SOMEPAYLOAD") in bot.service.events()
            await say(bot, "天山智联")
            overview = await say(bot, "/status")
            assert "填报总览" in overview
            assert any("企业信息" in b["text"] for b in fake.messages_to(USER)[-1].buttons)

    run(scenario())


# --- 10. webhook -----------------------------------------------------------------------------


def start_update(update_id: int) -> JSON:
    user = {"id": USER, "is_bot": False, "first_name": "李娜"}
    message = {
        "message_id": 1,
        "date": int(time.time()),
        "from": user,
        "chat": {"id": USER, "type": "private", "first_name": "李娜"},
        "text": "/start",
        "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
    }
    return {"update_id": update_id, "message": message}


def test_webhook_mode_checks_the_secret(fake: FakeTelegram, tmp_path: Path) -> None:
    """The webhook is a route of a web server (the channel's own here, the process's under
    `nianjian run`)."""
    public = "https://example.invalid/telegram"

    async def scenario() -> None:
        async with bot_running(
            fake,
            tmp_path,
            telegram_webhook_url=public,
            web_host="127.0.0.1",
            web_port=0,
            telegram_webhook_path="telegram",
        ) as bot:
            secret = bot.channel.webhook_secret()
            assert fake.webhook is not None
            assert fake.webhook["url"] == public and fake.webhook["secret_token"] == secret
            url = f"http://127.0.0.1:{bot.channel.port}/telegram"
            header = "X-Telegram-Bot-Api-Secret-Token"
            async with httpx.AsyncClient(timeout=TIMEOUT) as client:
                refused = await client.post(url, json=start_update(5), headers={header: "wrong"})
                assert refused.status_code == 403
                await nothing_more(fake, USER, 0)
                assert bot.service.handled == []

                accepted = await client.post(url, json=start_update(5), headers={header: secret})
                assert accepted.status_code == 200
                (reply,) = await fake.wait_for_messages_async(USER, 1, TIMEOUT)
                assert "单位名称" in text_of(reply)

                # Malformed calls with the right secret: a 4xx each, never a 500.
                for body in (b"{not json", b"\xff\xfe", b"[1, 2]", b'{"update_id": "x"}', b""):
                    bad = await client.post(url, content=body, headers={header: secret})
                    assert bad.status_code == 400, (body, bad.status_code)
                assert (await client.get(url, headers={header: secret})).status_code == 405
                await nothing_more(fake, USER, 1)
            assert fake.requests["getUpdates"] == 0

    run(scenario())


def test_a_webhook_call_before_the_channel_starts_is_answered_503(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    """Under `nianjian run` the web server (with the webhook's route) is up before Telegram's
    channel has started: a call then is answered 503, which Telegram retries, and nothing of
    it is handled."""

    async def scenario() -> None:
        settings = settings_for(
            fake, tmp_path, telegram_webhook_url="https://example.invalid/telegram"
        )
        app, service = await recording(settings, RecordingService)
        channel = TelegramChannel(service, settings)
        web = WebServer("127.0.0.1", 0, 1024 * 1024)
        web.add(channel.routes())
        port = await web.start()
        try:
            header = {"X-Telegram-Bot-Api-Secret-Token": channel.webhook_secret()}
            async with httpx.AsyncClient(timeout=TIMEOUT) as client:
                url = f"http://127.0.0.1:{port}/telegram"
                early = await client.post(url, json=start_update(7), headers=header)
                assert early.status_code == 503
            assert service.handled == []
        finally:
            await web.stop()
            app.db.dispose()

    run(scenario())


# --- 11. per-chat order, chats in parallel ---------------------------------------------------


class StuckService(RecordingService):
    """Holds every event in a worker thread until released: a process that took an update
    and died before handling it, as far as Telegram can tell."""

    def __init__(self, *args: Any, **options: Any) -> None:
        super().__init__(*args, **options)
        self.taken = threading.Event()
        self.release = threading.Event()

    def handle(self, *args: Any, **options: Any) -> Turn:
        self.taken.set()
        self.release.wait(TIMEOUT)
        return super().handle(*args, **options)


def test_an_update_taken_but_never_handled_is_handled_after_a_restart(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    """python-telegram-bot confirms an update (the next getUpdates offset) before handling
    it; the inbox keeps it until it is handled, so a restart handles it, once."""

    async def scenario() -> None:
        settings = settings_for(fake, tmp_path)
        app, stuck = await recording(settings, StuckService)
        dead = TelegramChannel(stuck, settings)
        dead._inline = False  # handled in a worker thread, which we hold
        await dead.start()
        fake.send_text(USER, "/start")
        assert await asyncio.to_thread(stuck.taken.wait, TIMEOUT)
        await fake.wait_for_async(lambda: not fake.pending_updates, TIMEOUT, "confirmed")
        assert fake.messages_to(USER) == []
        updater = dead.app.updater
        assert updater is not None
        await updater.stop()  # the process is gone: it polls no more, and never replies

        async with bot_running(fake, tmp_path) as bot:
            first = await fake.wait_for_messages_async(USER, 1, TIMEOUT)
            assert text_of(first[0]).startswith("您好！我是年检助手")
            assert [h.event for h in bot.service.handled] == [Start("")]
        with app.db.session() as session:
            assert Inbox(session).waiting(CHANNEL) == []

        # Had the held handler gone on after all, the update would be a duplicate.
        stuck.release.set()
        await fake.wait_for_async(lambda: len(stuck.handled) == 1, TIMEOUT, "the held update")
        assert stuck.handled[0].turn.duplicate
        await asyncio.sleep(0.3)
        assert len(fake.messages_to(USER)) == 1
        await dead.stop()
        app.db.dispose()

    run(scenario())


def test_chats_run_concurrently_and_each_in_order(fake: FakeTelegram, tmp_path: Path) -> None:
    users = list(range(5001, 5011))
    numerals = "一二三四五六七八九十"

    def name(user: int) -> str:
        return f"新疆天山{numerals[user - users[0]]}号信息技术有限公司"

    def prime(service: ChatService) -> None:
        for user in users:
            service.handle(CHANNEL, str(user), Start())

    async def scenario() -> None:
        async with bot_running(fake, tmp_path) as bot:
            await asyncio.to_thread(prime, bot.service)
            for user in users:
                fake.send_text(user, name(user))
            await fake.wait_for_async(
                lambda: all(fake.messages_to(u) for u in users), TIMEOUT, "every user answered"
            )
            for user in users:
                (reply,) = fake.messages_to(user)
                assert f"单位名称（汉字全称）：{name(user)}" in text_of(reply)
                assert "请填写：统一社会信用代码" in text_of(reply)

            first = users[0]
            answers = ["91110108551385082Q", "乙", "XJSI-2025-0088"]
            replies = await replies_after(
                fake, first, lambda: [fake.send_text(first, a) for a in answers], count=3
            )
            acks = [text_of(r).split("\n")[0] for r in replies]
            assert acks == [
                "✓ 已保存 统一社会信用代码：91110108551385082Q",
                "✓ 已保存 资质等级：乙级",
                "✓ 已保存 证书编号：XJSI-2025-0088",
            ]
            view = await asyncio.to_thread(view_of, bot, str(first))
            assert view.get("enterprise.credit_code") == answers[0]
            assert view.get("enterprise.grade") == "乙"
            assert view.get("enterprise.cert_number") == answers[2]
            field = await asyncio.to_thread(current_field, bot, str(first))
            assert field == "enterprise.first_year"

    run(scenario())
