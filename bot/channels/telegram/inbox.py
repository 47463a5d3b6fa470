"""Updates are stored before Telegram is told they arrived, so none is lost to a crash.

python-telegram-bot confirms updates by asking for the next ones (getUpdates with a higher
offset) as soon as it has queued them, and answers a webhook call once the update is queued:
an update taken by a process that dies before handling it would never come again. So:

- webhook: the update queue's `put`, which the webhook server (webhook.py) awaits before
  answering the call, first writes the update to the database (`storage.messaging.Inbox`);
- polling: `DurableBot.get_updates` keeps the updates of each getUpdates answer as Telegram
  sent them (the body its `UpdatesRequest` read) and writes them, in one transaction, before
  it asks for more (which confirms them).

At start-up the updates still in the inbox are handled first; one that was handled after all
is recognised by its update_id in `processed_events`, like any redelivery. Handled updates
leave the inbox in batches.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from telegram import Bot, Update
from telegram.ext import ExtBot
from telegram.request import BaseRequest, HTTPXRequest, RequestData

from bot import observability
from bot.clock import Clock
from storage.db import Database
from storage.messaging import Inbox

log = logging.getLogger(__name__)

CHANNEL = "telegram"
_FORGET_INTERVAL = 0.5
# A getUpdates answer of at least this many updates means the bot is busy: the next poll
# waits this long first (bench/README.md).
BUSY_BATCH = 6
BUSY_PAUSE = 0.03


class DurableQueue(asyncio.Queue[object]):
    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        polling: bool,
        owner: str | None = None,
        alive: Callable[[], set[str]] | None = None,
    ) -> None:
        super().__init__()
        self._db = db
        # This process's name among those on the database (storage/processes.py): the
        # events it stores are its own until it dies, then another process adopts them.
        self._owner = owner
        self._alive = alive or (lambda: {owner} if owner else set())
        self._clock = clock
        self._polling = polling
        # SQLite: a few dozen microseconds, done right here; over a network, in a thread.
        self._inline = db.dialect == "sqlite"
        self._received: list[tuple[int, str]] = []
        self._as_sent: set[int] = set()  # update_ids kept as Telegram sent them
        self._handled: list[int] = []
        # Updates kept in the inbox after their handler returned (the photos of an album
        # until the album is stored): a crash before that handles them again.
        self._held: set[int] = set()
        # Updates of a process that stopped, handled by this one (see TelegramChannel).
        self.replayed: set[int] = set()

    def received(self, results: list[dict[str, Any]]) -> None:
        """The updates of a getUpdates answer, as Telegram sent them (cheaper to keep than
        `Update.to_dict()`, and exact)."""
        for result in results:
            update_id = int(result["update_id"])
            self._received.append((update_id, json.dumps(result, ensure_ascii=False)))
            self._as_sent.add(update_id)

    async def put(self, item: object) -> None:
        if isinstance(item, Update):
            if item.update_id in self._as_sent:
                self._as_sent.discard(item.update_id)
            else:
                payload = json.dumps(item.to_dict(), ensure_ascii=False)
                self._received.append((item.update_id, payload))
            if not self._polling:
                observability.touch(observability.TELEGRAM_WEBHOOK)
                await self.store()  # before PTB answers the webhook call
        await super().put(item)

    async def store(self) -> None:
        """Writes the updates received since the last call (polling: before the next
        getUpdates confirms them)."""
        received, self._received = self._received, []
        if not received:
            return
        try:
            if self._inline:
                self._receive(received)
            else:
                await asyncio.to_thread(self._receive, received)
        except BaseException:
            self._received[:0] = received
            raise

    def _receive(self, received: list[tuple[int, str]]) -> None:
        now = self._clock.now()
        with self._db.session() as session:
            inbox = Inbox(session)
            for update_id, payload in received:
                inbox.receive(CHANNEL, update_id, payload, now, self._owner)

    async def replay(self, bot: Bot) -> int:
        """Queues the updates a previous process (this one's predecessor, or another one on
        the database that died) stored but did not finish handling."""
        waiting = await asyncio.to_thread(self._orphaned)
        for update_id, payload in waiting:
            self.replayed.add(update_id)
            update = Update.de_json(json.loads(payload), bot)
            if update is not None:
                await super().put(update)
        if waiting:
            log.info("telegram: %d stored updates of a stopped process handled", len(waiting))
        return len(waiting)

    def _orphaned(self) -> list[tuple[int, str]]:
        alive = self._alive()
        with self._db.session() as session:
            if self._owner is None:
                return Inbox(session).waiting(CHANNEL)
            return Inbox(session).adopt(CHANNEL, self._owner, alive)

    async def album(self, bot: Bot, group: str) -> list[Update]:
        """The photos of an album stored by any process (webhook workers behind a proxy get
        an album's photos in turns)."""
        await self.store()
        marker = json.dumps({"media_group_id": group}, ensure_ascii=False)[1:-1]

        def read() -> list[tuple[int, str]]:
            with self._db.session() as session:
                return Inbox(session).group(CHANNEL, marker)

        found = await asyncio.to_thread(read)
        updates = [Update.de_json(json.loads(payload), bot) for _seq, payload in found]
        return [u for u in updates if u is not None]

    def handled(self, update: Any) -> None:
        """The update went through its handler (or failed there and the user was told)."""
        if isinstance(update, Update) and update.update_id not in self._held:
            self._handled.append(update.update_id)

    def hold(self, update_id: int) -> None:
        """Keeps the update in the inbox when its handler returns, until `release`."""
        self._held.add(update_id)

    def release(self, update_ids: list[int]) -> None:
        """Held updates are done with: they leave the inbox with the next batch."""
        self._held.difference_update(update_ids)
        self._handled.extend(update_ids)

    async def run_forgetter(self, interval: float = _FORGET_INTERVAL) -> None:
        try:
            while True:
                await asyncio.sleep(interval)
                await self.forget_handled()
        finally:
            await asyncio.shield(self.forget_handled())

    async def forget_handled(self) -> None:
        await self.store()  # an update handled before it was stored must not stay behind
        ids, self._handled = self._handled, []
        if ids:
            await asyncio.to_thread(self._forget, ids)

    def _forget(self, ids: list[int]) -> None:
        with self._db.session() as session:
            Inbox(session).handled(CHANNEL, ids)


class UpdatesRequest(HTTPXRequest):
    """The getUpdates connection, keeping the body of the last answer."""

    def __init__(self, connection_pool_size: int = 1) -> None:
        super().__init__(connection_pool_size=connection_pool_size)
        self.body = b""

    async def do_request(  # noqa: PLR0917  (BaseRequest.do_request's signature)
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        code, body = await super().do_request(
            url, method, request_data, read_timeout, write_timeout, connect_timeout, pool_timeout
        )
        self.body = body
        return code, body


class DurableBot(ExtBot[None]):
    """python-telegram-bot's bot, storing the updates it received before it polls for more."""

    __slots__ = ("_inbox", "_last_batch", "_updates_request")

    def __init__(
        self,
        token: str,
        inbox: DurableQueue,
        *,
        base_url: str,
        base_file_url: str,
        request: BaseRequest,
        get_updates_request: UpdatesRequest,
    ) -> None:
        super().__init__(
            token,
            base_url=base_url,
            base_file_url=base_file_url,
            request=request,
            get_updates_request=get_updates_request,
        )
        self._inbox = inbox
        self._updates_request = get_updates_request
        self._last_batch = 0

    async def get_updates(  # passes everything on unchanged
        self, *args: Any, **kwargs: Any
    ) -> tuple[Update, ...]:
        # The offset of this call confirms everything received so far: store it first.
        await self._inbox.store()
        if self._last_batch >= BUSY_BATCH:
            # Busy: let updates gather for a moment, so that one request, one parse and one
            # inbox write serve several (at Telegram's 30 a second a batch is rarely this
            # large, and replies are not delayed).
            await asyncio.sleep(BUSY_PAUSE)
        updates = await super().get_updates(*args, **kwargs)
        observability.touch(observability.TELEGRAM_POLL)
        self._last_batch = len(updates)
        if updates:
            try:
                results = json.loads(self._updates_request.body)["result"]
            except (ValueError, KeyError, TypeError):
                results = []  # the queue's put() keeps them from the parsed updates then
            self._inbox.received([r for r in results if isinstance(r, dict)])
        return updates
