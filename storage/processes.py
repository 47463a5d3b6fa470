"""Which `nianjian run` processes are alive on one database, and roles only one may hold.

PostgreSQL: each process holds a session-level advisory lock named by its owner number on a
connection of its own for as long as it lives; the server drops it the moment the process
dies (its connection closes), so the others see at once whose inbox events and outbox chats
to take over — no heartbeat, no waiting for a time-out. A role (the long-poller) is another
advisory lock on the same connection.

SQLite: one process at a time (a second one would fight the first for the single writer and
answer chats twice): an exclusive `flock` on a file beside the database, which the kernel
releases when the process dies.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import zlib
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from storage.db import Database

# The first key of the two-key advisory locks: processes, and roles.
_PROCESSES = 0x6E6A  # "nj"
_ROLES = 0x6E6B


class AlreadyRunning(Exception):
    """Another process holds what this one needs; the message says what to do."""


class Presence:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.owner = secrets.randbelow(2**31 - 1) + 1
        self._connection: Connection | None = None
        self._lockfile: IO[Any] | None = None

    @property
    def name(self) -> str:
        return str(self.owner)

    @property
    def shared(self) -> bool:
        """Whether other processes may work on the same database."""
        return self.db.dialect != "sqlite"

    def join(self) -> Presence:
        if not self.shared:
            self._lock_sqlite()
            return self
        connection = self.db.engine.connect()
        connection.execute(
            text("SELECT pg_advisory_lock(:space, :owner)"),
            {"space": _PROCESSES, "owner": self.owner},
        )
        connection.commit()
        self._connection = connection
        return self

    def _lock_sqlite(self) -> None:
        database = make_url(str(self.db.engine.url)).database or ""
        if not database or database == ":memory:" or database.startswith("file:"):
            return
        path = Path(database).expanduser().resolve()
        handle = (path.parent / f"{path.name}.run-lock").open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise AlreadyRunning(
                f"another `nianjian run` is already serving the SQLite database {path}: "
                "SQLite takes one process only. Stop the other one, or move to PostgreSQL "
                "to run several (docs/operator/scaling.md)."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._lockfile = handle

    def alive(self) -> set[str]:
        """The owner names of the processes alive on this database (this one included)."""
        if not self.shared:
            return {self.name}
        with self.db.session() as session:
            rows = session.execute(
                text(
                    "SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND classid = :space AND objsubid = 2"
                ),
                {"space": _PROCESSES},
            )
            return {str(objid) for (objid,) in rows}

    def take_role(self, role: str, refusal: str) -> None:
        """Holds `role` for this process's lifetime, or raises AlreadyRunning(refusal) when a
        live process holds it. On SQLite this process is the only one anyway."""
        if self._connection is None:
            return
        key = zlib.crc32(role.encode()) & 0x7FFFFFFF
        got = self._connection.execute(
            text("SELECT pg_try_advisory_lock(:space, :key)"), {"space": _ROLES, "key": key}
        ).scalar()
        self._connection.commit()
        if not got:
            raise AlreadyRunning(refusal)

    def leave(self) -> None:
        if self._connection is not None:
            # Closed for real, not handed back to the pool: the server then releases the
            # advisory locks.
            self._connection.invalidate()
            self._connection.close()
            self._connection = None
        if self._lockfile is not None:
            self._lockfile.close()
            self._lockfile = None
