"""What is due at time T: a pure function of the schedule, facts read from the database, and
the clock. No I/O here; `reminders.runner` loads the facts and sends what `plan` returns.

A reminder is identified by (enterprise, kind, occurrence) and belongs to a series (e.g. the
stamped-form reminders of one approval). Each is sent at most once, ever (the runner records
the key); after an outage only the latest due occurrence of a series is sent, the earlier ones
are recorded as superseded: three stale stamped-form reminders at once help nobody. An
occurrence whose reason went away (stamped form returned, renewal marked done, filing
withdrawn or submitted, deadline passed) is simply no longer generated: obsolete, never sent.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from dialogs.holidays import years_between
from dialogs.workdays import SHANGHAI
from reminders.schedule import Schedule

# The enterprise id of reminders addressed to the reviewers (a digest, not per enterprise).
REVIEWERS = 0
# Sent this long after its due time, a reminder says when it was due (it waited for a restart).
LATE_AFTER = timedelta(hours=1)
# How far ahead `next_due` looks; the periodic check covers anything further.
LOOKAHEAD = timedelta(days=60)

FILED = frozenset({"submitted", "rejected", "approved", "complete"})
UNSUBMITTED = frozenset({"draft", "rejected", "none"})


class Kind(StrEnum):
    STAMPED = "stamped_form"
    RESULTS = "results"
    RENEWAL = "renewal"
    DRAFT = "draft_nudge"
    REVIEW = "review_overdue"
    KICKOFF = "kickoff"


@dataclass(frozen=True, slots=True)
class Recipient:
    channel: str
    chat_id: str


@dataclass(frozen=True, slots=True)
class EnterpriseFacts:
    """One enterprise and its filing of year Y as the database has them now."""

    enterprise_id: int
    name: str
    grade: str
    filing_id: int | None
    status: str  # draft / submitted / rejected / approved / complete; "none": no filing yet
    version: int  # submitted versions; 0 = never submitted
    submitted_at: datetime | None  # the last submission
    approved_at: datetime | None  # the last approval
    renewal_done_at: datetime | None
    contacts: tuple[Recipient, ...]


@dataclass(frozen=True, slots=True)
class Facts:
    enterprises: tuple[EnterpriseFacts, ...]
    reviewers: tuple[Recipient, ...] = ()
    # What the runner already recorded: (enterprise, kind) -> {occurrence: due_at}.
    recorded: Mapping[tuple[int, str], Mapping[str, datetime]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Occurrence:
    enterprise_id: int
    kind: Kind
    occurrence: str
    due_at: datetime  # UTC
    ordinal: int = 1  # the n-th reminder of its series
    deadline: date | None = None  # by when (renewal, filing deadline)
    days_left: int | None = None
    expires_at: datetime | None = None  # obsolete after this (its deadline passed)
    filing_ids: tuple[int, ...] = ()  # the reviewers' digest: the overdue filings
    # Years whose holidays neither the package nor a holiday file knows, that this reminder's
    # day was computed in (Monday to Friday): flagged on its record and wherever it is shown.
    estimated: tuple[int, ...] = ()

    @property
    def key(self) -> tuple[int, str, str]:
        return (self.enterprise_id, self.kind.value, self.occurrence)

    def late(self, now: datetime) -> bool:
        return now - self.due_at >= LATE_AFTER

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now > self.expires_at


@dataclass(frozen=True, slots=True)
class Plan:
    send: tuple[Occurrence, ...]  # due now, not sent yet: the latest of each series
    superseded: tuple[Occurrence, ...]  # due but overtaken by a later one of their series


def at_send_time(schedule: Schedule, day: date) -> datetime:
    return datetime.combine(day, schedule.send_time, SHANGHAI).astimezone(UTC)


def end_of(day: date) -> datetime:
    return datetime.combine(day, time(23, 59, 59), SHANGHAI).astimezone(UTC)


def local_date(moment: datetime) -> date:
    return moment.astimezone(SHANGHAI).date()


# --- the series -------------------------------------------------------------------------------


def stamped_series(schedule: Schedule, e: EnterpriseFacts, until: datetime) -> list[Occurrence]:
    """After approval: after 1, 3 and 7 working days, then weekly, until the stamped form is
    in (the filing is complete) or the filing is no longer approved."""
    if e.status != "approved" or e.approved_at is None:
        return []
    approved = local_date(e.approved_at)
    calendar = schedule.calendar
    days = [calendar.add_working_days(approved, n) for n in schedule.stamped_working_days]
    found: list[Occurrence] = []
    ordinal = 0
    estimated: tuple[int, ...] = ()
    while True:
        ordinal += 1
        if ordinal <= len(days):
            day = days[ordinal - 1]
            estimated = calendar.estimated(years_between(approved, day))
        else:
            # Weekly after the last working-day reminder: as estimated as that one was.
            day = found[-1].due_at.astimezone(SHANGHAI).date() + timedelta(
                days=schedule.stamped_then_every_days
            )
        due = at_send_time(schedule, day)
        if due > until:
            return found
        occurrence = f"{schedule.year}:v{e.version}:{ordinal}"
        found.append(
            Occurrence(e.enterprise_id, Kind.STAMPED, occurrence, due, ordinal, estimated=estimated)
        )


def results_series(schedule: Schedule, e: EnterpriseFacts, until: datetime) -> list[Occurrence]:
    """The results announcement, to every enterprise that filed; stale once the renewal
    deadline (the next step after the results) has passed."""
    if e.status not in FILED:
        return []
    due = at_send_time(schedule, schedule.results_date)
    if due > until:
        return []
    expires = end_of(schedule.renewal_deadline)
    return [Occurrence(e.enterprise_id, Kind.RESULTS, str(schedule.year), due, expires_at=expires)]


def renewal_series(schedule: Schedule, e: EnterpriseFacts, until: datetime) -> list[Occurrence]:
    """The renewal countdown (30, 14, 7, 3, 1 days before, on the day) to enterprises that
    filed, until the renewal is marked done; each one stale once the deadline day is over."""
    if e.status not in FILED or e.renewal_done_at is not None:
        return []
    deadline = schedule.renewal_deadline
    return _countdown(
        schedule,
        e,
        Kind.RENEWAL,
        deadline=deadline,
        days_before=schedule.renewal_days_before,
        until=until,
    )


def draft_series(schedule: Schedule, e: EnterpriseFacts, until: datetime) -> list[Occurrence]:
    """Optional: unsubmitted filings (drafts, rejected ones) as the filing deadline nears."""
    deadline = schedule.filing_deadline
    if deadline is None or e.status not in UNSUBMITTED:
        return []
    return _countdown(
        schedule,
        e,
        Kind.DRAFT,
        deadline=deadline,
        days_before=schedule.draft_days_before,
        until=until,
    )


def _countdown(
    schedule: Schedule,
    e: EnterpriseFacts,
    kind: Kind,
    *,
    deadline: date,
    days_before: tuple[int, ...],
    until: datetime,
) -> list[Occurrence]:
    found = []
    for ordinal, days in enumerate(days_before, 1):
        due = at_send_time(schedule, deadline - timedelta(days=days))
        if due > until:
            break
        found.append(
            Occurrence(
                e.enterprise_id,
                kind,
                f"{schedule.year}:{days}d",
                due,
                ordinal,
                deadline=deadline,
                days_left=days,
                expires_at=end_of(deadline),
            )
        )
    return found


def kickoff_series(schedule: Schedule, e: EnterpriseFacts, until: datetime) -> list[Occurrence]:
    """The cycle's kick-off notice, once per enterprise and cycle, to enterprises that have
    not filed Y yet (opening the cycle sets its day); stale after the filing deadline."""
    if schedule.kickoff_date is None or e.status not in ("none", "draft") or e.version:
        return []
    due = at_send_time(schedule, schedule.kickoff_date)
    if due > until:
        return []
    deadline = schedule.filing_deadline
    expires = end_of(deadline) if deadline is not None else None
    return [
        Occurrence(
            e.enterprise_id,
            Kind.KICKOFF,
            str(schedule.year),
            due,
            deadline=deadline,
            expires_at=expires,
        )
    ]


def review_series(schedule: Schedule, facts: Facts, until: datetime) -> list[Occurrence]:
    """One digest per working day, at the send time, while any submission has waited longer
    than the review period (`overdue_working_days` working days after the day it came in)."""
    if not facts.reviewers:
        return []
    calendar = schedule.calendar
    waiting = [
        (
            e,
            end_of(
                calendar.add_working_days(
                    local_date(e.submitted_at), schedule.review_overdue_working_days
                )
            ),
        )
        for e in facts.enterprises
        if e.status == "submitted" and e.submitted_at is not None and e.filing_id is not None
    ]
    if not waiting:
        return []
    day = min(local_date(deadline) for _e, deadline in waiting) + timedelta(days=1)
    found: list[Occurrence] = []
    while (due := at_send_time(schedule, day)) <= until:
        if calendar.is_working_day(day):
            late = [
                (e, deadline)
                for e, deadline in sorted(waiting, key=lambda item: item[1])
                if deadline < due and e.filing_id is not None
            ]
            overdue = tuple(e.filing_id for e, _deadline in late if e.filing_id is not None)
            if overdue:
                first = min(local_date(e.submitted_at) for e, _d in late if e.submitted_at)
                found.append(
                    Occurrence(
                        REVIEWERS,
                        Kind.REVIEW,
                        day.isoformat(),
                        due,
                        len(found) + 1,
                        filing_ids=overdue,
                        estimated=calendar.estimated(years_between(first, day)),
                    )
                )
        day += timedelta(days=1)
    return found


def enterprise_series(
    schedule: Schedule, e: EnterpriseFacts, until: datetime
) -> Iterator[list[Occurrence]]:
    """Every live series of one enterprise, its occurrences up to `until`. An enterprise
    without any bound contact has none: its reminders start once someone is bound."""
    if not e.contacts:
        return
    for make in (kickoff_series, stamped_series, results_series, renewal_series, draft_series):
        series = make(schedule, e, until)
        if series:
            yield series


def all_series(schedule: Schedule, facts: Facts, until: datetime) -> Iterator[list[Occurrence]]:
    for e in facts.enterprises:
        yield from enterprise_series(schedule, e, until)
    review = review_series(schedule, facts, until)
    if review:
        yield review


# --- what is due, what comes ------------------------------------------------------------------


def plan(schedule: Schedule, facts: Facts, now: datetime) -> Plan:
    """What to send at `now`: per series, the latest occurrence that is due, not expired and
    later than anything already recorded of that series."""
    send: list[Occurrence] = []
    superseded: list[Occurrence] = []
    for series in all_series(schedule, facts, now):
        first = series[0]
        recorded = facts.recorded.get((first.enterprise_id, first.kind.value), {})
        last = max((o.due_at for o in series if o.occurrence in recorded), default=None)
        fresh = [
            o
            for o in series
            if o.occurrence not in recorded
            and not o.expired(now)
            and (last is None or o.due_at > last)
        ]
        if fresh:
            send.append(fresh[-1])
            superseded.extend(fresh[:-1])
    return Plan(tuple(send), tuple(superseded))


def still_due(
    schedule: Schedule, facts: Facts, key: tuple[int, str, str], now: datetime
) -> Occurrence | None:
    """The occurrence `key` if, on fresh facts, it is still due and not obsolete (checked again
    when a recorded reminder is claimed for sending)."""
    enterprise_id, kind, occurrence = key
    if enterprise_id == REVIEWERS:
        candidates: Iterator[list[Occurrence]] = iter([review_series(schedule, facts, now)])
    else:
        candidates = (
            series
            for e in facts.enterprises
            if e.enterprise_id == enterprise_id
            for series in enterprise_series(schedule, e, now)
        )
    for series in candidates:
        for o in series:
            if o.kind.value == kind and o.occurrence == occurrence and not o.expired(now):
                return o
    return None


def upcoming(schedule: Schedule, facts: Facts, now: datetime, until: datetime) -> list[Occurrence]:
    """What will fall due after `now` up to `until` if nothing changes meanwhile (a stamped
    form returned or a renewal marked done cancels the rest of its series)."""
    found = [
        o
        for series in all_series(schedule, facts, until)
        for o in series
        if o.due_at > now and o.occurrence not in facts.recorded.get((o.enterprise_id, o.kind), {})
    ]
    return sorted(found, key=lambda o: (o.due_at, o.enterprise_id, o.kind.value))


def next_due(schedule: Schedule, facts: Facts, now: datetime) -> datetime | None:
    """The next moment something falls due, for the scheduler's exact wake-up."""
    coming = upcoming(schedule, facts, now, now + LOOKAHEAD)
    return coming[0].due_at if coming else None
