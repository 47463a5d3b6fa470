"""What people see of the reminders in the chat: `/reminders` for a contact (what is due and
coming for their enterprise, what was sent), for a reviewer (what goes out in the next days,
overdue reviews, who cannot be reached), and "续证已办理" that ends the renewal countdown.

The service calls these inside its own transaction, before any dialog sees the text."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from dialogs import texts_reminders as t
from dialogs.parsing import normalize
from dialogs.replies import Button, Choice, Reply, Text
from dialogs.workdays import SHANGHAI, chinese_date
from reminders.due import FILED, LOOKAHEAD, Kind, end_of, plan, upcoming
from reminders.holidays import estimated_warning
from reminders.render import OVERVIEW, RENEWAL_DONE, describe, when, years_text
from reminders.runner import load_facts
from reminders.schedule import Schedule
from storage.enterprises import EnterpriseRepository
from storage.reminders import SENT, ReminderRepository
from storage.throttle import InviteThrottle

_RENEWAL_WORDS = ("续证已办理", "/renewal_done", "续证已完成", "已续证", "续证完成")
# A contact's /reminders shows this many upcoming and recent reminders.
_SHOWN = 6
# A reviewer's /reminders counts what goes out in this many days.
REVIEWER_DAYS = 7


def renewal_argument(text: str) -> str | None:
    """For "续证已办理 [信用代码]": the argument ("" without one); None for any other text."""
    raw = normalize(text).strip()
    for word in _RENEWAL_WORDS:
        if raw.lower().startswith(word):
            return raw[len(word) :].strip().split("@", 1)[0].upper().replace(" ", "")
    return None


class ReminderViews:
    def __init__(
        self,
        schedule: Schedule,
        reviewers: Collection[tuple[str, str]] = (),
        holidays: Path | None = None,
    ) -> None:
        self.schedule = schedule
        self.reviewers = tuple(reviewers)
        # Where the holiday files are, for the warning about a year no source knows.
        self.holidays = holidays or Path("data/holidays")

    @property
    def year(self) -> int:
        return self.schedule.year

    # --- contacts ------------------------------------------------------------------------------

    def contact(self, session: Session, enterprise_id: int, channel: str, now: datetime) -> Reply:
        facts = load_facts(session, self.year, self.reviewers, {enterprise_id})
        mine = [e for e in facts.enterprises if e.enterprise_id == enterprise_id]
        if not mine:
            return Text(t.NOT_BOUND)
        e = mine[0]
        lines = [t.CONTACT_HEAD.format(name=e.name)]
        # Due now but not recorded yet: no dispatcher ran (the terminal chat has none).
        due_now = [
            o for o in plan(self.schedule, facts, now).send if o.enterprise_id == e.enterprise_id
        ]
        recent = ReminderRepository(session).of_enterprise(self.year, enterprise_id, (SENT,))
        if due_now or recent:
            lines.append(t.RECENT_HEAD)
            for reminder in recent[-_SHOWN:]:
                pushed = any(
                    r.get("channel") == channel and "outbox_id" in r for r in reminder.recipients
                )
                how = "" if pushed else t.RECENT_NOT_PUSHED
                what = t.KIND_NAMES.get(reminder.kind, reminder.kind)
                lines.append(t.RECENT_LINE.format(when=when(reminder.due_at), what=what, how=how))
            for o in due_now:
                what = describe(o, self.schedule)
                lines.append(t.RECENT_LINE.format(when=when(o.due_at), what=what, how=""))
        until = max(now + LOOKAHEAD, end_of(self.schedule.renewal_deadline))
        coming = [
            o
            for o in upcoming(self.schedule, facts, now, until)
            if o.enterprise_id == e.enterprise_id
        ]
        lines.append(t.UPCOMING_HEAD if coming else t.UPCOMING_NONE)
        lines.extend(
            t.UPCOMING_LINE.format(when=when(o.due_at), what=describe(o, self.schedule))
            for o in coming[:_SHOWN]
        )
        buttons = [Button(t.BTN_STATUS, OVERVIEW)]
        if e.status in FILED:
            if e.renewal_done_at is not None:
                lines.append(t.RENEWAL_DONE_LINE.format(when=when(e.renewal_done_at)))
            else:
                deadline = chinese_date(self.schedule.renewal_deadline)
                lines.append(t.RENEWAL_OPEN_LINE.format(deadline=deadline))
                buttons.insert(0, Button(t.BTN_RENEWAL_DONE, RENEWAL_DONE))
        return Choice("\n".join(lines), tuple(buttons))

    def mark_renewal(
        self, session: Session, enterprise_id: int, actor: str, now: datetime
    ) -> Reply:
        enterprise = EnterpriseRepository(session).get(enterprise_id)
        name = enterprise.name if enterprise is not None else ""
        repo = ReminderRepository(session)
        if repo.mark_renewal_done(enterprise_id, self.year, actor, now):
            return Text(t.RENEWAL_MARKED.format(name=name, when=when(now)))
        done = repo.renewal_done_at(enterprise_id, self.year) or now
        return Text(t.RENEWAL_ALREADY.format(name=name, when=when(done)))

    # --- reviewers -----------------------------------------------------------------------------

    def reviewer_mark_renewal(
        self, session: Session, code: str, actor: str, now: datetime
    ) -> Reply:
        if not code:
            return Text(t.RENEWAL_WHICH.format(example="91110108551385082Q"))
        enterprise = EnterpriseRepository(session).by_credit_code(code)
        if enterprise is None:
            return Text(t.RENEWAL_UNKNOWN.format(code=code))
        return self.mark_renewal(session, enterprise.id, actor, now)

    def reviewer(self, session: Session, now: datetime) -> Reply:
        facts = load_facts(session, self.year, self.reviewers)
        coming = upcoming(self.schedule, facts, now, now + timedelta(days=REVIEWER_DAYS))
        lines = [t.REVIEWER_HEAD.format(days=REVIEWER_DAYS)]
        counts = Counter(o.kind for o in coming)
        first: dict[Kind, datetime] = {}
        for o in coming:
            first.setdefault(o.kind, o.due_at)
        for kind in Kind:
            if counts[kind]:
                lines.append(
                    t.REVIEWER_COUNT_LINE.format(
                        what=t.KIND_NAMES[kind.value], count=counts[kind], first=when(first[kind])
                    )
                )
        if not coming:
            lines.append(t.UPCOMING_NONE)
        flagged = [o for o in coming if o.estimated]
        if flagged:
            years = tuple(sorted({y for o in flagged for y in o.estimated}))
            lines.append(t.ESTIMATED_COUNT.format(count=len(flagged), years=years_text(years)))
        overdue = [o for o in plan(self.schedule, facts, now).send if o.kind is Kind.REVIEW]
        if overdue:
            days = self.schedule.review_overdue_working_days
            lines.append(t.REVIEWER_OVERDUE.format(days=days, count=len(overdue[0].filing_ids)))
        warning = estimated_warning(
            self.schedule.calendar, self.schedule.calendar_years(), self.holidays
        )
        if warning:
            lines.append(warning)
        lines.append("")
        lines.extend(unreachable_lines(session))
        lines.extend(invite_failure_lines(session, now))
        return Text("\n".join(lines))


def unreachable_lines(session: Session) -> list[str]:
    """Contacts who blocked the bot or whose messages failed for good (reviewers follow up)."""
    found = ReminderRepository(session).unreachable()
    if not found:
        return [t.BLOCKED_NONE]
    lines = [t.BLOCKED_HEAD]
    for u in found:
        reason = (
            t.BLOCKED_REASON
            if u.reason == "blocked"
            else t.FAILED_REASON.format(error=u.error[:80])
        )
        at = u.at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if u.at is not None else ""
        lines.append(
            t.BLOCKED_LINE.format(
                name=u.enterprise or t.UNKNOWN_ENTERPRISE,
                channel=u.channel,
                chat_id=u.chat_id,
                reason=reason,
                when=at,
            )
        )
    return lines


def invite_failure_lines(session: Session, now: datetime) -> list[str]:
    """Chats that sent wrong invite codes repeatedly (storage/throttle.py); nothing when none."""
    throttle = InviteThrottle(session)
    found = throttle.repeated(now)
    if not found:
        return []
    days = throttle.limits.report_window.days
    lines = ["", t.INVITE_FAILURES_HEAD.format(days=days)]
    for f in found:
        lines.append(
            t.INVITE_FAILURES_LINE.format(
                channel=f.channel,
                chat_id=f.chat_id,
                count=f.count,
                when=f.last_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M"),
                bound=t.INVITE_FAILURES_BOUND if f.bound else "",
            )
        )
    return lines
