"""`nianjian reminders ...`: what will be sent until a date, a dispatch (or its dry run), and
the contacts who cannot be reached. Output in Chinese for the association's staff."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from bot.app import App
from dialogs.replies import reply_text
from dialogs.workdays import SHANGHAI
from reminders.holidays import estimated_warning
from reminders.render import describe, when
from reminders.runner import Message
from reminders.views import unreachable_lines


def _line(app: App, message: Message, *, text: bool) -> list[str]:
    assert app.schedule is not None
    o = message.occurrence
    who = message.name or "审核员"
    chats = "、".join(f"{r.channel}:{r.chat_id}" for r in message.recipients) or "（无联系人）"
    head = f"{when(o.due_at)}  {who}  {describe(o, app.schedule)}  → {chats}"
    if not text:
        return [head]
    body = reply_text(message.reply).replace("\n", "\n    ")
    return [head, f"    {body}"]


def list_reminders(app: App, until: date, *, text: bool = False) -> tuple[list[str], bool]:
    """Every reminder that will fall due from now to the end of `until` (Beijing time)."""
    runner = app.reminder_runner()
    end = datetime.combine(until + timedelta(days=1), time(0), SHANGHAI)
    # Due now but not sent yet (e.g. a kick-off notice of a cycle opened today), then what comes.
    messages = [*runner.preview(), *runner.upcoming(end)]
    lines = [f"到 {until.isoformat()} 为止将发送 {len(messages)} 条提醒："]
    for message in messages:
        lines.extend(_line(app, message, text=text))
    schedule = app.schedule
    assert schedule is not None
    warning = estimated_warning(schedule.calendar, schedule.calendar_years(), app.settings.holidays)
    if warning:
        lines.append(warning)
    return lines, True


def dispatch(app: App, *, dry_run: bool) -> tuple[list[str], bool]:
    """Sends what is due now (into the outbox: the running bot delivers it), or only shows it."""
    runner = app.reminder_runner()
    if dry_run:
        messages = runner.preview()
        lines = [f"（试运行，不发送）现在到期的提醒 {len(messages)} 条："]
        for message in messages:
            lines.extend(_line(app, message, text=True))
        return lines, True
    report = runner.dispatch()
    return [
        f"已发送 {report.sent} 条提醒（{report.messages} 条消息进入发送队列），"
        f"{report.obsolete} 条已失效，{report.superseded} 条被更新的提醒取代。"
    ], True


def blocked(app: App) -> tuple[list[str], bool]:
    with app.db.session() as session:
        return unreachable_lines(session), True
