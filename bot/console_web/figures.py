"""What the console's lists and dashboard show, read from the database on the caller's session.

Counting is done by the database (a few GROUP BY queries); only what is shown per row (one
page of a list) is worked out in Python.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from statistics import median

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session

from dialogs.indicators import evaluate_all
from dialogs.spec import FormSpec
from dialogs.view import View
from dialogs.workdays import SHANGHAI, add_working_days
from storage.models import (
    AnswerRow,
    ChannelChatRow,
    EnterpriseRow,
    FilingRow,
    MemberRow,
    OutboxRow,
    ReminderRow,
    RenewalRow,
    TransitionRow,
)
from storage.repository import FilingRepository
from storage.statuses import ACTIVE

_BATCH = 200  # filings loaded per statement when their facts are not known yet
# Filings whose facts one dashboard request works out itself (some 5 ms each, quiet);
# after a start the background pass (Console.warm) does the rest.
FACTS_BUDGET = 50
GRADE_ORDER = ("甲", "乙", "丙", "丁")
DECIDED = ("submitted", "rejected", "approved", "complete")
BUCKET_ORDER = ("unbound", "not_started", "draft", "submitted", "rejected", "approved", "complete")


def bucket_of(status: str | None, bound: bool, started: bool) -> str:
    """Where an enterprise stands: its filing's status once submitted, otherwise whether
    anyone is bound and has typed anything."""
    if status in DECIDED:
        return str(status)
    if not bound:
        return "unbound"
    return "draft" if started else "not_started"


@lru_cache(maxsize=4096)
def _next_working_day(day: date) -> date:
    # chinese-calendar checks its whole table's range on every call (0.1 ms): a list of 50
    # filings waiting weeks asked it thousands of times per page.
    return add_working_days(day, 1)


def overdue(submitted_at: datetime, now: datetime) -> bool:
    """Waiting longer than one working day (the review target), as the reminders count it."""
    due = _next_working_day(submitted_at.astimezone(SHANGHAI).date())
    return now > datetime.combine(due, time(23, 59, 59), SHANGHAI)


def working_days_waited(submitted_at: datetime, now: datetime) -> int:
    day, today, count = submitted_at.astimezone(SHANGHAI).date(), now.astimezone(SHANGHAI).date(), 0
    while _next_working_day(day) <= today and count < 60:
        day, count = _next_working_day(day), count + 1
    return count


@dataclass(frozen=True, slots=True)
class RosterRow:
    enterprise_id: int
    name: str
    credit_code: str
    grade: str
    filing_id: int | None
    status: str | None
    version: int
    bucket: str
    revision: int


def roster(session: Session, year: int, *, ordered: bool = True) -> list[RosterRow]:
    """Every active enterprise with its filing of `year` and where it stands (by name when
    `ordered`: the dashboard only counts)."""
    bound = exists().where(MemberRow.enterprise_id == EnterpriseRow.id)
    # Anything typed at all (a probe of the answers' primary key, not a count of them).
    started = exists().where(AnswerRow.filing_id == FilingRow.id, AnswerRow.source == "user")
    statement = (
        select(
            EnterpriseRow.id,
            EnterpriseRow.name,
            EnterpriseRow.credit_code,
            EnterpriseRow.grade,
            FilingRow.id,
            FilingRow.status,
            FilingRow.version,
            bound,
            started,
            FilingRow.revision,
        )
        .select_from(EnterpriseRow)
        .outerjoin(
            FilingRow, and_(FilingRow.enterprise_id == EnterpriseRow.id, FilingRow.year == year)
        )
        .where(EnterpriseRow.status == ACTIVE)
    )
    if ordered:
        statement = statement.order_by(EnterpriseRow.name, EnterpriseRow.id)
    # Core, not the ORM's result machinery: a season is thousands of rows.
    rows = session.connection().execute(statement)
    return [
        RosterRow(e, n, c, g, f, s, v or 0, bucket_of(s, bool(b), bool(t)), r or 0)
        for e, n, c, g, f, s, v, b, t, r in rows
    ]


@dataclass(frozen=True, slots=True)
class Facts:
    """What the dashboard needs of one filing's answers: its progress and indicator verdicts."""

    progress: int
    grade: str
    verdicts: tuple[tuple[str, bool | None], ...]


class FactsCache:
    """Facts per filing, kept while the filing's revision is unchanged: working them out needs
    the whole filing, and a season's dashboard would otherwise load every filing each time."""

    def __init__(self) -> None:
        self._facts: dict[int, tuple[int, Facts]] = {}
        self._lock = threading.Lock()

    def of(
        self,
        session: Session,
        form: FormSpec,
        rows: Sequence[RosterRow],
        budget: int | None = None,
    ) -> dict[int, Facts]:
        """The facts of these rows' filings; with `budget`, at most that many are worked out
        now (the others are left out: the start's background pass is still on them)."""
        found: dict[int, Facts] = {}
        missing: dict[int, int] = {}
        with self._lock:
            for row in rows:
                if row.filing_id is None:
                    continue
                cached = self._facts.get(row.filing_id)
                if cached is not None and cached[0] == row.revision:
                    found[row.filing_id] = cached[1]
                else:
                    missing[row.filing_id] = row.revision
        ids = list(missing)[:budget] if budget is not None else list(missing)
        for start in range(0, len(ids), _BATCH):
            loaded = FilingRepository(session).load_many(ids[start : start + _BATCH])
            for filing_id, filing in loaded.items():
                view = View(form, filing)
                grade = view.grade
                facts = Facts(
                    view.progress(),
                    grade.value if grade else "",
                    tuple((r.spec.label, r.met) for r in evaluate_all(view)),
                )
                with self._lock:
                    self._facts[filing_id] = (missing[filing_id], facts)
                found[filing_id] = facts
        return found


@dataclass(frozen=True, slots=True)
class Day:
    day: date
    submitted: int
    approved: int
    rejected: int


PROGRESS_BUCKETS = ((0, 25), (25, 50), (50, 75), (75, 101))


@dataclass
class Dashboard:
    year: int
    buckets: Counter[str]
    progress: list[int]  # drafts per PROGRESS_BUCKETS
    pending: int  # filings whose progress and verdicts are still being worked out
    days: list[Day]
    waiting: Counter[str]  # today | overdue
    decided_hours: list[float]
    stamped_missing: int
    renewals: int
    filed: int
    reminders: Counter[str]
    failed_messages: int
    unreachable: int
    # grade -> indicator -> (met, not met)
    grades: dict[str, dict[str, list[int]]] = field(default_factory=dict)


def dashboard(
    session: Session, form: FormSpec, cache: FactsCache, now: datetime, days: int = 30
) -> Dashboard:
    year = form.cycle.year
    rows = roster(session, year, ordered=False)
    buckets = Counter(r.bucket for r in rows)
    worked = [r for r in rows if r.bucket == "draft" or r.bucket in DECIDED]
    facts = cache.of(session, form, worked, budget=FACTS_BUDGET)
    progress = [0] * len(PROGRESS_BUCKETS)
    grades: dict[str, dict[str, list[int]]] = {}
    for row in worked:
        fact = facts.get(row.filing_id or 0)
        if fact is None:
            continue
        if row.bucket == "draft":
            n = next(i for i, (lo, hi) in enumerate(PROGRESS_BUCKETS) if lo <= fact.progress < hi)
            progress[n] += 1
            continue
        per_grade = grades.setdefault(fact.grade or row.grade, {})
        for label, met in fact.verdicts:
            if met is not None:
                per_grade.setdefault(label, [0, 0])[0 if met else 1] += 1
    moves = (
        session.connection()
        .execute(
            select(TransitionRow.filing_id, TransitionRow.to_status, TransitionRow.at)
            .join(FilingRow, FilingRow.id == TransitionRow.filing_id)
            .where(FilingRow.year == year, TransitionRow.to_status.in_(DECIDED[:3]))
            .order_by(TransitionRow.at, TransitionRow.id)
        )
        .all()
    )
    today = now.astimezone(SHANGHAI).date()
    first = today - timedelta(days=days - 1)
    per_day: dict[date, Counter[str]] = {first + timedelta(d): Counter() for d in range(days)}
    submitted_at: dict[int, datetime] = {}
    decided_hours: list[float] = []
    for filing_id, to_status, at in moves:
        day = at.astimezone(SHANGHAI).date()
        if day in per_day:
            per_day[day][to_status] += 1
        if to_status == "submitted":
            submitted_at[filing_id] = at
        elif filing_id in submitted_at:
            decided_hours.append((at - submitted_at.pop(filing_id)).total_seconds() / 3600)
    waiting: Counter[str] = Counter(
        "overdue" if overdue(at, now) else "today" for at in submitted_at.values()
    )
    filed = sum(buckets[b] for b in ("approved", "complete"))
    renewals = session.scalar(
        select(func.count()).select_from(RenewalRow).where(RenewalRow.year == year)
    )
    reminders = Counter(
        dict(
            session.execute(
                select(ReminderRow.status, func.count())
                .where(ReminderRow.year == year)
                .group_by(ReminderRow.status)
            ).all()
        )
    )
    failed = session.scalar(
        select(func.count()).select_from(OutboxRow).where(OutboxRow.status == "failed")
    )
    unreachable = session.scalar(
        select(func.count())
        .select_from(ChannelChatRow)
        .where(ChannelChatRow.blocked_at.is_not(None))
    )
    return Dashboard(
        year=year,
        buckets=buckets,
        progress=progress,
        pending=sum(1 for r in worked if r.filing_id not in facts),
        days=[Day(d, c["submitted"], c["approved"], c["rejected"]) for d, c in per_day.items()],
        waiting=waiting,
        decided_hours=decided_hours,
        stamped_missing=buckets["approved"],
        renewals=int(renewals or 0),
        filed=filed,
        reminders=reminders,
        failed_messages=int(failed or 0),
        unreachable=int(unreachable or 0),
        grades={g: grades[g] for g in sorted(grades, key=_grade_order)},
    )


def _grade_order(grade: str) -> int:
    return GRADE_ORDER.index(grade) if grade in GRADE_ORDER else len(GRADE_ORDER)


def median_or_none(values: Sequence[float]) -> float | None:
    return median(values) if values else None
