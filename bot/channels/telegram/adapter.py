"""python-telegram-bot wiring: four generic handlers (text, button, file, error) that turn
updates into engine events. No filing logic lives here, and no state in PTB's memory: the
conversation, the live buttons and the replies to send are all in the database."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
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
from telegram.request import HTTPXRequest

from bot import observability
from bot.channels.locks import ChatLocks
from bot.channels.telegram import webhook as webhook_routes
from bot.channels.telegram.inbox import DurableBot, DurableQueue, UpdatesRequest
from bot.channels.telegram.render import (
    PRESSED,
    STALE_BUTTON,
    keyboard,
    label_of,
    parse_callback,
)
from bot.channels.telegram.sender import CHANNEL, Deferred, TelegramSender
from bot.privacy import register_secret
from bot.service import ChatService, Incoming, Press, Turn
from bot.settings import Settings
from bot.web import Route, WebServer
from dialogs.replies import Event, FileIn, Start, TextIn
from reminders.runner import Report, Runner
from reminders.wakeup import ReminderWakeup
from storage.messaging import OutboxItem
from storage.processes import Presence

log = logging.getLogger(__name__)

# Telegram lets a bot download files up to 20 MB; larger ones are refused before getFile.
DOWNLOAD_LIMIT = 20 * 1024 * 1024
TOO_LARGE = "文件超过 20 MB，Telegram 机器人无法接收。请压缩后重新发送，或分成几个文件。"
UNREADABLE = "文件没能下载下来，请重新发送一次。"
# How long stop() waits for deliveries in progress.
_STOP_GRACE = 5.0
POLLER_TAKEN = (
    "another `nianjian run` is already long-polling Telegram with this database: Telegram "
    "serves updates to one poller only. Run further processes as webhook workers "
    "(TELEGRAM_WEBHOOK_URL, docs/operator/scaling.md) or stop the other poller."
)
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
    ("reminders", "我的提醒；续证办理后点「续证已办理」"),
    ("help", "帮助"),
)


class ChatOrderedProcessor(BaseUpdateProcessor):
    """Updates of one chat run one after another, in arrival order; chats run concurrently."""

    def __init__(
        self,
        locks: ChatLocks,
        handled: Callable[[object], None],
        max_concurrent_updates: int = 256,
    ) -> None:
        super().__init__(max_concurrent_updates)
        self.locks = locks
        self.handled = handled

    async def do_process_update(self, update: object, coroutine: Any) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        started = time.perf_counter()
        try:
            if chat is None:
                await coroutine
                return
            async with self.locks.hold(str(chat.id)):
                await coroutine
        finally:
            self.handled(update)
            if isinstance(update, Update):
                observability.update_handled(CHANNEL, time.perf_counter() - started)

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
        reminders: Runner | None = None,
        presence: Presence | None = None,
    ) -> None:
        if settings.telegram_token is None:
            raise ValueError("TELEGRAM_TOKEN is not set")
        self.service = service
        self.settings = settings
        register_secret(*settings.secret_values(), self.webhook_secret())
        self.album_wait = album_wait
        self.sweep_interval = sweep_interval
        # Wakes the reminder runner (periodically and at exact due times); None: no reminders.
        self.reminders = ReminderWakeup(reminders, self._reminders_queued) if reminders else None
        self.locks = ChatLocks()
        # The processes on this database (storage/processes.py); None: this one alone.
        self.presence = presence
        owner = presence.name if presence is not None else None
        alive = presence.alive if presence is not None else None
        self.inbox = DurableQueue(
            service.db,
            service.clock,
            polling=not settings.telegram_webhook_url,
            owner=owner,
            alive=alive,
        )
        self._inline = service.db.dialect == "sqlite"
        self._started = time.time()
        self._albums: dict[tuple[str, str], _Album] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loops: set[asyncio.Task[Any]] = set()
        # The background loops /health watches, by name.
        self._watched: dict[str, asyncio.Task[Any]] = {}
        # Webhook mode: whether the webhook route takes updates (started, not stopping), and
        # the web server of its own when the process gave none (tests, a channel alone).
        self._serving = False
        self._own_server: WebServer | None = None
        self.port: int | None = None  # where the webhook is served, once started
        self.app = self._build()
        self.sender = TelegramSender(
            self.app.bot,
            service.db,
            service.clock,
            rate=settings.telegram_rate,
            per_chat_burst=settings.telegram_chat_burst,
            in_flight=settings.telegram_max_in_flight,
            owner=owner or "",
            alive=alive,
        )

    def _build(self) -> Application[Any, Any, Any, Any, Any, Any]:
        token = self.settings.telegram_token
        assert token is not None
        bot = DurableBot(
            token.get_secret_value(),
            self.inbox,
            base_url=self.settings.telegram_base_url,
            base_file_url=self.settings.telegram_base_file_url,
            # As many connections as requests in flight (the sender holds the rest back):
            # httpcore re-checks every pooled connection on each request, so a small pool
            # is cheaper under load than PTB's default of 256 (measured in bench/README.md).
            request=HTTPXRequest(connection_pool_size=self.settings.telegram_max_in_flight),
            get_updates_request=UpdatesRequest(),
        )
        app = (
            Application.builder()
            .bot(bot)
            .concurrent_updates(ChatOrderedProcessor(self.locks, self.inbox.handled))
            .update_queue(self.inbox)
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

    def routes(self) -> list[Route]:
        """The webhook's route on the process's web server (webhook mode); none when polling."""
        if not self.settings.telegram_webhook_url:
            return []
        return webhook_routes.routes(
            self.app.bot,
            self.inbox,
            self.webhook_secret(),
            self.settings.telegram_webhook_path,
            lambda: self._serving,
        )

    async def start(self, web: WebServer | None = None) -> None:
        """Starts taking updates: by long polling, or (webhook mode) on the process's web
        server when one is given (its routes were added and it is running: `nianjian run`),
        otherwise on a web server of its own at WEB_HOST:WEB_PORT."""
        self._started = time.time()
        if self.presence is not None and not self.settings.telegram_webhook_url:
            # Telegram serves getUpdates to one poller: two would take each other's updates
            # (and get 409 Conflict). Webhook workers may be any number.
            self.presence.take_role("telegram:poller", POLLER_TAKEN)
        await self.app.initialize()
        await self.app.bot.set_my_commands([BotCommand(c, d) for c, d in COMMANDS])
        await self.app.start()
        # What chats were owed when the previous process died: their current questions.
        await self.sender.recover()
        # Updates a previous process took from Telegram but did not finish: first.
        await self.inbox.replay(self.app.bot)
        self._watched["telegram_inbox"] = self._spawn(self.inbox.run_forgetter(), loop=True)
        webhook = self.settings.telegram_webhook_url
        updater = self.app.updater
        assert updater is not None
        if webhook:
            # A route of the web server rather than the Updater's own server (webhook.py).
            if web is None:
                web = self._own_server = WebServer(
                    self.settings.web_host,
                    self.settings.web_port,
                    webhook_routes.MAX_BODY,
                )
                web.add(self.routes())
                await web.start()
            self.port = web.port
            self._serving = True
            await self.app.bot.set_webhook(
                url=webhook,
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
        sweeper = self._spawn(self.sender.run_sweeper(self.sweep_interval), loop=True)
        self._watched["telegram_sender"] = sweeper
        if self.presence is not None and self.presence.shared:
            # Updates another process stored and died with: adopted and handled here.
            self._spawn(self._adopt(), loop=True)
        if self.reminders is not None:
            # Its first run is now: what fell due while the bot was down goes out once.
            self.reminders.start()
        self._watched["telegram_marker"] = self._spawn(self.sender.run_marker(), loop=True)
        # Start-up objects never die: keep them out of the collector's full passes, which
        # otherwise pause the bot for ~100 ms now and then (bench/README.md).
        gc.freeze()
        log.info("telegram bot running (%s)", "webhook" if webhook else "polling")

    async def stop(self) -> None:
        """Takes no new updates, lets the ones in hand and their deliveries finish (for a
        few seconds at most), then stops the background loops, which write down what they
        hold (delivered items, handled updates) on the way out."""
        if self.reminders is not None:
            await self.reminders.stop()
        self._serving = False  # calls from now on are answered 503: Telegram retries
        if self._own_server is not None:
            await self._own_server.stop()
            self._own_server = None
        updater = self.app.updater
        if updater is not None and updater.running:
            await updater.stop()
        if self.app.running:
            await self.app.stop()  # waits for the updates being handled
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=_STOP_GRACE)
        for task in [*self._tasks, *self._loops]:
            task.cancel()
        for task in [*self._tasks, *self._loops]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.sender.flush_marks()
        await self.inbox.forget_handled()
        await self.app.shutdown()

    def loops_alive(self) -> dict[str, bool]:
        """For /health: the updater and every background loop still running."""
        # Updates come in by long polling (python-telegram-bot's Updater) or by the webhook
        # route (webhook.py), whichever this process runs.
        updater = self.app.updater
        if self.settings.telegram_webhook_url:
            receiving = self._serving
        else:
            receiving = updater is not None and updater.running
        alive = {"telegram_updater": receiving}
        alive.update({name: not task.done() for name, task in self._watched.items()})
        return alive

    def webhook_secret(self) -> str:
        """The secret Telegram sends with every webhook call; derived from the token unless
        configured, so it is stable across restarts without being guessable."""
        secret = self.settings.telegram_webhook_secret
        if secret is not None:
            return secret.get_secret_value()
        token = self.settings.telegram_token
        assert token is not None
        return hashlib.sha256(b"webhook:" + token.get_secret_value().encode()).hexdigest()[:48]

    async def _adopt(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_interval)
            try:
                await self.inbox.replay(self.app.bot)
            except Exception:  # must outlive any single failure, like the sweeper
                log.exception("telegram: adopting updates failed")

    async def _reminders_queued(self, report: Report) -> None:
        """Reminders just went into the outbox: deliver them now rather than at the next
        sweep, a broadcast included (sweeps back to back, through the sender's rate limits)."""
        if any(channel == CHANNEL for channel, _chat in report.notified):
            self._spawn(self._drain())

    def deliver_now(self, notified: Sequence[tuple[str, str]]) -> None:
        """Messages another part of the process queued for Telegram chats (a decision taken
        in the web console) go out now, not at the next sweep."""
        for channel, chat_id in notified:
            if channel == CHANNEL:
                self._spawn(self.sender.deliver(chat_id))

    async def _drain(self) -> None:
        while await self.sender.sweep():  # until a sweep sends nothing
            pass

    def _spawn(self, coroutine: Any, *, loop: bool = False) -> asyncio.Task[Any]:
        """A background task: a delivery (`loop=False`; stop() lets it finish) or a loop
        that runs until stop() cancels it."""
        task = asyncio.get_running_loop().create_task(coroutine)
        tasks = self._loops if loop else self._tasks
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return task

    # --- handlers ------------------------------------------------------------------------------

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None or message.text is None:
            return
        text = message.text
        command, _, payload = text.partition(" ")
        is_start = command.split("@")[0] == "/start"
        event: Event = Start(payload.strip()) if is_start else TextIn(text)
        chat_id = str(message.chat_id)
        turn = await self._handle(chat_id, event, str(update.update_id), sent_at=message.date)
        await self._deliver(turn, chat_id)
        replayed = update.update_id in self.inbox.replayed
        if replayed or message.date.timestamp() < self._started:
            # Sent before this process started: its sender saw no answer for a while and may
            # send it again, a repeat to confirm before it lands in the next question.
            self.inbox.replayed.discard(update.update_id)
            await asyncio.to_thread(self.service.resumed, CHANNEL, chat_id)

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
        turn = await self._handle(chat_id, Press(seq, int(token)), str(update.update_id))
        if turn.stale:
            await self._stale(query, message, chat_id)
            return
        # Cosmetic: a press Telegram delivers again after a restart is too old to answer.
        await self._quietly(chat_id, query.answer)
        label = label_of(message.reply_markup if message else None, query.data)
        if message is not None and message.text and label:
            text = f"{message.text}\n\n{PRESSED.format(label=label)}"
            await self._quietly(chat_id, lambda: message.edit_text(text, reply_markup=None))
        await self._deliver(turn, chat_id)

    async def _page(
        self, query: Any, message: Message | None, chat_id: str, seq: int, token: str
    ) -> None:
        live = await asyncio.to_thread(self.service.live_prompt, CHANNEL, chat_id)
        if live is None or live[0] != seq or message is None or not token[1:].isdecimal():
            await self._stale(query, message, chat_id)
            return
        markup = keyboard(live[1], seq, int(token[1:]))
        await self._quietly(chat_id, query.answer)
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
        # Durable from its first photo: the photos stay in the inbox until the album is
        # stored, so a crash meanwhile stores it after the restart.
        self.inbox.hold(update_id)
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
            if self.presence is not None and self.presence.shared:
                # Photos of this album another worker took: one album, all its pages.
                for update in await self.inbox.album(self.app.bot, group):
                    message = update.effective_message
                    known = {m.message_id for m in album.messages}
                    if (
                        message is not None
                        and message.message_id not in known
                        and str(message.chat_id) == chat_id
                    ):
                        album.messages.append(message)
            messages = sorted(album.messages, key=lambda m: m.message_id)
            try:
                await self._files(chat_id, messages, f"album:{group}")
            except Exception:
                # Left in the inbox: the next start stores the album.
                log.exception("telegram album %s of %s failed", group, chat_id)
                await self._quietly(chat_id, lambda: self.app.bot.send_message(chat_id, FAILED))
                return
        self.inbox.release(album.update_ids)

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
        await self._deliver(turn, chat_id)

    async def _download(self, chat_id: str, message: Message) -> Incoming | str:
        if message.document is not None:
            media: Any = message.document
            name = message.document.file_name or "文件"
        elif message.photo:
            media = message.photo[-1]  # the largest size
            name = ""  # named after the question it answers
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
        turn = await self._handle(chat_id, event, str(update_id))
        await self._deliver(turn, chat_id)

    async def _handle(
        self,
        chat_id: str,
        event: Event | Press,
        event_id: str,
        *,
        sent_at: datetime | None = None,
    ) -> Turn:
        """One message through the service. On SQLite it runs right here on the event loop:
        about a millisecond of CPU, where handing it to a worker thread and back cost more
        than the work itself (GIL hand-offs; bench/README.md). Over a network database it
        runs in a thread, so that waiting for the server never blocks other chats."""
        handle = partial(
            self.service.handle, CHANNEL, chat_id, event, event_id=event_id, queue=True
        )
        if self._inline:
            return handle(sent_at=sent_at)
        return await asyncio.to_thread(handle, sent_at=sent_at)

    async def _deliver(self, turn: Turn, chat_id: str) -> None:
        """Sends what the event queued: this chat's replies now; messages for other chats (a
        reviewer told of a submission, a contact of a decision) in the background, in their
        chats' own order, instead of at the next sweep."""
        by_chat: dict[str, list[OutboxItem]] = {}
        for item in turn.queued:
            if item.channel == CHANNEL:
                by_chat.setdefault(item.chat_id, []).append(item)
        own = by_chat.pop(chat_id, [])
        if own or turn.duplicate:
            # A redelivered update queues nothing: what it queued the first time (if it is
            # still pending after a crash) is read back from the outbox.
            await self.sender.deliver(chat_id, None if turn.duplicate else own)
        for other, items in by_chat.items():
            self._spawn(self.sender.deliver(other, items))

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
