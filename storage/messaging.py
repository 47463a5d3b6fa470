"""Repositories for messaging channels: processed events, the outbox, per-chat state.

Like the filing repositories they take a `Session` and never commit: an event is marked
processed, its answer stored and its replies queued in one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from storage.models import ChannelChatRow, OutboxRow, ProcessedEventRow
from storage.repository import table_of, upsert_into

_EVENTS = table_of(ProcessedEventRow)
_CHATS = table_of(ChannelChatRow)

PENDING = "pending"
SENT = "sent"
FAILED = "failed"
BLOCKED = "blocked"


class EventLog:
    def __init__(self, session: Session) -> None:
        self._session = session

    def first_time(self, channel: str, event_id: str, now: datetime) -> bool:
        """Records the event; False when it was already processed (a redelivery)."""
        statement = (
            upsert_into(self._session, _EVENTS)
            .values(channel=channel, event_id=event_id, processed_at=now)
            .on_conflict_do_nothing(index_elements=["channel", "event_id"])
        )
        result = self._session.execute(statement)
        return bool(getattr(result, "rowcount", 0) == 1)


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
        rows = [
            OutboxRow(
                channel=channel,
                chat_id=chat_id,
                payload=json.dumps(p, ensure_ascii=False),
                status=PENDING,
                attempts=0,
                parts_sent=0,
                created_at=now,
            )
            for p in payloads
        ]
        self._session.add_all(rows)
        self._session.flush()
        return [row.id for row in rows]

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

    def seen(self, channel: str, chat_id: str, now: datetime) -> None:
        """The user wrote: they can be reached (again), whatever happened before."""
        statement = upsert_into(self._session, _CHATS).values(
            channel=channel, chat_id=chat_id, last_seen_at=now, updated_at=now, prompt_seq=0
        )
        self._session.execute(
            statement.on_conflict_do_update(
                index_elements=["channel", "chat_id"],
                set_={"last_seen_at": now, "blocked_at": None, "updated_at": now},
            )
        )

    def new_prompt(
        self, channel: str, chat_id: str, options: list[list[str]], now: datetime
    ) -> int:
        """Makes these options the live ones and returns their sequence number; buttons of
        every earlier prompt are stale from now on."""
        statement = upsert_into(self._session, _CHATS).values(
            channel=channel,
            chat_id=chat_id,
            prompt_seq=1,
            prompt=json.dumps(options, ensure_ascii=False),
            updated_at=now,
        )
        self._session.execute(
            statement.on_conflict_do_update(
                index_elements=["channel", "chat_id"],
                set_={
                    "prompt_seq": ChannelChatRow.prompt_seq + 1,
                    "prompt": statement.excluded.prompt,
                    "updated_at": now,
                },
            )
        )
        seq = self._session.scalar(
            select(ChannelChatRow.prompt_seq).where(
                ChannelChatRow.channel == channel, ChannelChatRow.chat_id == chat_id
            )
        )
        return int(seq or 1)

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

    def clear_prompt(self, channel: str, chat_id: str, now: datetime) -> None:
        """A reply without buttons went out: the buttons of every earlier prompt are stale."""
        self._session.execute(
            update(ChannelChatRow)
            .where(
                ChannelChatRow.channel == channel,
                ChannelChatRow.chat_id == chat_id,
                ChannelChatRow.prompt.is_not(None),
            )
            .values(prompt=None, updated_at=now)
        )

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
