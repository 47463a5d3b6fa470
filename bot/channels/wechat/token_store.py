"""The WeChat access token, shared by every process on the database.

WeChat hands out one valid access token per Official Account: a process that fetches a new
one invalidates the others' (after a few minutes' grace). So the token lives in the database
(`shared_values`, as wechatpy's session storage) and one process at a time refreshes it: the
refresh runs under a PostgreSQL advisory lock, and a process that waited for it takes the
token the other one just stored instead of fetching yet another.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import text
from wechatpy.session import SessionStorage

from bot.clock import Clock
from storage.db import Database
from storage.messaging import SharedValues

_REFRESH = 0x6E6C  # the advisory lock's first key


class DatabaseStorage(SessionStorage):  # type: ignore[misc]
    """wechatpy's session storage on `shared_values`."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def get(self, key: str, default: Any = None) -> Any:
        with self.db.session() as session:
            value = SharedValues(session).get(key, self.clock.now())
        return default if value is None else value

    def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        expires = self.clock.now() + timedelta(seconds=ttl) if ttl else None
        with self.db.session() as session:
            SharedValues(session).put(key, str(value), expires)

    def delete(self, key: str) -> None:
        with self.db.session() as session:
            SharedValues(session).delete(key)

    @contextmanager
    def refreshing(self, key: str) -> Iterator[str | None]:
        """Held by one process at a time (PostgreSQL); yields the token stored right now."""
        if self.db.dialect == "sqlite":
            yield self.get(key)
            return
        with self.db.session() as session:
            lock = zlib.crc32(key.encode()) & 0x7FFFFFFF
            session.execute(
                text("SELECT pg_advisory_xact_lock(:space, :key)"),
                {"space": _REFRESH, "key": lock},
            )
            yield self.get(key)


def refresh_once(storage: DatabaseStorage, key: str, fetch: Callable[[], Any]) -> Any:
    """Fetches a new token unless another process replaced the one this process saw while
    it waited for the lock."""
    seen = storage.get(key)
    with storage.refreshing(key) as current:
        if current is not None and current != seen:
            return {"access_token": current}
        return fetch()
