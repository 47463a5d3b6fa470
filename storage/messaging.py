"""Repositories for messaging channels: processed events, the outbox, per-chat state.

Like the filing repositories they take a `Session` and never commit: an event is marked
processed, its answer stored and its replies queued in one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import BindParameter, bindparam, delete, func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ClauseElement

from storage.db import Database
from storage.models import ChannelChatRow, InboxRow, OutboxRow, ProcessedEventRow
from storage.prepared import Prepared
from storage.repository import insert_for, table_of, upsert_into

_EVENTS = table_of(ProcessedEventRow)
_CHATS = table_of(ChannelChatRow)
_OUTBOX = table_of(OutboxRow)
_INBOX = table_of(InboxRow)

PENDING = "pending"
SENT = "sent"
FAILED = "failed"
BLOCKED = "blocked"

# The statements every chat message runs (storage/prepared.py tells why they are prepared).
_FIRST_TIME = Prepared(
    lambda dialect: (
        insert_for(dialect, _EVENTS)
        .values(
            channel=bindparam("channel"),
            event_id=bindparam("event_id"),
            processed_at=bindparam("now"),
        )
        .on_conflict_do_nothing(index_elements=["channel", "event_id"])
    )
)
_ADD_OUTBOX = Prepared(
    _OUTBOX.insert()
    .values(
        channel=bindparam("channel"),
        chat_id=bindparam("chat_id"),
        payload=bindparam("payload"),
        status=PENDING,
        attempts=0,
        parts_sent=0,
        created_at=bindparam("now"),
    )
    .returning(_OUTBOX.c.id)
)


def _seen(dialect: str, *, clear_prompt: bool = False) -> ClauseElement:
    """The user wrote; `clear_prompt`: also no live buttons any more."""
    now: BindParameter[datetime] = bindparam("now")
    also: dict[str, Any] = {"prompt": None} if clear_prompt else {}
    return (
        insert_for(dialect, _CHATS)
        .values(
            channel=bindparam("channel"),
            chat_id=bindparam("chat_id"),
            last_seen_at=now,
            updated_at=now,
            prompt_seq=0,
        )
        .on_conflict_do_update(
            index_elements=["channel", "chat_id"],
            set_={"last_seen_at": now, "blocked_at": None, "updated_at": now, **also},
        )
    )


def _new_prompt(dialect: str, *, seen: bool) -> ClauseElement:
    insert = insert_for(dialect, _CHATS)
    now: BindParameter[datetime] = bindparam("now")
    # `seen`: the user wrote (see ChannelChats.seen), recorded in the same statement.
    also: dict[str, Any] = {"last_seen_at": now, "blocked_at": None} if seen else {}
    return (
        insert.values(
            channel=bindparam("channel"),
            chat_id=bindparam("chat_id"),
            prompt_seq=1,
            prompt=bindparam("prompt"),
            updated_at=now,
            **also,
        )
        .on_conflict_do_update(
            index_elements=["channel", "chat_id"],
            set_={
                "prompt_seq": _CHATS.c.prompt_seq + 1,
                "prompt": insert.excluded.prompt,
                "updated_at": now,
                **also,
            },
        )
        .returning(_CHATS.c.prompt_seq)
    )


_SEEN = Prepared(_seen)
_NEW_PROMPT = Prepared(lambda dialect: _new_prompt(dialect, seen=False))
_NEW_PROMPT_SEEN = Prepared(lambda dialect: _new_prompt(dialect, seen=True))
_SEEN_WITHOUT_PROMPT = Prepared(lambda dialect: _seen(dialect, clear_prompt=True))
_CLEAR_PROMPT = Prepared(
    update(_CHATS)
    .where(
        _CHATS.c.channel == bindparam("channel"),
        _CHATS.c.chat_id == bindparam("chat_id"),
        _CHATS.c.prompt.is_not(None),
    )
    .values(prompt=None, updated_at=bindparam("now"))
)
_LIVE_PROMPT = Prepared(
    select(_CHATS.c.prompt_seq, _CHATS.c.prompt).where(
        _CHATS.c.channel == bindparam("channel"), _CHATS.c.chat_id == bindparam("chat_id")
    )
)


_RECEIVE = Prepared(
    lambda dialect: (
        insert_for(dialect, _INBOX)
        .values(
            channel=bindparam("channel"),
            seq=bindparam("seq"),
            payload=bindparam("payload"),
            received_at=bindparam("now"),
        )
        .on_conflict_do_nothing(index_elements=["channel", "seq"])
    )
)


class Inbox:
    """Events stored before their receipt is confirmed to the platform (see `InboxRow`)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def receive(self, channel: str, seq: int, payload: str, now: datetime) -> None:
        _RECEIVE.count(self._session, channel=channel, seq=seq, payload=payload, now=now)

    def waiting(self, channel: str) -> list[tuple[int, str]]:
        """Events received but not yet handled (a process died meanwhile), oldest first."""
        rows = self._session.execute(
            select(InboxRow.seq, InboxRow.payload)
            .where(InboxRow.channel == channel)
            .order_by(InboxRow.seq)
        )
        return [(int(seq), payload) for seq, payload in rows]

    def handled(self, channel: str, seqs: Sequence[int]) -> None:
        self._session.execute(
            delete(InboxRow).where(InboxRow.channel == channel, InboxRow.seq.in_(seqs))
        )


class EventLog:
    def __init__(self, session: Session) -> None:
        self._session = session

    def first_time(self, channel: str, event_id: str, now: datetime) -> bool:
        """Records the event; False when it was already processed (a redelivery)."""
        return _FIRST_TIME.count(self._session, channel=channel, event_id=event_id, now=now) == 1


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    channel: str
    chat_id: str
    payload: dict[str, Any]
    attempts: int
    parts_sent: int
    created_at: datetime


class Outbox:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(
        self, channel: str, chat_id: str, payloads: Sequence[dict[str, Any]], now: datetime
    ) -> list[int]:
        ids = []
        for payload in payloads:
            row = _ADD_OUTBOX.one(
                self._session,
                channel=channel,
                chat_id=chat_id,
                payload=json.dumps(payload, ensure_ascii=False),
                now=now,
            )
            assert row is not None
            ids.append(int(row[0]))
        return ids

    def pending(self, channel: str, chat_id: str) -> list[OutboxItem]:
        """Undelivered replies of one chat, oldest first (a chat's messages keep their order)."""
        rows = self._session.execute(
            select(OutboxRow)
            .where(
                OutboxRow.status == PENDING,
                OutboxRow.channel == channel,
                OutboxRow.chat_id == chat_id,
            )
            .order_by(OutboxRow.id)
        ).scalars()
        return [_item(row) for row in rows]

    def chats_with_pending(self, channel: str, now: datetime, limit: int = 500) -> list[str]:
        """Chats with replies due now (not waiting for a retry back-off), oldest first."""
        rows = self._session.execute(
            select(OutboxRow.chat_id, func.min(OutboxRow.id).label("first"))
            .where(
                OutboxRow.status == PENDING,
                OutboxRow.channel == channel,
                or_(OutboxRow.not_before.is_(None), OutboxRow.not_before <= now),
            )
            .group_by(OutboxRow.chat_id)
            .order_by("first")
            .limit(limit)
        )
        return [chat_id for chat_id, _first in rows]

    def sent_part(self, item_id: int, parts_sent: int) -> None:
        self._session.execute(
            update(OutboxRow).where(OutboxRow.id == item_id).values(parts_sent=parts_sent)
        )

    def delivered(self, item_ids: Sequence[int], now: datetime) -> None:
        self._session.execute(
            update(OutboxRow)
            .where(OutboxRow.id.in_(item_ids))
            .values(status=SENT, sent_at=now, last_error=None)
        )

    def retry_later(self, item_id: int, error: str, not_before: datetime) -> None:
        self._session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == item_id)
            .values(attempts=OutboxRow.attempts + 1, last_error=error[:2000], not_before=not_before)
        )

    def give_up(self, item_id: int, status: str, error: str) -> None:
        """Failed for good (refused by the platform) or the user blocked the bot: kept with
        the reason, for the reviewers to see; never silently dropped."""
        self._session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == item_id)
            .values(status=status, attempts=OutboxRow.attempts + 1, last_error=error[:2000])
        )

    def block_chat(self, channel: str, chat_id: str, error: str) -> int:
        result = self._session.execute(
            update(OutboxRow)
            .where(
                OutboxRow.status == PENDING,
                OutboxRow.channel == channel,
                OutboxRow.chat_id == chat_id,
            )
            .values(status=BLOCKED, last_error=error[:2000])
        )
        return int(getattr(result, "rowcount", 0))

    def count(self, channel: str, status: str) -> int:
        return int(
            self._session.scalar(
                select(func.count())
                .select_from(OutboxRow)
                .where(OutboxRow.channel == channel, OutboxRow.status == status)
            )
            or 0
        )


def _item(row: OutboxRow) -> OutboxItem:
    return OutboxItem(
        row.id,
        row.channel,
        row.chat_id,
        json.loads(row.payload),
        row.attempts,
        row.parts_sent,
        row.created_at,
    )


@dataclass(frozen=True, slots=True)
class ChatInfo:
    channel: str
    chat_id: str
    prompt_seq: int
    prompt: list[list[str]] | None  # the live options: [label, value] pairs
    blocked_at: datetime | None
    last_seen_at: datetime | None


class ChannelChats:
    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, channel: str, chat_id: str) -> ChatInfo | None:
        row = self._session.get(ChannelChatRow, (channel, chat_id))
        if row is None:
            return None
        prompt = json.loads(row.prompt) if row.prompt else None
        return ChatInfo(channel, chat_id, row.prompt_seq, prompt, row.blocked_at, row.last_seen_at)

    def live_prompt(self, channel: str, chat_id: str) -> tuple[int, list[list[str]] | None]:
        """The prompt's sequence number and its live options (None: no live buttons)."""
        row = _LIVE_PROMPT.one(self._session, channel=channel, chat_id=chat_id)
        if row is None:
            return 0, None
        return int(row[0]), (json.loads(row[1]) if row[1] else None)

    def seen(self, channel: str, chat_id: str, now: datetime) -> None:
        """The user wrote: they can be reached (again), whatever happened before."""
        _SEEN.count(self._session, channel=channel, chat_id=chat_id, now=now)

    def new_prompt(
        self,
        channel: str,
        chat_id: str,
        options: list[list[str]],
        now: datetime,
        *,
        seen: bool = False,
    ) -> int:
        """Makes these options the live ones and returns their sequence number; buttons of
        every earlier prompt are stale from now on. `seen`: also what `seen` records."""
        row = (_NEW_PROMPT_SEEN if seen else _NEW_PROMPT).one(
            self._session,
            channel=channel,
            chat_id=chat_id,
            prompt=json.dumps(options, ensure_ascii=False),
            now=now,
        )
        return int(row[0]) if row is not None else 1

    def consume_prompt(self, channel: str, chat_id: str, seq: int, now: datetime) -> None:
        """A pressed button used up its prompt: pressing it (or a sibling) again is stale."""
        self._session.execute(
            update(ChannelChatRow)
            .where(
                ChannelChatRow.channel == channel,
                ChannelChatRow.chat_id == chat_id,
                ChannelChatRow.prompt_seq == seq,
            )
            .values(prompt=None, updated_at=now)
        )

    def clear_prompt(
        self, channel: str, chat_id: str, now: datetime, *, seen: bool = False
    ) -> None:
        """A reply without buttons went out: the buttons of every earlier prompt are stale.
        `seen`: also what `seen` records (one statement for both)."""
        statement = _SEEN_WITHOUT_PROMPT if seen else _CLEAR_PROMPT
        statement.count(self._session, channel=channel, chat_id=chat_id, now=now)

    def blocked(self, channel: str, chat_id: str, now: datetime) -> None:
        statement = upsert_into(self._session, _CHATS).values(
            channel=channel, chat_id=chat_id, blocked_at=now, updated_at=now, prompt_seq=0
        )
        self._session.execute(
            statement.on_conflict_do_update(
                index_elements=["channel", "chat_id"],
                set_={"blocked_at": now, "updated_at": now},
            )
        )

    def blocked_chats(self, channel: str) -> list[str]:
        rows = self._session.execute(
            select(ChannelChatRow.chat_id).where(
                ChannelChatRow.channel == channel, ChannelChatRow.blocked_at.is_not(None)
            )
        )
        return [chat_id for (chat_id,) in rows]


class Clock(Protocol):
    def now(self) -> datetime: ...


class Deliveries:
    """One channel's outbox bookkeeping, each call its own short transaction: what a sender
    (Telegram's, WeChat's) records while delivering."""

    def __init__(self, db: Database, clock: Clock, channel: str) -> None:
        self.db = db
        self.clock = clock
        self.channel = channel

    def pending(self, chat_id: str) -> list[OutboxItem]:
        with self.db.session() as session:
            return Outbox(session).pending(self.channel, chat_id)

    def chats_with_pending(self) -> list[str]:
        with self.db.session() as session:
            return Outbox(session).chats_with_pending(self.channel, self.clock.now())

    def delivered(self, ids: Sequence[int]) -> None:
        with self.db.session() as session:
            Outbox(session).delivered(ids, self.clock.now())

    def part_sent(self, item_id: int, parts: int) -> None:
        with self.db.session() as session:
            Outbox(session).sent_part(item_id, parts)

    def failed(self, item_id: int, error: str) -> None:
        with self.db.session() as session:
            Outbox(session).give_up(item_id, FAILED, error)

    def retry_later(self, item_id: int, error: str, wait: timedelta) -> None:
        with self.db.session() as session:
            Outbox(session).retry_later(item_id, error, self.clock.now() + wait)

    def blocked(self, chat_id: str, error: str) -> None:
        """The user blocked the bot (or unfollowed): recorded, and what is pending for them is
        kept as blocked, for the reviewers to see."""
        with self.db.session() as session:
            ChannelChats(session).blocked(self.channel, chat_id, self.clock.now())
            Outbox(session).block_chat(self.channel, chat_id, error or BLOCKED)
