"""The runner: loads the facts, records what is due, and sends it through the outbox.

1. `record_due`: computes `due.plan` on the facts and inserts each due reminder under its
   unique key (INSERT ... ON CONFLICT DO NOTHING), superseded ones as "skipped".
2. `send_pending`: claims pending rows (SELECT ... FOR UPDATE SKIP LOCKED), checks each is
   still due on fresh facts, queues its message in the outbox for every reachable contact and
   marks it sent, all in one transaction: a reminder is queued once, ever, and never lost (the
   channel's sender delivers the outbox with its rate limits and retries, after a restart too).

Nothing lives in memory between runs: any process may run it at any time, as often as it
likes; on PostgreSQL several processes may run it at once. On SQLite run one dispatching
process (writes are serialised there; a second one would only wait or retry).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.orm import Session

from dialogs.replies import Choice, Reply, to_payload
from dialogs.spec import FormSpec
from dialogs.view import View
from reminders.due import (
    REVIEWERS,
    EnterpriseFacts,
    Facts,
    Kind,
    Occurrence,
    Recipient,
    next_due,
    plan,
    still_due,
    upcoming,
)
from reminders.render import enterprise_message, review_message, years_text
from reminders.schedule import Schedule
from storage.db import Database
from storage.messaging import ChannelChats, Outbox
from storage.reminders import (
    OBSOLETE,
    PENDING,
    SENT,
    SKIPPED,
    FilingFacts,
    NewReminder,
    Reminder,
    ReminderRepository,
)
from storage.repository import FilingRepository
from storage.reviewers import ReviewerRepository

log = logging.getLogger(__name__)

# Channels without push delivery (the terminal chat): reminders for them are recorded, not
# queued; the contact sees them with /reminders.
NO_PUSH = frozenset({"console"})
BATCH = 100


class Clock(Protocol):
    """The clock port (bot.clock.SystemClock, tests' FrozenClock)."""

    def now(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class Message:
    """A reminder and the message it makes (for dry runs, lists and reports)."""

    occurrence: Occurrence
    name: str  # the enterprise, "" for the reviewers' digest
    recipients: tuple[Recipient, ...]
    reply: Choice


@dataclass
class Report:
    recorded: int = 0
    superseded: int = 0
    sent: int = 0
    obsolete: int = 0
    messages: int = 0  # queued in the outbox
    # Chats that got messages queued: channels deliver them at once.
    notified: list[tuple[str, str]] = field(default_factory=list)


class _LostRace(Exception):
    """Another dispatcher finished a claimed reminder first (SQLite without row locks)."""


def to_facts(rows: Sequence[FilingFacts]) -> tuple[EnterpriseFacts, ...]:
    return tuple(
        EnterpriseFacts(
            enterprise_id=r.enterprise_id,
            name=r.name,
            grade=r.grade,
            filing_id=r.filing_id,
            status=r.status,
            version=r.version,
            submitted_at=r.submitted_at,
            approved_at=r.approved_at,
            renewal_done_at=r.renewal_done_at,
            contacts=tuple(Recipient(c, i) for c, i in r.contacts),
        )
        for r in rows
    )


def load_facts(
    session: Session,
    year: int,
    configured_reviewers: Collection[tuple[str, str]],
    enterprise_ids: Collection[int] | None = None,
) -> Facts:
    repo = ReminderRepository(session)
    reviewers = ReviewerRepository(session).all(configured_reviewers)
    return Facts(
        enterprises=to_facts(repo.facts(year, enterprise_ids)),
        reviewers=tuple(Recipient(c, i) for c, i in reviewers),
        recorded=repo.recorded(year, None if enterprise_ids is None else {*enterprise_ids, 0}),
    )


class Runner:
    def __init__(
        self,
        db: Database,
        form: FormSpec,
        schedule: Schedule,
        clock: Clock,
        *,
        reviewers: Collection[tuple[str, str]] = (),
        no_push: Collection[str] = NO_PUSH,
        batch: int = BATCH,
        refresh_calendar: Callable[[], object] | None = None,
    ) -> None:
        if form.cycle.year != schedule.year:
            raise ValueError(
                f"the reminder schedule is for inspection year {schedule.year} but the form "
                f"is for {form.cycle.year}: update the schedule file"
            )
        self.db = db
        self.form = form
        self.schedule = schedule
        self.clock = clock
        self.reviewers = tuple(reviewers)
        self.no_push = frozenset(no_push)
        self.batch = batch
        self.worker = f"pid {os.getpid()}"
        # Re-reads the holiday files when they changed (reminders.holidays.HolidayFiles):
        # a year entered meanwhile corrects what is still to come at the next wake-up.
        self.refresh_calendar = refresh_calendar

    @property
    def year(self) -> int:
        return self.schedule.year

    # --- the two steps -------------------------------------------------------------------------

    def _refresh(self) -> None:
        if self.refresh_calendar is not None:
            self.refresh_calendar()

    def dispatch(self) -> Report:
        """Records what is due now and sends every pending reminder due by now."""
        self._refresh()
        now = self.clock.now()
        report = Report()
        report.recorded, report.superseded = self.record_due(now)
        self.send_pending(now, report)
        if report.sent or report.obsolete:
            log.info(
                "reminders: %d sent (%d messages), %d obsolete, %d superseded",
                report.sent,
                report.messages,
                report.obsolete,
                report.superseded,
            )
        return report

    def record_due(self, now: datetime) -> tuple[int, int]:
        with self.db.session() as session:
            facts = load_facts(session, self.year, self.reviewers)
            due = plan(self.schedule, facts, now)
            items = [
                NewReminder(
                    o.enterprise_id,
                    o.kind.value,
                    o.occurrence,
                    o.due_at,
                    calendar_estimate=estimate(o),
                )
                for o in due.send
            ]
            items += [
                NewReminder(
                    o.enterprise_id,
                    o.kind.value,
                    o.occurrence,
                    o.due_at,
                    SKIPPED,
                    "superseded",
                    estimate(o),
                )
                for o in due.superseded
            ]
            new = ReminderRepository(session).record(self.year, items, now)
        return new, len(due.superseded)

    def send_pending(self, now: datetime, report: Report) -> None:
        while True:
            try:
                with self.db.session() as session:
                    claimed = ReminderRepository(session).claim(now, self.batch)
                    if not claimed:
                        return
                    self._send_batch(session, claimed, now, report)
            except _LostRace:
                log.info("reminders: another dispatcher sent a claimed reminder; retrying")

    def _send_batch(
        self, session: Session, claimed: Sequence[Reminder], now: datetime, report: Report
    ) -> None:
        ids = {r.enterprise_id for r in claimed}
        # The reviewers' digest lists every waiting submission: it needs all the facts.
        facts = load_facts(session, self.year, self.reviewers, None if REVIEWERS in ids else ids)
        repo = ReminderRepository(session)
        sent = obsolete = messages = 0
        notified: list[tuple[str, str]] = []
        for reminder in claimed:
            occurrence = still_due(self.schedule, facts, reminder.key, now)
            if occurrence is None:
                if not repo.finish(
                    reminder.id,
                    OBSOLETE,
                    now,
                    note="obsolete when sent",
                    calendar_estimate=reminder.calendar_estimate,
                ):
                    raise _LostRace
                obsolete += 1
                continue
            message = self.message(session, facts, occurrence, now)
            recipients = self._queue(session, message, now, notified)
            if not repo.finish(
                reminder.id,
                SENT,
                now,
                recipients,
                note=self.worker,
                calendar_estimate=estimate(occurrence),
            ):
                raise _LostRace
            sent += 1
            messages += sum(1 for r in recipients if "outbox_id" in r)
        report.sent += sent
        report.obsolete += obsolete
        report.messages += messages
        report.notified.extend(notified)

    def _queue(
        self,
        session: Session,
        message: Message,
        now: datetime,
        notified: list[tuple[str, str]],
    ) -> list[dict[str, Any]]:
        repo = ReminderRepository(session)
        chats = [(r.channel, r.chat_id) for r in message.recipients]
        blocked = repo.blocked_chats([c for c in chats if c[0] not in self.no_push])
        recipients: list[dict[str, Any]] = []
        for channel, chat_id in chats:
            entry: dict[str, Any] = {"channel": channel, "chat_id": chat_id}
            if channel in self.no_push:
                entry["skipped"] = "no push"
            elif (channel, chat_id) in blocked:
                entry["skipped"] = "blocked"
            else:
                entry["outbox_id"] = enqueue(session, channel, chat_id, message.reply, now)
                notified.append((channel, chat_id))
            recipients.append(entry)
        return recipients

    # --- messages ------------------------------------------------------------------------------

    def message(
        self, session: Session, facts: Facts, occurrence: Occurrence, now: datetime
    ) -> Message:
        if occurrence.enterprise_id == REVIEWERS:
            waiting = {e.filing_id: e for e in facts.enterprises if e.filing_id is not None}
            reply = review_message(self.schedule, occurrence, waiting, now)
            return Message(occurrence, "", facts.reviewers, reply)
        e = next(e for e in facts.enterprises if e.enterprise_id == occurrence.enterprise_id)
        view = None
        if occurrence.kind is Kind.DRAFT and e.filing_id is not None:
            view = View(self.form, FilingRepository(session).load(e.filing_id))
        reply = enterprise_message(self.schedule, occurrence, e, now, view)
        return Message(occurrence, e.name, e.contacts, reply)

    # --- read-only: dry runs, lists, the scheduler's next wake-up ------------------------------

    def preview(self, now: datetime | None = None) -> list[Message]:
        """What a dispatch at `now` would send, without writing anything."""
        self._refresh()
        now = now or self.clock.now()
        with self.db.session() as session:
            facts = load_facts(session, self.year, self.reviewers)
            due = list(plan(self.schedule, facts, now).send)
            pending = [
                r
                for r in ReminderRepository(session).all(self.year)
                if r.status == PENDING and r.due_at <= now
            ]
            for r in pending:
                found = still_due(self.schedule, facts, r.key, now)
                if found is not None:
                    due.append(found)
            return [self.message(session, facts, o, now) for o in due]

    def upcoming(self, until: datetime, now: datetime | None = None) -> list[Message]:
        """What will fall due after now up to `until`, if nothing changes meanwhile; each
        message as it would read when sent on time."""
        self._refresh()
        now = now or self.clock.now()
        with self.db.session() as session:
            facts = load_facts(session, self.year, self.reviewers)
            return [
                self.message(session, facts, o, o.due_at)
                for o in upcoming(self.schedule, facts, now, until)
            ]

    def next_due(self, now: datetime | None = None) -> datetime | None:
        self._refresh()
        now = now or self.clock.now()
        with self.db.session() as session:
            facts = load_facts(session, self.year, self.reviewers)
        return next_due(self.schedule, facts, now)

    def sent(self) -> list[Reminder]:
        with self.db.session() as session:
            return [r for r in ReminderRepository(session).all(self.year) if r.status == SENT]

    def recheck_after(self) -> timedelta:
        return timedelta(minutes=self.schedule.check_every_minutes)


def estimate(o: Occurrence) -> str | None:
    """The calendar flag kept on a reminder's record: the years computed Monday to Friday."""
    return years_text(o.estimated) or None


def enqueue(session: Session, channel: str, chat_id: str, reply: Reply, now: datetime) -> int:
    """Queues one reply in the outbox; its buttons become the chat's live ones (as the
    service's replies do), so pressing one acts exactly like typing its value."""
    payload = to_payload(reply)
    if isinstance(reply, Choice) and reply.options:
        options = [[b.label, b.value] for b in reply.options]
        payload["seq"] = ChannelChats(session).new_prompt(channel, chat_id, options, now)
    return Outbox(session).add(channel, chat_id, [payload], now)[0]


__all__ = ["NO_PUSH", "SENT", "Message", "Report", "Runner", "enqueue", "load_facts"]
