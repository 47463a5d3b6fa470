"""Holiday notices as data files: the State Council's yearly arrangement of statutory holidays
and adjusted weekend working days (调休上班), entered by the operator in the notice's shape and
validated by pydantic (dates inside the year, working days on weekends, no overlaps, no day
twice). `NIANJIAN_HOLIDAYS` names a file or a directory of `*.toml` files, one year each; the
shipped `holidays.example.toml` is the commented template.

`HolidayFiles` builds the `WorkCalendar` and re-reads the files when they change (the
reminders' wake-up calls `refresh`), so a year entered later corrects what is still to come."""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from dialogs.holidays import Holiday, WorkCalendar, YearNotice
from dialogs.texts_reminders import CALENDAR_ESTIMATED

log = logging.getLogger(__name__)

EXAMPLE = Path(__file__).resolve().parent / "holidays.example.toml"


class HolidayFileError(ValueError):
    """A holiday file is unreadable or invalid; the message names the file and the problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HolidayModel(_Strict):
    name: str = Field(min_length=1, max_length=20)
    # The days off, first to last (放假调休，共 N 天); `last` left out: one day.
    first: date
    last: date | None = None
    # The adjusted weekend working days of this holiday (调休上班).
    working_days: tuple[date, ...] = ()

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.last is not None and self.last < self.first:
            raise ValueError(f"{self.name}: last ({self.last}) is before first ({self.first})")
        return self

    def days_off(self) -> tuple[date, ...]:
        last = self.last or self.first
        return tuple(
            date.fromordinal(n) for n in range(self.first.toordinal(), last.toordinal() + 1)
        )


class NoticeModel(_Strict):
    year: int = Field(ge=2004, le=2100)
    # The notice itself, e.g. its title and number (shown by `nianjian cycle` and doctor).
    source: str = ""
    holidays: tuple[HolidayModel, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        seen: dict[date, str] = {}
        for holiday in self.holidays:
            for day in (*holiday.days_off(), *holiday.working_days):
                if day.year != self.year:
                    raise ValueError(
                        f"{holiday.name}: {day} is not in {self.year} "
                        "(a day of another year goes into that year's file)"
                    )
                if day in seen:
                    raise ValueError(f"{day} appears twice ({seen[day]}, {holiday.name})")
                seen[day] = holiday.name
            for day in holiday.working_days:
                if day.weekday() < 5:
                    raise ValueError(
                        f"{holiday.name}: working day {day} is a weekday; adjusted working "
                        "days (调休上班) fall on a Saturday or Sunday"
                    )
        return self

    def notice(self, origin: str) -> YearNotice:
        return YearNotice(
            self.year,
            tuple(Holiday(h.name, h.days_off(), h.working_days) for h in self.holidays),
            origin,
        )


def read_notice(path: Path) -> YearNotice:
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except OSError as error:
        raise HolidayFileError(f"holiday file {path}: {error.strerror or error}") from error
    except tomllib.TOMLDecodeError as error:
        raise HolidayFileError(f"holiday file {path} is not valid TOML: {error}") from error
    try:
        return NoticeModel.model_validate(data).notice(str(path))
    except ValidationError as error:
        raise HolidayFileError(f"holiday file {path} is invalid:\n{error}") from error


def notice_files(location: Path | None) -> list[Path]:
    """The holiday files at `location`: the file itself, or the directory's `*.toml` files; a
    location that does not exist has none (no year entered yet)."""
    if location is None or not location.exists():
        return []
    if location.is_dir():
        return sorted(p for p in location.glob("*.toml") if p.is_file())
    return [location]


def read_notices(location: Path | None) -> list[YearNotice]:
    notices: dict[int, YearNotice] = {}
    for path in notice_files(location):
        notice = read_notice(path)
        if notice.year in notices:
            raise HolidayFileError(
                f"holiday files {notices[notice.year].origin} and {path} are both for "
                f"{notice.year}: keep one"
            )
        notices[notice.year] = notice
    return [notices[year] for year in sorted(notices)]


@dataclass
class HolidayFiles:
    """The holiday files of `location` and the calendar built from them plus the package."""

    location: Path | None
    calendar: WorkCalendar
    _stamp: tuple[tuple[str, int, int], ...] = ()

    @classmethod
    def load(cls, location: Path | None) -> HolidayFiles:
        """Reads and validates every file (HolidayFileError names the first bad one)."""
        files = cls(location, WorkCalendar())
        files._stamp = files._current_stamp()
        files.calendar.replace(read_notices(location))
        return files

    def _current_stamp(self) -> tuple[tuple[str, int, int], ...]:
        stamp = []
        for path in notice_files(self.location):
            try:
                stat = path.stat()
            except OSError:
                continue
            stamp.append((str(path), stat.st_mtime_ns, stat.st_size))
        return tuple(stamp)

    def refresh(self) -> bool:
        """Re-reads the files when any was added, changed or removed; True when the calendar
        changed. A file made invalid meanwhile keeps the last good calendar (and logs why)."""
        stamp = self._current_stamp()
        if stamp == self._stamp:
            return False
        try:
            notices = read_notices(self.location)
        except HolidayFileError as error:
            log.error("holiday files unchanged in memory: %s", error)
            return False
        self._stamp = stamp
        self.calendar.replace(notices)
        log.info("holiday files re-read: %s", ", ".join(str(n.year) for n in notices) or "none")
        return True


def file_to_fill(location: Path, year: int) -> Path:
    """Where the notice of `year` goes: `<dir>/<year>.toml` (a single-file NIANJIAN_HOLIDAYS
    holds one year; its directory is the one to point at for more)."""
    folder = location.parent if location.suffix == ".toml" else location
    return folder / f"{year}.toml"


def estimated_warning(calendar: WorkCalendar, years: Iterable[int], location: Path) -> str:
    """The one-line warning of start-up, `nianjian reminders list` and the reviewers'
    /reminders: the years no source knows and the files to fill ("" when there are none)."""
    missing = calendar.estimated(years)
    if not missing:
        return ""
    files = "、".join(str(file_to_fill(location, y)) for y in missing)
    return CALENDAR_ESTIMATED.format(years="、".join(str(y) for y in missing), files=files)
