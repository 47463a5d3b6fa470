"""Repositories for messaging channels: processed events, the outbox, per-chat state.

Like the filing repositories they take a `Session` and never commit: an event is marked
processed, its answer stored and its replies queued in one transaction.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import BindParameter, bindparam, case, delete, func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ClauseElement

from storage.db import Database
from storage.models import (
    ChannelChatRow,
    InboxRow,
    LeaseRow,
    OutboxRow,
    ProcessedEventRow,
    SharedValueRow,
)
from storage.prepared import Prepared
from storage.repository import insert_for, table_of, upsert_into

_EVENTS = table_of(ProcessedEventRow)
_CHATS = table_of(ChannelChatRow)
_OUTBOX = table_of(OutboxRow)
_INBOX = table_of(InboxRow)
_LEASES = table_of(LeaseRow)
_SHARED = table_of(SharedValueRow)

PENDING = "pending"
SENT = "sent"
FAILED = "failed"
BLOCKED = "blocked"
# Replaced, after a crash, by the chat's current question said to be a continuation.
SUPERSEDED = "superseded"
# A payload key: the reply answered the chat's own message (not a notice from elsewhere), so
# a later reply of the same chat supersedes it.
OWN = "own"
CONTINUED = "continued"
# A payload key of `dialogs.replies.to_payload`: a question asked again whose options the
# previous message listed (a continuation lists them: that message may never have arrived).
AGAIN = "again"

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
        started=0,
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


_MEMORY = Prepared(
    select(
        case((_CHATS.c.resumed_at.is_(None), 0), else_=1),
        _CHATS.c.last_text,
        _CHATS.c.confirm_text,
    ).where(_CHATS.c.channel == bindparam("channel"), _CHATS.c.chat_id == bindparam("chat_id"))
)
_REMEMBER = Prepared(
    update(_CHATS)
    .where(_CHATS.c.channel == bindparam("channel"), _CHATS.c.chat_id == bindparam("chat_id"))
    .values(
        last_text=bindparam("text"),
        last_text_at=bindparam("at"),
        confirm_text=bindparam("confirm"),
        resumed_at=None,
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
            owner=bindparam("owner"),
        )
        .on_conflict_do_nothing(index_elements=["channel", "seq"])
    )
)


class Inbox:
    """Events stored before their receipt is confirmed to the platform (see `InboxRow`)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def receive(
        self, channel: str, seq: int, payload: str, now: datetime, owner: str | None = None
    ) -> None:
        _RECEIVE.count(
            self._session, channel=channel, seq=seq, payload=payload, now=now, owner=owner
        )

    def waiting(self, channel: str) -> list[tuple[int, str]]:
        """Events received but not yet handled (a process died meanwhile), oldest first."""
        rows = self._session.execute(
            select(InboxRow.seq, InboxRow.payload)
            .where(InboxRow.channel == channel)
            .order_by(InboxRow.seq)
        )
        return [(int(seq), payload) for seq, payload in rows]

    def group(self, channel: str, marker: str) -> list[tuple[int, str]]:
        """Events whose payload holds `marker` (a photo album's `"media_group_id": "…"`),
        received by any process: the album's photos may reach different webhook workers."""
        rows = self._session.execute(
            select(InboxRow.seq, InboxRow.payload)
            .where(InboxRow.channel == channel, InboxRow.payload.contains(marker, autoescape=True))
            .order_by(InboxRow.seq)
        )
        return [(int(seq), payload) for seq, payload in rows]

    def adopt(self, channel: str, owner: str, alive: set[str]) -> list[tuple[int, str]]:
        """Takes over the events of processes no longer alive (and of none), oldest first:
        they were received, maybe confirmed to the platform, and never handled."""
        owners = {
            o
            for (o,) in self._session.execute(
                select(InboxRow.owner).where(InboxRow.channel == channel).distinct()
            )
        }
        orphaned = [o for o in owners if o is None or o not in alive]
        if not orphaned:
            return []
        condition = or_(
            InboxRow.owner.is_(None),
            InboxRow.owner.in_([o for o in orphaned if o is not None]),
        )
        rows = self._session.execute(
            update(InboxRow)
            .where(InboxRow.channel == channel, condition)
            .values(owner=owner)
            .returning(InboxRow.seq, InboxRow.payload)
        )
        return sorted((int(seq), payload) for seq, payload in rows)

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
    started: int = 0


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

    def unseen_at(
        self, channel: str, chat_id: str, moment: datetime, previous: datetime | None
    ) -> bool:
        """Whether the person cannot have read the chat's latest message when they sent
        something at `moment` (a platform's time in whole seconds): it was not delivered,
        or surely later, or it came late (`LATE` after their previous message, sent at
        `previous`) and `moment` is within the seconds a person needs to read it."""
        row = self._session.execute(
            select(OutboxRow.status, OutboxRow.sent_at)
            .where(OutboxRow.channel == channel, OutboxRow.chat_id == chat_id)
            .order_by(OutboxRow.id.desc())
            .limit(1)
        ).first()
        if row is None:
            return False
        status, delivered = row
        if status in (PENDING, SUPERSEDED) or delivered is None:
            return True
        if delivered >= moment + timedelta(seconds=1):
            return True
        late = previous is not None and delivered - previous >= LATE
        return late and moment <= delivered + READING

    def begin(self, item_id: int) -> None:
        """Its delivery begins (recorded before the send: see `OutboxRow.started`)."""
        _BEGIN.count(self._session, id=item_id)

    def sent_one(self, item_id: int, now: datetime) -> None:
        _SENT_ONE.count(self._session, id=item_id, now=now)

    def coalesce(self, channel: str, chat_id: str) -> bool:
        """What a chat was still owed when a process died, made into what it needs now:
        of the replies to its own messages only the last (its current question) is kept,
        said to be a continuation; the others are superseded. Notices from elsewhere (a
        reviewer's decision) and documents are kept as they are. A reply whose delivery
        began twice already counts as delivered: nothing goes out a third time.
        True when anything changed (the chat is "resumed")."""
        items = self.pending(channel, chat_id)
        own = [i for i in items if i.payload.get(OWN) and i.payload.get("type") != "document"]
        changed = False
        for item in items:
            if item.started >= 2:
                self._session.execute(
                    update(OutboxRow)
                    .where(OutboxRow.id == item.id)
                    .values(status=SENT, last_error="begun twice before crashes: counted as sent")
                )
                changed = True
        own = [i for i in own if i.started < 2]
        if not own:
            return changed
        last, superseded = own[-1], own[:-1]
        if superseded:
            self._session.execute(
                update(OutboxRow)
                .where(OutboxRow.id.in_([i.id for i in superseded]))
                .values(status=SUPERSEDED, last_error=f"superseded by {last.id} after a restart")
            )
        if superseded or last.started:
            payload = {**last.payload, CONTINUED: True, AGAIN: False}
            self._session.execute(
                update(OutboxRow)
                .where(OutboxRow.id == last.id)
                .values(payload=json.dumps(payload, ensure_ascii=False), parts_sent=0)
            )
            return True
        return changed


_BEGIN = Prepared(
    update(_OUTBOX).where(_OUTBOX.c.id == bindparam("id")).values(started=_OUTBOX.c.started + 1)
)
_SENT_ONE = Prepared(
    update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("id"))
    .values(status=SENT, sent_at=bindparam("now"), last_error=None)
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
        row.started,
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

    def resumed(self, channel: str, chat_id: str, now: datetime) -> None:
        """What the chat was owed after a crash was coalesced (see `Outbox.coalesce`)."""
        statement = upsert_into(self._session, _CHATS).values(
            channel=channel, chat_id=chat_id, resumed_at=now, updated_at=now, prompt_seq=0
        )
        self._session.execute(
            statement.on_conflict_do_update(
                index_elements=["channel", "chat_id"], set_={"resumed_at": now}
            )
        )

    def memory(self, channel: str, chat_id: str) -> tuple[bool, str | None, str | None]:
        """Whether the chat was resumed after a crash, the last text it sent, and a repeated
        answer waiting to be confirmed."""
        row = _MEMORY.one(self._session, channel=channel, chat_id=chat_id)
        if row is None:
            return False, None, None
        return bool(row[0]), row[1], row[2]

    def remember(
        self,
        channel: str,
        chat_id: str,
        text: str | None,
        confirm: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """The text the chat just sent (`at`: when, by the platform); the resumed mark is
        used up."""
        _REMEMBER.count(
            self._session, channel=channel, chat_id=chat_id, text=text, confirm=confirm, at=at
        )

    def last_text_at(self, channel: str, chat_id: str) -> datetime | None:
        row = self._session.get(ChannelChatRow, (channel, chat_id))
        return row.last_text_at if row is not None else None

    def blocked_chats(self, channel: str) -> list[str]:
        rows = self._session.execute(
            select(ChannelChatRow.chat_id).where(
                ChannelChatRow.channel == channel, ChannelChatRow.blocked_at.is_not(None)
            )
        )
        return [chat_id for (chat_id,) in rows]


class Leases:
    """Named rights held by one process (see `LeaseRow`)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def take(
        self,
        name: str,
        owner: str,
        now: datetime,
        ttl: timedelta,
        alive: Callable[[], set[str]],
    ) -> tuple[bool, str | None]:
        """Takes or renews the lease when it is free, ours, expired, or held by a process no
        longer alive (`alive` is asked only then). Returns whether it is ours now, and the
        dead or expired holder it was taken from (None: it was free or ours)."""
        inserted = _TAKE_FREE.count(self._session, name=name, owner=owner, expires=now + ttl)
        if inserted:
            return True, None
        row = self._session.get(LeaseRow, name, with_for_update=True)
        if row is None:  # released in between
            return self.take(name, owner, now, ttl, alive)
        previous = row.owner
        if previous != owner and row.expires_at > now and previous in alive():
            return False, previous
        row.owner, row.expires_at = owner, now + ttl
        return True, (None if previous == owner else previous)

    def release(self, name: str, owner: str) -> None:
        _RELEASE.count(self._session, name=name, owner=owner)


_TAKE_FREE = Prepared(
    lambda dialect: (
        insert_for(dialect, _LEASES)
        .values(name=bindparam("name"), owner=bindparam("owner"), expires_at=bindparam("expires"))
        .on_conflict_do_nothing(index_elements=["name"])
    )
)
_RELEASE = Prepared(
    delete(_LEASES).where(
        _LEASES.c.name == bindparam("name"), _LEASES.c.owner == bindparam("owner")
    )
)


class SharedValues:
    """Values every process shares, with an expiry (the WeChat access token)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, key: str, now: datetime) -> str | None:
        row = self._session.get(SharedValueRow, key)
        if row is None or (row.expires_at is not None and row.expires_at <= now):
            return None
        return row.value

    def put(self, key: str, value: str, expires_at: datetime | None) -> None:
        statement = upsert_into(self._session, _SHARED).values(
            key=key, value=value, expires_at=expires_at
        )
        self._session.execute(
            statement.on_conflict_do_update(
                index_elements=["key"], set_={"value": value, "expires_at": expires_at}
            )
        )

    def delete(self, key: str) -> None:
        self._session.execute(delete(SharedValueRow).where(SharedValueRow.key == key))


class _Everyone(set[str]):
    def __contains__(self, _owner: object) -> bool:
        return True


def _everyone() -> set[str]:
    """Every lease holder counts as alive (until its lease expires)."""
    return _Everyone()


# A reply this long after the person's message is late: they may have sent it again meanwhile,
# up to the seconds it takes to read the late reply.
LATE = timedelta(seconds=3)
READING = timedelta(seconds=2)

# A chat's delivery lease outlives any one delivery (Telegram's pace of a message a second, a
# 429 of a minute); a holder that dies loses it at once anyway (storage/processes.py tells
# who is alive), and a delivery that finds more items pending takes it again.
LEASE_TTL = timedelta(minutes=10)


class Clock(Protocol):
    def now(self) -> datetime: ...


class Deliveries:
    """One channel's outbox bookkeeping, each call its own short transaction: what a sender
    (Telegram's, WeChat's) records while delivering."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        channel: str,
        *,
        owner: str = "",
        alive: Callable[[], set[str]] | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.channel = channel
        # Several processes on this database (PostgreSQL): a chat's outbox is delivered by
        # whoever holds its lease, so that each item goes out once and in order.
        self.shared = db.dialect != "sqlite"
        # Without a presence (storage/processes.py) this deliverer has a name of its own and
        # takes another's lease only when it expired: it cannot tell who died.
        self.owner = owner or f"anonymous-{secrets.token_hex(6)}"
        self._alive = alive or _everyone

    def _lease(self, chat_id: str) -> str:
        return f"outbox:{self.channel}:{chat_id}"

    def claim(self, chat_id: str, *, begin: bool = False) -> list[OutboxItem] | None:
        """The chat's pending items, oldest first, to deliver now; None when another live
        process is delivering this chat (it looks again when it is done: see `finish`).
        Taking over from a process that died, what the chat was owed is coalesced first.
        `begin`: the first item's delivery begins (as `progress` records it)."""
        now = self.clock.now()
        with self.db.session() as session:
            if self.shared:
                ours, previous = Leases(session).take(
                    self._lease(chat_id), self.owner, now, LEASE_TTL, self._alive
                )
                if not ours:
                    return None
                if previous is not None and Outbox(session).coalesce(self.channel, chat_id):
                    ChannelChats(session).resumed(self.channel, chat_id, now)
            items = Outbox(session).pending(self.channel, chat_id)
            if begin and items:
                Outbox(session).begin(items[0].id)
            return items

    def progress(self, done: int | None, begin: int | None, chat_id: str) -> None:
        """One transaction between two sends: `done` went out, `begin` is about to; a crash
        after it re-sends at most `begin` (see `OutboxRow.started`)."""
        now = self.clock.now()
        with self.db.session() as session:
            outbox = Outbox(session)
            if done is not None:
                outbox.sent_one(done, now)
            if begin is not None:
                outbox.begin(begin)

    def finish(self, chat_id: str, done: int | None = None) -> bool:
        """`done` went out (as `progress` records it); gives up the chat's lease. True when
        items are waiting (queued by another process meanwhile): the caller claims again."""
        if not self.shared:
            if done is not None:
                self.progress(done, None, chat_id)
            return False
        now = self.clock.now()
        with self.db.session() as session:
            if done is not None:
                Outbox(session).sent_one(done, now)
            Leases(session).release(self._lease(chat_id), self.owner)
            return bool(
                session.scalar(
                    select(func.count())
                    .select_from(OutboxRow)
                    .where(
                        OutboxRow.status == PENDING,
                        OutboxRow.channel == self.channel,
                        OutboxRow.chat_id == chat_id,
                        or_(OutboxRow.not_before.is_(None), OutboxRow.not_before <= now),
                    )
                )
            )

    def recover(self) -> int:
        """At start-up, as the only process (SQLite): every chat's leftovers coalesced.
        Returns how many chats were resumed."""
        now = self.clock.now()
        resumed = 0
        with self.db.session() as session:
            outbox = Outbox(session)
            chats = outbox.chats_with_pending(self.channel, now + timedelta(days=3650), 100_000)
            for chat_id in chats:
                if outbox.coalesce(self.channel, chat_id):
                    ChannelChats(session).resumed(self.channel, chat_id, now)
                    resumed += 1
        return resumed

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
