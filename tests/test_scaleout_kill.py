"""Two `nianjian run` webhook workers on one PostgreSQL database, one of them SIGKILLed midway.

A hundred contacts (each of an enterprise of its own, bound by `/start CODE`) file at the same
time. The test plays Telegram's side of the webhook: every update is posted to one of the two
workers in turn, and posted again (to the other) when the call fails, as Telegram retries.
Halfway through, worker A is killed. Then:

- nothing is lost: every update gets its replies, every answer is stored where it belongs;
- nothing is answered twice and no message is sent twice: each contact's messages are exactly
  the replies the same events give through the service, in order, once each — except a
  message the dead worker had begun sending at the instant of the kill (recorded as begun,
  not yet as sent), which may come once more, said to be a continuation; those are counted;
- per-chat order holds, and what the dead worker had pending (its outbox chats, the updates
  in its inbox) is delivered by the other.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from dialogs.texts_delivery import CONTINUATION
from storage.db import Database
from storage.messaging import PENDING, SUPERSEDED
from storage.migrate import upgrade
from storage.models import InboxRow, OutboxRow
from tests.fake_telegram import FakeTelegram, SentMessage
from tests.fakes import make_service
from tests.filing_script import png_bytes
from tests.test_telegram import fast_forward, jpeg_bytes, steps_before
from tests.test_telegram_durability import STEPS, Reference, reference, register, stored_in
from tests.test_telegram_restart import LICENCE

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX only"),
]

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "4242:scale-out"
CONTACTS = range(9001, 9101)
ANSWERS = 3  # typed answers after /start CODE, per contact
TIMEOUT = 60.0
SECRET = hashlib.sha256(b"webhook:" + TOKEN.encode()).hexdigest()[:48]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Worker:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/telegram"

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        return self.log.read_text("utf-8", errors="replace")[-4000:]


def start_worker(name: str, tmp_path: Path, url: str, fake: FakeTelegram, **extra: str) -> Worker:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NIANJIAN_", "TELEGRAM_"))}
    port = free_port()
    env.update(
        PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
        DATABASE_URL=url,
        NIANJIAN_ATTACHMENTS_DIR=str(tmp_path / "files"),
        TELEGRAM_TOKEN=TOKEN,
        TELEGRAM_BASE_URL=fake.base_url,
        TELEGRAM_BASE_FILE_URL=fake.base_file_url,
        TELEGRAM_WEBHOOK_URL="https://bot.example.invalid/telegram",
        # The webhook is a route of the worker's web server.
        NIANJIAN_WEB_HOST="127.0.0.1",
        NIANJIAN_WEB_PORT=str(port),
        # The fake Bot API does not pace: neither need the workers (the test is about
        # exactly-once, not about Telegram's limits).
        NIANJIAN_TELEGRAM_RATE="1000",
        NIANJIAN_TELEGRAM_CHAT_BURST="1000",
        **extra,
    )
    log = tmp_path / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run"],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
        )
    return Worker(name, proc, port, log)


def wait_listening(worker: Worker) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        assert worker.alive, worker.output()
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", worker.port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"{worker.name} never listened:\n{worker.output()}")


def shown(message: SentMessage) -> str:
    return (message.text or "").removeprefix(CONTINUATION + "\n")


@dataclass
class Contact:
    id: int
    texts: list[str]
    expected: list[tuple[str, ...]]  # per event: the first lines of its replies
    answered: int = 0
    waiting_since: float = 0.0

    def expected_lines(self, events: int) -> list[str]:
        return [line for lines in self.expected[:events] for line in lines]


@dataclass
class Telegram:
    """Telegram's side of the webhook: posts each update to a worker, the next one on
    failure, until one answers 200."""

    workers: list[Worker]
    client: httpx.AsyncClient
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    posts: int = 0
    retried: int = 0

    async def post(self, update: dict[str, Any]) -> None:
        start = update["update_id"]
        for attempt in itertools.count():
            worker = self.workers[(start + attempt) % len(self.workers)]
            if not worker.alive:
                continue
            self.posts += 1
            try:
                response = await self.client.post(
                    worker.url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
                )
                if response.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            self.retried += 1
            await asyncio.sleep(0.05)
            assert attempt < 50, f"update {start} refused by every worker"

    def update(self, user: int, text: str) -> dict[str, Any]:
        update_id = next(self.ids)
        entities = (
            [{"type": "bot_command", "offset": 0, "length": len(text.split(maxsplit=1)[0])}]
            if text.startswith("/")
            else []
        )
        message = {
            "message_id": update_id,
            "date": int(time.time()),
            "from": {"id": user, "is_bot": False, "first_name": "联系人"},
            "chat": {"id": user, "type": "private", "first_name": "联系人"},
            "text": text,
            "entities": entities,
        }
        return {"update_id": update_id, "message": message}


class Screens:
    """Each contact's messages as they arrive (one reader for all: cheap to poll)."""

    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake
        self.seen = 0
        self.by_chat: dict[int, list[SentMessage]] = {}

    def refresh(self) -> None:
        sent = self.fake.sent
        for message in sent[self.seen :]:
            self.by_chat.setdefault(int(message.chat_id), []).append(message)
        self.seen = len(sent)

    def of(self, chat: int) -> list[SentMessage]:
        return self.by_chat.get(chat, [])


async def file_all(
    contacts: list[Contact], telegram: Telegram, fake: FakeTelegram, kill: Any
) -> None:
    total = sum(len(c.texts) for c in contacts)
    killed = False
    screens = Screens(fake)

    async def read() -> None:
        while True:
            screens.refresh()
            await asyncio.sleep(0.02)

    async def one(contact: Contact) -> None:
        nonlocal killed
        for index, text in enumerate(contact.texts):
            await telegram.post(telegram.update(contact.id, text))
            want = len(distinct_lines(contact.expected_lines(index + 1)))
            deadline = time.monotonic() + TIMEOUT
            while len(distinct(screens.of(contact.id))) < want:
                assert time.monotonic() < deadline, f"contact {contact.id}: no reply to {text!r}"
                await asyncio.sleep(0.05)
            contact.answered = index + 1
            if not killed and sum(c.answered for c in contacts) >= total // 2:
                killed = True
                kill()

    reader = asyncio.create_task(read())
    try:
        await asyncio.gather(*(one(c) for c in contacts))
    finally:
        reader.cancel()


def distinct(messages: list[SentMessage]) -> list[str]:
    """The first lines of a chat's messages, each once (a repeat after the kill is counted
    separately)."""
    seen: dict[str, None] = {}
    for message in messages:
        seen.setdefault(shown(message).splitlines()[0] if shown(message) else "", None)
    return list(seen)


def in_flight(db: Database) -> tuple[int, int, int]:
    """Right after the kill: outbox items pending, of which begun (maybe delivered), and
    updates in inboxes."""
    with db.session() as session:
        pending = session.scalar(
            select(func.count()).select_from(OutboxRow).where(OutboxRow.status == PENDING)
        )
        begun = session.scalar(
            select(func.count())
            .select_from(OutboxRow)
            .where(OutboxRow.status == PENDING, OutboxRow.started > 0)
        )
        inbox = session.scalar(select(func.count()).select_from(InboxRow))
    return int(pending or 0), int(begun or 0), int(inbox or 0)


def test_two_workers_one_killed_midway(tmp_path: Path, pg_url: str) -> None:
    ref: Reference = reference(tmp_path)
    upgrade(pg_url)
    db = Database.from_url(pg_url)
    codes = register(db, CONTACTS)
    events = 1 + ANSWERS
    contacts = [
        Contact(
            uid,
            [f"/start {codes[uid]}", *STEPS[:ANSWERS]],
            [
                tuple(r.splitlines()[0] for r in ref.prefixes[e].replies)
                for e in range(1, 1 + events)
            ],
        )
        for uid in CONTACTS
    ]
    workers: list[Worker] = []
    snapshot: list[tuple[int, int, int]] = []
    try:
        with FakeTelegram(token=TOKEN) as fake:
            workers = [start_worker(n, tmp_path, pg_url, fake) for n in ("worker-a", "worker-b")]
            for worker in workers:
                wait_listening(worker)
            a = workers[0]

            def kill() -> None:
                a.proc.kill()
                a.proc.wait(TIMEOUT)
                snapshot.append(in_flight(db))

            async def scenario() -> Telegram:
                limits = httpx.Limits(max_connections=200)
                async with httpx.AsyncClient(timeout=TIMEOUT, limits=limits) as client:
                    telegram = Telegram(workers, client)
                    await file_all(contacts, telegram, fake, kill)
                    return telegram

            try:
                telegram = asyncio.run(scenario())
                # What the dead worker left is delivered by the other: nothing pending.
                deadline = time.monotonic() + TIMEOUT
                while in_flight(db)[0] or in_flight(db)[2]:
                    assert time.monotonic() < deadline, f"left pending: {in_flight(db)}"
                    time.sleep(0.2)
            except AssertionError as error:
                raise AssertionError(
                    f"{error}\n--- a:\n{workers[0].output()}\n--- b:\n{workers[1].output()}"
                ) from error
            assert a.proc.returncode == -9 and workers[1].alive, workers[1].output()

            check(contacts, ref, db, fake, telegram=telegram, at_kill=snapshot[0], events=events)
    finally:
        for worker in workers:
            if worker.alive:
                worker.proc.kill()
                worker.proc.wait(TIMEOUT)
        db.dispose()


def distinct_lines(lines: list[str]) -> list[str]:
    return list(dict.fromkeys(lines))


def check(
    contacts: list[Contact],
    ref: Reference,
    db: Database,
    fake: FakeTelegram,
    *,
    telegram: Telegram,
    at_kill: tuple[int, int, int],
    events: int,
) -> None:
    repeats = 0
    for contact in contacts:
        messages = fake.messages_to(contact.id)
        lines = distinct(messages)
        # Every event answered, once, in order: exactly the reference's replies.
        assert lines == distinct_lines(contact.expected_lines(events)), contact.id
        repeats += len(messages) - len(lines)
        values, state = stored_in(db, str(contact.id))
        assert values == ref.prefixes[events].answers, contact.id
        assert state == ref.prefixes[events].state, contact.id
    pending_at_kill, begun_at_kill, inbox_at_kill = at_kill
    # A repeat is a message begun at the instant of the kill, sent once more.
    assert repeats <= begun_at_kill, (repeats, at_kill)
    # What reached the chats: a request Telegram refused (or a connection cut by the kill)
    # delivered nothing; those are listed when the count does not hold.
    failed = [
        (call.status, call.description)
        for call in fake.calls
        if call.method == "sendMessage" and not call.ok
    ]
    sends = sum(message.method == "sendMessage" for message in fake.sent)
    with db.session() as session:
        counts = dict(
            session.execute(select(OutboxRow.status, func.count()).group_by(OutboxRow.status)).all()
        )
    sent, superseded = counts.get("sent", 0), counts.get(SUPERSEDED, 0)
    # Every message sent was an outbox item sent once, or one begun at the kill: sent by
    # the dead worker and then superseded (its chat had moved on), or sent once more.
    assert sent <= sends <= sent + min(begun_at_kill, superseded + repeats), (
        sends,
        counts,
        repeats,
        failed,
    )
    assert set(counts) <= {"sent", SUPERSEDED}, counts
    print(
        f"\n{len(contacts)} contacts, {sum(len(c.texts) for c in contacts)} updates, "
        f"{telegram.posts} webhook calls ({telegram.retried} retried after the kill), "
        f"{sends} messages sent for {sent} outbox items ({superseded} superseded); at the "
        f"kill {pending_at_kill} replies pending ({begun_at_kill} begun) and {inbox_at_kill} "
        f"updates in inboxes; {repeats} repeated"
    )


def test_an_album_split_over_two_workers_is_one_file(tmp_path: Path, pg_url: str) -> None:
    """Behind the proxy an album's photos reach different workers: still one PDF of all of
    them, acknowledged once."""
    upgrade(pg_url)
    db = Database.from_url(pg_url)
    user = 9500
    workers: list[Worker] = []
    try:
        service = make_service(db, tmp_path / "files", trial=("telegram",))
        fast_forward(service, steps_before(LICENCE), chat=str(user))
        with FakeTelegram(token=TOKEN) as fake:
            workers = [
                start_worker(n, tmp_path, pg_url, fake, NIANJIAN_TRIAL_CHANNELS="telegram")
                for n in ("worker-a", "worker-b")
            ]
            for worker in workers:
                wait_listening(worker)
            photos = fake.send_album(user, [png_bytes(), jpeg_bytes()])

            async def post_both() -> None:
                async with httpx.AsyncClient(timeout=TIMEOUT) as client:
                    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
                    for worker, update in zip(workers, photos, strict=True):
                        response = await client.post(worker.url, json=update, headers=headers)
                        assert response.status_code == 200

            asyncio.run(post_both())
            replies = fake.wait_for_messages(user, 1, TIMEOUT)
            time.sleep(2.0)  # the other worker's flush: nothing more may come
            replies = fake.messages_to(user)
            acks = [m for m in replies if "已收到文件" in (m.text or "")]
            assert len(acks) == 1, [m.text for m in replies]
            assert "营业执照（2页）.pdf" in (acks[0].text or ""), acks[0].text
    finally:
        for worker in workers:
            if worker.alive:
                worker.proc.kill()
                worker.proc.wait(TIMEOUT)
        db.dispose()
