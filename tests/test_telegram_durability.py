"""The Telegram bot as a real process, killed with SIGKILL under concurrent use.

Twenty contacts, each of an enterprise of its own (registered and approved, with an invite
code), open the bot with `/start CODE` and file at the same time through the fake Bot API
server (in this process) while `python -m bot.cli run` serves them from a subprocess. The bot
is killed while some answers are in flight, then started again. Every acknowledged answer must
be in the database, every conversation must resume at the question after its last stored
answer, and no update may be answered twice: an answer in flight at the kill is stored if and
only if it is answered, exactly once, before or after the restart. After the kill every
user's last answered update is delivered again, as Telegram does with updates a dead bot took
but never confirmed: it must be recognised and not answered again. An update the bot had
taken and confirmed but not yet handled is in its inbox and is handled after the restart:
every update sent gets its answer.

One repeat cannot be avoided and is allowed, narrowly: a reply the server accepted in the
instant before the kill, whose outbox item the bot had not yet marked as sent, goes out again
after the restart (delivery is at least once: the Bot API has no idempotent send). The test
finds those items in the database right after the kill, requires that the server received
them at most `RESEND_WINDOW` before it, and allows one identical repeat of each, no more.

What each prefix of the conversation leaves behind (answers, conversation state, replies)
comes from the same events played through the service in memory, so the test follows the
form and the onboarding wherever they go.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from stdnum.cn import uscc

from dialogs import texts
from dialogs.cycle import Cycle
from dialogs.form import build_form
from dialogs.model import Key, Value
from dialogs.replies import Event, Start, TextIn, reply_text
from dialogs.state import ConvState, Mode
from dialogs.texts_delivery import CONTINUATION
from storage.db import Database
from storage.enterprises import EnterpriseRepository
from storage.invites import InviteRepository, new_code
from storage.messaging import Outbox
from storage.migrate import upgrade
from storage.repository import ConversationRepository, FilingRepository
from tests.fake_telegram import FakeTelegram, SentMessage
from tests.fakes import make_service
from tests.filing_script import filing_script

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX only")

ROOT = Path(__file__).resolve().parent.parent
CHANNEL = "telegram"
TOKEN = "fake.token"
TIMEOUT = 15.0  # for any single wait; the whole test takes about 10 s
USERS = range(7001, 7021)
# What the enterprises registered (each with a credit code of its own).
NAME, GRADE, CERT_NUMBER, FIRST_YEAR = "新疆天山智联信息技术有限公司", "乙", "XJSI-2025-0088", 2025
CREDIT_CODE = Key("enterprise.credit_code")
# A reply that reached the server longer than this before the kill must be marked as sent.
RESEND_WINDOW = 0.25
SAVED = texts.SAVED.split("{label}")[0]  # "✓ 已保存 "
SAVED_LABEL = re.compile(re.escape(SAVED) + r"(.+?)：")
FORM = build_form(Cycle.for_year(2025))


def typed_steps() -> list[str]:
    """The scripted filing's answers after section 1, typed, refusals left out: a bound chat
    has section 1 from the registration (the script's first 确认 closes that section)."""
    script = filing_script()
    return [step for step in script[script.index("确认") + 1 :] if isinstance(step, str)][:12]


STEPS = typed_steps()


def answers_planned(user: int) -> int:
    """3 to 9 answers, different from one user to the next."""
    return 3 + (user - USERS[0]) % 7


def credit_code(number: int) -> str:
    base = f"91650100MA7{number:06d}"
    return base + str(uscc.calc_check_digit(base))


def register(db: Database, numbers: range) -> dict[int, str]:
    """An approved enterprise per number, with an invite code each."""
    now = datetime.now(UTC)
    codes: dict[int, str] = {}
    with db.session() as session:
        enterprises, invites = EnterpriseRepository(session), InviteRepository(session)
        for number in numbers:
            code = credit_code(number)
            eid = enterprises.create_pending(NAME, code, GRADE, CERT_NUMBER, FIRST_YEAR, now)
            assert enterprises.activate(eid, now)
            codes[number] = invites.issue(eid, now, timedelta(days=1), new_code())
    return codes


# --- what each prefix of the conversation leaves behind ------------------------------------


@dataclass(frozen=True)
class Prefix:
    """After the first e events (`/start CODE`, then the steps); e = 0: nothing yet."""

    answers: dict[Key, Value]  # the credit code left out: it differs per enterprise
    state: dict[str, Any]
    replies: tuple[str, ...]  # to the e-th event


@dataclass(frozen=True)
class Reference:
    prefixes: list[Prefix]  # indexed by the number of events
    restart_replies: int  # how many replies a bound chat's /start gets


def reference(tmp_path: Path) -> Reference:
    url = f"sqlite:///{tmp_path / 'reference.db'}"
    upgrade(url)
    db = Database.from_url(url)
    try:
        code = register(db, range(1, 2))[1]
        service = make_service(db, tmp_path / "reference-files")
        events: list[Event] = [Start(code), *(TextIn(step) for step in STEPS)]
        prefixes = [Prefix({}, {}, ())]
        for event in events:
            turn = service.handle(CHANNEL, "reference", event, queue=True)
            replies = tuple(reply_text(reply) for reply in turn.replies)
            assert turn.filing_id is not None and replies, (event, turn)
            assert not replies[0].startswith("✗"), (event, replies)
            prefixes.append(Prefix(*stored_in(db, "reference"), replies))
        restart = service.handle(CHANNEL, "reference", Start(""), queue=True)
        return Reference(prefixes, len(restart.replies))
    finally:
        db.dispose()


def stored_in(db: Database, chat_id: str) -> tuple[dict[Key, Value], dict[str, Any]]:
    with db.session() as session:
        conversation = ConversationRepository(session).get(CHANNEL, chat_id)
        assert conversation is not None and conversation.filing_id is not None, chat_id
        filing = FilingRepository(session).load(conversation.filing_id)
    values = {key: answer.value for key, answer in filing.answers.items() if key != CREDIT_CODE}
    return values, conversation.state


def pending_marker(state: dict[str, Any]) -> str:
    """What a prompt in this state must show: the question's label or the section summary."""
    conv = ConvState.from_dict(state)
    if conv.mode is Mode.ASK:
        return FORM.field(conv.field).label
    assert conv.mode is Mode.SUMMARY, state
    return texts.SUMMARY_HEAD.format(section=FORM.section(conv.section).heading)


def saved_key(prefixes: list[Prefix], events: int) -> Key:
    """The one answer that the `events`-th event stores."""
    before, after = prefixes[events - 1].answers, prefixes[events].answers
    changed = [key for key in after if before.get(key) != after[key]]
    assert len(changed) == 1, (events, changed)
    return changed[0]


# --- the bot process -----------------------------------------------------------------------


def bot_env(tmp_path: Path, fake: FakeTelegram | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("NIANJIAN_", "TELEGRAM_")) and k != "DATABASE_URL"
    }
    env.update(
        PYTHONPATH=str(ROOT),
        DATABASE_URL=f"sqlite:///{tmp_path / 'nj.db'}",
        NIANJIAN_ATTACHMENTS_DIR=str(tmp_path / "files"),
        NIANJIAN_TELEGRAM_POLL_TIMEOUT="1",
        PYTHONUNBUFFERED="1",
    )
    if fake is not None:
        env.update(
            TELEGRAM_TOKEN=TOKEN,
            TELEGRAM_BASE_URL=fake.base_url,
            TELEGRAM_BASE_FILE_URL=fake.base_file_url,
        )
    return env


@dataclass
class Bot:
    proc: subprocess.Popen[bytes]
    log: Path
    killed_at: float = 0.0

    def output(self) -> str:
        return self.log.read_text("utf-8", errors="replace")[-3000:]

    def kill(self) -> None:
        self.killed_at = time.monotonic()
        self.proc.kill()
        assert self.proc.wait(timeout=TIMEOUT) == -signal.SIGKILL, self.output()


@pytest.fixture
def database(tmp_path: Path) -> Database:
    """The bot's database, migrated by the command line; disposed of after the test."""
    migrated = subprocess.run(
        [sys.executable, "-m", "bot.cli", "db", "upgrade"],
        cwd=tmp_path,
        env=bot_env(tmp_path),
        capture_output=True,
        timeout=TIMEOUT * 2,
        check=False,
    )
    assert migrated.returncode == 0, migrated.stderr.decode("utf-8", "replace")
    return Database.from_url(f"sqlite:///{tmp_path / 'nj.db'}")


@pytest.fixture
def spawn(tmp_path: Path, database: Database) -> Iterator[Callable[[FakeTelegram], Bot]]:
    """Starts bots in tmp_path; any still running at the end is killed."""
    bots: list[Bot] = []

    def start(fake: FakeTelegram) -> Bot:
        log = tmp_path / f"bot-{len(bots) + 1}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "run"],
                cwd=tmp_path,
                env=bot_env(tmp_path, fake),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
            )
        bots.append(Bot(proc, log))
        return bots[-1]

    try:
        yield start
    finally:
        for bot in bots:
            if bot.proc.poll() is None:
                bot.proc.kill()
                bot.proc.wait(timeout=TIMEOUT)
        database.dispose()


# --- the users -----------------------------------------------------------------------------


def shown(message: SentMessage) -> str:
    """The message without the note a reply re-sent after the restart starts with (what a
    chat was owed is its current question, said to be a continuation)."""
    text = message.text or ""
    return text.removeprefix(CONTINUATION + "\n")


@dataclass(frozen=True)
class Awaited:
    """What one update should be answered with: so many messages, and when known, the
    first line of each."""

    count: int
    first_lines: tuple[str, ...] = ()


@dataclass
class User:
    id: int
    planned: int  # steps to answer before the kill
    awaited: list[Awaited] = field(default_factory=list)  # one per update sent
    updates: list[dict[str, Any]] = field(default_factory=list)  # as the server queued them
    answered: int = 0  # updates whose replies all arrived (they arrive in order)
    repeats: list[str] = field(default_factory=list)  # replies allowed to arrive twice

    @property
    def steps_sent(self) -> int:
        return len(self.updates) - 1  # the first update is /start CODE

    def replies_expected(self, events: int) -> int:
        return sum(a.count for a in self.awaited[:events])


class Crowd:
    """Drives the users from the test thread: each waits for its replies before going on."""

    def __init__(self, fake: FakeTelegram, ref: Reference, codes: dict[int, str]) -> None:
        self.fake = fake
        self.prefixes = ref.prefixes
        self.ref = ref
        self.codes = codes
        self.users = [User(uid, answers_planned(uid)) for uid in USERS]
        self.acknowledged: dict[int, list[int]] = {uid: [] for uid in USERS}  # event numbers

    def replies(self, user: User) -> list[SentMessage]:
        """The user's messages without the allowed repeats."""
        seen: set[str] = set()
        kept = []
        for message in self.fake.messages_to(user.id):
            text = shown(message)
            if text in user.repeats and text in seen:
                continue
            seen.add(text)
            kept.append(message)
        return kept

    def send(self, user: User, text: str, awaited: Awaited) -> None:
        user.updates.append(self.fake.send_text(user.id, text))
        user.awaited.append(awaited)

    def send_step(self, user: User) -> None:
        """The user's next event of the script: /start CODE first, then the steps."""
        events = len(user.updates) + 1
        expected = self.prefixes[events].replies
        text = STEPS[events - 2] if events > 1 else f"/start {self.codes[user.id]}"
        self.send(user, text, Awaited(len(expected), tuple(r.splitlines()[0] for r in expected)))

    def take_replies(self) -> None:
        """Marks the updates whose replies have all arrived, checking them on the way."""
        for user in self.users:
            messages = self.replies(user)
            while user.answered < len(user.updates):
                awaited = user.awaited[user.answered]
                start = user.replies_expected(user.answered)
                group = messages[start : start + awaited.count]
                if len(group) < awaited.count:
                    break
                lines = tuple(shown(m).splitlines()[0] for m in group)
                assert not awaited.first_lines or lines == awaited.first_lines, (user.id, lines)
                user.answered += 1
                if any(shown(m).startswith(SAVED) for m in group):
                    self.acknowledged[user.id].append(user.answered)

    def ready(self) -> list[User]:
        """Users whose last update is answered and who have steps left before the kill."""
        return [
            u
            for u in self.users
            if u.steps_sent < u.planned
            and len(self.fake.messages_to(u.id)) >= u.replies_expected(len(u.updates))
        ]

    def run_until_kill(self, kill: Callable[[], None]) -> set[int]:
        """All users answer concurrently; once half of all planned steps are answered, the
        users who just got a reply send their next answer and the bot is killed at once.
        Returns the users with an update in flight at the kill."""
        for user in self.users:
            self.send_step(user)
        kill_after = sum(u.planned for u in self.users) // 2
        while True:
            for user in self.fake.wait_for(self.ready, TIMEOUT, "a user ready to answer"):
                self.send_step(user)
            self.take_replies()
            if sum(max(0, u.answered - 1) for u in self.users) >= kill_after:
                in_flight = {u.id for u in self.users if u.answered < len(u.updates)}
                kill()
                return in_flight

    def wait_all(self) -> None:
        def all_replied() -> bool:
            return all(
                len(self.replies(u)) >= u.replies_expected(len(u.updates)) for u in self.users
            )

        self.fake.wait_for(all_replied, TIMEOUT, "every reply")
        self.take_replies()


# --- the database --------------------------------------------------------------------------


def sent_but_pending(db: Database, fake: FakeTelegram, killed_at: float) -> dict[int, list[str]]:
    """Per user: replies the server received before the kill whose outbox items were still
    pending; they go out again. Each must have reached the server just before the kill."""
    found: dict[int, list[str]] = {}
    with db.session() as session:
        outbox = Outbox(session)
        for uid in USERS:
            sent = {m.text: m.timestamp for m in fake.messages_to(uid)}
            pending = [item.payload.get("text") for item in outbox.pending(CHANNEL, str(uid))]
            found[uid] = [text for text in pending if isinstance(text, str) and text in sent]
            for text in found[uid]:
                age = killed_at - sent[text]
                assert age <= RESEND_WINDOW, (
                    f"user {uid}: a reply sent {age * 1000:.0f} ms before the kill was still "
                    f"pending in the outbox: {text[:60]!r}"
                )
    return found


def settle(fake: FakeTelegram, polls_before: int, quiet: float = 1.5) -> None:
    """Waits until the restarted bot has fetched what was pending and sent nothing for
    `quiet` seconds: the outbox sweep and any redelivered update are then done."""
    fake.wait_for(lambda: fake.requests["getUpdates"] >= polls_before + 2, TIMEOUT, "two polls")
    deadline = time.monotonic() + TIMEOUT
    last, since = len(fake.sent), time.monotonic()
    while time.monotonic() - since < quiet:
        assert time.monotonic() < deadline, "the restarted bot never went quiet"
        time.sleep(0.1)
        if len(fake.sent) != last or fake.pending_updates:
            last, since = len(fake.sent), time.monotonic()


def history(fake: FakeTelegram, user: User, killed_at: float) -> str:
    """The user's messages with their times, for failure messages."""
    lines = [f"user {user.id}: answered {user.answered} of {len(user.updates)}, killed at "
             f"{killed_at:.4f}, repeats {len(user.repeats)}"]  # fmt: skip
    for message in fake.messages_to(user.id):
        lines.append(f"  {message.timestamp:.4f} {(message.text or '').splitlines()[0][:40]}")
    return "\n".join(lines)


# --- the phases ----------------------------------------------------------------------------


def with_output(bot: Bot, phase: Callable[[], None]) -> None:
    """Runs a phase that waits on the bot; a timeout or failure shows the bot's output."""
    try:
        phase()
    except (TimeoutError, AssertionError) as error:
        raise AssertionError(f"{error}\nbot output:\n{bot.output()}") from error


def kill_mid_filing(crowd: Crowd, bot: Bot, db: Database) -> None:
    """Everything acknowledged is in the database the moment the process is gone."""
    in_flight: set[int] = set()
    with_output(bot, lambda: in_flight.update(crowd.run_until_kill(bot.kill)))
    assert in_flight, "the kill should catch some answers in flight"
    crowd.take_replies()  # replies recorded between the last look and the kill
    assert sum(map(len, crowd.acknowledged.values())) >= 20, crowd.acknowledged
    for user in crowd.users:
        assert user.answered >= 1, f"user {user.id}: /start never answered"
        values, _state = stored_in(db, str(user.id))
        for events in crowd.acknowledged[user.id]:
            key = saved_key(crowd.prefixes, events)
            assert values.get(key) == crowd.prefixes[events].answers[key], (user.id, key)
    repeats = sent_but_pending(db, crowd.fake, bot.killed_at)
    for user in crowd.users:
        user.repeats = repeats[user.id]
        # Telegram hands out again what a dead bot took but never confirmed; here every
        # user's last answered update comes again, and must not be answered again.
        crowd.fake.duplicate(user.updates[user.answered - 1])


def check_settled(crowd: Crowd, db: Database, killed_at: float) -> None:
    """After the restart has settled, each conversation stands exactly after its answered
    updates: an update in flight at the kill is stored if and only if it was answered, and
    answered once (plus the allowed repeat)."""
    crowd.take_replies()
    lost = []
    for user in crowd.users:
        if user.answered < len(user.updates):  # taken from the server, never processed
            lost.append(user.id)
            user.awaited[user.answered :] = [Awaited(0)] * (len(user.updates) - user.answered)
            user.answered = len(user.updates)
        events = len(user.updates) - (user.id in lost)
        values, state = stored_in(db, str(user.id))
        assert state == crowd.prefixes[events].state, (user.id, events, state)
        assert values == crowd.prefixes[events].answers, (user.id, events)
        replies = len(crowd.replies(user))
        assert replies == user.replies_expected(len(user.updates)), history(
            crowd.fake, user, killed_at
        )
        assert len(crowd.fake.messages_to(user.id)) <= replies + len(user.repeats)
    print(f"repeats {[u.id for u in crowd.users if u.repeats]}, lost {lost}")  # on failure
    # An update the dead bot had taken (and confirmed by its next poll) was in its inbox:
    # the restarted bot handled it, so every user heard back.
    assert not lost, f"updates of users {lost} were taken before the kill and never handled"


def check_resumes(crowd: Crowd, db: Database) -> None:
    """/start asks the question after the last stored answer (or shows that summary); the
    next scripted answer is then acknowledged and stored where it belongs."""
    at = {u.id: len([a for a in u.awaited if a.count]) for u in crowd.users}  # events done
    for user in crowd.users:
        crowd.send(user, "/start", Awaited(crowd.ref.restart_replies))
    crowd.wait_all()
    for user in crowd.users:
        text = "\n".join(m.text or "" for m in crowd.replies(user)[-crowd.ref.restart_replies :])
        state = crowd.prefixes[at[user.id]].state
        assert text.startswith(texts.WELCOME_BACK), (user.id, text)
        assert pending_marker(state) in text, (user.id, state, text)

    for user in crowd.users:
        expected = crowd.prefixes[at[user.id] + 1]
        first_lines = tuple(r.splitlines()[0] for r in expected.replies)
        crowd.send(user, STEPS[at[user.id] - 1], Awaited(len(expected.replies), first_lines))
    crowd.wait_all()
    for user in crowd.users:
        before, after = crowd.prefixes[at[user.id]], crowd.prefixes[at[user.id] + 1]
        if before.state.get("mode") == Mode.ASK:
            reply = crowd.replies(user)[-1].text or ""
            assert reply.startswith(f"{SAVED}{pending_marker(before.state)}："), reply
        assert stored_in(db, str(user.id)) == (after.answers, after.state), user.id


def check_answered_once(crowd: Crowd, killed_at: float) -> None:
    """No update was answered twice in the whole run (beyond the allowed repeats)."""
    for user in crowd.users:
        messages = crowd.fake.messages_to(user.id)
        labels = Counter(
            match.group(1) for m in messages if (match := SAVED_LABEL.match(m.text or ""))
        )
        for label, count in labels.items():
            repeated = any(text.startswith(f"{SAVED}{label}：") for text in user.repeats)
            assert count <= 1 + repeated, (label, history(crowd.fake, user, killed_at))
        assert len(crowd.replies(user)) == user.replies_expected(len(user.updates)), history(
            crowd.fake, user, killed_at
        )


# --- the test ------------------------------------------------------------------------------


def test_sigkill_under_load_loses_nothing_and_answers_once(
    tmp_path: Path, database: Database, spawn: Callable[[FakeTelegram], Bot]
) -> None:
    ref = reference(tmp_path)
    codes = register(database, USERS)
    with FakeTelegram(token=TOKEN) as fake:
        crowd = Crowd(fake, ref, codes)
        first = spawn(fake)
        kill_mid_filing(crowd, first, database)

        polls = fake.requests["getUpdates"]
        bot = spawn(fake)
        with_output(bot, lambda: settle(fake, polls))
        check_settled(crowd, database, first.killed_at)
        with_output(bot, lambda: check_resumes(crowd, database))
        check_answered_once(crowd, first.killed_at)
        bot.kill()
