"""Invite-code throttling: wrong codes are counted per chat and overall, and a chat that
failed a few times must wait, longer after each further failure, before any code of it is
looked at again (a genuine one included: otherwise guessing would simply go on).

An invite code has 32^8 ≈ 10^12 values, so guessing is hopeless unless unlimited; these limits
keep it so while a contact who mistypes a code twice or three times is not hindered. Only
unbound chats redeem codes: a bound contact who sends another enterprise's code is answered by
the filing's dialog and never counted here.

The failures are rows (`invite_failures`), so the limits hold across restarts and for every
process on the database; reviewers see the chats that failed repeatedly (their /reminders).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from storage.models import InviteFailureRow, MemberRow
from storage.repository import table_of

_FAILURES = table_of(InviteFailureRow)


@dataclass(frozen=True, slots=True)
class Limits:
    # Per chat: this many wrong codes within `chat_window` are free; then each further one
    # costs `first_wait`, doubled per failure up to `longest_wait`, counted from the last.
    chat_free: int = 3
    chat_window: timedelta = timedelta(hours=24)
    first_wait: timedelta = timedelta(minutes=1)
    longest_wait: timedelta = timedelta(hours=1)
    # Overall, within `overall_window`: past `overall_soft` failures a chat that already
    # failed waits until the count drops; past `overall_hard` every chat does (many chats
    # guessing together).
    overall_window: timedelta = timedelta(hours=1)
    overall_soft: int = 20
    overall_hard: int = 100
    # Shown to reviewers: chats with at least this many failures within `report_window`.
    report_at: int = 3
    report_window: timedelta = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class RepeatedFailures:
    channel: str
    chat_id: str
    count: int
    last_at: datetime
    bound: bool  # bound since (a genuine code after all, or a reviewer's approval)


class InviteThrottle:
    def __init__(self, session: Session, limits: Limits | None = None) -> None:
        self._session = session
        self.limits = limits or Limits()

    def wait(self, channel: str, chat_id: str, now: datetime) -> timedelta | None:
        """How long this chat must wait before a code of it is looked at; None: go ahead."""
        limits = self.limits
        mine = self._times(
            and_(_FAILURES.c.channel == channel, _FAILURES.c.chat_id == chat_id),
            now - limits.chat_window,
        )
        waits = []
        if len(mine) >= limits.chat_free:
            doublings = min(len(mine) - limits.chat_free, 20)
            pause = min(limits.first_wait * 2**doublings, limits.longest_wait)
            waits.append(mine[-1] + pause - now)
        overall = self._times(None, now - limits.overall_window)
        recent_own = [t for t in mine if t >= now - limits.overall_window]
        if len(overall) >= limits.overall_hard or (
            len(overall) >= limits.overall_soft and recent_own
        ):
            # Until enough failures have left the window to bring the count under the limit.
            limit = (
                limits.overall_hard if len(overall) >= limits.overall_hard else limits.overall_soft
            )
            leaves = overall[len(overall) - limit]
            waits.append(leaves + limits.overall_window - now)
        longest = max(waits, default=timedelta(0))
        return longest if longest > timedelta(0) else None

    def failed(self, channel: str, chat_id: str, now: datetime) -> None:
        self._session.execute(
            _FAILURES.insert().values(channel=channel, chat_id=chat_id, failed_at=now)
        )

    def repeated(self, now: datetime) -> list[RepeatedFailures]:
        """Chats with repeated wrong codes lately, most failures first (for reviewers)."""
        since = now - self.limits.report_window
        count = func.count().label("count")
        rows = self._session.execute(
            select(_FAILURES.c.channel, _FAILURES.c.chat_id, count, func.max(_FAILURES.c.failed_at))
            .where(_FAILURES.c.failed_at >= since)
            .group_by(_FAILURES.c.channel, _FAILURES.c.chat_id)
            .having(count >= self.limits.report_at)
            .order_by(count.desc(), _FAILURES.c.channel, _FAILURES.c.chat_id)
        ).all()
        bound = {
            (c, i)
            for c, i in self._session.execute(
                select(MemberRow.channel, MemberRow.chat_id).where(
                    MemberRow.chat_id.in_([r[1] for r in rows])
                )
            )
        }
        return [
            RepeatedFailures(channel, chat_id, int(n), last, (channel, chat_id) in bound)
            for channel, chat_id, n, last in rows
        ]

    def _times(self, where: ColumnElement[bool] | None, since: datetime) -> list[datetime]:
        statement = select(_FAILURES.c.failed_at).where(_FAILURES.c.failed_at >= since)
        if where is not None:
            statement = statement.where(where)
        return sorted(self._session.scalars(statement))
