"""Delivers the outbox to Telegram: in order per chat, within Telegram's rate limits,
retrying on 429 and on network errors, recording users who blocked the bot.

Every reply is in the outbox before delivery starts (committed with the answer it
acknowledges), so a crash or a long outage delays a message but never drops it: the sweeper
sends whatever is still pending, after a restart too.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

from aiolimiter import AsyncLimiter
from telegram import Bot, InputFile, Message
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.channels.locks import ChatLocks
from bot.channels.telegram.render import FILE_HINT, keyboard, split_text
from bot.clock import Clock
from bot.privacy import redact
from storage.db import Database
from storage.messaging import Deliveries, OutboxItem

log = logging.getLogger(__name__)

CHANNEL = "telegram"
T = TypeVar("T")

# Network errors are retried this often with growing pauses before the item waits for the
# sweeper (which tries again later, forever: nothing is given up for a network outage).
_NETWORK_ATTEMPTS = 5
_RETRY_AFTER_CAP = 60.0
_SWEEP_BACKOFF = timedelta(seconds=30)
# Delivered items are marked in the database in batches, this often: one transaction for many
# messages. A crash loses at most this much of marks, and those messages go out again.
_MARK_INTERVAL = 0.05
# Ids this process sent lately, so that a read of the outbox racing the batch mark does not
# send them twice.
_REMEMBERED = 100_000


class Deferred(Exception):
    """Telegram could not be reached for now; the item stays pending."""


class Delivery:
    """One outbox item rendered as Telegram calls."""

    def __init__(self, item: OutboxItem) -> None:
        self.item = item
        payload = item.payload
        self.kind: str = payload["type"]
        text = payload.get("text", "")
        if self.kind == "file_request":
            text = f"{text}\n\n{FILE_HINT}"
        self.parts = split_text(text) if self.kind != "document" else [payload.get("caption", "")]
        self.options: list[list[str]] = payload.get("options") or []
        self.seq: int = int(payload.get("seq", 0))


class TelegramSender:
    def __init__(
        self,
        bot: Bot,
        db: Database,
        clock: Clock,
        *,
        rate: float = 30.0,
        per_chat_burst: int = 3,
        in_flight: int = 4,
    ) -> None:
        self.bot = bot
        self.db = db
        self.clock = clock
        self.records = Deliveries(db, clock, CHANNEL)
        self._global = AsyncLimiter(rate, 1.0)
        # Requests in flight at once. httpcore's pool walks every waiting request and every
        # connection for each request it starts: with ~200 chats replying at once that walk
        # cost more CPU than the requests (bench/README.md). Waiting here is O(1).
        self._in_flight = asyncio.Semaphore(in_flight)
        self._per_chat_burst = per_chat_burst
        self._chat_limits: dict[str, AsyncLimiter] = {}
        self._locks = ChatLocks()
        self.sent = 0
        self._recent: OrderedDict[int, None] = OrderedDict()
        self._unmarked: list[int] = []
        self._marker: asyncio.Task[None] | None = None
        # Chats whose outbox may hold older undelivered items: read before sending new ones.
        self._backlog: set[str] = set()

    # --- entry points --------------------------------------------------------------------------

    async def deliver(self, chat_id: str, items: Sequence[OutboxItem] | None = None) -> int:
        """Sends this chat's pending items, oldest first; stops at the first item that cannot
        go now, so a chat's messages never overtake each other. `items`: what an event just
        queued for the chat, sent without reading the outbox back unless older items may be
        waiting there. Returns how many items went out."""
        async with self._locks.hold(chat_id):
            if items is None or chat_id in self._backlog:
                self._backlog.discard(chat_id)
                items = await asyncio.to_thread(self.records.pending, chat_id)
            delivered: list[int] = []
            try:
                for item in items:
                    if item.id not in self._recent:
                        await self._send_item(Delivery(item), delivered)
            except Deferred as error:
                self._backlog.add(chat_id)
                log.warning("telegram delivery to %s deferred: %s", chat_id, error)
            finally:
                if delivered:
                    await self._mark(delivered)
            return len(delivered)

    async def sweep(self) -> int:
        """Delivers every chat with pending replies (after a restart, after an outage);
        returns how many items went out."""
        chats = await asyncio.to_thread(self.records.chats_with_pending)
        self._backlog.update(chats)
        sent = await asyncio.gather(*(self.deliver(chat_id) for chat_id in chats))
        return sum(sent)

    async def run_marker(self, interval: float = _MARK_INTERVAL) -> None:
        """Marks delivered items in batches (one transaction each) while it runs."""
        self._marker = asyncio.current_task()
        try:
            while True:
                await asyncio.sleep(interval)
                await self.flush_marks()
        finally:
            self._marker = None
            await asyncio.shield(self.flush_marks())

    async def flush_marks(self) -> None:
        ids, self._unmarked = self._unmarked, []
        if ids:
            try:
                await asyncio.to_thread(self.records.delivered, ids)
            except Exception:
                self._unmarked[:0] = ids  # the next flush tries again
                raise

    async def _mark(self, ids: list[int]) -> None:
        for item_id in ids:
            self._recent[item_id] = None
        while len(self._recent) > _REMEMBERED:
            self._recent.popitem(last=False)
        self._unmarked.extend(ids)
        if self._marker is None:
            await self.flush_marks()  # no batching task (tests driving the sender directly)

    async def run_sweeper(self, interval: float) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:  # the sweeper must outlive any single failure
                log.exception("telegram sweep failed")
            await asyncio.sleep(interval)

    async def call(
        self, chat_id: str, make: Callable[[], Awaitable[T]], *, message: bool = False
    ) -> T:
        """One Bot API call within the rate limits, retried on 429 and network errors. New
        messages also respect the per-chat pace; answering a press or editing does not."""
        for attempt in range(1, _NETWORK_ATTEMPTS + 1):
            if message:
                await self._chat_limit(chat_id).acquire()
            try:
                async with self._in_flight:
                    # The rate is taken inside: a token taken while waiting for a free slot
                    # would fire with the others at once when slots free up (a burst, 429s).
                    await self._global.acquire()
                    return await make()
            except RetryAfter as error:
                await asyncio.sleep(min(_seconds(error.retry_after), _RETRY_AFTER_CAP))
            except (Forbidden, BadRequest):
                raise
            except NetworkError as error:  # includes TimedOut
                if attempt == _NETWORK_ATTEMPTS:
                    raise Deferred(redact(str(error))) from error
                await asyncio.sleep(0.2 * 2**attempt)
        raise Deferred("rate limited")

    # --- one item ------------------------------------------------------------------------------

    async def _send_item(self, delivery: Delivery, delivered: list[int]) -> None:
        item = delivery.item
        chat_id = item.chat_id
        try:
            for index in range(item.parts_sent, len(delivery.parts)):
                last = index == len(delivery.parts) - 1
                await self._send_part(delivery, index, last)
                if not last:
                    await asyncio.to_thread(self.records.part_sent, item.id, index + 1)
        except Forbidden as error:
            await asyncio.to_thread(self._blocked, chat_id, redact(str(error)))
            raise Deferred(redact(f"blocked: {error}")) from error
        except BadRequest as error:
            # Telegram refused this message for good; record why, go on with the next.
            log.error("telegram refused outbox item %s: %s", item.id, redact(str(error)))
            await asyncio.to_thread(self.records.failed, item.id, redact(str(error)))
            return
        except Deferred as error:
            await asyncio.to_thread(self.records.retry_later, item.id, str(error), _SWEEP_BACKOFF)
            raise
        delivered.append(item.id)
        self.sent += 1

    async def _send_part(self, delivery: Delivery, index: int, last: bool) -> Message:
        chat_id = delivery.item.chat_id
        payload = delivery.item.payload
        if delivery.kind == "document":
            content = base64.b64decode(payload["content"])
            document = InputFile(content, filename=payload["filename"])
            return await self.call(
                chat_id,
                lambda: self.bot.send_document(
                    chat_id, document, caption=payload.get("caption") or None
                ),
                message=True,
            )
        markup = keyboard(delivery.options, delivery.seq) if last and delivery.options else None
        text = delivery.parts[index]
        return await self.call(
            chat_id, lambda: self.bot.send_message(chat_id, text, reply_markup=markup), message=True
        )

    def _chat_limit(self, chat_id: str) -> AsyncLimiter:
        # About one message a second per chat, with a short burst for multi-part replies.
        limiter = self._chat_limits.get(chat_id)
        if limiter is None:
            if len(self._chat_limits) > 10_000:
                self._chat_limits.clear()
            burst = self._per_chat_burst
            limiter = self._chat_limits[chat_id] = AsyncLimiter(burst, burst)
        return limiter

    # --- database (run in threads) -------------------------------------------------------------

    def _blocked(self, chat_id: str, error: str) -> None:
        log.info("telegram user %s blocked the bot", chat_id)
        self.records.blocked(chat_id, error)


def _seconds(value: Any) -> float:
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


__all__ = ["CHANNEL", "Deferred", "TelegramError", "TelegramSender"]
