"""Sign-in links and sessions of the reviewers' web console.

Tokens are random (256 bits) and only their SHA-256 is stored in these tables: a copy of them
neither signs anyone in nor rides a session. (The chat message carrying a link sits in the
outbox like every reply: that is why a link lives minutes and works once.) Using a link is
one guarded UPDATE (unused, not expired), so of two browsers racing for one link exactly one
gets in. Like the other repositories these take a `Session` and never commit.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.models import ConsoleLinkRow, ConsoleSessionRow
from storage.repository import _rowcount, table_of

_LINKS = table_of(ConsoleLinkRow)
_SESSIONS = table_of(ConsoleSessionRow)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A live console session: whose it is and the CSRF token its forms carry."""

    channel: str
    chat_id: str
    csrf: str
    expires_at: datetime

    @property
    def reviewer(self) -> str:
        return f"{self.channel}:{self.chat_id}"


class ConsoleAuth:
    def __init__(self, session: Session) -> None:
        self._session = session

    def issue_link(self, channel: str, chat_id: str, now: datetime, valid: timedelta) -> str:
        token = secrets.token_urlsafe(32)
        self._session.execute(
            _LINKS.insert().values(
                token_hash=token_hash(token),
                channel=channel,
                chat_id=chat_id,
                created_at=now,
                expires_at=now + valid,
                used_at=None,
            )
        )
        return token

    def use_link(self, token: str, now: datetime) -> tuple[str, str] | str:
        """The reviewer (channel, chat_id) the link was sent to, marking it used; or why it
        is refused: "unknown", "used" or "expired"."""
        digest = token_hash(token)
        used = (
            update(_LINKS)
            .where(
                _LINKS.c.token_hash == digest,
                _LINKS.c.used_at.is_(None),
                _LINKS.c.expires_at > now,
            )
            .values(used_at=now)
        )
        found = self._session.execute(
            select(ConsoleLinkRow.channel, ConsoleLinkRow.chat_id, ConsoleLinkRow.used_at).where(
                ConsoleLinkRow.token_hash == digest
            )
        ).one_or_none()
        if found is None:
            return "unknown"
        if _rowcount(self._session, used) != 1:
            return "used" if found.used_at is not None else "expired"
        return found.channel, found.chat_id

    def open_session(
        self, channel: str, chat_id: str, now: datetime, valid: timedelta
    ) -> tuple[str, SignedIn]:
        """A new session: (the cookie's token, the session)."""
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        self._session.execute(
            _SESSIONS.insert().values(
                token_hash=token_hash(token),
                channel=channel,
                chat_id=chat_id,
                csrf=csrf,
                created_at=now,
                expires_at=now + valid,
                ended_at=None,
            )
        )
        return token, SignedIn(channel, chat_id, csrf, now + valid)

    def session(self, token: str, now: datetime) -> SignedIn | None:
        """The live session of this cookie token: not ended, not expired."""
        row = self._session.execute(
            select(
                ConsoleSessionRow.channel,
                ConsoleSessionRow.chat_id,
                ConsoleSessionRow.csrf,
                ConsoleSessionRow.expires_at,
            ).where(
                ConsoleSessionRow.token_hash == token_hash(token),
                ConsoleSessionRow.ended_at.is_(None),
                ConsoleSessionRow.expires_at > now,
            )
        ).one_or_none()
        return None if row is None else SignedIn(*row)

    def end(self, token: str, now: datetime) -> bool:
        statement = (
            update(_SESSIONS)
            .where(_SESSIONS.c.token_hash == token_hash(token), _SESSIONS.c.ended_at.is_(None))
            .values(ended_at=now)
        )
        return _rowcount(self._session, statement) == 1

    def end_all_of(self, channel: str, chat_id: str, now: datetime) -> int:
        """Ends every session of a reviewer (removed from the reviewers)."""
        statement = (
            update(_SESSIONS)
            .where(
                _SESSIONS.c.channel == channel,
                _SESSIONS.c.chat_id == chat_id,
                _SESSIONS.c.ended_at.is_(None),
            )
            .values(ended_at=now)
        )
        return _rowcount(self._session, statement)
