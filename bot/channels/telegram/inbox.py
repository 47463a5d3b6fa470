"""Updates are stored before Telegram is told they arrived, so none is lost to a crash.

python-telegram-bot confirms updates by asking for the next ones (getUpdates with a higher
offset) as soon as it has queued them, and answers a webhook call once the update is queued:
an update taken by a process that dies before handling it would never come again. Both paths
await `update_queue.put` for every update before confirming, so a queue whose `put` first
writes the update to the database (`storage.messaging.Inbox`) closes that window. At start-up
the updates still in the inbox are handled first; one that was handled after all is recognised
by its update_id in `processed_events`, like any redelivery. Handled updates leave the inbox
in batches.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from telegram import Bot, Update

from bot.clock import Clock
from storage.db import Database
from storage.messaging import Inbox

log = logging.getLogger(__name__)

CHANNEL = "telegram"
_FORGET_INTERVAL = 0.5


class DurableQueue(asyncio.Queue[object]):
    def __init__(self, db: Database, clock: Clock) -> None:
        super().__init__()
        self._db = db
        self._clock = clock
        # SQLite: a few dozen microseconds, done right here; over a network, in a thread.
        self._inline = db.dialect == "sqlite"
        self._handled: list[int] = []
        self._forgetter: asyncio.Task[None] | None = None

    async def put(self, item: object) -> None:
        if isinstance(item, Update):
            payload = json.dumps(item.to_dict(), ensure_ascii=False)
            if self._inline:
                self._receive(item.update_id, payload)
            else:
                await asyncio.to_thread(self._receive, item.update_id, payload)
        await super().put(item)

    def _receive(self, update_id: int, payload: str) -> None:
        with self._db.session() as session:
            Inbox(session).receive(CHANNEL, update_id, payload, self._clock.now())

    async def replay(self, bot: Bot) -> int:
        """Queues the updates a previous process stored but did not finish handling."""
        waiting = await asyncio.to_thread(self._waiting)
        for _update_id, payload in waiting:
            update = Update.de_json(json.loads(payload), bot)
            if update is not None:
                await super().put(update)
        if waiting:
            log.info("telegram: %d stored updates handled again after a restart", len(waiting))
        return len(waiting)

    def _waiting(self) -> list[tuple[int, str]]:
        with self._db.session() as session:
            return Inbox(session).waiting(CHANNEL)

    def handled(self, update: Any) -> None:
        """The update went through its handler (or failed there and the user was told)."""
        if isinstance(update, Update):
            self._handled.append(update.update_id)

    async def run_forgetter(self, interval: float = _FORGET_INTERVAL) -> None:
        try:
            while True:
                await asyncio.sleep(interval)
                await self.forget_handled()
        finally:
            await asyncio.shield(self.forget_handled())

    async def forget_handled(self) -> None:
        ids, self._handled = self._handled, []
        if ids:
            await asyncio.to_thread(self._forget, ids)

    def _forget(self, ids: list[int]) -> None:
        with self._db.session() as session:
            Inbox(session).handled(CHANNEL, ids)
