"""Chinese working days (statutory holidays and adjusted weekend work days), from the
chinese-calendar package. A year it does not cover is a clear error naming the year, never a
silently wrong date."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

# Times are stored in UTC and shown and scheduled in Beijing time.
SHANGHAI = ZoneInfo("Asia/Shanghai")

WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")


class CalendarNotCovered(RuntimeError):
    def __init__(self, year: int) -> None:
        super().__init__(
            f"chinese-calendar has no holiday data for {year}; upgrade the chinesecalendar "
            "package before scheduling anything in that year"
        )
        self.year = year


def is_working_day(day: date) -> bool:
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError as error:
        raise CalendarNotCovered(day.year) from error


def add_working_days(day: date, count: int) -> date:
    """The `count`-th working day after `day` (count >= 1)."""
    current = day
    remaining = count
    while remaining > 0:
        current += timedelta(days=1)
        if is_working_day(current):
            remaining -= 1
    return current


def check_covered(*years: int) -> None:
    """Raises CalendarNotCovered for the first year the calendar does not know."""
    for year in years:
        is_working_day(date(year, 6, 1))


def chinese_date(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日（{WEEKDAYS[day.weekday()]}）"
