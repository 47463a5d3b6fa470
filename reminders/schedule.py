"""The reminder schedule as data: a TOML file (shipped default: reminders/schedule.toml, the
seed's cycle; `nianjian cycle open Y` writes the next ones) validated by a pydantic model
into a frozen `Schedule`.

The schedule carries the working-day calendar its reminders are computed on (the package plus
the holiday files, `reminders.holidays`); a year neither knows is not an error: what rests on
its working days is computed Monday to Friday and flagged (`Occurrence.estimated`)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from datetime import date, time
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dialogs.holidays import WorkCalendar
from dialogs.workdays import PACKAGE_ONLY

DEFAULT_SCHEDULE = Path(__file__).resolve().parent / "schedule.toml"

_Days = Annotated[int, Field(ge=0, le=366)]
# The TOML tables have a key named "date": the type needs another name inside those models.
_Date = date


class ScheduleError(ValueError):
    """The schedule file is missing, unreadable or invalid; the message names the file."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Stamped(_Strict):
    working_days: tuple[Annotated[int, Field(ge=1, le=60)], ...] = (1, 3, 7)
    then_every_days: int = Field(7, ge=1, le=60)


class _Results(_Strict):
    date: _Date | None = None
    note: str = ""


class _Renewal(_Strict):
    deadline: date | None = None
    days_before: tuple[_Days, ...] = (30, 14, 7, 3, 1, 0)


class _Review(_Strict):
    overdue_working_days: int = Field(1, ge=1, le=30)


class _FilingDeadline(_Strict):
    date: _Date | None = None
    days_before: tuple[_Days, ...] = (14, 7, 3, 1)


class _Kickoff(_Strict):
    # The day the cycle's kick-off notice goes out (at the send time, or at once when the
    # cycle is opened later that day); off unless set.
    date: _Date | None = None


class ScheduleModel(_Strict):
    year: int = Field(ge=2004, le=2100)
    send_time: time = time(9, 0)
    check_every_minutes: int = Field(10, ge=1, le=24 * 60)
    stamped_form: _Stamped = _Stamped()
    results: _Results = _Results()
    renewal: _Renewal = _Renewal()
    review: _Review = _Review()
    filing_deadline: _FilingDeadline = _FilingDeadline()
    kickoff: _Kickoff = _Kickoff()

    @field_validator("send_time", mode="before")
    @classmethod
    def _clock_time(cls, value: object) -> object:
        # TOML has a local-time type, but "09:00" as a string is what people write.
        return time.fromisoformat(value) if isinstance(value, str) else value


@dataclass(frozen=True, slots=True)
class Schedule:
    """Every reminder date and cadence of inspection year `year` (Beijing dates and time)."""

    year: int
    send_time: time
    results_date: date
    results_note: str
    renewal_deadline: date
    renewal_days_before: tuple[int, ...]
    stamped_working_days: tuple[int, ...]
    stamped_then_every_days: int
    review_overdue_working_days: int
    filing_deadline: date | None = None
    draft_days_before: tuple[int, ...] = (14, 7, 3, 1)
    check_every_minutes: int = 10
    # Optional kick-off notice of the cycle to every bound contact (`nianjian cycle open`).
    kickoff_date: date | None = None
    calendar: WorkCalendar = field(default=PACKAGE_ONLY, compare=False, repr=False)

    @classmethod
    def from_model(cls, model: ScheduleModel) -> Schedule:
        y = model.year
        return cls(
            year=y,
            send_time=model.send_time,
            results_date=model.results.date or date(y + 1, 3, 15),
            results_note=model.results.note,
            renewal_deadline=model.renewal.deadline or date(y + 1, 4, 30),
            renewal_days_before=tuple(sorted(set(model.renewal.days_before), reverse=True)),
            stamped_working_days=tuple(sorted(set(model.stamped_form.working_days))),
            stamped_then_every_days=model.stamped_form.then_every_days,
            review_overdue_working_days=model.review.overdue_working_days,
            filing_deadline=model.filing_deadline.date,
            draft_days_before=tuple(sorted(set(model.filing_deadline.days_before), reverse=True)),
            check_every_minutes=model.check_every_minutes,
            kickoff_date=model.kickoff.date,
        )

    @classmethod
    def for_year(cls, year: int, **overrides: object) -> Schedule:
        """The defaults of DOMAIN.md for year Y (tests and the config file start here)."""
        return cls.from_model(ScheduleModel.model_validate({"year": year, **overrides}))

    def calendar_years(self) -> tuple[int, ...]:
        """The years the schedule needs working days of: Y (submissions, approvals) and Y+1
        (the filing season, the stamped-form cadence), and the years of its dates."""
        years = {self.year, self.year + 1, self.results_date.year, self.renewal_deadline.year}
        if self.filing_deadline is not None:
            years.add(self.filing_deadline.year)
        return tuple(sorted(years))


def load_schedule(path: Path | None = None, calendar: WorkCalendar | None = None) -> Schedule:
    """The schedule in `path` (default: the shipped reminders/schedule.toml), computed on
    `calendar` (default: the chinese-calendar package alone)."""
    path = path or DEFAULT_SCHEDULE
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except OSError as error:
        raise ScheduleError(f"reminder schedule {path}: {error.strerror or error}") from error
    except tomllib.TOMLDecodeError as error:
        raise ScheduleError(f"reminder schedule {path} is not valid TOML: {error}") from error
    try:
        model = ScheduleModel.model_validate(data)
    except ValidationError as error:
        raise ScheduleError(f"reminder schedule {path} is invalid:\n{error}") from error
    schedule = Schedule.from_model(model)
    return schedule if calendar is None else replace(schedule, calendar=calendar)
