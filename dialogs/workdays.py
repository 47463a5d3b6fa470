"""Chinese working days (statutory holidays and adjusted weekend work days) and Beijing dates.

The calendar is `dialogs.holidays.WorkCalendar`: the chinese-calendar package plus the holiday
notices the operator enters. These helpers take the calendar to use; without one they use the
package alone (a year it does not know counts Monday to Friday, see `WorkCalendar.estimated`)."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from dialogs.holidays import WorkCalendar
from dialogs.texts_reminders import ESTIMATED_MARK

# Times are stored in UTC and shown and scheduled in Beijing time.
SHANGHAI = ZoneInfo("Asia/Shanghai")

WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")

# The package alone: for callers that were handed no calendar (forms built for another year's
# export, tests). The running product hands the calendar built from both sources everywhere.
PACKAGE_ONLY = WorkCalendar()


def is_working_day(day: date, calendar: WorkCalendar | None = None) -> bool:
    return (calendar or PACKAGE_ONLY).is_working_day(day)


def add_working_days(day: date, count: int, calendar: WorkCalendar | None = None) -> date:
    """The `count`-th working day after `day` (count >= 1)."""
    return (calendar or PACKAGE_ONLY).add_working_days(day, count)


def chinese_date(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日（{WEEKDAYS[day.weekday()]}）"


def working_date(day: date, calendar: WorkCalendar | None = None) -> str:
    """A date computed in working days, as `chinese_date`, flagged when its year's holidays
    are in no source (the day was counted Monday to Friday)."""
    estimated = (calendar or PACKAGE_ONLY).estimated([day.year])
    mark = ESTIMATED_MARK.format(years=day.year) if estimated else ""
    return chinese_date(day) + mark
