"""Repositories for reminders: the facts "what is due" is computed from, the recorded
reminders (unique key: enterprise, kind, occurrence), renewals marked done, and who cannot be
reached. Like the other repositories they take a `Session` and never commit.

Claiming is `SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL, so processes sharing one
database take disjoint rows; SQLite ignores the clause (one process dispatches there), and the
guarded `UPDATE ... WHERE status = 'pending'` of `finish` stays correct on both."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session

from storage.models import (
    ChannelChatRow,
    EnterpriseRow,
    FilingRow,
    MemberRow,
    OutboxRow,
    ReminderRow,
    RenewalRow,
    TransitionRow,
)
from storage.repository import _rowcount, table_of, upsert_into

_REMINDERS = table_of(ReminderRow)
_RENEWALS = table_of(RenewalRow)

PENDING = "pending"
SENT = "sent"
SKIPPED = "skipped"  # superseded by a later reminder of its series (after an outage)
OBSOLETE = "obsolete"  # its reason went away between falling due and being sent


@dataclass(frozen=True, slots=True)
class FilingFacts:
    """An active enterprise and its filing of the year (None/"none" when it has none)."""

    enterprise_id: int
    name: str
    credit_code: str
    grade: str
    filing_id: int | None
    status: str
    version: int
    submitted_at: datetime | None
    approved_at: datetime | None
    renewal_done_at: datetime | None
    contacts: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class NewReminder:
    enterprise_id: int
    kind: str
    occurrence: str
    due_at: datetime
    status: str = PENDING
    note: str | None = None
    calendar_estimate: str | None = None


@dataclass(frozen=True, slots=True)
class Reminder:
    id: int
    year: int
    enterprise_id: int
    kind: str
    occurrence: str
    due_at: datetime
    status: str
    sent_at: datetime | None
    recipients: tuple[dict[str, Any], ...]
    note: str | None
    calendar_estimate: str | None = None

    @property
    def key(self) -> tuple[int, str, str]:
        return (self.enterprise_id, self.kind, self.occurrence)


@dataclass(frozen=True, slots=True)
class Unreachable:
    """A chat that blocked the bot, or a message that failed for good."""

    channel: str
    chat_id: str
    enterprise: str  # "" when the chat is bound to no enterprise
    reason: str  # "blocked" or "failed"
    error: str
    at: datetime | None


_COLUMNS = (
    ReminderRow.id,
    ReminderRow.year,
    ReminderRow.enterprise_id,
    ReminderRow.kind,
    ReminderRow.occurrence,
    ReminderRow.due_at,
    ReminderRow.status,
    ReminderRow.sent_at,
    ReminderRow.recipients,
    ReminderRow.note,
    ReminderRow.calendar_estimate,
)


def _reminder(row: Sequence[Any]) -> Reminder:
    values = list(row)
    values[8] = tuple(json.loads(values[8])) if values[8] else ()
    return Reminder(*values)


class ReminderRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    # --- facts ---------------------------------------------------------------------------------

    def facts(self, year: int, enterprise_ids: Collection[int] | None = None) -> list[FilingFacts]:
        """Every active enterprise (or those of `enterprise_ids`) with its filing of `year`,
        the last submission and approval, the renewal mark and the bound chats."""
        only = [EnterpriseRow.id.in_(list(enterprise_ids))] if enterprise_ids is not None else []
        rows = self._session.execute(
            select(
                EnterpriseRow.id,
                EnterpriseRow.name,
                EnterpriseRow.credit_code,
                EnterpriseRow.grade,
                FilingRow.id,
                FilingRow.status,
                FilingRow.version,
                RenewalRow.done_at,
            )
            .select_from(EnterpriseRow)
            .outerjoin(
                FilingRow, and_(FilingRow.enterprise_id == EnterpriseRow.id, FilingRow.year == year)
            )
            .outerjoin(
                RenewalRow,
                and_(RenewalRow.enterprise_id == EnterpriseRow.id, RenewalRow.year == year),
            )
            .where(EnterpriseRow.status == "active", *only)
            .order_by(EnterpriseRow.id)
        ).all()
        moves: dict[tuple[int, str], datetime] = {}
        filing_ids = [row[4] for row in rows if row[4] is not None]
        if filing_ids:
            found = self._session.execute(
                select(TransitionRow.filing_id, TransitionRow.to_status, func.max(TransitionRow.at))
                .join(FilingRow, FilingRow.id == TransitionRow.filing_id)
                .where(
                    FilingRow.year == year,
                    TransitionRow.to_status.in_(("submitted", "approved")),
                    *(
                        [FilingRow.enterprise_id.in_(list(enterprise_ids))]
                        if enterprise_ids is not None
                        else []
                    ),
                )
                .group_by(TransitionRow.filing_id, TransitionRow.to_status)
            )
            moves = {(filing_id, status): at for filing_id, status, at in found}
        contacts: dict[int, list[tuple[str, str]]] = defaultdict(list)
        members = select(MemberRow.enterprise_id, MemberRow.channel, MemberRow.chat_id).order_by(
            MemberRow.bound_at, MemberRow.channel, MemberRow.chat_id
        )
        if enterprise_ids is not None:
            members = members.where(MemberRow.enterprise_id.in_(list(enterprise_ids)))
        for enterprise_id, channel, chat_id in self._session.execute(members):
            contacts[enterprise_id].append((channel, chat_id))
        return [
            FilingFacts(
                enterprise_id=row[0],
                name=row[1],
                credit_code=row[2],
                grade=row[3],
                filing_id=row[4],
                status=row[5] or "none",
                version=row[6] or 0,
                submitted_at=moves.get((row[4], "submitted")),
                approved_at=moves.get((row[4], "approved")),
                renewal_done_at=row[7],
                contacts=tuple(contacts.get(row[0], ())),
            )
            for row in rows
        ]

    def recorded(
        self, year: int, enterprise_ids: Collection[int] | None = None
    ) -> dict[tuple[int, str], dict[str, datetime]]:
        """Every reminder recorded for `year`, whatever its status: (enterprise, kind) ->
        {occurrence: due_at}."""
        statement = select(
            ReminderRow.enterprise_id, ReminderRow.kind, ReminderRow.occurrence, ReminderRow.due_at
        ).where(ReminderRow.year == year)
        if enterprise_ids is not None:
            statement = statement.where(ReminderRow.enterprise_id.in_(list(enterprise_ids)))
        found: dict[tuple[int, str], dict[str, datetime]] = defaultdict(dict)
        for enterprise_id, kind, occurrence, due_at in self._session.execute(statement):
            found[(enterprise_id, kind)][occurrence] = due_at
        return dict(found)

    # --- recording and claiming ----------------------------------------------------------------

    def record(self, year: int, items: Iterable[NewReminder], now: datetime) -> int:
        """Inserts reminders not recorded yet (INSERT ... ON CONFLICT DO NOTHING on the key:
        concurrent dispatchers may both try); returns how many were new."""
        values = [
            {
                "year": year,
                "enterprise_id": item.enterprise_id,
                "kind": item.kind,
                "occurrence": item.occurrence,
                "due_at": item.due_at,
                "status": item.status,
                "created_at": now,
                "note": item.note,
                "calendar_estimate": item.calendar_estimate,
            }
            for item in items
        ]
        if not values:
            return 0
        new = 0
        # Bounded statements: SQLite allows at most 32,766 bound parameters per statement.
        for start in range(0, len(values), 500):
            statement = (
                upsert_into(self._session, _REMINDERS)
                .values(values[start : start + 500])
                .on_conflict_do_nothing(index_elements=["enterprise_id", "kind", "occurrence"])
            )
            new += max(_rowcount(self._session, statement), 0)
        return new

    def claim(self, now: datetime, limit: int) -> list[Reminder]:
        """Pending reminders due by `now`, oldest first, locked for this transaction; rows
        another transaction holds are skipped (PostgreSQL), never waited for."""
        rows = self._session.execute(
            select(*_COLUMNS)
            .where(ReminderRow.status == PENDING, ReminderRow.due_at <= now)
            .order_by(ReminderRow.due_at, ReminderRow.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [_reminder(row) for row in rows]

    def finish(
        self,
        reminder_id: int,
        status: str,
        now: datetime,
        recipients: Sequence[dict[str, Any]] = (),
        *,
        note: str | None = None,
        calendar_estimate: str | None = None,
    ) -> bool:
        """Marks a pending reminder sent (or obsolete); False when it was not pending any
        more (another dispatcher got there first): the caller must then roll back. The
        calendar flag is the one of the day as computed when it is sent."""
        statement = (
            update(ReminderRow)
            .where(ReminderRow.id == reminder_id, ReminderRow.status == PENDING)
            .values(
                status=status,
                sent_at=now,
                recipients=json.dumps(list(recipients), ensure_ascii=False),
                note=note,
                calendar_estimate=calendar_estimate,
            )
        )
        return _rowcount(self._session, statement) == 1

    def of_enterprise(
        self, year: int, enterprise_id: int, statuses: Collection[str] = (SENT,)
    ) -> list[Reminder]:
        rows = self._session.execute(
            select(*_COLUMNS)
            .where(
                ReminderRow.year == year,
                ReminderRow.enterprise_id == enterprise_id,
                ReminderRow.status.in_(list(statuses)),
            )
            .order_by(ReminderRow.due_at, ReminderRow.id)
        )
        return [_reminder(row) for row in rows]

    def all(self, year: int | None = None) -> list[Reminder]:
        statement = select(*_COLUMNS).order_by(ReminderRow.due_at, ReminderRow.id)
        if year is not None:
            statement = statement.where(ReminderRow.year == year)
        return [_reminder(row) for row in self._session.execute(statement)]

    def count(self, status: str) -> int:
        return int(
            self._session.scalar(
                select(func.count()).select_from(ReminderRow).where(ReminderRow.status == status)
            )
            or 0
        )

    # --- renewals ------------------------------------------------------------------------------

    def mark_renewal_done(self, enterprise_id: int, year: int, by: str, now: datetime) -> bool:
        """False when it was already marked (the first mark's time and author stay)."""
        statement = (
            upsert_into(self._session, _RENEWALS)
            .values(enterprise_id=enterprise_id, year=year, done_at=now, done_by=by)
            .on_conflict_do_nothing(index_elements=["enterprise_id", "year"])
        )
        return _rowcount(self._session, statement) == 1

    def renewal_done_at(self, enterprise_id: int, year: int) -> datetime | None:
        return self._session.scalar(
            select(RenewalRow.done_at).where(
                RenewalRow.enterprise_id == enterprise_id, RenewalRow.year == year
            )
        )

    # --- who cannot be reached -----------------------------------------------------------------

    def unreachable(self, limit: int = 200) -> list[Unreachable]:
        """Chats that blocked the bot, and chats with messages that failed for good, with the
        enterprise they belong to: for the reviewers to follow up by phone."""
        members = self._session.execute(
            select(MemberRow.channel, MemberRow.chat_id, EnterpriseRow.name).join(
                EnterpriseRow, EnterpriseRow.id == MemberRow.enterprise_id
            )
        )
        names = {f"{channel}:{chat_id}": name for channel, chat_id, name in members}
        found: list[Unreachable] = []
        blocked = self._session.execute(
            select(ChannelChatRow.channel, ChannelChatRow.chat_id, ChannelChatRow.blocked_at)
            .where(ChannelChatRow.blocked_at.is_not(None))
            .order_by(ChannelChatRow.blocked_at.desc())
            .limit(limit)
        )
        seen = set()
        for channel, chat_id, at in blocked:
            seen.add((channel, chat_id))
            found.append(
                Unreachable(
                    channel, chat_id, names.get(f"{channel}:{chat_id}", ""), "blocked", "", at
                )
            )
        failed = self._session.execute(
            select(
                OutboxRow.channel,
                OutboxRow.chat_id,
                func.max(OutboxRow.last_error),
                func.max(OutboxRow.created_at),
            )
            .where(OutboxRow.status == "failed")
            .group_by(OutboxRow.channel, OutboxRow.chat_id)
            .order_by(func.max(OutboxRow.created_at).desc())
            .limit(limit)
        )
        for channel, chat_id, error, at in failed:
            if (channel, chat_id) in seen:
                continue
            name = names.get(f"{channel}:{chat_id}", "")
            found.append(Unreachable(channel, chat_id, name, "failed", error or "", at))
        return found

    def blocked_chats(self, chats: Collection[tuple[str, str]]) -> set[tuple[str, str]]:
        """Those of `chats` that blocked the bot (nothing is queued for them)."""
        if not chats:
            return set()
        channels = {channel for channel, _ in chats}
        rows = self._session.execute(
            select(ChannelChatRow.channel, ChannelChatRow.chat_id).where(
                ChannelChatRow.channel.in_(list(channels)),
                ChannelChatRow.blocked_at.is_not(None),
            )
        )
        wanted = set(chats)
        return {(c, i) for c, i in rows if (c, i) in wanted}
