"""The composition root: builds the service from settings; tests call it with their own."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from bot.clock import Clock, SystemClock
from bot.declaration import register_font
from bot.service import ChatService
from bot.settings import Settings
from dialogs.form import build_form
from dialogs.holidays import WorkCalendar
from dialogs.spec import FormSpec
from dialogs.texts_cycle import FILE_WINS
from reminders.holidays import HolidayFiles, estimated_warning
from reminders.runner import Runner
from reminders.schedule import DEFAULT_SCHEDULE, Schedule, ScheduleError, load_schedule
from reminders.views import ReminderViews
from storage.db import Database
from storage.files import AttachmentStore


@dataclass(frozen=True)
class App:
    settings: Settings
    db: Database
    form: FormSpec
    service: ChatService
    schedule: Schedule | None = None
    holidays: HolidayFiles | None = field(default=None, compare=False)

    def reminder_runner(self) -> Runner:
        """The reminder runner on this app's database, form, clock and reviewers."""
        assert self.schedule is not None
        return Runner(
            self.db,
            self.form,
            self.schedule,
            self.service.clock,
            reviewers=self.service.configured_reviewers,
            refresh_calendar=self.holidays.refresh if self.holidays is not None else None,
        )


log = logging.getLogger(__name__)


def holiday_files(settings: Settings) -> HolidayFiles:
    """The holiday files of NIANJIAN_HOLIDAYS read and validated (HolidayFileError names a bad
    one: start-up stops there), and the calendar built from them and the package."""
    return HolidayFiles.load(settings.holidays)


def reminder_schedule(settings: Settings, calendar: WorkCalendar | None = None) -> Schedule:
    """The configured reminder schedule, checked at start-up: an invalid file or a schedule
    for another inspection year stop the bot before it serves anyone. A year whose holidays
    no source knows does not: see bot.cycle_admin.holiday_coverage_report."""
    schedule = load_schedule(settings.reminders_schedule, calendar)
    if schedule.year != settings.inspection_year:
        raise ScheduleError(
            f"the reminder schedule ({settings.reminders_schedule or DEFAULT_SCHEDULE}) is for "
            f"inspection year {schedule.year} but NIANJIAN_INSPECTION_YEAR is "
            f"{settings.inspection_year}: point NIANJIAN_REMINDERS_SCHEDULE at that year's schedule"
        )
    return schedule


def bootstrap(settings: Settings, clock: Clock | None = None) -> App:
    holidays = holiday_files(settings)
    schedule = reminder_schedule(settings, holidays.calendar)
    warning = estimated_warning(holidays.calendar, schedule.calendar_years(), settings.holidays)
    if warning:
        # Once per process, at start-up: what rests on working days of that year is estimated.
        log.warning("%s", warning)
    origins = {n.year: n.origin for n in holidays.calendar.notices}
    for year in holidays.calendar.overridden():
        # Both sources speak for that year: say which one is used.
        log.warning("%s", FILE_WINS.format(year=year, origin=origins[year]))
    db = Database.from_url(settings.database_url)
    form = build_form(settings.cycle(holidays.calendar))
    files = AttachmentStore(settings.attachments_dir, max_bytes=settings.max_upload_bytes)
    service = ChatService(
        db,
        form,
        clock or SystemClock(),
        files,
        reviewers=settings.reviewer_ids(),
        trial_channels=settings.trial_channel_names(),
        fonts=register_font(settings.pdf_font),
        invite_days=settings.invite_days,
        bot_username=(settings.telegram_bot_username or "").lstrip("@") or None,
        reminders=ReminderViews(schedule, settings.reviewer_ids(), settings.holidays),
    )
    return App(settings, db, form, service, schedule, holidays)
