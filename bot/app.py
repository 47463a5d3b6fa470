"""The composition root: builds the service from settings; tests call it with their own."""

from __future__ import annotations

from dataclasses import dataclass

from bot.clock import Clock, SystemClock
from bot.declaration import register_font
from bot.service import ChatService
from bot.settings import Settings
from dialogs.form import build_form
from dialogs.spec import FormSpec
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

    def reminder_runner(self) -> Runner:
        """The reminder runner on this app's database, form, clock and reviewers."""
        assert self.schedule is not None
        return Runner(
            self.db,
            self.form,
            self.schedule,
            self.service.clock,
            reviewers=self.service.configured_reviewers,
        )


def reminder_schedule(settings: Settings) -> Schedule:
    """The configured reminder schedule, checked at start-up: an invalid file, a year that
    chinese-calendar does not cover (CalendarNotCovered names it) or a schedule for another
    inspection year stop the bot before it serves anyone."""
    schedule = load_schedule(settings.reminders_schedule)
    if schedule.year != settings.inspection_year:
        raise ScheduleError(
            f"the reminder schedule ({settings.reminders_schedule or DEFAULT_SCHEDULE}) is for "
            f"inspection year {schedule.year} but NIANJIAN_INSPECTION_YEAR is "
            f"{settings.inspection_year}: point NIANJIAN_REMINDERS_SCHEDULE at that year's schedule"
        )
    return schedule


def bootstrap(settings: Settings, clock: Clock | None = None) -> App:
    schedule = reminder_schedule(settings)
    db = Database.from_url(settings.database_url)
    form = build_form(settings.cycle())
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
        reminders=ReminderViews(schedule, settings.reviewer_ids()),
    )
    return App(settings, db, form, service, schedule)
