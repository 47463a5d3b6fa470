"""Reminders through the running Telegram bot (the real python-telegram-bot Application against
tests/fake_telegram.py, on SQLite): APScheduler wakes the runner at the exact due time; a bot
stopped across a due time sends that reminder once, after the restart, worded for the delay;
a blocked user is recorded and listed for the reviewers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from pydantic import SecretStr

from bot.app import bootstrap
from bot.channels.telegram.adapter import COMMANDS, TelegramChannel
from bot.settings import Settings
from storage.db import Database
from storage.messaging import ChannelChats
from storage.migrate import upgrade
from storage.reminders import ReminderRepository
from tests.fake_telegram import FakeTelegram
from tests.reminder_fixtures import seed

T = TypeVar("T")
USER = 4242
TIMEOUT = 20.0


def bj(y: int, m: int, d: int, hh: int = 9, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=UTC) - timedelta(hours=8)


@dataclass
class ShiftedClock:
    """Real time moved to another moment: it runs, so APScheduler's wall-clock wake-up and
    the runner's idea of "now" agree, as in production."""

    offset: timedelta = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def set(self, moment: datetime) -> None:
        self.offset = moment - datetime.now(UTC)


def _settings(fake: FakeTelegram, tmp_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'nianjian.sqlite3'}",
        telegram_token=SecretStr(fake.token),
        telegram_base_url=fake.base_url,
        telegram_base_file_url=fake.base_file_url,
        attachments_dir=tmp_path / "files",
        telegram_poll_timeout=1,
        reviewers="telegram:9",
    )


@contextlib.asynccontextmanager
async def running(
    fake: FakeTelegram, tmp_path: Path, clock: ShiftedClock
) -> AsyncIterator[TelegramChannel]:
    """`nianjian run` as cli._run builds it: a new process's objects each time."""
    settings = _settings(fake, tmp_path)
    app = bootstrap(settings, clock)
    channel = TelegramChannel(
        app.service, settings, reminders=app.reminder_runner(), sweep_interval=0.5
    )
    await channel.start()
    try:
        yield channel
    finally:
        await channel.stop()
        app.db.dispose()


async def eventually(check: Callable[[], T], what: str) -> T:
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while not (result := check()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {TIMEOUT}s: {what}")
        await asyncio.sleep(0.05)
    return result


def _texts(fake: FakeTelegram) -> list[str]:
    return [m.body or "" for m in fake.messages_to(USER)]


def test_exact_wake_up_and_a_restart_across_a_due_time(tmp_path: Path) -> None:
    async def scenario(fake: FakeTelegram) -> None:
        settings = _settings(fake, tmp_path)
        upgrade(settings.database_url)
        db = Database.from_url(settings.database_url)
        seed(db, 1, now=bj(2025, 12, 1), status="complete", first_chat=USER)
        db.dispose()
        clock = ShiftedClock()

        # Two seconds before results day's 09:00: the start-up run finds nothing, and the
        # scheduler wakes the runner again at 09:00 exactly (the periodic run is 10 min away).
        clock.set(bj(2026, 3, 15) - timedelta(seconds=2))
        async with running(fake, tmp_path, clock) as bot:
            assert bot.reminders is not None
            await eventually(lambda: bot.reminders and bot.reminders.runs >= 1, "first run")
            assert _texts(fake) == []
            assert bot.reminders.next_at == bj(2026, 3, 15)
            await eventually(lambda: len(_texts(fake)) == 1, "the results reminder")
            assert _texts(fake)[0].startswith("【年检结果】2025年度年检结果已于2026年3月15日")
            assert "延迟" not in _texts(fake)[0]
            assert ("reminders", "我的提醒；续证办理后点「续证已办理」") in COMMANDS
            assert any(c["command"] == "reminders" for c in fake.commands)

        # Stopped from then until 17 April 10:00: the 30- and 14-day renewal reminders fell
        # due meanwhile. After the restart the latest goes out once, saying when it was due.
        clock.set(bj(2026, 4, 17, 10))
        async with running(fake, tmp_path, clock) as bot:
            await eventually(lambda: len(_texts(fake)) == 2, "the late renewal reminder")
            text = _texts(fake)[1]
            assert "还有14天" in text
            assert text.endswith(
                "（本提醒原定于2026年4月16日（周四）09:00发送，因系统暂停而延迟送达。）"
            )
            assert bot.reminders is not None
            report = await bot.reminders.wake()  # another wake-up: nothing more
            assert report.sent == 0
            await asyncio.sleep(0.5)
        async with running(fake, tmp_path, clock) as bot:
            await eventually(lambda: bot.reminders and bot.reminders.runs >= 1, "a run")
            await asyncio.sleep(0.5)
        assert len(_texts(fake)) == 2

        # The user blocks the bot: the next reminder meets 403, the chat is recorded as
        # blocked, and the reviewers see it.
        fake.block_user(USER)
        clock.set(bj(2026, 4, 23, 9, 1))
        async with running(fake, tmp_path, clock) as bot:

            def blocked() -> bool:
                with bot.service.db.session() as session:
                    return str(USER) in ChannelChats(session).blocked_chats("telegram")

            await eventually(blocked, "the chat recorded as blocked")
            with bot.service.db.session() as session:
                (found,) = ReminderRepository(session).unreachable()
            assert (found.chat_id, found.reason) == (str(USER), "blocked")
            fake.send_text(9, "/reminders")
            await eventually(lambda: fake.messages_to(9), "the reviewer's overview")
            assert f"telegram {USER}，已屏蔽机器人" in (fake.messages_to(9)[0].body or "")

    with FakeTelegram() as fake:
        asyncio.run(scenario(fake))
