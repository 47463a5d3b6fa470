"""The working-day calendar from two sources: the chinese-calendar package and the holiday
notices the operator enters (validated files, the shipped template); a year in neither is
Monday to Friday and named, never an error; the file wins where both speak; files added or
changed later are read at the next refresh."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import chinese_calendar
import pytest

from bot.cycle_admin import holiday_coverage_report
from bot.settings import Settings
from dialogs.holidays import Holiday, Source, WorkCalendar, YearNotice, package_knows
from reminders.holidays import (
    EXAMPLE,
    HolidayFileError,
    HolidayFiles,
    estimated_warning,
    read_notice,
    read_notices,
)
from tests.fakes import NOTICE_2027


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_template_is_valid_and_equals_the_package_for_its_year() -> None:
    notice = read_notice(EXAMPLE)
    holidays = {d for d in chinese_calendar.constants.holidays if d.year == notice.year}
    workdays = {d for d in chinese_calendar.constants.workdays if d.year == notice.year}
    assert notice.days_off() == holidays
    assert notice.working_days() == workdays
    assert EXAMPLE.read_text(encoding="utf-8").startswith("# 节假日安排模板")


def test_a_year_in_no_source_is_monday_to_friday_and_named() -> None:
    year = 2100
    assert not package_knows(year)
    calendar = WorkCalendar()
    assert calendar.source(year) is Source.NONE
    # 2100-01-01 is a Friday: the next working day is Monday the 4th.
    assert calendar.add_working_days(date(year, 1, 1), 1) == date(year, 1, 4)
    assert calendar.estimated([2025, year]) == (year,)
    assert "⚠ 2100年的节假日安排尚未录入" in estimated_warning(calendar, [year], Path("h"))
    assert estimated_warning(calendar, [2025], Path("h")) == ""


def test_a_notice_file_adds_a_year_and_wins_where_both_speak(tmp_path: Path) -> None:
    write(tmp_path / "2027.toml", NOTICE_2027)
    # Both speak for 2026: the file moves National Day's make-up day (invented).
    write(
        tmp_path / "2026.toml",
        'year = 2026\n[[holidays]]\nname = "国庆节"\nfirst = 2026-10-01\nlast = 2026-10-08\n',
    )
    files = HolidayFiles.load(tmp_path)
    calendar = files.calendar
    assert calendar.source(2027) is Source.FILE
    assert calendar.source(2026) is Source.FILE and calendar.overridden() == (2026,)
    assert calendar.source(2025) is Source.PACKAGE
    # 2027: Spring Festival off, Saturday the 13th and Sunday the 14th worked.
    assert not calendar.is_working_day(date(2027, 2, 8))
    assert calendar.is_working_day(date(2027, 2, 13)) and calendar.is_working_day(date(2027, 2, 14))
    assert calendar.add_working_days(date(2027, 2, 4), 1) == date(2027, 2, 13)
    # The file wins for 2026: the package works on the 8th and on Saturday the 10th; not here.
    assert chinese_calendar.is_workday(date(2026, 10, 8)) is True
    assert not calendar.is_working_day(date(2026, 10, 8))
    assert not calendar.is_working_day(date(2026, 10, 10))
    assert calendar.estimated([2026, 2027]) == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('year = 2027\n[[holidays]]\nname = "元旦"\nfirst = 2026-12-31\n', "is not in 2027"),
        (
            'year = 2027\n[[holidays]]\nname = "A"\nfirst = 2027-05-01\nlast = 2027-05-03\n'
            '[[holidays]]\nname = "B"\nfirst = 2027-05-03\n',
            "appears twice",
        ),
        (
            'year = 2027\n[[holidays]]\nname = "A"\nfirst = 2027-05-01\n'
            "working_days = [2027-05-01]\n",
            "appears twice",
        ),
        (
            'year = 2027\n[[holidays]]\nname = "A"\nfirst = 2027-05-01\n'
            "working_days = [2027-05-06]\n",
            "is a weekday",
        ),
        (
            'year = 2027\n[[holidays]]\nname = "A"\nfirst = 2027-05-03\nlast = 2027-05-01\n',
            "before",
        ),
        ("year = 2027\nholidays = []\n", "holidays"),
        ('year = 2027\n[[holidays]]\nname = "A"\nfirst = 2027-05-01\ncolour = 1\n', "colour"),
        ("year = 2027\n[[holidays\n", "not valid TOML"),
    ],
)
def test_invalid_files_are_refused_naming_the_file_and_the_problem(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path / "bad.toml", text)
    with pytest.raises(HolidayFileError) as error:
        read_notices(tmp_path)
    assert str(path) in str(error.value) and message in str(error.value)


def test_two_files_for_one_year_are_refused(tmp_path: Path) -> None:
    write(tmp_path / "a.toml", NOTICE_2027)
    write(tmp_path / "b.toml", NOTICE_2027)
    with pytest.raises(HolidayFileError, match="both for 2027"):
        HolidayFiles.load(tmp_path)


def test_refresh_reads_a_file_added_later_and_keeps_the_last_good_one(tmp_path: Path) -> None:
    files = HolidayFiles.load(tmp_path / "holidays")  # not there yet: no year entered
    calendar = files.calendar
    assert calendar.source(2027) is Source.NONE and not files.refresh()
    # Monday to Friday: the 8th of February 2027 (a Monday) counts as a working day.
    assert calendar.is_working_day(date(2027, 2, 8))
    path = write(tmp_path / "holidays" / "2027.toml", NOTICE_2027)
    assert files.refresh()
    assert calendar.source(2027) is Source.FILE and not calendar.is_working_day(date(2027, 2, 8))
    assert not files.refresh()  # unchanged: not read again
    path.write_text("year = 2027\n", encoding="utf-8")  # broken meanwhile
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert not files.refresh()
    assert calendar.source(2027) is Source.FILE  # the last good notice stays


def test_coverage_report_for_doctor(tmp_path: Path) -> None:
    schedule = write(tmp_path / "s.toml", "year = 2026\n")
    settings = Settings(
        inspection_year=2026, reminders_schedule=schedule, holidays=tmp_path / "holidays"
    )
    report = holiday_coverage_report(settings)
    assert not report.blocking and report.estimated == (2027,)
    assert report.lines[:2] == ["节假日安排（2026、2027年）：", "✓ 2026年：chinese-calendar 软件包"]
    assert report.lines[2].startswith("⚠ 2027年：没有节假日数据，按周一至周五估算；请按通知填写 ")
    assert str(tmp_path / "holidays" / "2027.toml") in report.lines[2]
    write(tmp_path / "holidays" / "2027.toml", NOTICE_2027)
    report = holiday_coverage_report(settings)
    assert report.estimated == () and report.lines[2].startswith("✓ 2027年：节假日文件 ")
    write(tmp_path / "holidays" / "bad.toml", "year = 1\n")
    report = holiday_coverage_report(settings)
    assert report.blocking and report.lines[0].startswith("✗ 节假日文件有误")


def test_notices_are_plain_values() -> None:
    notice = YearNotice(2027, (Holiday("元旦", (date(2027, 1, 1),)),), "x")
    calendar = WorkCalendar([notice], package=False)
    assert calendar.source(2026) is Source.NONE  # the package switched off
    assert not calendar.is_working_day(date(2027, 1, 1))
    calendar.replace([])
    assert calendar.is_working_day(date(2027, 1, 1))  # a Friday, no notice any more


def test_start_up_says_which_source_wins_and_names_an_unknown_year(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.app import bootstrap

    write(
        tmp_path / "holidays" / "2026.toml",
        'year = 2026\n[[holidays]]\nname = "国庆节"\nfirst = 2026-10-01\nlast = 2026-10-08\n',
    )
    schedule = write(tmp_path / "s.toml", "year = 2026\n")
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'nj.sqlite3'}",
        attachments_dir=tmp_path / "files",
        inspection_year=2026,
        reminders_schedule=schedule,
        holidays=tmp_path / "holidays",
    )
    with caplog.at_level("WARNING"):
        app = bootstrap(settings)
    app.db.dispose()
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("节假日：2026年 chinese-calendar 和节假日文件 ") for m in messages)
    assert sum("⚠ 2027年的节假日安排尚未录入" in m for m in messages) == 1
    # The one calendar is what the form, the schedule and the runner read.
    assert app.form.cycle.calendar is app.schedule.calendar  # type: ignore[union-attr]
    assert not app.form.cycle.calendar.is_working_day(date(2026, 10, 8))


def test_a_date_counted_in_an_unknown_year_is_flagged_where_it_is_shown(tmp_path: Path) -> None:
    from dialogs.workdays import working_date

    calendar = HolidayFiles.load(tmp_path).calendar
    assert working_date(date(2026, 12, 3), calendar) == "2026年12月3日（周四）"
    assert (
        working_date(date(2027, 2, 8), calendar) == "2027年2月8日（周一）（2027年按周一至周五估算）"
    )
    write(tmp_path / "2027.toml", NOTICE_2027)
    assert HolidayFiles.load(tmp_path).calendar.estimated([2027]) == ()
