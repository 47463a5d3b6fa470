"""A broadcast of due reminders through the production bot and a rate-limited fake Bot API.

`N` enterprises (5,000; `--quick`: 1,000) have filed, each with one bound Telegram chat, and
the results announcement is due for all of them. The bot runs as in production (`python -m
bot.cli run`, a migrated SQLite file): at start-up APScheduler wakes the reminder runner, which
records and queues the N reminders; the sender delivers them. The fake server
(tests/fake_telegram.py, in a process of its own) enforces Telegram's limit of 30 messages/s
(any sliding second) and per chat a burst of 3 then one a second, answering 429 with
retry_after beyond them.

Figures: reminders lost (a chat that got none) and duplicated (a chat that got more than one),
both must be 0; the sustained rate, accepted messages over the time from the first to the last,
against >= 85 % of the limit; the 429 answers. Alone: `PYTHONPATH=. python -m bench.reminders
[--count N] [--quick]`.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bench.report import Figure, Target, judged
from bench.telegram import bot_env
from dialogs.workdays import SHANGHAI
from storage.db import Database
from storage.migrate import upgrade
from tests.fake_telegram import FakeTelegram, JSONDict
from tests.reminder_fixtures import seed

LIMIT = 30.0  # messages per second, Telegram's broadcast limit and the fake's enforcement
TARGET_SHARE = 0.85
FIRST_CHAT = 7_000_000
TOKEN = "123456:bench"


class CountingFake(FakeTelegram):
    """Records the time (monotonic) and chat of every accepted sendMessage."""

    def __init__(self) -> None:
        super().__init__(TOKEN, validate_formatting=False)
        self.accepted: list[tuple[float, str]] = []

    def _m_send_message(self, params: JSONDict, uploads: list[Any]) -> JSONDict:
        message = super()._m_send_message(params, uploads)
        self.accepted.append((time.monotonic(), str(params.get("chat_id"))))
        return message


def serve(conn: Connection) -> None:
    """The fake server's process: answers "count" and "result" until "stop"."""
    try:
        fake = CountingFake()
        fake.start()
        fake.rate_limit(per_second=LIMIT, per_chat_per_second=1.0, burst=3)
        conn.send((fake.base_url, fake.base_file_url))
        while True:
            command = conn.recv()
            if command == "count":
                conn.send(len(fake.accepted))
            elif command == "result":
                conn.send((list(fake.accepted), fake.rejected_429))
            else:
                break
        fake.stop()
    except Exception:
        conn.send(("error", traceback.format_exc()))


@dataclass
class BroadcastResult:
    count: int
    accepted: int = 0
    lost: int = 0
    duplicated: int = 0
    rejected_429: int = 0
    seconds: float = 0.0  # from the first accepted message to the last
    rate: float = 0.0
    start_to_first: float = 0.0  # bot start to the first reminder delivered
    problems: list[str] = field(default_factory=list)

    def figures(self) -> list[Figure]:
        n = f"{self.count:,}"
        return [
            judged(f"reminders broadcast, {n}: lost", self.lost, ".0f", Target(0, False)),
            judged(
                f"reminders broadcast, {n}: duplicated", self.duplicated, ".0f", Target(0, False)
            ),
            judged(
                f"reminders broadcast, sustained msg/s (limit {LIMIT:.0f})",
                self.rate,
                ".1f",
                Target(LIMIT * TARGET_SHARE, True),
            ),
            Figure(
                "reminders broadcast: 429 answers, seconds",
                f"{self.rejected_429}, {self.seconds:.0f} s",
            ),
            Figure(
                "reminders broadcast: bot start to first delivery", f"{self.start_to_first:.1f} s"
            ),
        ]


def _schedule(path: Path) -> Path:
    """The 2025 cycle with its results announced today (Beijing) at 00:00: due for everyone
    now. The renewal deadline (after which the results reminder is stale) is today too, with
    no countdown, so nothing else falls due."""
    today = datetime.now(SHANGHAI).date()
    path.write_text(
        "year = 2025\n"
        'send_time = "00:00"\n'
        f"[results]\ndate = {today.isoformat()}\n"
        f"[renewal]\ndeadline = {today.isoformat()}\ndays_before = []\n"
    )
    return path


def run(count: int = 5000, quick: bool = False) -> BroadcastResult:
    count = 1000 if quick and count == 5000 else count
    result = BroadcastResult(count)
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    server = context.Process(target=serve, args=(child,), daemon=True)
    server.start()
    bot: subprocess.Popen[bytes] | None = None
    with tempfile.TemporaryDirectory(prefix="nj-bench-reminders-") as tmp:
        workdir = Path(tmp)
        url = f"sqlite:///{workdir / 'nianjian.db'}"
        try:
            upgrade(url)
            db = Database.from_url(url)
            seed(db, count, now=datetime.now(UTC) - timedelta(days=40), first_chat=FIRST_CHAT)
            db.dispose()
            if not parent.poll(30):
                raise TimeoutError("fake server did not start")
            urls = parent.recv()
            if urls[0] == "error":
                raise RuntimeError(urls[1])
            env = bot_env(
                urls[0],
                urls[1],
                {
                    "DATABASE_URL": url,
                    "NIANJIAN_ATTACHMENTS_DIR": str(workdir / "files"),
                    "NIANJIAN_REMINDERS_SCHEDULE": str(_schedule(workdir / "schedule.toml")),
                },
            )
            log = (workdir / "bot.log").open("wb")
            started = time.monotonic()
            bot = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "run"],
                cwd=workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
            _wait_for(parent, bot, count, started + 60 + 2 * count / LIMIT)
            parent.send("result")
            accepted, result.rejected_429 = parent.recv()
            _measure(result, accepted, started)
            if bot.poll() is not None:
                result.problems.append(
                    f"the bot exited ({bot.returncode}):\n"
                    + (workdir / "bot.log").read_text("utf-8", errors="replace")[-2000:]
                )
        finally:
            if bot is not None and bot.poll() is None:
                bot.terminate()
                try:
                    bot.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    bot.kill()
                    bot.wait(timeout=10)
            with contextlib.suppress(OSError):
                parent.send("stop")
            server.join(timeout=10)
            if server.is_alive():
                server.kill()
    return result


def _wait_for(conn: Connection, bot: subprocess.Popen[bytes], count: int, deadline: float) -> None:
    """Until the server accepted `count` messages (or the deadline, or the bot died), then a
    few seconds more: anything sent twice would show up then."""
    while time.monotonic() < deadline and bot.poll() is None:
        conn.send("count")
        if conn.recv() >= count:
            break
        time.sleep(1.0)
    time.sleep(3.0)


def _measure(result: BroadcastResult, accepted: list[tuple[float, str]], started: float) -> None:
    per_chat = Counter(chat for _t, chat in accepted)
    wanted = {str(FIRST_CHAT + i) for i in range(result.count)}
    result.accepted = len(accepted)
    result.lost = len(wanted - set(per_chat))
    result.duplicated = sum(n - 1 for n in per_chat.values() if n > 1)
    stray = set(per_chat) - wanted
    if stray:
        result.problems.append(f"messages to {len(stray)} chats that were not seeded")
    if len(accepted) >= 2:
        times = sorted(t for t, _chat in accepted)
        result.seconds = times[-1] - times[0]
        result.rate = (len(times) - 1) / result.seconds if result.seconds else 0.0
        result.start_to_first = times[0] - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reminders", description=__doc__)
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--quick", action="store_true", help="1,000 reminders instead of 5,000")
    args = parser.parse_args(argv)
    result = run(args.count, args.quick)
    for figure in result.figures():
        print(f"{figure.label}: {figure.measured} {figure.target} {figure.verdict}")
    for problem in result.problems:
        print(f"note: {problem}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
