"""Several processes on one database (storage/processes.py, the outbox leases and coalescing
of storage/messaging.py), a repeated answer after a restart (bot/service.py), the shared
WeChat access token (bot/channels/wechat/token_store.py) and the refusals at start-up.

"Processes" here are `Presence`s with connections of their own: a process that dies is one
whose connection closes (`leave`), which is what the server sees when it is SIGKILLed. The
subprocess tests (tests/test_scaleout_kill.py) kill real ones.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.channels.wechat.api import WeChatApi
from bot.channels.wechat.token_store import DatabaseStorage
from bot.service import ChatService
from dialogs import texts_delivery as td
from dialogs.replies import Choice, Start, TextIn, reply_text
from storage.db import Database
from storage.messaging import (
    AGAIN,
    CONTINUED,
    OWN,
    PENDING,
    SENT,
    SUPERSEDED,
    ChannelChats,
    Deliveries,
    Inbox,
    Outbox,
)
from storage.migrate import upgrade
from storage.models import OutboxRow
from storage.processes import AlreadyRunning, Presence
from storage.repository import ConversationRepository, FilingRepository
from tests.fake_telegram import FakeTelegram
from tests.fake_wechat import APP_ID, APP_SECRET, TEMPLATE_ID, FakeWeChat
from tests.fakes import FrozenClock, make_service

ROOT = Path(__file__).resolve().parent.parent
CHANNEL = "telegram"
NOW = datetime(2025, 6, 2, 1, 0, tzinfo=UTC)


@pytest.fixture
def pg(pg_url: str) -> Iterator[Database]:
    upgrade(pg_url)
    db = Database.from_url(pg_url)
    try:
        yield db
    finally:
        db.dispose()


def gone(observer: Presence, dead: Presence) -> None:
    """The server ends a closed connection's session (and its locks) a moment later."""
    deadline = time.monotonic() + 10
    while dead.name in observer.alive():
        assert time.monotonic() < deadline, "the dead process still holds its lock"
        time.sleep(0.02)


def queue(db: Database, chat: str, *texts: str, own: bool = True) -> list[int]:
    payloads = [{"type": "text", "text": t, **({OWN: 1} if own else {})} for t in texts]
    with db.session() as session:
        return Outbox(session).add(CHANNEL, chat, payloads, NOW)


def statuses(db: Database, chat: str) -> list[tuple[str, str]]:
    with db.session() as session:
        rows = session.query(OutboxRow).filter_by(chat_id=chat).order_by(OutboxRow.id)
        return [(row.status, row.payload) for row in rows]


# --- leases on PostgreSQL ---------------------------------------------------------------------


@pytest.mark.postgres
def test_one_process_at_a_time_delivers_a_chat(pg: Database) -> None:
    a, b = Presence(pg).join(), Presence(pg).join()
    try:
        assert a.alive() >= {a.name, b.name}
        clock = FrozenClock(NOW)
        deliver_a = Deliveries(pg, clock, CHANNEL, owner=a.name, alive=a.alive)
        deliver_b = Deliveries(pg, clock, CHANNEL, owner=b.name, alive=b.alive)
        first = queue(pg, "1", "问题一")
        claimed = deliver_a.claim("1")
        assert claimed is not None and [i.id for i in claimed] == first
        assert deliver_b.claim("1") is None  # A holds the chat
        deliver_a.progress(None, first[0], "1")
        # B's event queued more meanwhile: A sees it when it gives the chat up.
        queue(pg, "1", "问题二")
        deliver_a.progress(first[0], None, "1")
        assert deliver_a.finish("1") is True
        claimed = deliver_b.claim("1")
        assert claimed is not None and [i.payload["text"] for i in claimed] == ["问题二"]
        assert deliver_b.finish("1") is True  # still pending: not sent yet
    finally:
        a.leave()
        b.leave()


@pytest.mark.postgres
def test_a_dead_process_chat_is_taken_over_and_coalesced(pg: Database) -> None:
    a, b = Presence(pg).join(), Presence(pg).join()
    try:
        clock = FrozenClock(NOW)
        deliver_a = Deliveries(pg, clock, CHANNEL, owner=a.name, alive=a.alive)
        deliver_b = Deliveries(pg, clock, CHANNEL, owner=b.name, alive=b.alive)
        ids = queue(pg, "7", "✓ 已保存 手机：13900025678", "固定电话？")
        notice = queue(pg, "7", "审核结果：已退回", own=False)
        assert deliver_a.claim("7") is not None
        deliver_a.progress(None, ids[0], "7")  # A began the first, then died
        a.leave()
        gone(b, a)
        assert b.name in b.alive()
        claimed = deliver_b.claim("7")
        assert claimed is not None
        # The acknowledgement is superseded; the question comes as a continuation; the
        # reviewer's notice stays as it is.
        assert [i.id for i in claimed] == [ids[1], notice[0]]
        assert claimed[0].payload[CONTINUED] is True
        assert CONTINUED not in claimed[1].payload
        assert [s for s, _ in statuses(pg, "7")] == [SUPERSEDED, PENDING, PENDING]
        with pg.session() as session:
            assert ChannelChats(session).memory(CHANNEL, "7")[0] is True
    finally:
        a.leave()
        b.leave()


@pytest.mark.postgres
def test_nothing_is_delivered_a_third_time(pg: Database) -> None:
    """An item begun twice (two crashes in its send) counts as delivered."""
    (item,) = queue(pg, "9", "问题")
    previous: Presence | None = None
    for _crash in range(2):
        dead = Presence(pg).join()
        if previous is not None:
            gone(dead, previous)
        records = Deliveries(pg, FrozenClock(NOW), CHANNEL, owner=dead.name, alive=dead.alive)
        assert records.claim("9") is not None
        records.progress(None, item, "9")
        dead.leave()
        previous = dead
    survivor = Presence(pg).join()
    try:
        assert previous is not None
        gone(survivor, previous)
        records = Deliveries(
            pg, FrozenClock(NOW), CHANNEL, owner=survivor.name, alive=survivor.alive
        )
        assert records.claim("9") == []
        assert [s for s, _ in statuses(pg, "9")] == [SENT]
    finally:
        survivor.leave()


@pytest.mark.postgres
def test_a_dead_process_inbox_is_adopted_by_a_live_one(pg: Database) -> None:
    a, b = Presence(pg).join(), Presence(pg).join()
    try:
        with pg.session() as session:
            Inbox(session).receive(CHANNEL, 11, '{"update_id": 11}', NOW, a.name)
            Inbox(session).receive(CHANNEL, 12, '{"update_id": 12}', NOW, b.name)
        with pg.session() as session:
            assert Inbox(session).adopt(CHANNEL, b.name, b.alive()) == []  # A is alive
        a.leave()
        gone(b, a)
        with pg.session() as session:
            assert Inbox(session).adopt(CHANNEL, b.name, b.alive()) == [(11, '{"update_id": 11}')]
        with pg.session() as session:
            assert Inbox(session).adopt(CHANNEL, b.name, b.alive()) == []  # B's own now
    finally:
        a.leave()
        b.leave()


@pytest.mark.postgres
def test_a_second_long_poller_is_refused(pg: Database) -> None:
    a, b = Presence(pg).join(), Presence(pg).join()
    try:
        a.take_role("telegram:poller", "taken")
        with pytest.raises(AlreadyRunning, match="taken"):
            b.take_role("telegram:poller", "taken")
        a.leave()  # the poller died: the role is free as soon as the server notices
        gone(b, a)
        b.take_role("telegram:poller", "taken")
    finally:
        a.leave()
        b.leave()


@pytest.mark.postgres
def test_the_wechat_token_is_shared_and_refreshed_once(pg: Database) -> None:
    clock = FrozenClock(datetime.now(UTC))
    with FakeWeChat(clock) as fake:
        apis = [
            WeChatApi(
                APP_ID, APP_SECRET, fake.base_url, storage=DatabaseStorage(pg, clock, APP_SECRET)
            )
            for _ in range(2)
        ]

        def notice(api: WeChatApi, text: str) -> None:
            api.send_template("o1", TEMPLATE_ID, {"first": {"value": text}}, "https://x.invalid")

        notice(apis[0], "你好")
        notice(apis[1], "你好")
        assert fake.token_fetches == 1  # the second process used the stored token
        fake.expire_token()
        notice(apis[1], "再见")  # 40001: one refresh
        notice(apis[0], "再见")  # 40001 with its old token: takes the refreshed one
        assert fake.token_fetches == 2
        assert [s.text for s in fake.shown] == ["你好", "你好", "再见", "再见"]


@pytest.mark.postgres
def test_a_second_long_poller_process_is_refused(pg: Database, tmp_path: Path) -> None:
    url = pg.engine.url.render_as_string(hide_password=False)
    with FakeTelegram() as fake:
        env = _env(tmp_path, fake, url)
        command = [sys.executable, "-m", "bot.cli", "run"]
        first = subprocess.Popen(command, env=env, cwd=tmp_path, stderr=subprocess.DEVNULL)
        try:
            fake.wait_for(lambda: fake.requests["getUpdates"] >= 1, 60, "the first bot polling")
            second = subprocess.run(
                command, env=env, cwd=tmp_path, capture_output=True, timeout=60, check=False
            )
            assert second.returncode == 1
            message = second.stderr.decode()
            assert "already long-polling Telegram with this database" in message
            assert "webhook" in message and "Traceback" not in message
            assert first.poll() is None
        finally:
            first.kill()
            first.wait(30)


def _env(tmp_path: Path, fake: FakeTelegram, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NIANJIAN_", "TELEGRAM_"))}
    env.update(
        PYTHONPATH=str(ROOT),
        DATABASE_URL=url,
        NIANJIAN_ATTACHMENTS_DIR=str(tmp_path / "files"),
        NIANJIAN_TELEGRAM_POLL_TIMEOUT="1",
        NIANJIAN_WEB_PORT="0",
        TELEGRAM_TOKEN=fake.token,
        TELEGRAM_BASE_URL=fake.base_url,
        TELEGRAM_BASE_FILE_URL=fake.base_file_url,
    )
    return env


# --- SQLite: one process ----------------------------------------------------------------------


def test_a_second_run_on_sqlite_is_refused(tmp_path: Path) -> None:
    with FakeTelegram() as fake:
        env = _env(tmp_path, fake, f"sqlite:///{tmp_path / 'nj.db'}")
        command = [sys.executable, "-m", "bot.cli"]
        subprocess.run([*command, "db", "upgrade"], env=env, cwd=tmp_path, check=True)
        first = subprocess.Popen([*command, "run"], env=env, cwd=tmp_path, stderr=subprocess.PIPE)
        try:
            fake.wait_for(lambda: fake.requests["getUpdates"] >= 1, 30, "the first bot polling")
            second = subprocess.run(
                [*command, "run"],
                env=env,
                cwd=tmp_path,
                capture_output=True,
                timeout=60,
                check=False,
            )
            assert second.returncode == 1
            message = second.stderr.decode()
            assert "another `nianjian run` is already serving the SQLite database" in message
            assert "PostgreSQL" in message and "Traceback" not in message
            assert first.poll() is None
        finally:
            first.kill()
            first.wait(30)


# --- a repeated answer after a restart --------------------------------------------------------


def _contact(service: ChatService, chat: str) -> str:
    """A chat filing a trial filing over a messaging channel, at its first typed question;
    returns that question's reply."""
    turn = service.handle("test", chat, Start(), queue=True)
    return reply_text(turn.replies[-1])


def _resume(db: Database, chat: str) -> None:
    """What a restart does to a chat whose acknowledgement and next question were pending."""
    with db.session() as session:
        assert Outbox(session).coalesce("test", chat)
        ChannelChats(session).resumed("test", chat, NOW)


def _answer_key(db: Database, chat: str) -> dict[str, object]:
    with db.session() as session:
        conversation = ConversationRepository(session).get("test", chat)
        assert conversation is not None and conversation.filing_id is not None
        filing = FilingRepository(session).load(conversation.filing_id)
    return {key.field: answer.value for key, answer in filing.answers.items()}


@pytest.mark.parametrize("confirm", [False, True])
def test_a_repeated_answer_after_a_restart_is_confirmed_first(
    database: Database, tmp_path: Path, confirm: bool
) -> None:
    service = make_service(database, tmp_path / "files")
    chat = "c1"
    _contact(service, chat)
    name = "新疆天山智联信息技术有限公司"
    first = service.handle("test", chat, TextIn(name), queue=True)
    assert "已保存" in reply_text(first.replies[0])
    before = _answer_key(database, chat)
    _resume(database, chat)  # the bot died before the person saw the reply

    # The person, seeing nothing, sends the same again: not stored under the next question.
    turn = service.handle("test", chat, TextIn(name), queue=True)
    (ask,) = turn.replies
    assert isinstance(ask, Choice)
    assert f"「{name}」已保存为「单位名称（汉字全称）」" in ask.text
    assert "现在的问题是「统一社会信用代码」" in ask.text and "也是这个问题的答案吗" in ask.text
    assert _answer_key(database, chat) == before

    answer = td.BTN_YES if confirm else "否"
    turn = service.handle("test", chat, TextIn(answer), queue=True)
    assert _answer_key(database, chat) == before
    assert turn.outcome is not None and not turn.outcome.changes
    shown = reply_text(turn.replies[0])
    if confirm:
        # Handed to the current question as its answer: a name is no credit code.
        assert shown.startswith("✗") and "统一社会信用代码" in shown
    else:
        assert "统一社会信用代码" in "".join(reply_text(r) for r in turn.replies)
        assert not shown.startswith("✗")  # asked again, nothing refused

    # Only right after the restart: the same text later is an ordinary answer.
    plain = service.handle("test", chat, TextIn("继续"), queue=True)
    assert not any(isinstance(r, Choice) and "也是这个问题" in r.text for r in plain.replies)


def test_without_a_restart_a_repeat_is_an_ordinary_answer(
    database: Database, tmp_path: Path
) -> None:
    service = make_service(database, tmp_path / "files")
    _contact(service, "c2")
    name = "新疆天山智联信息技术有限公司"
    service.handle("test", "c2", TextIn(name), queue=True)
    again = service.handle("test", "c2", TextIn(name), queue=True)
    assert again.outcome is not None  # went to the dialog, no confirmation asked


def test_coalescing_at_start_up_keeps_notices_and_documents(
    database: Database,
) -> None:
    """The only process (SQLite) recovers every chat at start-up."""
    ids = queue(database, "5", "✓ 已保存", "下一个问题")
    with database.session() as session:
        Outbox(session).add(
            CHANNEL, "5", [{"type": "document", "filename": "a.pdf", "content": "", OWN: 1}], NOW
        )
    records = Deliveries(database, FrozenClock(NOW + timedelta(seconds=5)), CHANNEL)
    assert records.recover() == 1
    rows = statuses(database, "5")
    assert [s for s, _ in rows] == [SUPERSEDED, PENDING, PENDING]
    with database.session() as session:
        pending = Outbox(session).pending(CHANNEL, "5")
    assert pending[0].id == ids[1] and pending[0].payload[CONTINUED] is True
    assert pending[1].payload["type"] == "document"


def test_a_question_asked_again_lists_its_options_when_it_is_the_continuation(
    database: Database,
) -> None:
    """After a refused answer a question is asked without its list (the message before shows
    it). If that message was never delivered before a crash, the continuation lists them."""
    options = [["网络工程师", "4"], ["系统分析师", "17"]]
    listed = {"type": "choice", "text": "请选择：证书名称", "options": options, OWN: 1}
    again = {**listed, "text": "✗ 没有找到\n\n请选择：证书名称", AGAIN: True}
    with database.session() as session:
        Outbox(session).add(CHANNEL, "6", [listed, again], NOW)
    records = Deliveries(database, FrozenClock(NOW + timedelta(seconds=5)), CHANNEL)
    assert records.recover() == 1
    with database.session() as session:
        (kept,) = Outbox(session).pending(CHANNEL, "6")
    assert kept.payload[CONTINUED] is True and kept.payload[AGAIN] is False
    assert kept.payload["options"] == options
