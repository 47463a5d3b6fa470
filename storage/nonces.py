"""Callback nonces already seen: a signed callback is accepted once.

WeChat signs a callback's timestamp and nonce with the shared token; whoever captures one
(from a proxy's log, say) could post it again. The channel refuses timestamps outside a few
minutes, and this table remembers every accepted (timestamp, nonce) for that long, in the
database so that it holds across restarts and for every process on the database.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from storage.models import CallbackNonceRow
from storage.repository import table_of, upsert_into

_NONCES = table_of(CallbackNonceRow)
MAX_NONCE = 100


def first_use(session: Session, channel: str, key: str, now: datetime) -> bool:
    """Records the nonce; False when it was recorded before (a replay)."""
    if len(key) > MAX_NONCE:
        return False
    statement = (
        upsert_into(session, _NONCES)
        .values(channel=channel, nonce=key, seen_at=now)
        .on_conflict_do_nothing(index_elements=["channel", "nonce"])
    )
    result = session.execute(statement, execution_options={"preserve_rowcount": True})
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def forget_before(session: Session, channel: str, before: datetime) -> int:
    """Drops nonces older than the window: a callback that old is refused by its timestamp."""
    result = session.execute(
        delete(_NONCES).where(_NONCES.c.channel == channel, _NONCES.c.seen_at < before)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def window_start(now: datetime, window: timedelta) -> datetime:
    """Nonces are kept twice the window: a timestamp may be ahead of our clock by a window."""
    return now - 2 * window
