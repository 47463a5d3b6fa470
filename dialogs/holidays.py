"""The Chinese working-day calendar, built from two sources: the chinese-calendar package for
the years it knows, and the State Council's holiday notices the operator enters as data files
(read at the edge, `reminders.holidays`) for the years it does not know yet. Where both speak,
the file wins.

A year in neither source is never an error: its working days are Monday to Friday, and every
caller that asks can learn which years were estimated (`estimated`) so that what rests on them
is flagged, never silent."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

import chinese_calendar


class Source(StrEnum):
    FILE = "file"  # a holiday notice entered by the operator
    PACKAGE = "package"  # the chinese-calendar package
    NONE = "none"  # neither: Monday to Friday, flagged


@dataclass(frozen=True, slots=True)
class Holiday:
    """One entry of the State Council's notice: a holiday, its days off and the adjusted
    weekend working days (调休上班) that go with it."""

    name: str
    days_off: tuple[date, ...]
    working_days: tuple[date, ...] = ()


@dataclass(frozen=True, slots=True)
class YearNotice:
    """The holiday arrangement of one year, and where it was read from."""

    year: int
    holidays: tuple[Holiday, ...]
    origin: str = ""

    def days_off(self) -> frozenset[date]:
        return frozenset(day for h in self.holidays for day in h.days_off)

    def working_days(self) -> frozenset[date]:
        return frozenset(day for h in self.holidays for day in h.working_days)


def package_knows(year: int) -> bool:
    """Whether the installed chinese-calendar has the holiday data of `year`."""
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


class WorkCalendar:
    """Working days from the notices entered and the package. One object is shared by the
    engine, the review workflow and the reminders of a process; `replace` swaps the notices
    when the files change (the reminders' wake-up re-reads them), so every reader follows."""

    def __init__(self, notices: Iterable[YearNotice] = (), *, package: bool = True) -> None:
        self._package = package
        self._package_years: dict[int, bool] = {}
        self.replace(notices)

    def replace(self, notices: Iterable[YearNotice]) -> None:
        by_year = {n.year: n for n in notices}
        self._notices = by_year
        self._off = {year: n.days_off() for year, n in by_year.items()}
        self._work = {year: n.working_days() for year, n in by_year.items()}

    @property
    def notices(self) -> tuple[YearNotice, ...]:
        return tuple(self._notices[year] for year in sorted(self._notices))

    def _package_knows(self, year: int) -> bool:
        if not self._package:
            return False
        known = self._package_years.get(year)
        if known is None:
            known = self._package_years[year] = package_knows(year)
        return known

    def source(self, year: int) -> Source:
        if year in self._notices:
            return Source.FILE
        if self._package_knows(year):
            return Source.PACKAGE
        return Source.NONE

    def overridden(self) -> tuple[int, ...]:
        """Years both sources know: the file's notice is the one used."""
        return tuple(year for year in sorted(self._notices) if self._package_knows(year))

    def estimated(self, years: Iterable[int]) -> tuple[int, ...]:
        """Those of `years` neither source knows (their working days are Monday to Friday)."""
        return tuple(sorted({y for y in years if self.source(y) is Source.NONE}))

    def is_working_day(self, day: date) -> bool:
        source = self.source(day.year)
        if source is Source.FILE:
            if day in self._work[day.year]:
                return True
            if day in self._off[day.year]:
                return False
            return day.weekday() < 5
        if source is Source.PACKAGE:
            return bool(chinese_calendar.is_workday(day))
        return day.weekday() < 5

    def add_working_days(self, day: date, count: int) -> date:
        """The `count`-th working day after `day` (count >= 1)."""
        current = day
        remaining = count
        while remaining > 0:
            current += timedelta(days=1)
            if self.is_working_day(current):
                remaining -= 1
        return current


def years_between(start: date, end: date) -> range:
    """The calendar years a walk from `start` to `end` crosses (for the estimated flag)."""
    return range(min(start.year, end.year), max(start.year, end.year) + 1)
