"""The chat message's hot path: prepared statements, the per-process filing cache and the
replies handed to the channel without reading them back, on SQLite and PostgreSQL.

The cache may only ever save reading: whatever another process (here: another service on the
same database) or another code path writes, the next message sees."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import event

from bot.service import ChatService
from bot.workflow import load_filing
from dialogs.model import Key, SetAnswer
from dialogs.replies import Start, TextIn, reply_text
from dialogs.state import ConvState
from dialogs.view import View
from storage.db import Database
from storage.enterprises import EnterpriseRepository
from storage.members import MemberRepository
from storage.messaging import Outbox
from storage.repository import ConversationRepository, FilingRepository
from tests.fakes import ENTERPRISE_A, make_service
from tests.filing_script import Bad, Upload, filing_script

CHANNEL = "tg"
NOW = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)


def _bind(database: Database, *chats: str) -> int:
    name, code, grade, cert, first_year = ENTERPRISE_A
    with database.session() as session:
        enterprises = EnterpriseRepository(session)
        enterprise_id = enterprises.create_pending(name, code, grade[0], cert, first_year, NOW)
        enterprises.activate(enterprise_id, NOW)
        for chat in chats:
            MemberRepository(session).bind(CHANNEL, chat, enterprise_id, "invite", NOW)
        return enterprises.filing_for(enterprise_id, 2025, NOW)


def _typed_script() -> list[str]:
    """The scripted answers after section 1 (a bound contact has it from the roster) up to
    the first upload, refusals included."""
    steps = filing_script()
    typed: list[str] = []
    for step in steps[steps.index("确认") + 1 :]:
        if isinstance(step, Upload):
            break
        typed.append(step.text if isinstance(step, Bad) else step)
    return typed


def _say(service: ChatService, chat: str, text: str) -> str:
    turn = service.handle(CHANNEL, chat, TextIn(text), queue=True)
    return "\n".join(reply_text(r) for r in turn.replies)


def _asked(database: Database, chat: str) -> Key:
    with database.session() as session:
        stored = ConversationRepository(session).get(CHANNEL, chat)
    assert stored is not None
    key = ConvState.from_dict(stored.state).key
    assert key is not None
    return key


def test_the_cached_filing_is_what_a_fresh_read_returns(database: Database, tmp_path: Path) -> None:
    filing_id = _bind(database, "alice")
    service = make_service(database, tmp_path / "files", trial=())
    service.handle(CHANNEL, "alice", Start(), queue=True)
    _say(service, "alice", "确认")
    for text in _typed_script():
        _say(service, "alice", text)
        with database.session() as session:
            revision = FilingRepository(session).lock_revision(filing_id)
            fresh = load_filing(session, filing_id)
        cached = service.filing_cache.get(filing_id, revision)
        assert cached is not None and cached[0] == fresh, f"after {text!r}"
        # What the engine worked out about it, reused by the next step, is what a fresh
        # view of the stored filing works out.
        view = cached[1]
        assert view is not None and view.filing is cached[0]
        fresh_view = View(service.form, fresh)
        assert view.progress() == fresh_view.progress(), f"after {text!r}"
        assert list(view.iter_states()) == list(fresh_view.iter_states()), f"after {text!r}"
    assert service.filing_cache.hits > len(_typed_script()) // 2


def test_another_process_s_answer_is_seen_at_once(database: Database, tmp_path: Path) -> None:
    filing_id = _bind(database, "alice", "bob")
    mine = make_service(database, tmp_path / "files", trial=())
    theirs = make_service(database, tmp_path / "files", trial=())  # its own cache
    mine.handle(CHANNEL, "alice", Start(), queue=True)
    _say(mine, "alice", "确认")
    key = _asked(database, "alice")  # the contact's mobile, shown as not yet answered

    # Another process (bob's) answers the same question meanwhile.
    theirs.handle(CHANNEL, "bob", Start(), queue=True)
    _say(theirs, "bob", "确认")
    assert _asked(database, "bob") == key
    assert "✓" in _say(theirs, "bob", "13912345678")

    reply = _say(mine, "alice", "13800138000")
    assert "刚刚已被同单位的其他联系人填写为：13912345678" in reply
    with database.session() as session:
        assert FilingRepository(session).load(filing_id).get(key) == "13912345678"

    # A write by another code path of this very process is seen too.
    with database.session() as session:
        FilingRepository(session).apply(
            filing_id, [SetAnswer(key, "13700137000", "13912345678")], actor="test", now=NOW
        )
    assert "填写为：13700137000" in _say(mine, "alice", "13800138000")
    assert "✓ 保持不变" in _say(mine, "alice", "保留")


def test_a_typed_answer_takes_few_statements(database: Database, tmp_path: Path) -> None:
    """A regression guard on the work per message, counted (not timed): a bound contact's
    typed answer reads one integer of the filing, not the filing (bench/README.md)."""
    _bind(database, "alice")
    service = make_service(database, tmp_path / "files", trial=())
    service.handle(CHANNEL, "alice", Start(), queue=True)
    _say(service, "alice", "确认")
    statements: list[str] = []

    def count(_conn: object, _cursor: object, sql: str, *_args: object) -> None:
        statements.append(sql)

    event.listen(database.engine, "before_cursor_execute", count)
    turn = service.handle(CHANNEL, "alice", TextIn("13800138000"), event_id="u1", queue=True)
    event.remove(database.engine, "before_cursor_execute", count)

    assert "✓" in reply_text(turn.replies[0])
    # Prepared statements bypass SQLAlchemy's execution events: what is counted here is what
    # still goes through SQLAlchemy, i.e. nothing on this path.
    assert statements == []
    # The channel gets the queued replies as stored, with their outbox ids.
    assert [item.id for item in turn.queued] == list(turn.outbox_ids)
    with database.session() as session:
        pending = Outbox(session).pending(CHANNEL, "alice")
    assert [p.payload for p in pending[-len(turn.queued) :]] == [q.payload for q in turn.queued]
