"""The WeChat access token, shared by every process on the database.

WeChat hands out one valid access token per Official Account: a process that fetches a new
one invalidates the others' (after a few minutes' grace). So the token lives in the database
(`shared_values`, as wechatpy's session storage) and one process at a time refreshes it: the
refresh runs under a PostgreSQL advisory lock, and a process that waited for it takes the
token the other one just stored instead of fetching yet another.

The stored token is encrypted (Fernet) with a key derived from the app secret: every process
of the account can read it, a copy of the database cannot call WeChat's API with it.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import text
from wechatpy.session import SessionStorage

from bot.clock import Clock
from storage.db import Database
from storage.messaging import SharedValues

_REFRESH = 0x6E6C  # the advisory lock's first key


class DatabaseStorage(SessionStorage):  # type: ignore[misc]
    """wechatpy's session storage on `shared_values`, its values encrypted."""

    def __init__(self, db: Database, clock: Clock, app_secret: str) -> None:
        self.db = db
        self.clock = clock
        digest = hashlib.sha256(b"nianjian shared value:" + app_secret.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def get(self, key: str, default: Any = None) -> Any:
        with self.db.session() as session:
            stored = SharedValues(session).get(key, self.clock.now())
        if stored is None:
            return default
        try:
            return self._fernet.decrypt(stored.encode()).decode()
        except InvalidToken:  # written under another app secret: fetched anew
            return default

    def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        expires = self.clock.now() + timedelta(seconds=ttl) if ttl else None
        sealed = self._fernet.encrypt(str(value).encode()).decode()
        with self.db.session() as session:
            SharedValues(session).put(key, sealed, expires)

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
