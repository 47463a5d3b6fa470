"""APScheduler only wakes the runner: every `check_every_minutes`, once right at start-up (what
fell due while the bot was down goes out now), and at the exact next due time. It keeps no
state of its own: each wake-up recomputes everything from the database, so a restart, a
second process or a changed filing never leaves a reminder behind in scheduler memory."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from dialogs.workdays import SHANGHAI
from reminders.runner import Report, Runner

log = logging.getLogger(__name__)

PERIODIC_JOB = "reminders-periodic"
NEXT_JOB = "reminders-next"
# Wake a moment after the due time, never before it (clocks of processes differ a little).
_SLACK = timedelta(seconds=1)

OnReport = Callable[[Report], Awaitable[None]]


class ReminderWakeup:
    def __init__(self, runner: Runner, on_report: OnReport | None = None) -> None:
        self.runner = runner
        self.on_report = on_report
        self.scheduler = AsyncIOScheduler(timezone=SHANGHAI)
        self._lock = asyncio.Lock()
        self.runs = 0
        self.next_at: datetime | None = None

    def start(self) -> None:
        """Needs the running event loop (call from a coroutine)."""
        minutes = self.runner.schedule.check_every_minutes
        self.scheduler.add_job(
            self.wake,
            "interval",
            minutes=minutes,
            id=PERIODIC_JOB,
            next_run_time=datetime.now(SHANGHAI),
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,
        )
        self.scheduler.start()

    async def stop(self) -> None:
        if self.scheduler.running:
            # A run in progress finishes first: shutting down cancels it, and the scheduler
            # logs the cancellation as a failed job with its traceback.
            async with self._lock:
                self.scheduler.shutdown(wait=False)
            await asyncio.sleep(0)  # AsyncIOScheduler shuts down in a loop callback

    async def wake(self) -> Report:
        """One run of the runner; then the exact wake-up for the next due time is armed."""
        async with self._lock:
            try:
                report = await asyncio.to_thread(self.runner.dispatch)
                self.runs += 1
                self._arm(await asyncio.to_thread(self.runner.next_due))
            except Exception:  # the next wake-up tries again; nothing was half-sent
                log.exception("reminder run failed")
                return Report()
        if self.on_report is not None:
            await self.on_report(report)
        return report

    def _arm(self, due: datetime | None) -> None:
        self.next_at = due
        if due is None or not self.scheduler.running:
            return
        # The runner's clock decides what is due; the scheduler counts in wall-clock time.
        delay = max(due - self.runner.clock.now(), timedelta(0)) + _SLACK
        self.scheduler.add_job(
            self.wake,
            "date",
            run_date=datetime.now(SHANGHAI) + delay,
            id=NEXT_JOB,
            replace_existing=True,
            misfire_grace_time=None,
        )
