"""The WeChat Official Account channel: callbacks in, engine events out, replies back within
WeChat's five seconds.

WeChat posts each message to the callback URL, waits 5 s for the answer and otherwise posts it
again (three tries in all). So the service call runs in a thread while the request waits at
most `wechat_reply_budget` seconds: when the engine is done by then, the first outbox item
becomes the passive reply (marked delivered, so it is not sent twice) and the rest follows as
customer-service messages; when it is not, WeChat gets the empty acknowledgement "success" at
once and everything follows as customer-service messages. A retried callback (same sender
and MsgId, or same sender and CreateTime for events) joins the one in flight, or gets the
answer already given; across restarts the service's event log recognises it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from wechatpy.crypto import WeChatCrypto
from wechatpy.replies import TextReply

from bot.channels.locks import ChatLocks
from bot.channels.wechat import texts
from bot.channels.wechat.api import ApiError, WeChatApi
from bot.channels.wechat.delivery import CHANNEL, TemplateConfig, WeChatSender
from bot.channels.wechat.guard import CallbackGuard, mode_problem, plain_mode_warning
from bot.channels.wechat.links import LinkSigner, derive_secret
from bot.channels.wechat.render import Lifetimes, Renderer, menu_press
from bot.channels.wechat.token_store import DatabaseStorage
from bot.privacy import register_secret
from bot.service import ChatService, Incoming, Press, Turn
from bot.settings import Settings
from bot.web import Route, WebServer, upload_limit
from dialogs.replies import Event, FileIn, Start, Text, TextIn, to_payload
from reminders.runner import Report, Runner
from reminders.wakeup import ReminderWakeup
from storage.messaging import Outbox
from storage.processes import Presence

if TYPE_CHECKING:
    from bot.channels.wechat.server import Parsed

log = logging.getLogger(__name__)

# How long a callback's answer is remembered for WeChat's retries (they come within ~15 s).
_REMEMBER = 60.0
# How long the rest of a turn waits for the passive reply to be written out before following.
_RESPONSE_WAIT = 5.0
_VIEW_LIFETIME = timedelta(days=30)
_MAX_KEY = 100


@dataclass
class Callback:
    """One WeChat message or event, however often WeChat posts it."""

    openid: str
    to: str  # the Official Account's id, the passive reply's sender
    decided: asyncio.Event = field(default_factory=asyncio.Event)
    responded: asyncio.Event = field(default_factory=asyncio.Event)
    waiting: int = 0  # requests for it waiting for the engine right now
    answer: str | None = None  # the passive reply (plain XML), once given


class WeChatChannel:
    def __init__(
        self,
        service: ChatService,
        settings: Settings,
        *,
        api: WeChatApi | None = None,
        sweep_interval: float = 5.0,
        reminders: Runner | None = None,
        presence: Presence | None = None,
    ) -> None:
        app_id, secret, token = (
            settings.wechat_app_id,
            settings.wechat_app_secret,
            settings.wechat_token,
        )
        if not app_id or secret is None or token is None:
            raise ValueError("WECHAT_APP_ID, WECHAT_APP_SECRET and WECHAT_TOKEN must be set")
        problem = mode_problem(settings)
        if problem is not None:
            raise ValueError(problem)
        self.service = service
        self.settings = settings
        self.presence = presence  # the processes on the database (storage/processes.py)
        self.app_id = app_id
        self.token = token.get_secret_value()
        register_secret(*settings.secret_values())
        aes_key = settings.wechat_encoding_aes_key
        self.crypto = (
            WeChatCrypto(self.token, aes_key.get_secret_value(), app_id) if aes_key else None
        )
        self.guard = CallbackGuard(
            service.db, timedelta(seconds=settings.wechat_callback_window_seconds)
        )
        self.budget = settings.wechat_reply_budget
        self.sweep_interval = sweep_interval
        self.path = "/" + settings.wechat_path.strip("/")
        self.api = api or WeChatApi(
            app_id,
            secret.get_secret_value(),
            settings.wechat_api_base_url,
            storage=DatabaseStorage(service.db, service.clock, secret.get_secret_value()),
        )
        link_secret = settings.wechat_link_secret
        self.links = LinkSigner(
            link_secret.get_secret_value().encode()
            if link_secret
            else derive_secret(secret.get_secret_value()),
            self._base_url(settings.web_port),
        )
        lifetimes = Lifetimes(
            upload=timedelta(hours=settings.wechat_upload_link_hours),
            download=timedelta(days=settings.wechat_download_link_days),
            view=_VIEW_LIFETIME,
        )
        self.renderer = Renderer(self.links, lifetimes)
        template = TemplateConfig.parse(
            settings.wechat_template_id,
            settings.wechat_template_fields,
            settings.wechat_template_text_chars,
        )
        self.sender = WeChatSender(
            self.api,
            service.db,
            service.clock,
            self.renderer,
            template,
            owner=presence.name if presence is not None else "",
            alive=presence.alive if presence is not None else None,
        )
        # Wakes the reminder runner when this process hosts it (not when Telegram does).
        self.reminders = ReminderWakeup(reminders, self._reminders_queued) if reminders else None
        self.locks = ChatLocks()
        self._callbacks: dict[str, Callback] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._own_server: WebServer | None = None
        self._sweeper: asyncio.Task[Any] | None = None
        self.port = settings.web_port

    # --- lifecycle -----------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        from bot.channels.wechat.server import routes

        return routes(self)

    async def start(self, web: WebServer | None = None) -> None:
        """Serves on the process's web server when one is given (its routes were added and it
        is running: `nianjian run`), otherwise on a server of its own."""
        if web is None:
            web = self._own_server = WebServer(
                self.settings.web_host,
                self.settings.web_port,
                upload_limit(self.settings.max_upload_bytes),
            )
            web.add(self.routes())
            await web.start()
        self.port = web.port
        self.links.base_url = self._base_url(self.port)
        # Replies committed before a restart (or during an outage), reminders: out they go.
        await self.sender.recover()  # what chats were owed when the last process died
        self._sweeper = self.spawn(self.sender.run_sweeper(self.sweep_interval))
        if self.reminders is not None:
            self.reminders.start()  # its first run is now: what fell due while down goes out
        log.info("wechat callback served on port %s at %s", self.port, self.path)
        warning = plain_mode_warning(self.settings)
        if warning is not None:
            log.warning("%s", warning)

    async def stop(self) -> None:
        if self.reminders is not None:
            await self.reminders.stop()
        if self._own_server is not None:
            await self._own_server.stop()
            self._own_server = None
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def loops_alive(self) -> dict[str, bool]:
        """For /health: the sweeper that delivers the outbox still running."""
        return {"wechat_sender": self._sweeper is not None and not self._sweeper.done()}

    async def _reminders_queued(self, report: Report) -> None:
        """Reminders just went into the outbox: deliver them now, not at the next sweep."""
        for channel, chat_id in report.notified:
            if channel == CHANNEL:
                self.spawn(self.sender.deliver(chat_id))

    def _base_url(self, port: int) -> str:
        return self.settings.web_origin(port) + self.path

    # --- callbacks -----------------------------------------------------------------------------

    async def on_callback(self, parsed: Parsed, started: float) -> Callback | None:
        """Handles one posted message; returns its Callback, whose `answer` (when set) is the
        passive reply. None for what needs no answer at all."""
        raw, message = parsed.raw, parsed.message
        openid = str(message.source or "")
        if not openid:
            return None
        key = _dedupe_key(raw, openid)
        callback = self._callbacks.get(key)
        if callback is None:
            callback = self._callbacks[key] = Callback(openid, str(message.target or ""))
            self.spawn(self._process(callback, key, message, raw))
            asyncio.get_running_loop().call_later(_REMEMBER, self._callbacks.pop, key, None)
        elif callback.decided.is_set():
            return callback  # a retry of an answered message: the same answer again
        callback.waiting += 1
        try:
            remaining = self.budget - (time.monotonic() - started)
            await asyncio.wait_for(callback.decided.wait(), max(remaining, 0.0))
        except TimeoutError:
            pass  # the empty acknowledgement; customer-service messages follow
        finally:
            callback.waiting -= 1
        return callback

    async def _process(
        self, callback: Callback, key: str, message: Any, raw: dict[str, Any]
    ) -> None:
        openid = callback.openid
        ids: tuple[int, ...] = ()
        notified: tuple[tuple[str, str], ...] = ()
        try:
            async with self.locks.hold(openid):
                turn = await self._step(openid, key, message, raw)
            if turn is not None:
                ids, notified = turn.outbox_ids, turn.notified
        except Exception:
            log.exception("wechat message %s of %s failed", key, openid)
            # Nothing of it was stored (its transaction rolled back): say so.
            with contextlib.suppress(Exception):
                ids = await asyncio.to_thread(self._queue_own, openid, texts.FAILED)
        if ids:
            await self._answer(callback, ids[0])
        callback.decided.set()
        if callback.answer is not None:
            # The rest must not overtake the passive reply.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(callback.responded.wait(), _RESPONSE_WAIT)
        await self.sender.deliver(openid)
        self.deliver_others(notified, openid)

    async def _answer(self, callback: Callback, first_id: int) -> None:
        """Gives the turn's first message as the passive reply when a request still waits and
        nothing older is pending for the chat (its messages keep their order)."""
        openid = callback.openid
        async with self.sender.locks.hold(openid):
            first = await asyncio.to_thread(self.sender.first_pending, openid)
            if callback.waiting == 0 or first is None or first.id != first_id:
                return
            rendered = self.renderer.render(first.id, first.payload, self.service.clock.now())
            if first.parts_sent >= len(rendered.parts):
                return
            reply = TextReply(
                source=callback.to, target=openid, content=rendered.parts[first.parts_sent]
            )
            # Claimed here, with no await since the check above: a request that waits now
            # sends this reply; one that timed out has already sent the empty acknowledgement.
            callback.answer = reply.render()
            callback.decided.set()
            try:
                parts = first.parts_sent + 1
                await asyncio.to_thread(
                    self.sender.answered_passively, first, parts, len(rendered.parts)
                )
            except Exception:
                # Not marked: the item goes out again as a customer-service message. Twice
                # rather than never.
                log.exception("wechat: marking the passive reply %s failed", first.id)

    async def _step(self, openid: str, key: str, message: Any, raw: dict[str, Any]) -> Turn | None:
        kind = str(raw.get("MsgType", "")).lower()
        if kind == "text":
            menu_id = str(raw.get("bizmsgmenuid") or "")
            pressed = menu_press(menu_id) if menu_id else None
            if pressed is not None:
                turn = await self._handle(openid, Press(*pressed), key)
                if turn.stale:
                    ids = await asyncio.to_thread(self._queue_own, openid, texts.STALE_OPTION)
                    return Turn(None, None, outbox_ids=ids)
                return turn
            return await self._handle(openid, TextIn(str(message.content or "")), key)
        if kind == "image":
            try:
                data = await asyncio.to_thread(self.api.download_media, str(message.media_id))
            except ApiError as error:
                log.warning("wechat media download failed for %s: %s", openid, error)
                return await self._handle(openid, FileIn(None, texts.UNREADABLE), key)
            return await asyncio.to_thread(
                self.service.receive_files,
                CHANNEL,
                openid,
                [Incoming("", data)],  # named after the question it answers
                event_id=key,
                queue=True,
            )
        if kind == "event":
            return await self._event(openid, key, message, raw)
        ids = await asyncio.to_thread(self._queue_own, openid, texts.UNSUPPORTED)
        return Turn(None, None, outbox_ids=ids)

    async def _event(self, openid: str, key: str, message: Any, raw: dict[str, Any]) -> Turn | None:
        event = str(raw.get("Event", "")).lower()
        if event == "subscribe":
            # Following through a QR code with a scene: the scene is an invite code.
            scene = str(raw.get("EventKey") or "").removeprefix("qrscene_")
            return await self._handle(openid, Start(scene), key)
        if event == "scan":
            return await self._handle(openid, Start(str(raw.get("EventKey") or "")), key)
        if event == "click":
            # A custom-menu button whose key is a command (总览, 继续, 帮助 ...).
            return await self._handle(openid, TextIn(str(raw.get("EventKey") or "")), key)
        if event == "unsubscribe":
            await asyncio.to_thread(self.sender.unfollowed, openid)
            return None
        if event == "templatesendjobfinish" and raw.get("Status") != "success":
            log.warning(
                "wechat template message to %s not delivered: %s", openid, raw.get("Status")
            )
        return None

    async def _handle(self, openid: str, event: Event | Press, key: str) -> Turn:
        return await asyncio.to_thread(
            self.service.handle, CHANNEL, openid, event, event_id=key, queue=True
        )

    def deliver_others(self, notified: tuple[tuple[str, str], ...], openid: str) -> None:
        """Messages for other WeChat chats (a reviewer told of a submission, a contact of a
        decision) go out now, not at the next sweep."""
        for channel, other in notified:
            if channel == CHANNEL and other != openid:
                self.spawn(self.sender.deliver(other))

    def deliver_now(self, notified: Sequence[tuple[str, str]]) -> None:
        """Messages another part of the process queued for WeChat chats (a decision taken in
        the web console) go out now, not at the next sweep."""
        self.deliver_others(tuple(notified), "")

    def _queue_own(self, openid: str, text: str) -> tuple[int, ...]:
        """The channel's own words (an unsupported message, a stale option) go through the
        outbox like everything else: given passively when in time, never lost."""
        with self.service.db.session() as session:
            now = self.service.clock.now()
            return tuple(Outbox(session).add(CHANNEL, openid, [to_payload(Text(text))], now))


def _dedupe_key(raw: dict[str, Any], openid: str) -> str:
    """WeChat's own identity of a message: its sender and MsgId (a MsgId alone is only a
    number, and another sender's message with it is another message); events have none, so
    sender + time. Kept within the event log's 100 characters whatever a callback says."""
    msg_id = raw.get("MsgId") or raw.get("MsgID")
    if msg_id and str(raw.get("MsgType", "")).lower() != "event":
        key = f"msg:{openid}:{msg_id}"
    else:
        key = f"event:{openid}:{raw.get('CreateTime', '')}"
    if len(key) > _MAX_KEY:
        return "hash:" + hashlib.sha256(key.encode()).hexdigest()
    return key
