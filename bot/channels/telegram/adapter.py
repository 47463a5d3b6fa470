"""python-telegram-bot wiring: four generic handlers (text, button, file, error) that turn
updates into engine events. No filing logic lives here, and no state in PTB's memory: the
conversation, the live buttons and the replies to send are all in the database."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import logging
import signal
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from telegram import BotCommand, Message, Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.channels.telegram.locks import ChatLocks
from bot.channels.telegram.render import (
    PRESSED,
    STALE_BUTTON,
    keyboard,
    label_of,
    parse_callback,
)
from bot.channels.telegram.sender import CHANNEL, Deferred, TelegramSender
from bot.service import ChatService, Incoming, Press, Turn
from bot.settings import Settings
from dialogs.replies import Event, FileIn, Start, TextIn

log = logging.getLogger(__name__)

# Telegram lets a bot download files up to 20 MB; larger ones are refused before getFile.
DOWNLOAD_LIMIT = 20 * 1024 * 1024
TOO_LARGE = "文件超过 20 MB，Telegram 机器人无法接收。请压缩后重新发送，或分成几个文件。"
UNREADABLE = "文件没能下载下来，请重新发送一次。"
PHOTO_NAME = "照片.jpg"
FAILED = "抱歉，刚才的消息没有处理成功（已填内容不受影响），请再发送一次。"

COMMANDS = (
    ("start", "开始或继续填报"),
    ("status", "填报总览：各部分完成情况"),
    ("edit", "修改本部分的已填内容"),
    ("back", "返回上一步"),
    ("skip", "跳过可选项"),
    ("continue", "从上次的地方继续"),
    ("cancel", "暂停 / 取消当前操作"),
    ("history", "申报的处理记录"),
    ("help", "帮助"),
)


class ChatOrderedProcessor(BaseUpdateProcessor):
    """Updates of one chat run one after another, in arrival order; chats run concurrently."""

    def __init__(self, locks: ChatLocks, max_concurrent_updates: int = 256) -> None:
        super().__init__(max_concurrent_updates)
        self.locks = locks

    async def do_process_update(self, update: object, coroutine: Any) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await coroutine
            return
        async with self.locks.hold(str(chat.id)):
            await coroutine

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None


@dataclass
class _Album:
    messages: list[Message] = field(default_factory=list)
    update_ids: list[int] = field(default_factory=list)
    flush: asyncio.TimerHandle | None = None


class TelegramChannel:
    def __init__(
        self,
        service: ChatService,
        settings: Settings,
        *,
        album_wait: float = 1.0,
        sweep_interval: float = 5.0,
    ) -> None:
        if settings.telegram_token is None:
            raise ValueError("TELEGRAM_TOKEN is not set")
        self.service = service
        self.settings = settings
        self.album_wait = album_wait
        self.sweep_interval = sweep_interval
        self.locks = ChatLocks()
        self._albums: dict[tuple[str, str], _Album] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.app = self._build()
        self.sender = TelegramSender(
            self.app.bot,
            service.db,
            service.clock,
            rate=settings.telegram_rate,
            per_chat_burst=settings.telegram_chat_burst,
        )

    def _build(self) -> Application[Any, Any, Any, Any, Any, Any]:
        token = self.settings.telegram_token
        assert token is not None
        app = (
            Application.builder()
            .token(token.get_secret_value())
            .base_url(self.settings.telegram_base_url)
            .base_file_url(self.settings.telegram_base_file_url)
            .concurrent_updates(ChatOrderedProcessor(self.locks))
            # httpcore re-checks every pooled connection on each request: a small pool is
            # cheaper under load than PTB's default of 256 (measured in bench/README.md).
            .connection_pool_size(16)
            .build()
        )
        private = filters.ChatType.PRIVATE
        app.add_handler(CallbackQueryHandler(self.on_press))
        app.add_handler(
            MessageHandler(private & (filters.Document.ALL | filters.PHOTO), self.on_file)
        )
        app.add_handler(MessageHandler(private & filters.TEXT, self.on_text))
        app.add_error_handler(self.on_error)
        return app

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        await self.app.initialize()
        await self.app.bot.set_my_commands([BotCommand(c, d) for c, d in COMMANDS])
        await self.app.start()
        webhook = self.settings.telegram_webhook_url
        updater = self.app.updater
        assert updater is not None
        if webhook:
            await updater.start_webhook(
                listen=self.settings.telegram_webhook_listen,
                port=self.settings.telegram_webhook_port,
                url_path=self.settings.telegram_webhook_path,
                webhook_url=webhook,
                secret_token=self.webhook_secret(),
                allowed_updates=["message", "callback_query"],
            )
        else:
            await updater.start_polling(
                poll_interval=0.0,
                timeout=self.settings.telegram_poll_timeout,
                allowed_updates=["message", "callback_query"],
            )
        # Replies committed before a restart (or during an outage) go out now.
        self._spawn(self.sender.run_sweeper(self.sweep_interval))
        # Start-up objects never die: keep them out of the collector's full passes, which
        # otherwise pause the bot for ~100 ms now and then (bench/README.md).
        gc.freeze()

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        updater = self.app.updater
        if updater is not None and updater.running:
            await updater.stop()
        if self.app.running:
            await self.app.stop()
        await self.app.shutdown()

    def run(self) -> None:
        """Serves until SIGINT or SIGTERM (what `nianjian run` does with a token)."""

        async def serve() -> None:
            stopping = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stopping.set)
            await self.start()
            log.info(
                "telegram bot running (%s)",
                "webhook" if self.settings.telegram_webhook_url else "polling",
            )
            await stopping.wait()
            await self.stop()

        asyncio.run(serve())

    def webhook_secret(self) -> str:
        """The secret Telegram sends with every webhook call; derived from the token unless
        configured, so it is stable across restarts without being guessable."""
        secret = self.settings.telegram_webhook_secret
        if secret is not None:
            return secret.get_secret_value()
        token = self.settings.telegram_token
        assert token is not None
        return hashlib.sha256(b"webhook:" + token.get_secret_value().encode()).hexdigest()[:48]

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- handlers ------------------------------------------------------------------------------

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None or message.text is None:
            return
        text = message.text
        command, _, payload = text.partition(" ")
        is_start = command.split("@")[0] == "/start"
        event: Event = Start(payload.strip()) if is_start else TextIn(text)
        await self._step(str(message.chat_id), event, update.update_id)

    async def on_press(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None or query.message is None:
            return
        chat_id = str(query.message.chat.id)
        parsed = parse_callback(query.data)
        message = query.message if isinstance(query.message, Message) else None
        if parsed is None:
            await self._stale(query, message, chat_id)
            return
        seq, token = parsed
        if token.startswith("p"):
            await self._page(query, message, chat_id, seq, token)
            return
        if not token.isdecimal():
            await self._stale(query, message, chat_id)
            return
        turn = await asyncio.to_thread(
            self.service.handle,
            CHANNEL,
            chat_id,
            Press(seq, int(token)),
            event_id=str(update.update_id),
            queue=True,
        )
        if turn.stale:
            await self._stale(query, message, chat_id)
            return
        await self.sender.call(chat_id, query.answer)
        label = label_of(message.reply_markup if message else None, query.data)
        if message is not None and message.text and label:
            text = f"{message.text}\n\n{PRESSED.format(label=label)}"
            await self._quietly(chat_id, lambda: message.edit_text(text, reply_markup=None))
        await self.sender.deliver(chat_id)
        self._deliver_others(turn, chat_id)

    async def _page(
        self, query: Any, message: Message | None, chat_id: str, seq: int, token: str
    ) -> None:
        live = await asyncio.to_thread(self.service.live_prompt, CHANNEL, chat_id)
        if live is None or live[0] != seq or message is None or not token[1:].isdecimal():
            await self._stale(query, message, chat_id)
            return
        markup = keyboard(live[1], seq, int(token[1:]))
        await self.sender.call(chat_id, query.answer)
        await self._quietly(chat_id, lambda: message.edit_reply_markup(reply_markup=markup))

    async def _stale(self, query: Any, message: Message | None, chat_id: str) -> None:
        await self._quietly(chat_id, lambda: query.answer(STALE_BUTTON))
        if message is not None and message.reply_markup is not None:
            await self._quietly(chat_id, lambda: message.edit_reply_markup(reply_markup=None))

    async def on_file(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None:
            return
        chat_id = str(message.chat_id)
        if message.media_group_id:
            self._collect(chat_id, message, update.update_id)
            return
        await self._files(chat_id, [message], str(update.update_id))

    def _collect(self, chat_id: str, message: Message, update_id: int) -> None:
        """Photos of an album arrive as separate updates; wait until the group is complete."""
        key = (chat_id, str(message.media_group_id))
        album = self._albums.setdefault(key, _Album())
        album.messages.append(message)
        album.update_ids.append(update_id)
        if album.flush is not None:
            album.flush.cancel()
        loop = asyncio.get_running_loop()
        album.flush = loop.call_later(self.album_wait, lambda: self._spawn(self._flush_album(key)))

    async def _flush_album(self, key: tuple[str, str]) -> None:
        album = self._albums.pop(key, None)
        if album is None:
            return
        chat_id, group = key
        async with self.locks.hold(chat_id):
            messages = sorted(album.messages, key=lambda m: m.message_id)
            await self._files(chat_id, messages, f"album:{group}")

    async def _files(self, chat_id: str, messages: Sequence[Message], event_id: str) -> None:
        incoming: list[Incoming] = []
        for message in messages:
            got = await self._download(chat_id, message)
            if isinstance(got, str):
                await self._step(chat_id, FileIn(None, got), event_id)
                return
            incoming.append(got)
        turn = await asyncio.to_thread(
            self.service.receive_files, CHANNEL, chat_id, incoming, event_id=event_id, queue=True
        )
        await self.sender.deliver(chat_id)
        self._deliver_others(turn, chat_id)

    async def _download(self, chat_id: str, message: Message) -> Incoming | str:
        if message.document is not None:
            media: Any = message.document
            name = message.document.file_name or "文件"
        elif message.photo:
            media = message.photo[-1]  # the largest size
            name = PHOTO_NAME
        else:
            return UNREADABLE
        if media.file_size is not None and media.file_size > DOWNLOAD_LIMIT:
            return TOO_LARGE
        try:
            file = await self.sender.call(chat_id, media.get_file)
            data = await file.download_as_bytearray()
        except TelegramError as error:
            log.warning("telegram download failed for %s: %s", chat_id, error)
            return TOO_LARGE if "too big" in str(error).lower() else UNREADABLE
        return Incoming(name, bytes(data))

    async def _step(self, chat_id: str, event: Event, update_id: int | str) -> None:
        turn = await asyncio.to_thread(
            self.service.handle, CHANNEL, chat_id, event, event_id=str(update_id), queue=True
        )
        await self.sender.deliver(chat_id)
        self._deliver_others(turn, chat_id)

    def _deliver_others(self, turn: Turn, chat_id: str) -> None:
        """Messages for other chats (a reviewer told of a submission, a contact of a decision)
        go out now, not at the next sweep; in the background, in their chats' own order."""
        for channel, other in turn.notified:
            if channel == CHANNEL and other != chat_id:
                self._spawn(self.sender.deliver(other))

    async def _quietly(self, chat_id: str, make: Any) -> None:
        """Cosmetic calls (answering a press, removing a keyboard) must not fail an update."""
        try:
            await self.sender.call(chat_id, make)
        except (TelegramError, Deferred) as error:
            log.info("telegram cosmetic call failed for %s: %s", chat_id, error)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("telegram update failed: %s", context.error, exc_info=context.error)
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is not None:
            # Nothing of the failed update was stored (its transaction rolled back).
            await self._quietly(str(chat.id), lambda: self.app.bot.send_message(chat.id, FAILED))
