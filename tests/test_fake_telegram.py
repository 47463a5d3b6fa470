"""Self-tests of tests/fake_telegram.py, driven by the real python-telegram-bot client."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dtm
import hashlib
import html
import http.client
import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Conflict, Forbidden, NetworkError, RetryAfter
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.helpers import escape_markdown
from telegram.request import HTTPXRequest

from tests.fake_telegram import BOT_ID, BOT_USERNAME, FakeTelegram, render_formatted

T = TypeVar("T")
USER = 1001


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server


def make_bot(fake: FakeTelegram, pool: int = 8) -> Bot:
    return Bot(
        fake.token,
        base_url=fake.base_url,
        base_file_url=fake.base_file_url,
        request=HTTPXRequest(connection_pool_size=pool),
    )


@contextlib.asynccontextmanager
async def polling_app(
    fake: FakeTelegram, *handlers: Any
) -> AsyncIterator[Application[Any, Any, Any, Any, Any, Any]]:
    app = (
        Application.builder()
        .token(fake.token)
        .base_url(fake.base_url)
        .base_file_url(fake.base_file_url)
        .build()
    )
    for handler in handlers:
        app.add_handler(handler)
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=1)
    try:
        yield app
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()


def keyboard(*data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(f"选项{d}", callback_data=d) for d in data]])


# ------------------------------------------------------------------------------ plain Bot


def test_get_me_identity_and_urls(fake: FakeTelegram) -> None:
    async def scenario() -> None:
        async with make_bot(fake) as bot:
            assert bot.id == BOT_ID
            assert bot.username == BOT_USERNAME
            assert bot.first_name == "年检助手"
            assert (await bot.get_me()).is_bot

    run(scenario())
    assert fake.base_url == f"http://127.0.0.1:{fake.port}/bot"
    assert fake.base_file_url == f"http://127.0.0.1:{fake.port}/file/bot"
    assert fake.requests["getMe"] == 2


def test_send_message_keyboard_and_limits(fake: FakeTelegram) -> None:
    async def scenario() -> None:
        async with make_bot(fake) as bot:
            first = await bot.send_message(42, "请选择", reply_markup=keyboard("a", "b"))
            second = await bot.send_message(42, "123")
            other = await bot.send_message(43, "x" * 4096)
            assert (first.message_id, second.message_id, other.message_id) == (1, 2, 1)
            assert first.reply_markup is not None
            assert first.reply_markup.inline_keyboard[0][1].callback_data == "b"

            with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
                await bot.send_message(42, "太长", reply_markup=keyboard("年" * 22))  # 66 bytes
            with pytest.raises(BadRequest, match=r"(?i)message is too long"):
                await bot.send_message(42, "x" * 4097)
            with pytest.raises(BadRequest, match=r"(?i)text is empty"):
                await bot.send_message(42, "   ")
            with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
                await bot.send_message(42, "1 < 2", parse_mode="HTML")
            with pytest.raises(BadRequest, match=r"(?i)reserved"):
                await bot.send_message(42, "完成.", parse_mode="MarkdownV2")
            formatted = await bot.send_message(
                42, "<b>粗体</b> &amp; " + "x" * 4090, parse_mode="HTML"
            )
            assert formatted.text is not None and formatted.text.startswith("粗体 & ")
            assert formatted.entities[0].type == "bold"

    run(scenario())
    sent = fake.messages_to(42)
    assert [m.text for m in sent[:2]] == ["请选择", "123"]  # "123" stays a string
    assert sent[0].callback_data == ["a", "b"]
    assert sent[0].reply_markup == keyboard("a", "b").to_dict()
    assert sent[0].button("选项b")["callback_data"] == "b"
    assert sent[2].rendered_text is not None and sent[2].rendered_text.startswith("粗体 &")
    assert len(fake.messages_to(43)) == 1
    assert [e.status for e in fake.errors] == [400] * 5


def test_render_formatted_rules() -> None:
    assert render_formatted("*b* \\. [l](https://e.x)", "MarkdownV2")[0] == "b . l"
    assert render_formatted("a & b <i>c</i>", "HTML") == (
        "a & b c",
        [{"type": "italic", "offset": 6, "length": 1}],
    )
    for text, mode in [("<b>x</i>", "HTML"), ("user_name", "Markdown"), ("*x", "MarkdownV2")]:
        with pytest.raises(ValueError, match="can't parse entities"):
            render_formatted(text, mode)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=120))
def test_properly_escaped_text_renders_verbatim(text: str) -> None:
    """No false refusals: text escaped the documented way always parses back to itself."""
    assert render_formatted(escape_markdown(text, version=2), "MarkdownV2")[0] == text
    assert render_formatted(escape_markdown(text, version=1), "Markdown")[0] == text
    assert render_formatted(html.escape(text), "HTML")[0] == text


def test_get_updates_offset_limit_timeout_and_redelivery(fake: FakeTelegram) -> None:
    first = fake.send_text(7, "一")
    second = fake.send_text(7, "二")
    third = fake.send_text(7, "/start abc")
    ids = [u["update_id"] for u in (first, second, third)]
    assert ids == sorted(ids) and len(set(ids)) == 3

    async def scenario() -> None:
        async with make_bot(fake) as bot:
            updates = await bot.get_updates(timeout=0)
            assert [u.update_id for u in updates] == ids
            assert updates[0].effective_user is not None
            assert updates[0].effective_user.language_code == "zh-hans"
            assert updates[2].message is not None
            assert updates[2].message.entities[0].type == "bot_command"
            assert updates[2].message.entities[0].length == len("/start")

            # offset confirms everything below it
            assert [u.update_id for u in await bot.get_updates(offset=ids[1])] == ids[1:]
            assert [u["update_id"] for u in fake.pending_updates] == ids[1:]
            assert [u.update_id for u in await bot.get_updates(offset=ids[1], limit=1)] == [ids[1]]
            assert await bot.get_updates(offset=ids[2] + 1) == ()
            assert fake.pending_updates == []

            # redelivery of an already confirmed update
            fake.duplicate(third)
            again = await bot.get_updates(offset=ids[2] + 1)
            assert [u.update_id for u in again] == [ids[2]]
            assert await bot.get_updates(offset=ids[2] + 1) == ()

            # long polling: returns as soon as an update arrives...
            threading.Timer(0.2, fake.send_text, args=(7, "late")).start()
            started = time.monotonic()
            late = await bot.get_updates(offset=ids[2] + 1, timeout=5)
            assert time.monotonic() - started < 2
            assert late[0].message is not None and late[0].message.text == "late"
            # ...or empty once the timeout has passed
            started = time.monotonic()
            empty = await bot.get_updates(
                offset=late[0].update_id + 1, timeout=dtm.timedelta(milliseconds=300)
            )
            assert empty == () and 0.25 <= time.monotonic() - started < 2

    run(scenario())


def test_concurrent_get_updates_conflict_and_webhook(fake: FakeTelegram) -> None:
    async def scenario() -> None:
        async with make_bot(fake) as one, make_bot(fake) as two:
            waiting = asyncio.create_task(one.get_updates(timeout=5))
            await asyncio.sleep(0.2)
            assert await two.get_updates(timeout=0) == ()
            with pytest.raises(Conflict, match="terminated by other getUpdates"):
                await waiting

            assert await one.set_webhook("https://example.com/hook")
            assert fake.webhook is not None
            assert (await one.get_webhook_info()).url == "https://example.com/hook"
            with pytest.raises(Conflict, match="webhook is active"):
                await one.get_updates(timeout=0)
            assert await one.delete_webhook()
            assert await one.get_updates(timeout=0) == ()

            await one.set_my_commands([("start", "开始"), ("help", "帮助")])
            assert [c.command for c in await one.get_my_commands()] == ["start", "help"]

    run(scenario())
    assert fake.commands == [
        {"command": "start", "description": "开始"},
        {"command": "help", "description": "帮助"},
    ]


def test_edit_delete_and_answer_semantics(fake: FakeTelegram) -> None:
    async def scenario() -> None:
        async with make_bot(fake) as bot:
            msg = await bot.send_message(9, "问题", reply_markup=keyboard("y", "n"))
            with pytest.raises(BadRequest, match=r"(?i)not modified"):
                await bot.edit_message_text(
                    "问题", chat_id=9, message_id=msg.message_id, reply_markup=keyboard("y", "n")
                )
            edited = await bot.edit_message_text("已回答", chat_id=9, message_id=msg.message_id)
            assert isinstance(edited, type(msg)) and edited.reply_markup is None
            await bot.edit_message_reply_markup(9, msg.message_id, reply_markup=keyboard("z"))
            with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
                await bot.edit_message_text("x", chat_id=9, message_id=99)
            with pytest.raises(BadRequest, match=r"(?i)query id is invalid"):
                await bot.answer_callback_query("12345")
            assert await bot.send_chat_action(9, "typing")
            assert await bot.delete_message(9, msg.message_id)
            with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
                await bot.delete_message(9, msg.message_id)

    run(scenario())
    assert [e.method for e in fake.edits] == ["editMessageText", "editMessageReplyMarkup"]
    assert fake.edits[0].text == "已回答" and fake.edits[0].reply_markup is None
    assert fake.message(9, 1) is None
    assert [(d.chat_id, d.message_id) for d in fake.deletions] == [(9, 1)]
    assert [(a.chat_id, a.action) for a in fake.chat_actions] == [(9, "typing")]


def test_get_file_refuses_files_over_20_mb(fake: FakeTelegram) -> None:
    fake.declare_file("big-file", b"x", size_override=25 * 1024 * 1024)
    fake.declare_file("limit-file", b"ok", size_override=20 * 1024 * 1024)

    async def scenario() -> None:
        async with make_bot(fake) as bot:
            with pytest.raises(BadRequest, match=r"(?i)file is too big"):
                await bot.get_file("big-file")
            assert (await bot.get_file("limit-file")).file_size == 20 * 1024 * 1024
            with pytest.raises(BadRequest, match=r"(?i)invalid file_id"):
                await bot.get_file("nope")

    run(scenario())


def test_429_surfaces_as_retry_after(fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    fake.fail_next("sendMessage", 1, error_code=429, retry_after=3)

    async def scenario() -> None:
        async with make_bot(fake) as bot:
            with pytest.raises(RetryAfter) as caught:
                await bot.send_message(5, "hi")
            assert caught.value.retry_after == dtm.timedelta(seconds=3)
            await bot.send_message(5, "hi")

    run(scenario())
    assert fake.requests["sendMessage"] == 2
    assert [m.text for m in fake.messages_to(5)] == ["hi"]
    assert fake.errors[0].status == 429 and fake.rejected_429 == 0


def test_403_when_blocked_and_network_failure(fake: FakeTelegram) -> None:
    fake.block_user(5)

    async def scenario() -> None:
        async with make_bot(fake) as bot:
            with pytest.raises(Forbidden, match="bot was blocked by the user"):
                await bot.send_message(5, "hi")
            await bot.send_message(6, "hi")
            fake.unblock_user(5)
            await bot.send_message(5, "hi again")

            fake.fail_network_next("sendMessage")
            with pytest.raises(NetworkError):
                await bot.send_message(6, "lost")
            await bot.send_message(6, "delivered")

            fake.fail_next("*", 1, error_code=502)
            with pytest.raises(NetworkError, match="Bad Gateway"):
                await bot.get_me()

    run(scenario())
    assert [m.text for m in fake.messages_to(5)] == ["hi again"]
    assert [m.text for m in fake.messages_to(6)] == ["hi", "delivered"]
    assert [c.status for c in fake.errors] == [403, 0, 502]


def test_rate_limit_enforcement(fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")

    async def scenario() -> None:
        async with make_bot(fake) as bot:
            fake.rate_limit(per_second=5, per_chat_per_second=None)
            results = [
                await asyncio.gather(bot.send_message(100 + i, "x"), return_exceptions=True)
                for i in range(8)
            ]
            outcomes = [r[0] for r in results]
            assert sum(isinstance(r, RetryAfter) for r in outcomes) == 3
            assert fake.rejected_429 == 3

            fake.rate_limit(per_second=30, per_chat_per_second=1.0, burst=2)
            await bot.send_message(200, "1")
            await bot.send_message(200, "2")
            with pytest.raises(RetryAfter):
                await bot.send_message(200, "3")
            await bot.send_message(201, "other chat is fine")
            fake.rate_limit(enabled=False)
            await bot.send_message(200, "3")

    run(scenario())
    assert fake.rejected_429 == 4
    assert [m.text for m in fake.messages_to(200)] == ["1", "2", "3"]


def test_send_document_and_photo_bytes_are_stored(fake: FakeTelegram) -> None:
    data = os.urandom(50_000)

    async def scenario() -> None:
        async with make_bot(fake) as bot:
            msg = await bot.send_document(42, data, filename="年检报告.xlsx", caption="报告")
            assert msg.document is not None
            assert msg.document.file_name == "年检报告.xlsx" and msg.caption == "报告"
            downloaded = await (await bot.get_file(msg.document.file_id)).download_as_bytearray()
            assert bytes(downloaded) == data
            again = await bot.send_document(42, msg.document.file_id)
            assert again.document is not None and again.document.file_size == len(data)
            photo = await bot.send_photo(
                42, b"\x89PNG fake", caption="<i>图</i>", parse_mode="HTML"
            )
            assert photo.caption == "图" and photo.photo[-1].width >= photo.photo[0].width

    run(scenario())
    doc, resent, photo = fake.messages_to(42)
    assert doc.method == "sendDocument" and doc.document == data
    assert doc.filename == "年检报告.xlsx" and doc.caption == "报告"
    assert doc.mime_type is not None and "spreadsheet" in doc.mime_type
    assert resent.document == data
    assert photo.photo == b"\x89PNG fake" and photo.caption == "<i>图</i>"


def test_raw_http_json_form_and_unknown_method(fake: FakeTelegram) -> None:
    def call(method: str, body: bytes, content_type: str) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(
            f"{fake.base_url}{fake.token}/{method}",
            data=body,
            headers={"Content-Type": content_type},
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    markup = json.dumps({"inline_keyboard": [[{"text": "好", "callback_data": "ok"}]]})
    status, payload = call(
        "sendMessage",
        json.dumps({"chat_id": "77", "text": "JSON", "reply_markup": markup}).encode(),
        "application/json",
    )
    assert status == 200 and payload["result"]["reply_markup"]["inline_keyboard"][0][0]["text"]
    status, payload = call("SENDMESSAGE", b"chat_id=77&text=%E8%A1%A8%E5%8D%95", "")
    assert status == 200 and payload["result"]["text"] == "表单"
    status, payload = call("noSuchMethod", b"", "")
    assert (status, payload) == (404, {"ok": False, "error_code": 404, "description": "Not Found"})
    assert fake.messages_to(77)[0].reply_markup == json.loads(markup)
    with urllib.request.urlopen(f"{fake.base_url}{fake.token}/getMe", timeout=5) as response:
        assert json.loads(response.read())["result"]["username"] == BOT_USERNAME


def test_concurrent_sends_get_unique_increasing_ids(fake: FakeTelegram) -> None:
    async def scenario() -> None:
        async with make_bot(fake, pool=64) as bot:
            await asyncio.gather(*(bot.send_message(300 + i % 4, f"m{i}") for i in range(48)))

    run(scenario())
    for chat in range(300, 304):
        assert sorted(m.message_id for m in fake.messages_to(chat)) == list(range(1, 13))
    assert fake.requests["sendMessage"] == 48


def test_stop_is_prompt_while_long_polling() -> None:
    server = FakeTelegram(poll_conflicts=False).start()
    outcome: list[object] = []

    def long_poll() -> None:
        url = f"{server.base_url}{server.token}/getUpdates?timeout=30"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                outcome.append(json.loads(response.read()))
        except (OSError, http.client.HTTPException) as error:
            outcome.append(error)

    pollers = [threading.Thread(target=long_poll) for _ in range(12)]
    for poller in pollers:
        poller.start()
    server.wait_for(lambda: server.requests["getUpdates"] == 12, timeout=5)
    started = time.monotonic()
    server.stop()
    for poller in pollers:
        poller.join(timeout=5)
    assert time.monotonic() - started < 2
    assert len(outcome) == 12
    assert outcome == [{"ok": True, "result": []}] * 12  # woken and answered, not cut off


def test_delay_reset_and_allowed_updates(fake: FakeTelegram) -> None:
    fake.delay_next("sendMessage", 0.3)
    fake.queue_raw({"chat_member": {}})  # not delivered unless allowed_updates asks for it

    async def scenario() -> None:
        async with make_bot(fake) as bot:
            started = time.monotonic()
            await bot.send_message(1, "slow")
            assert time.monotonic() - started >= 0.3
            assert await bot.get_updates(timeout=0) == ()
            await bot.get_updates(timeout=0, allowed_updates=["message", "chat_member"])
            fake.queue_raw({"chat_member": {}})
            assert len(fake.pending_updates) == 1

    run(scenario())
    assert len(fake.dropped_updates) == 1
    assert fake.requests["sendMessage"] == 1 and fake.sent
    fake.reset_records()
    assert (fake.sent, fake.requests, fake.calls) == ([], Counter(), [])


def test_wait_for_times_out(fake: FakeTelegram) -> None:
    with pytest.raises(TimeoutError, match="message"):
        fake.wait_for_messages(1, timeout=0.1)


# ------------------------------------------------------------------------------ Application


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    await update.effective_message.reply_text(f"echo: {update.effective_message.text}")


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    await update.effective_message.reply_text(f"start args={context.args}")


def test_application_polling_echo(fake: FakeTelegram) -> None:
    async def scenario() -> None:
        handlers = (
            CommandHandler("start", start),
            MessageHandler(filters.TEXT & ~filters.COMMAND, echo),
        )
        fake.fail_next("getUpdates", 1, error_code=502)  # PTB retries after ~1 s
        async with polling_app(fake, *handlers):
            fake.send_text(USER, "/start PAYLOAD")
            fake.send_text(USER, "你好，年检")
            replies = await fake.wait_for_messages_async(USER, count=2, timeout=5)
            assert [m.text for m in replies] == ["start args=['PAYLOAD']", "echo: 你好，年检"]

    run(scenario())
    assert fake.requests["deleteWebhook"] == 1
    assert next(c.status for c in fake.calls if c.method == "getUpdates") == 502
    assert [c.status for c in fake.errors] == [502]  # PTB's cancelled last long poll is no 409
    assert fake.pending_updates == []  # confirmed by PTB's final getUpdates


def test_application_callback_query_round_trip(fake: FakeTelegram) -> None:
    async def menu(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text("请选择", reply_markup=keyboard("a", "b"))

    async def chosen(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer(f"已选择 {query.data}")
        await query.edit_message_text(f"你选择了 {query.data}")

    async def scenario() -> None:
        async with polling_app(fake, CommandHandler("menu", menu), CallbackQueryHandler(chosen)):
            fake.send_text(USER, "/menu")
            (prompt,) = await fake.wait_for_messages_async(USER)
            with pytest.raises(ValueError, match="no button"):
                fake.press_button(USER, prompt.message_id, "c")
            update = fake.press_button(USER, prompt.message_id, "b")
            assert update["callback_query"]["message"]["reply_markup"] == prompt.reply_markup
            await fake.wait_for_async(lambda: fake.edits)

    run(scenario())
    (answer,) = fake.callback_answers
    assert (answer.text, answer.user_id, answer.data) == ("已选择 b", USER, "b")
    assert fake.edits[0].text == "你选择了 b"
    current = fake.message(USER, fake.edits[0].message_id)
    assert current is not None and "reply_markup" not in current


def test_application_document_and_album_download(fake: FakeTelegram) -> None:
    received: list[tuple[str | None, bytes]] = []

    async def on_document(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        assert message is not None and message.document is not None
        data = await (await message.document.get_file()).download_as_bytearray()
        digest = hashlib.sha256(data).hexdigest()
        await message.reply_text(f"{message.document.file_name} {digest}")

    async def on_photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        assert message is not None and len(message.photo) >= 2
        largest = message.photo[-1]
        assert largest.width > message.photo[0].width
        data = await (await largest.get_file()).download_as_bytearray()
        received.append((message.media_group_id, bytes(data)))
        await message.reply_text("收到图片")

    payload = os.urandom(200_000)
    photos = [os.urandom(1000 + i) for i in range(3)]

    async def scenario() -> None:
        handlers = (
            MessageHandler(filters.Document.ALL, on_document),
            MessageHandler(filters.PHOTO, on_photo),
        )
        async with polling_app(fake, *handlers):
            fake.send_document(USER, "营业执照.pdf", payload, "application/pdf")
            (reply,) = await fake.wait_for_messages_async(USER)
            assert reply.text == f"营业执照.pdf {hashlib.sha256(payload).hexdigest()}"
            album = fake.send_album(USER, photos, caption="现场照片")
            assert len({u["message"]["media_group_id"] for u in album}) == 1
            await fake.wait_for_messages_async(USER, count=4)

    run(scenario())
    groups = {group for group, _ in received}
    assert len(groups) == 1 and None not in groups
    assert [data for _, data in received] == photos
