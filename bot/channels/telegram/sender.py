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
from functools import partial
from typing import Any, TypeVar

from aiolimiter import AsyncLimiter
from telegram import Bot, InputFile, Message
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.channels.locks import ChatLocks
from bot.channels.telegram.render import FILE_HINT, keyboard, split_text
from bot.clock import Clock
from bot.privacy import redact
from dialogs.texts_delivery import CONTINUATION
from storage.db import Database
from storage.messaging import CONTINUED, Deliveries, OutboxItem

log = logging.getLogger(__name__)

CHANNEL = "telegram"
T = TypeVar("T")

# Network errors are retried this often with growing pauses before the item waits for the
# sweeper (which tries again later, forever: nothing is given up for a network outage).
_NETWORK_ATTEMPTS = 5
_RETRY_AFTER_CAP = 60.0
_SWEEP_BACKOFF = timedelta(seconds=30)
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
        if payload.get(CONTINUED):
            text = f"{CONTINUATION}\n{text}"
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
        owner: str = "",
        alive: Callable[[], set[str]] | None = None,
    ) -> None:
        self.bot = bot
        self.db = db
        self.clock = clock
        self.records = Deliveries(db, clock, CHANNEL, owner=owner, alive=alive)
        self._inline = db.dialect == "sqlite"
        self._global = AsyncLimiter(rate, 1.0)
        # Requests in flight at once. httpcore's pool walks every waiting request and every
        # connection for each request it starts: with ~200 chats replying at once that walk
        # cost more CPU than the requests (bench/README.md). Waiting here is O(1).
        self._in_flight = asyncio.Semaphore(in_flight)
        self._per_chat_burst = per_chat_burst
        self._chat_limits: dict[str, AsyncLimiter] = {}
        self._locks = ChatLocks()
        self.sent = 0
        # Ids this process sent lately: an outbox read racing a mark never sends them twice.
        self._recent: OrderedDict[int, None] = OrderedDict()
        # Chats whose outbox may hold older undelivered items: read before sending new ones.
        self._backlog: set[str] = set()

    # --- entry points --------------------------------------------------------------------------

    async def deliver(self, chat_id: str, items: Sequence[OutboxItem] | None = None) -> int:
        """Sends this chat's pending items, oldest first; stops at the first item that cannot
        go now, so a chat's messages never overtake each other. `items`: what an event just
        queued for the chat, sent without reading the outbox back when this is the only
        process and no older items may be waiting. With several processes on the database
        the chat's lease decides who delivers it (`Deliveries.claim`): the holder sends
        everything pending, also what other processes queued meanwhile. Returns how many
        items went out."""
        async with self._locks.hold(chat_id):
            total = 0
            while True:
                begun = False
                if self.records.shared or items is None or chat_id in self._backlog:
                    self._backlog.discard(chat_id)
                    claimed = await self._db(partial(self.records.claim, chat_id, begin=True))
                    begun = True
                else:
                    claimed = list(items)
                if claimed is None:
                    return total  # another process delivers this chat right now
                done: list[int] = []
                try:
                    total += await self._send_all(chat_id, claimed, begun, done)
                finally:
                    last = done[0] if done else None
                    finish = partial(self.records.finish, chat_id, last)
                    more = await asyncio.shield(self._db(finish))
                if not more or chat_id in self._backlog:
                    return total
                items = None

    async def _send_all(
        self, chat_id: str, items: Sequence[OutboxItem], begun: bool, done: list[int]
    ) -> int:
        """Each item recorded as begun before it is sent and as sent before the next one is
        begun: a crash re-sends at most the one in flight (and never a third time). `begun`:
        the first item's beginning is recorded already (`Deliveries.claim`); `done` gets
        the last item sent, for `Deliveries.finish` to record."""
        sent = 0
        previous: int | None = None
        for index, item in enumerate(items):
            if item.id in self._recent:
                continue
            if previous is not None or not (begun and index == 0):
                await self._db(partial(self.records.progress, previous, item.id, chat_id))
            previous = None
            try:
                delivered = await self._send_item(Delivery(item))
            except Deferred as error:
                self._backlog.add(chat_id)
                log.warning("telegram delivery to %s deferred: %s", chat_id, error)
                break
            if delivered:
                previous = item.id
                sent += 1
                self._remember(item.id)
        if previous is not None:
            done.append(previous)
        return sent

    async def sweep(self) -> int:
        """Delivers every chat with pending replies (after a restart, after an outage);
        returns how many items went out."""
        chats = await asyncio.to_thread(self.records.chats_with_pending)
        self._backlog.update(chats)
        sent = await asyncio.gather(*(self.deliver(chat_id) for chat_id in chats))
        return sum(sent)

    async def recover(self) -> int:
        """At start-up as the only process (SQLite): what chats were owed when the previous
        process died is coalesced into their current questions (`Outbox.coalesce`). With
        several processes the chat's lease does this when it is taken from a dead one."""
        if self.records.shared:
            return 0
        resumed = await asyncio.to_thread(self.records.recover)
        if resumed:
            log.info("telegram: %d chats resumed at their current question", resumed)
        return resumed

    async def run_marker(self, interval: float = 0.05) -> None:
        """Kept for callers of the batching days: items are now marked one by one."""
        await asyncio.Event().wait()

    async def flush_marks(self) -> None:
        return None

    def _remember(self, item_id: int) -> None:
        self._recent[item_id] = None
        while len(self._recent) > _REMEMBERED:
            self._recent.popitem(last=False)

    async def _db(self, function: Callable[[], T]) -> T:
        """SQLite in place (its writes take microseconds); a server in a thread."""
        if self._inline:
            return function()
        return await asyncio.to_thread(function)

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

    async def _send_item(self, delivery: Delivery) -> bool:
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
            return False
        except Deferred as error:
            await asyncio.to_thread(self.records.retry_later, item.id, str(error), _SWEEP_BACKOFF)
            raise
        self.sent += 1
        return True

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
