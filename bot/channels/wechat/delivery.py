"""Delivers the outbox to WeChat: whatever is queued for channel "wechat" (replies that were not
given passively, review results, reminders, notices for reviewers), in order per chat.

Within 48 hours of the user's last message (`ChannelChats.last_seen_at`) an item goes out as
customer-service text messages; outside that window, or when WeChat says the window is closed,
as a template message (the first line, opening the full text, the upload page or the file).
Nothing is dropped: a network error or a busy WeChat leaves the item pending for the sweeper; a
closed window without a configured template keeps it pending until the user writes again; a
user who unfollowed is recorded as blocked; a message WeChat refuses for good is kept as
failed with the reason (`nianjian deliveries` lists them).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.channels.locks import ChatLocks
from bot.channels.wechat import texts
from bot.channels.wechat.api import ApiError, Failure, WeChatApi
from bot.channels.wechat.render import Rendered, Renderer, summary_line
from bot.clock import Clock
from bot.privacy import redact
from dialogs.texts_delivery import CONTINUATION
from dialogs.workdays import SHANGHAI
from storage.db import Database
from storage.messaging import (
    CONTINUED,
    ChannelChats,
    ChatInfo,
    Deliveries,
    Outbox,
    OutboxItem,
)

log = logging.getLogger(__name__)

CHANNEL = "wechat"
WINDOW = timedelta(hours=48)
# Our clock and WeChat's may disagree a little: near the end of the window, use a template.
_WINDOW_MARGIN = timedelta(minutes=5)
_RETRY = timedelta(seconds=30)
# Outside the window with no template configured: look again now and then (the user's next
# message reopens the window and delivers it at once).
_WAIT_FOR_USER = timedelta(hours=1)
NO_TEMPLATE = (
    "outside the 48-hour window and no WECHAT_TEMPLATE_ID: waits for the user's next message"
)
SOURCES = ("title", "text", "time", "hint")


@dataclass(frozen=True, slots=True)
class TemplateConfig:
    template_id: str | None
    fields: tuple[tuple[str, str], ...]  # (template field, what goes in it: one of SOURCES)
    text_chars: int = 20

    @classmethod
    def parse(cls, template_id: str | None, spec: str, text_chars: int) -> TemplateConfig:
        fields = []
        for item in spec.split(","):
            name, _, source = item.strip().partition(":")
            if not name or source.strip() not in SOURCES:
                raise ValueError(
                    f"WECHAT_TEMPLATE_FIELDS: {item!r} is not field:{'|'.join(SOURCES)}"
                )
            fields.append((name.strip(), source.strip()))
        return cls(template_id or None, tuple(fields), text_chars)


def _shown(item: OutboxItem) -> OutboxItem:
    """A reply re-sent after a crash as the chat's current question says so first."""
    if not item.payload.get(CONTINUED) or "text" not in item.payload:
        return item
    payload = {**item.payload, "text": f"{CONTINUATION}\n{item.payload['text']}"}
    return replace(item, payload=payload)


class _Stop(Exception):
    """This chat's remaining items must wait (their order is kept)."""


class WeChatSender:
    def __init__(
        self,
        api: WeChatApi,
        db: Database,
        clock: Clock,
        renderer: Renderer,
        template: TemplateConfig,
        *,
        concurrency: int = 8,
        owner: str = "",
        alive: Callable[[], set[str]] | None = None,
    ) -> None:
        self.api = api
        self.db = db
        self.clock = clock
        # With several processes on the database the chat's lease says who delivers it.
        self.records = Deliveries(db, clock, CHANNEL, owner=owner, alive=alive)
        self.renderer = renderer
        self.template = template
        # Held while a chat's items are sent, and by the channel while it gives a passive reply.
        self.locks = ChatLocks()
        self._calls = asyncio.Semaphore(concurrency)
        self.sent = 0

    # --- entry points --------------------------------------------------------------------------

    async def deliver(self, chat_id: str) -> None:
        """Sends everything pending for this chat, oldest first; stops at the first item that
        cannot go now, so a chat's messages never overtake each other."""
        async with self.locks.hold(chat_id):
            while True:
                claimed = await asyncio.to_thread(self._claim, chat_id)
                if claimed is None:
                    return  # another process delivers this chat right now
                items, info = claimed
                in_window = self._in_window(info)
                stopped = False
                try:
                    for item in items:
                        # Recorded before the send: a crash re-sends it at most once more.
                        await asyncio.to_thread(self.records.progress, None, item.id, chat_id)
                        in_window = await self._send_item(_shown(item), in_window)
                except _Stop:
                    stopped = True
                finally:
                    more = await asyncio.to_thread(self.records.finish, chat_id)
                if stopped or not more:
                    return

    async def recover(self) -> int:
        """At start-up as the only process (SQLite): what chats were owed when the previous
        process died is coalesced into their current questions (`Outbox.coalesce`)."""
        if self.records.shared:
            return 0
        return await asyncio.to_thread(self.records.recover)

    async def sweep(self) -> int:
        """Delivers every chat with items due (after a restart, an outage, a reminder run)."""
        chats = await asyncio.to_thread(self.records.chats_with_pending)
        await asyncio.gather(*(self.deliver(chat_id) for chat_id in chats))
        return len(chats)

    async def run_sweeper(self, interval: float) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:  # the sweeper must outlive any single failure
                log.exception("wechat sweep failed")
            await asyncio.sleep(interval)

    # --- for the passive reply (run in threads, under `locks.hold(chat_id)`) --------------------

    def first_pending(self, chat_id: str) -> OutboxItem | None:
        """The chat's oldest pending item; None when there is none or another process is
        delivering the chat (its lease, kept until the `deliver` that follows)."""
        if self.records.shared:
            items = self.records.claim(chat_id)
        else:
            with self.db.session() as session:
                items = Outbox(session).pending(CHANNEL, chat_id)
        return items[0] if items else None

    def answered_passively(self, item: OutboxItem, parts_sent: int, parts: int) -> None:
        with self.db.session() as session:
            if parts_sent >= parts:
                Outbox(session).delivered([item.id], self.clock.now())
            else:
                Outbox(session).sent_part(item.id, parts_sent)

    # --- one item ------------------------------------------------------------------------------

    async def _send_item(self, item: OutboxItem, in_window: bool) -> bool:
        """Sends one item; returns whether the window is (still) open for the next ones."""
        now = self.clock.now()
        rendered = self.renderer.render(item.id, item.payload, now)
        if in_window:
            try:
                await self._send_parts(item, rendered)
            except ApiError as error:
                if error.failure is not Failure.WINDOW:
                    await self._failed(item, error)
                    return True
                log.info("wechat window closed for %s: %s", item.chat_id, error)
                in_window = False
            else:
                await asyncio.to_thread(self.records.delivered, [item.id])
                return True
        if self.template.template_id is None:
            await asyncio.to_thread(self.records.retry_later, item.id, NO_TEMPLATE, _WAIT_FOR_USER)
            raise _Stop
        try:
            await self._call(
                self.api.send_template,
                item.chat_id,
                self.template.template_id,
                self._template_data(rendered, now),
                rendered.link,
            )
        except ApiError as error:
            await self._failed(item, error)
            return False
        await asyncio.to_thread(self.records.delivered, [item.id])
        return False

    async def _send_parts(self, item: OutboxItem, rendered: Rendered) -> None:
        for index in range(item.parts_sent, len(rendered.parts)):
            await self._call(self.api.send_text, item.chat_id, rendered.parts[index])
            if index < len(rendered.parts) - 1:
                await asyncio.to_thread(self.records.part_sent, item.id, index + 1)

    async def _failed(self, item: OutboxItem, error: ApiError) -> None:
        """Records the failure; raises _Stop unless the next item may still go."""
        detail = redact(f"wechat {error}")
        if error.failure is Failure.TRANSIENT:
            log.warning("wechat delivery to %s deferred: %s", item.chat_id, error)
            await asyncio.to_thread(self.records.retry_later, item.id, detail, _RETRY)
            raise _Stop
        if error.failure is Failure.BLOCKED:
            await asyncio.to_thread(self._blocked, item.chat_id, detail)
            raise _Stop
        # Refused for good (or a template refused as well): kept with the reason, next item.
        log.error("wechat refused outbox item %s: %s", item.id, error)
        await asyncio.to_thread(self.records.failed, item.id, detail)

    async def _call(self, function: Callable[..., object], *args: object) -> None:
        async with self._calls:
            await asyncio.to_thread(function, *args)
        self.sent += 1

    def _template_data(self, rendered: Rendered, now: datetime) -> dict[str, dict[str, str]]:
        values = {
            "title": texts.TEMPLATE_TITLE,
            "text": summary_line(rendered.summary, self.template.text_chars),
            "time": now.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M"),
            "hint": texts.TEMPLATE_HINT,
        }
        return {name: {"value": values[source]} for name, source in self.template.fields}

    def _in_window(self, info: ChatInfo | None) -> bool:
        if info is None or info.last_seen_at is None:
            return False
        return self.clock.now() - info.last_seen_at < WINDOW - _WINDOW_MARGIN

    # --- database (run in threads) -------------------------------------------------------------

    def _claim(self, chat_id: str) -> tuple[list[OutboxItem], ChatInfo | None] | None:
        items = self.records.claim(chat_id)
        if items is None:
            return None
        with self.db.session() as session:
            return items, ChannelChats(session).get(CHANNEL, chat_id)

    def _blocked(self, chat_id: str, error: str) -> None:
        log.info("wechat user %s unfollowed the account", chat_id)
        self.records.blocked(chat_id, error)

    def unfollowed(self, chat_id: str) -> None:
        """The user unfollowed (an `unsubscribe` event): nothing can reach them until they
        follow again; what is pending is kept as blocked."""
        self._blocked(chat_id, "wechat: the user unfollowed the account")
