"""The Telegram bot under load: the filing bot beside a minimal echo bot, at the same time.

Each bot is a real process (`python -m bot.cli run` on a fresh SQLite file;
`python -m bench.echo_bot`) polling its own fake Bot API server, which runs with its simulated
users in a process of its own (`bench.fake_server`), so only the bots' CPU is counted. Both
bots get the same load at the same moment, so a noisy machine slows both alike and the CPU
ratio stays meaningful. Every user is the contact of an approved enterprise of its own (bound
as an invite binds it), sends `/start`, then types the scripted filing
(`tests/filing_script.py`) from section 2 on, refusals included, waiting for each reply; the
filing bot's replies are checked (refused exactly when the script says so).

Phases (both bots each time):
1. closed loop, `--users` users answering as soon as their reply arrives: updates/s, latency,
   CPU milliseconds per update (utime + stime of the bot over the window / replies in it);
2. open loop, 30 updates/s from those users: p99 latency;
3. 3,000 more contacts (1,000 with `--quick`) are given conversation state: the filing
   bot's database is seeded through the repositories (an enterprise, the binding, a filing
   with two answers, the conversation and its live buttons each, as the service writes
   them); then 30 updates/s from them: the p99 must stay within 2x of phase 2.

The fake servers do not rate-limit; the filing bot's own global pace is lifted with
NIANJIAN_TELEGRAM_RATE=100000 (its per-chat pace, a burst of 3 then 1 message/s, stays).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session
from stdnum.cn import uscc

from bench.fake_server import Phase, PhaseResult, Step, serve
from bench.report import Figure, Target, judged, percentile, table
from bot.clock import SystemClock
from bot.service import ChatService
from dialogs.cycle import Cycle
from dialogs.engine import Outcome
from dialogs.form import build_form
from dialogs.replies import Choice, Event, FileRequest, Start, TextIn
from storage.db import Database
from storage.enterprises import EnterpriseRepository
from storage.files import AttachmentStore
from storage.members import MemberRepository
from storage.messaging import ChannelChats
from storage.migrate import upgrade
from storage.repository import ConversationRepository, FilingRepository
from tests.filing_script import Bad, Upload, filing_script

ROOT = Path(__file__).resolve().parent.parent
ENTERPRISE = "新疆天山智联信息技术有限公司"  # every contact's enterprise is called this
CHANNEL = "telegram"
YEAR = 2025  # the bot's default NIANJIAN_INSPECTION_YEAR
BOT_RATE = "100000"
OPEN_RATE = 30.0
SEEDED, SEEDED_QUICK = 3000, 1000
SEED_ANSWERS = 2  # after /start: the contact's name and mobile number
TARGET_UPDATES = Target(100.0, at_least=True)
TARGET_CPU_RATIO = Target(1.5, at_least=False)
TARGET_P99_MS = Target(100.0, at_least=False)
STALL_FACTOR = 2.0
FIRST_USER = 10_001
FIRST_SEEDED = 500_001


@dataclass(frozen=True, slots=True)
class Plan:
    closed_warmup: float
    closed_window: float
    open_warmup: float
    open_window: float
    seeded: int

    @classmethod
    def for_run(cls, quick: bool) -> Plan:
        if quick:
            return cls(2.0, 5.0, 1.0, 5.0, SEEDED_QUICK)
        return cls(3.0, 15.0, 2.0, 15.0, SEEDED)


@dataclass
class BotResult:
    name: str
    closed: PhaseResult | None = None
    open_small: PhaseResult | None = None
    open_large: PhaseResult | None = None

    def phases(self) -> Iterator[tuple[str, PhaseResult]]:
        for label, phase in (
            ("closed loop", self.closed),
            ("30/s", self.open_small),
            ("30/s with the seeded contacts", self.open_large),
        ):
            if phase is not None:
                yield label, phase


@dataclass
class TelegramResult:
    users: int
    seeded: int
    filing: BotResult = field(default_factory=lambda: BotResult("filing"))
    echo: BotResult = field(default_factory=lambda: BotResult("echo"))
    seed_seconds: float = 0.0

    def figures(self) -> list[Figure]:
        f, e = self.filing.closed, self.echo.closed
        if f is None or e is None:
            return [Figure("telegram", "no result", "", "ERROR")]
        ratio = cpu_ms(f) / cpu_ms(e)
        figures = [
            judged(f"telegram filing bot, {self.users} users: updates/s", rate(f), ".0f",
                   TARGET_UPDATES),
            Figure(f"telegram echo bot, {self.users} users: updates/s", f"{rate(e):.0f}"),
            Figure("telegram CPU ms/update, filing / echo", f"{cpu_ms(f):.2f} / {cpu_ms(e):.2f}"),
            judged("telegram CPU/update, filing / echo (x)", ratio, ".2f", TARGET_CPU_RATIO),
            Figure("telegram latency p50/p95/p99, filing (ms)", spread(f)),
            Figure("telegram latency p50/p95/p99, echo (ms)", spread(e)),
        ]  # fmt: skip
        return figures + self._paced_figures()

    def _paced_figures(self) -> list[Figure]:
        small, large = self.filing.open_small, self.filing.open_large
        echo_small, echo_large = self.echo.open_small, self.echo.open_large
        if small is None or echo_small is None:
            return []
        # The echo bot's latencies in the same seconds tell noise from a stall of the bot.
        figures = [
            judged("telegram p99 at 30/s, filing (ms)", p99(small), ".1f", TARGET_P99_MS),
            Figure("telegram 30/s p50/p95/p99, filing | echo (ms)",
                   f"{spread(small, '.1f')} | {spread(echo_small, '.1f')}"),
            Figure("telegram CPU ms/update at 30/s, filing / echo",
                   f"{cpu_ms(small):.2f} / {cpu_ms(echo_small):.2f} "
                   f"({cpu_ms(small) / cpu_ms(echo_small):.2f}x)"),
        ]  # fmt: skip
        if large is None or echo_large is None:
            return figures
        stall = Target(STALL_FACTOR * p99(small), at_least=False)
        more = f"+{self.seeded:,} contacts"
        return [
            *figures,
            judged(f"telegram p99 at 30/s, {more} (ms, <= 2x)", p99(large), ".1f", stall),
            Figure(f"telegram {more} p50/p95/p99, filing | echo (ms)",
                   f"{spread(large, '.1f')} | {spread(echo_large, '.1f')}"),
            Figure(f"telegram {self.seeded:,} contacts seeded (s)", f"{self.seed_seconds:.1f}"),
        ]  # fmt: skip

    def notes(self) -> list[str]:
        notes = [
            f"telegram: NIANJIAN_TELEGRAM_RATE={BOT_RATE} for the filing bot (its own 30 msg/s "
            "pace lifted; its per-chat pace stays); the fake servers do not rate-limit"
        ]
        for bot in (self.filing, self.echo):
            for label, phase in bot.phases():
                if phase.missing or phase.skipped:
                    notes.append(
                        f"telegram {bot.name} {label}: {phase.missing} updates unanswered, "
                        f"{phase.skipped} open-loop ticks without an idle user"
                    )
                notes.extend(f"telegram {bot.name} {label}: {p}" for p in phase.problems[:5])
        return notes


def rate(phase: PhaseResult) -> float:
    return phase.replies_in_window / phase.window


def cpu_ms(phase: PhaseResult) -> float:
    return phase.cpu_seconds * 1000 / max(1, phase.replies_in_window)


def p99(phase: PhaseResult) -> float:
    return percentile(phase.latencies_ms, 99) if phase.latencies_ms else float("nan")


def spread(phase: PhaseResult, fmt: str = ".0f") -> str:
    if not phase.latencies_ms:
        return "-"
    return " / ".join(f"{percentile(phase.latencies_ms, p):{fmt}}" for p in (50, 95, 99))


# --- the script and the seeded contacts ----------------------------------------------------


def script() -> list[Step]:
    """/start, then the scripted filing as typed from section 2 to its first upload (a
    bound contact has section 1 from the registration; the script's first 确认 closes it)."""
    steps = [Step("/start")]
    typed = filing_script()
    for step in typed[typed.index("确认") + 1 :]:
        if isinstance(step, Upload):
            break
        steps.append(Step(step.text, refused=True) if isinstance(step, Bad) else Step(step))
    return steps


def credit_code(number: int) -> str:
    base = f"91650100MA7{number:06d}"
    return base + str(uscc.calc_check_digit(base))


def bind(session: Session, chat: str, number: int, now: datetime) -> int:
    """Makes the chat the contact of an approved enterprise of its own, as an invite does;
    returns the enterprise's filing."""
    enterprises = EnterpriseRepository(session)
    enterprise_id = enterprises.create_pending(
        ENTERPRISE, credit_code(number), "乙", "XJSI-2025-0088", YEAR, now
    )
    enterprises.activate(enterprise_id, now)
    MemberRepository(session).bind(CHANNEL, chat, enterprise_id, "invite", now)
    return enterprises.filing_for(enterprise_id, YEAR, now)


def bind_all(url: str, users: Sequence[int]) -> None:
    db = Database.from_url(url)
    try:
        with db.session() as session:
            for user in users:
                bind(session, str(user), user, datetime.now(UTC))
    finally:
        db.dispose()


def seeded_position(steps: Sequence[Step]) -> tuple[list[Event], int]:
    """The events a seeded contact has had (/start and SEED_ANSWERS accepted answers) and
    the index of its next step in the script."""
    events: list[Event] = [Start("")]
    for index, step in enumerate(steps[1:], start=1):
        if len(events) > SEED_ANSWERS:
            return events, index
        if not step.refused:
            events.append(TextIn(step.text))
    raise ValueError("the script is too short to seed")


def seed(url: str, chats: Sequence[str], events: Sequence[Event], files: Path) -> float:
    """Gives each chat (a user id) the state a contact of an enterprise of its own has after
    `events`: the turns are computed once by the service, then written for every chat
    through the same repositories `ChatService` uses (through the service itself, one by
    one, takes several times longer). Returns the seconds it took."""
    outcomes = _reference_turns(events, files)
    state = outcomes[-1].state.to_dict()
    db = Database.from_url(url)
    started = time.perf_counter()
    try:
        for start in range(0, len(chats), 100):
            with db.session() as session:
                for chat in chats[start : start + 100]:
                    _seed_chat(session, int(chat), outcomes, state)
                    session.expunge_all()  # a large identity map slows bulk UPDATEs
        # Contacts build up over weeks, not in one transaction: fold the seed's write-ahead
        # log into the database now rather than in the bot's first commit of the next phase.
        with db.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.dispose()
    return time.perf_counter() - started


def _reference_turns(events: Sequence[Event], files: Path) -> list[Outcome]:
    with tempfile.TemporaryDirectory(prefix="nj-seed-") as scratch:
        url = f"sqlite:///{Path(scratch) / 'seed.db'}"
        upgrade(url)
        db = Database.from_url(url)
        try:
            form = build_form(Cycle.for_year(YEAR))
            service = ChatService(db, form, SystemClock(), AttachmentStore(files))
            with db.session() as session:
                bind(session, "seed", 999_999, datetime.now(UTC))
            outcomes = []
            for event in events:
                outcome = service.handle(CHANNEL, "seed", event).outcome
                assert outcome is not None
                outcomes.append(outcome)
            return outcomes
        finally:
            db.dispose()


def _seed_chat(
    session: Session, user: int, outcomes: Sequence[Outcome], state: dict[str, Any]
) -> None:
    """What the service leaves behind for these turns: the binding, the answers, the
    conversation and the live buttons (the history of sent replies and processed updates
    is left out: a few rows per contact, it only cost seeding time)."""
    now, chat = datetime.now(UTC), str(user)
    filings, chats = FilingRepository(session), ChannelChats(session)
    filing_id = bind(session, chat, user, now)
    chats.seen(CHANNEL, chat, now)
    for outcome in outcomes:
        filings.apply(filing_id, outcome.changes, actor=f"{CHANNEL}:{chat}", now=now)
    for reply in outcomes[-1].replies:
        if isinstance(reply, Choice | FileRequest) and reply.options:
            options = [[b.label, b.value] for b in reply.options]
            chats.new_prompt(CHANNEL, chat, options, now)
    ConversationRepository(session).put(CHANNEL, chat, filing_id, state, now)


# --- processes -------------------------------------------------------------------------------


@dataclass
class Side:
    """One bot and its fake server process."""

    name: str
    conn: Connection
    server: multiprocessing.process.BaseProcess
    bot: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    def ask(self, command: str, argument: Any, timeout: float) -> Any:
        self.conn.send((command, argument))
        return self.answer(timeout)

    def answer(self, timeout: float) -> Any:
        if not self.conn.poll(timeout):
            raise TimeoutError(f"{self.name} fake server: no answer within {timeout:.0f} s")
        status, value = self.conn.recv()
        if status != "ok":
            raise RuntimeError(f"{self.name} fake server failed:\n{value}")
        return value

    def output(self) -> str:
        if self.log is None or not self.log.exists():
            return ""
        return self.log.read_text("utf-8", errors="replace")[-2000:]


def bot_env(base_url: str, base_file_url: str, extra: dict[str, str]) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("NIANJIAN_", "TELEGRAM_")) and k != "DATABASE_URL"
    }
    env.update(
        PYTHONPATH=str(ROOT),
        TELEGRAM_TOKEN="123456:bench",
        TELEGRAM_BASE_URL=base_url,
        TELEGRAM_BASE_FILE_URL=base_file_url,
        **extra,
    )
    return env


@contextmanager
def side(
    name: str, steps: list[Step], command: list[str], env: dict[str, str], workdir: Path
) -> Iterator[Side]:
    """A fake server process and the bot polling it; both are stopped on the way out."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    server = context.Process(
        target=serve, args=(child, "123456:bench", steps, name == "echo"), daemon=True
    )
    server.start()
    current = Side(name, parent, server)
    try:
        if not parent.poll(30):
            raise TimeoutError(f"{name} fake server did not start")
        base_url, base_file_url = parent.recv()
        current.log = workdir / f"{name}.log"
        with current.log.open("wb") as log:
            current.bot = subprocess.Popen(
                command,
                cwd=workdir,
                env=bot_env(base_url, base_file_url, env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        yield current
    finally:
        _stop(current)


def _stop(current: Side) -> None:
    if current.bot is not None and current.bot.poll() is None:
        current.bot.terminate()
        try:
            current.bot.wait(timeout=10)
        except subprocess.TimeoutExpired:
            current.bot.kill()
            current.bot.wait(timeout=10)
    with suppress(OSError):
        current.conn.send(("stop", None))
    current.server.join(timeout=10)
    if current.server.is_alive():
        current.server.kill()
        current.server.join(timeout=10)


def run_both(sides: Sequence[Side], phases: Sequence[Phase]) -> list[PhaseResult]:
    """The same phase on every side at the same moment."""
    for current, phase in zip(sides, phases, strict=True):
        current.conn.send(("run", phase))
    limit = max(p.warmup + p.window + p.drain for p in phases) + 60
    results: list[PhaseResult] = [current.answer(limit) for current in sides]
    return results


# --- the benchmark ---------------------------------------------------------------------------


def database_url(workdir: Path) -> str:
    return f"sqlite:///{workdir / 'nianjian.db'}"


def run(users: int = 200, quick: bool = False) -> TelegramResult:
    plan = Plan.for_run(quick)
    steps = script()
    result = TelegramResult(users, plan.seeded)
    with tempfile.TemporaryDirectory(prefix="nj-bench-telegram-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        upgrade(database_url(workdir))
        bind_all(database_url(workdir), range(FIRST_USER, FIRST_USER + users))
        filing_env = {
            "DATABASE_URL": database_url(workdir),
            "NIANJIAN_ATTACHMENTS_DIR": str(workdir / "files"),
            "NIANJIAN_TELEGRAM_RATE": BOT_RATE,
        }
        filing_bot = [sys.executable, "-m", "bot.cli", "run"]
        echo_bot = [sys.executable, "-m", "bench.echo_bot"]
        sides = (
            stack.enter_context(side("filing", steps, filing_bot, filing_env, workdir)),
            stack.enter_context(side("echo", steps, echo_bot, {}, workdir)),
        )
        try:
            for current in sides:
                current.ask("polling", 30.0, timeout=40)
            _phases(sides, result, plan, steps, workdir)
        except Exception as error:
            for current in sides:
                error.add_note(f"{current.name} bot output:\n{current.output()}")
            raise
    return result


def _phases(
    sides: tuple[Side, Side],
    result: TelegramResult,
    plan: Plan,
    steps: list[Step],
    workdir: Path,
) -> None:
    pids = [current.bot.pid for current in sides if current.bot is not None]
    crowd = tuple(range(FIRST_USER, FIRST_USER + result.users))
    seeded = tuple(range(FIRST_SEEDED, FIRST_SEEDED + plan.seeded))

    def closed(users: tuple[int, ...]) -> list[Phase]:
        return [Phase(True, users, plan.closed_warmup, plan.closed_window, pid) for pid in pids]

    def paced(users: tuple[int, ...]) -> list[Phase]:
        return [
            Phase(False, users, plan.open_warmup, plan.open_window, pid, OPEN_RATE) for pid in pids
        ]

    result.filing.closed, result.echo.closed = run_both(sides, closed(crowd))
    result.filing.open_small, result.echo.open_small = run_both(sides, paced(crowd))
    events, position = seeded_position(steps)
    chats = [str(user) for user in seeded]
    result.seed_seconds = seed(database_url(workdir), chats, events, workdir / "seed-files")
    for current in sides:
        current.ask("place", dict.fromkeys(seeded, position), timeout=30)
    result.filing.open_large, result.echo.open_large = run_both(sides, paced(seeded))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.telegram", description=__doc__)
    parser.add_argument("--users", type=int, default=200, help="closed-loop users (200)")
    parser.add_argument("--quick", action="store_true", help="short windows (about 30 s)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    result = run(args.users, args.quick)
    print(table(result.figures()))
    for note in result.notes():
        print(f"note: {note}")
    print(f"({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
