"""200 contacts who behave like people, and a bot SIGKILLed three times while they file.

A person looks at the last message on their screen and answers what it asks (the question's
label, the section summary's 确认, the confirmation of a repeated answer). When nothing comes
for a while they send their answer again, as people do. Scripts that ignore repeats hide the
problems people meet after a crash: replies replayed long after they were superseded, and an
answer re-sent into the next question (a mobile number stored as the landline).

The bot (SQLite, long polling) is killed three times and restarted at once. At the end:
0 answers misfiled (every stored answer is the one its person meant for that field), 0 lost
(every person's answers are stored and the section confirmed), 0 unanswered (every update
was handled and every person's last message answered); the repeated messages are counted
and reported.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import select

from dialogs.texts_delivery import BTN_YES, CONTINUATION
from storage.db import Database
from storage.messaging import PENDING
from storage.migrate import upgrade
from storage.models import InboxRow, OutboxRow, ProcessedEventRow
from tests.fake_telegram import FakeTelegram
from tests.test_telegram_durability import Reference, bot_env, reference, register, stored_in

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX only")

PEOPLE = range(5001, 5201)
TIMEOUT = 120.0
PATIENCE = 6.0  # seconds without an answer before a person sends again (not /start)
KILLS = (0.25, 0.5, 0.75)  # of all answers given
# What each person means to answer, by the question's label.
MEANT = {
    "联系人姓名": "李娜",
    "联系人手机": "+86 139-9123-4567",
    "固定电话": "0991 2301105",
    "电子邮箱": "lina@TSZL.cn",
}
DONE = "请填写：职工总数"  # the question after the section this run files
EVENTS = 6  # /start CODE, four answers, 确认
ASKS = re.compile(r"请填写：(.+?)(?:（|\n|$)")
CONFIRM = re.compile(r"「(.+?)」.*现在的问题是「(.+?)」", re.S)


def shown(text: str | None) -> str:
    return (text or "").removeprefix(CONTINUATION + "\n")


def answer_to(text: str) -> str | None:
    """What a person answers to this message; None: it asks nothing (yet)."""
    if "也是这个问题的答案吗" in text:
        found = CONFIRM.search(text)
        if found is None:
            return "否"
        repeated, current = found.groups()
        return BTN_YES if MEANT.get(current) == repeated else "否"
    if "【申报联系人 · 小结】" in text:
        return "确认"
    found = ASKS.search(text)
    if found is None:
        return None
    return MEANT.get(found.group(1))


@dataclass
class Person:
    id: int
    code: str
    seen: int = 0  # messages on screen when they last sent
    last_text: str = ""
    sent_at: float = 0.0
    sends: int = 0
    resends: int = 0
    update_ids: list[int] = field(default_factory=list)
    done: bool = False


class People:
    def __init__(self, fake: FakeTelegram, codes: dict[int, str]) -> None:
        self.fake = fake
        self.people = [Person(uid, codes[uid]) for uid in PEOPLE]
        self.answers = 0

    def send(self, person: Person, text: str, screen: int) -> None:
        update = self.fake.send_text(person.id, text)
        person.update_ids.append(int(update["update_id"]))
        person.seen, person.last_text, person.sent_at = screen, text, time.monotonic()
        person.sends += 1

    def tick(self) -> None:
        """Every person looks at their screen once."""
        now = time.monotonic()
        by_chat: dict[int, list[str]] = {}
        for message in self.fake.sent:
            by_chat.setdefault(int(message.chat_id), []).append(shown(message.text))
        for person in self.people:
            if person.done:
                continue
            screen = by_chat.get(person.id, [])
            if not person.sends:
                self.send(person, f"/start {person.code}", len(screen))
                continue
            if len(screen) > person.seen:
                last = screen[-1]
                if DONE in last:
                    person.done = True
                    continue
                answer = answer_to(last)
                if answer is not None:
                    self.send(person, answer, len(screen))
                    self.answers += 1
                continue
            if screen and now - person.sent_at > PATIENCE:
                # Nothing came: the same again.
                self.send(person, person.last_text, len(screen))
                person.resends += 1


@dataclass
class Process:
    proc: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        self.proc.kill()
        assert self.proc.wait(TIMEOUT) == -signal.SIGKILL

    def output(self) -> str:
        return self.log.read_text("utf-8", errors="replace")[-3000:]


def test_people_after_three_kills(tmp_path: Path) -> None:
    ref: Reference = reference(tmp_path)
    url = f"sqlite:///{tmp_path / 'nj.db'}"
    upgrade(url)
    db = Database.from_url(url)
    codes = register(db, PEOPLE)
    processes: list[Process] = []
    try:
        with FakeTelegram(token="fake.token") as fake:
            env = bot_env(tmp_path, fake)
            # The fake Bot API does not pace (Telegram's 30 messages a second would make this
            # a test of the rate limit, people re-sending into a queue).
            env.update(NIANJIAN_TELEGRAM_RATE="1000", NIANJIAN_TELEGRAM_CHAT_BURST="1000")

            def start() -> Process:
                log = tmp_path / f"bot-{len(processes) + 1}.log"
                with log.open("wb") as out:
                    proc = subprocess.Popen(
                        [sys.executable, "-m", "bot.cli", "run"],
                        cwd=tmp_path,
                        env=env,
                        stdout=out,
                        stderr=out,
                        stdin=subprocess.DEVNULL,
                    )
                processes.append(Process(proc, log))
                return processes[-1]

            people = People(fake, codes)
            bot = start()
            planned = len(PEOPLE) * (EVENTS - 1)
            kills = list(KILLS)
            deadline = time.monotonic() + TIMEOUT
            while not all(p.done for p in people.people):
                assert time.monotonic() < deadline, bot.output()
                people.tick()
                if kills and people.answers >= kills[0] * planned:
                    kills.pop(0)
                    bot.kill()
                    bot = start()
                time.sleep(0.05)
            settle(db, fake, bot)
            check(people, ref, db, fake)
            bot.kill()
    finally:
        for process in processes:
            if process.proc.poll() is None:
                process.proc.kill()
                process.proc.wait(TIMEOUT)
        db.dispose()


def settle(db: Database, fake: FakeTelegram, bot: Process) -> None:
    """Everyone is done; the bot works off what is still queued (answers sent again while
    it was slow), then stands still."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        with db.session() as session:
            busy = session.scalar(select(InboxRow.seq).limit(1)) is not None or (
                session.scalar(select(OutboxRow.id).where(OutboxRow.status == PENDING).limit(1))
                is not None
            )
        if not busy and not fake.pending_updates:
            return
        assert time.monotonic() < deadline, bot.output()
        time.sleep(0.2)


def check(people: People, ref: Reference, db: Database, fake: FakeTelegram) -> None:
    expected = ref.prefixes[EVENTS]
    misfiled, lost = [], []
    for person in people.people:
        values, state = stored_in(db, str(person.id))
        for key, value in expected.answers.items():
            if key in values and values[key] != value:
                misfiled.append((person.id, key.field, values[key]))
            if key not in values:
                lost.append((person.id, key.field))
        misfiled.extend(
            (person.id, k.field, v) for k, v in values.items() if k not in expected.answers
        )
        assert state == expected.state, (person.id, state)
    with db.session() as session:
        handled = {e for (e,) in session.execute(select(ProcessedEventRow.event_id))}
        inbox = session.scalars(select(InboxRow.seq)).all()
        pending = session.scalars(select(OutboxRow.id).where(OutboxRow.status == PENDING)).all()
    sent_ids = [u for p in people.people for u in p.update_ids]
    unanswered = [u for u in sent_ids if str(u) not in handled]
    repeats = 0
    for person in people.people:
        counts = Counter(shown(m.text) for m in fake.messages_to(person.id))
        repeats += sum(c - 1 for c in counts.values())
    resends = sum(p.resends for p in people.people)
    confirmations = sum(1 for m in fake.sent if "也是这个问题的答案吗" in (m.text or ""))
    print(
        f"\n{len(people.people)} people, {len(sent_ids)} messages from them ({resends} sent "
        f"again after silence), 3 kills: {len(misfiled)} misfiled, {len(lost)} lost, "
        f"{len(unanswered)} unanswered, {repeats} repeated messages, {confirmations} repeats "
        f"confirmed"
    )
    assert misfiled == [], misfiled
    assert lost == [], lost
    assert unanswered == [] and inbox == [] and pending == [], (unanswered, inbox, pending)
