"""The inspection cycle: year Y and every date derived from it, plus the grade indicators.

Defaults follow DOMAIN.md; every value can be overridden by configuration, so a new cycle is
a settings change (`nianjian cycle open Y`), not a code change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum

from dialogs.holidays import WorkCalendar
from dialogs.workdays import PACKAGE_ONLY


class Grade(StrEnum):
    JIA = "甲"
    YI = "乙"
    BING = "丙"
    DING = "丁"


@dataclass(frozen=True, slots=True)
class Indicators:
    """Reference indicators per grade; None means the grade has no requirement."""

    technical_staff: dict[Grade, int | None] = field(
        default_factory=lambda: {Grade.JIA: 40, Grade.YI: 30, Grade.BING: 20, Grade.DING: 6}
    )
    certified_people: dict[Grade, int | None] = field(
        default_factory=lambda: {Grade.JIA: 12, Grade.YI: 8, Grade.BING: 5, Grade.DING: None}
    )
    three_year_value: dict[Grade, Decimal | None] = field(
        default_factory=lambda: {
            Grade.JIA: Decimal(3000),
            Grade.YI: Decimal(1000),
            Grade.BING: Decimal(500),
            Grade.DING: None,
        }
    )


@dataclass(frozen=True, slots=True)
class Cycle:
    year: int
    results_date: date
    renewal_deadline: date
    help_line: str = "0991-2301105"
    # When more projects than this are filed, only the largest ones need a contract file.
    project_files_required: int = 10
    indicators: Indicators = field(default_factory=Indicators)
    # The working-day calendar (the package plus the holiday files), shared with the reminders.
    calendar: WorkCalendar = field(default=PACKAGE_ONLY, compare=False, repr=False)

    @classmethod
    def for_year(
        cls,
        year: int,
        *,
        results_date: date | None = None,
        renewal_deadline: date | None = None,
        help_line: str = "0991-2301105",
        calendar: WorkCalendar = PACKAGE_ONLY,
    ) -> Cycle:
        return cls(
            year=year,
            results_date=results_date or date(year + 1, 3, 15),
            renewal_deadline=renewal_deadline or date(year + 1, 4, 30),
            help_line=help_line,
            calendar=calendar,
        )

    @property
    def window(self) -> tuple[int, int, int]:
        """The three years of the completion table and of new enterprises' business figures."""
        return (self.year - 2, self.year - 1, self.year)
