"""A due reminder as the message a contact or reviewer gets: what is due, by when (Beijing
dates with the weekday), how far the filing is, and buttons whose values the dialogs
understand (pressing one is the same as typing it)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from dialogs import texts_reminders as t
from dialogs.replies import Button, Choice
from dialogs.view import Status, View
from dialogs.workdays import SHANGHAI, chinese_date
from reminders.due import EnterpriseFacts, Kind, Occurrence, local_date
from reminders.schedule import Schedule

# Commands of the filing dialog (dialogs.commands) and of the service (reminders.views).
OVERVIEW = "总览"
CONTINUE = "继续"
SUBMIT = "提交"
DECLARATION = "申报表"
RENEWAL_DONE = "续证已办理"
REMINDERS = "/reminders"
# The reviewers' digest offers this many filings as buttons (all are listed in the text).
MAX_OPEN_BUTTONS = 8


def when(moment: datetime) -> str:
    """A Beijing date and time with the weekday: Y年M月D日（周四）09:00."""
    local = moment.astimezone(SHANGHAI)
    return f"{chinese_date(local.date())}{local:%H:%M}"


def enterprise_message(
    schedule: Schedule,
    o: Occurrence,
    e: EnterpriseFacts,
    now: datetime,
    view: View | None = None,
) -> Choice:
    """The reminder to an enterprise's contacts; `view` (the filing) for draft nudges."""
    year = schedule.year
    buttons: tuple[Button, ...]
    if o.kind is Kind.STAMPED:
        approved = chinese_date(local_date(e.approved_at or o.due_at))
        text = t.STAMPED.format(name=e.name, year=year, approved=approved, ordinal=o.ordinal)
        buttons = (Button(t.BTN_UPLOAD_STAMPED, OVERVIEW), Button(t.BTN_DECLARATION, DECLARATION))
    elif o.kind is Kind.RESULTS:
        text = t.RESULTS.format(
            year=year,
            date=chinese_date(schedule.results_date),
            note=schedule.results_note,
            name=e.name,
            status=t.STATUS_NAMES.get(e.status, e.status),
        )
        buttons = (Button(t.BTN_STATUS, OVERVIEW), Button(t.BTN_REMINDERS, REMINDERS))
    elif o.kind is Kind.RENEWAL:
        template = t.RENEWAL_TODAY if o.days_left == 0 else t.RENEWAL
        deadline = chinese_date(o.deadline or schedule.renewal_deadline)
        text = template.format(name=e.name, deadline=deadline, days=o.days_left)
        buttons = (Button(t.BTN_RENEWAL_DONE, RENEWAL_DONE), Button(t.BTN_REMINDERS, REMINDERS))
    elif o.kind is Kind.DRAFT:
        text, buttons = _draft(schedule, o, e, view)
    elif o.kind is Kind.KICKOFF:
        deadline = (
            t.KICKOFF_DEADLINE.format(deadline=chinese_date(o.deadline)) if o.deadline else ""
        )
        text = t.KICKOFF.format(
            name=e.name, year=year, first=year - 2, last=year - 1, deadline=deadline
        )
        buttons = (Button(t.BTN_START, CONTINUE), Button(t.BTN_REMINDERS, REMINDERS))
    else:
        raise ValueError(f"{o.kind} is not an enterprise reminder")
    return Choice(text + _late(o, now), buttons)


def _draft(
    schedule: Schedule, o: Occurrence, e: EnterpriseFacts, view: View | None
) -> tuple[str, tuple[Button, ...]]:
    percent = view.progress() if view is not None else 0
    lines = []
    if view is not None:
        for section in view.spec.sections:
            if not view.applies_section(section):
                continue
            state = view.section_state(section)
            if state.status is Status.DONE:
                continue
            items = [*state.missing[:3], *(p.message for p in state.problems[:2])]
            more = "等" if len(state.missing) > 3 else ""
            lines.append(
                t.DRAFT_MISSING_LINE.format(section=section.heading, items="、".join(items) + more)
            )
    ready = view is not None and not lines
    missing = t.DRAFT_READY if ready else t.DRAFT_MISSING.format(lines="\n".join(lines))
    if view is None:
        missing = t.DRAFT_MISSING.format(lines=t.STATUS_NAMES["draft"])
    template = t.DRAFT_TODAY if o.days_left == 0 else t.DRAFT
    text = template.format(
        name=e.name,
        year=schedule.year,
        deadline=chinese_date(o.deadline or local_date(o.due_at)),
        days=o.days_left,
        percent=percent,
        missing=missing,
    )
    if ready:
        return text, (Button(t.BTN_SUBMIT, SUBMIT), Button(t.BTN_MISSING, OVERVIEW))
    return text, (Button(t.BTN_MISSING, OVERVIEW), Button(t.BTN_CONTINUE, CONTINUE))


def review_message(
    schedule: Schedule,
    o: Occurrence,
    waiting: Mapping[int, EnterpriseFacts],
    now: datetime,
) -> Choice:
    """The reviewers' digest of submissions waiting too long; `waiting` by filing id."""
    days = schedule.review_overdue_working_days
    lines = []
    buttons = []
    for n, filing_id in enumerate(o.filing_ids, 1):
        e = waiting[filing_id]
        submitted = e.submitted_at or o.due_at
        expected = schedule.calendar.add_working_days(local_date(submitted), days)
        lines.append(
            t.REVIEW_LINE.format(
                n=n,
                name=e.name,
                grade=e.grade,
                version=e.version,
                submitted=when(submitted),
                expected=chinese_date(expected),
            )
        )
        if n <= MAX_OPEN_BUTTONS:
            buttons.append(Button(t.BTN_OPEN.format(name=e.name), f"打开 {filing_id}"))
    text = t.REVIEW.format(count=len(o.filing_ids), days=days, lines="\n".join(lines))
    return Choice(text + _late(o, now), tuple(buttons))


def describe(o: Occurrence, schedule: Schedule) -> str:
    """One line naming the reminder (for /reminders and `nianjian reminders list`)."""
    deadline = chinese_date(o.deadline) if o.deadline is not None else ""
    what = t.WHAT[o.kind.value].format(
        ordinal=o.ordinal, deadline=deadline, days=schedule.review_overdue_working_days
    )
    return what + estimated_mark(o.estimated)


def years_text(years: tuple[int, ...]) -> str:
    return "、".join(str(y) for y in years)


def estimated_mark(years: tuple[int, ...]) -> str:
    """The flag of a reminder whose day was computed Monday to Friday ("" when it was not)."""
    return t.ESTIMATED_MARK.format(years=years_text(years)) if years else ""


def _late(o: Occurrence, now: datetime) -> str:
    # The kick-off goes out at once when the cycle is opened after the send time: not late.
    if o.kind is Kind.KICKOFF and local_date(now) == local_date(o.due_at):
        return ""
    return t.LATE.format(due=when(o.due_at)) if o.late(now) else ""
