"""One suite, run against SQLite and PostgreSQL (see the `db_url` fixture in conftest)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, inspect, select, text
from sqlalchemy.exc import StatementError

from dialogs.model import (
    AddRecord,
    Answer,
    Change,
    ClearAnswer,
    DeleteRecord,
    FileRef,
    Filing,
    Key,
    SetAnswer,
    Source,
    Value,
    apply_changes,
)
from storage.db import Database, make_engine, normalize_url
from storage.migrate import current_revision, downgrade, upgrade
from storage.models import AnswerRow, Base, ConversationRow, FilingRow
from storage.repository import (
    MAX_NUMBER,
    AttachmentRepository,
    ConversationRepository,
    FilingNotFound,
    FilingRepository,
    ReadOnlyAnswer,
    StaleAnswer,
    UnstorableValue,
)
from tests.fakes import schema_diff

NOW = datetime(2025, 11, 27, 8, 30, 15, 123456, tzinfo=UTC)
SHANGHAI = timezone(timedelta(hours=8))


def _new_filing(database: Database, year: int = 2025) -> int:
    with database.session() as session:
        return FilingRepository(session).create(year, NOW)


def _load(database: Database, filing_id: int) -> Filing:
    with database.session() as session:
        return FilingRepository(session).load(filing_id)


def _apply(
    database: Database, filing_id: int, changes: Sequence[Change], now: datetime = NOW
) -> None:
    with database.session() as session:
        FilingRepository(session).apply(filing_id, changes, actor="contact:1", now=now)


# --- migrations -----------------------------------------------------------------------------


def test_normalize_url() -> None:
    assert normalize_url("postgres://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert normalize_url("postgresql://u@h:5432/db") == "postgresql+psycopg://u@h:5432/db"
    assert normalize_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("sqlite:///data/nj.db") == "sqlite:///data/nj.db"


HEAD = "0007"


def test_migrations_match_models_and_go_down_and_up(db_url: str) -> None:
    upgrade(db_url)
    assert current_revision(db_url) == HEAD
    assert schema_diff(db_url) == []

    # Each migration goes down on its own, then everything comes back.
    downgrade(db_url, "0001")
    assert current_revision(db_url) == "0001"
    engine = make_engine(db_url)
    assert "outbox" not in inspect(engine).get_table_names()
    engine.dispose()
    upgrade(db_url)
    assert schema_diff(db_url) == []

    downgrade(db_url, "base")
    assert current_revision(db_url) is None
    # The comparison really looks at the database: with no tables it reports them all.
    diffs = [diff for diff in schema_diff(db_url) if isinstance(diff, tuple)]
    added = {diff[1].name for diff in diffs if diff[0] == "add_table"}
    assert added == set(Base.metadata.tables)

    upgrade(db_url)
    assert current_revision(db_url) == HEAD
    assert schema_diff(db_url) == []


def test_sqlite_pragmas(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/new/dir/x.db"
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
    finally:
        engine.dispose()


# --- filings --------------------------------------------------------------------------------

EVERY_TYPE: dict[Key, Value] = {
    Key("revenue", year=2025): Decimal("12345678.90"),
    Key("net_profit", year=2025): Decimal("-98765.43"),
    Key("net_assets", year=2024): Decimal("-0.01"),
    Key("taxes", year=2025): Decimal("0.00"),
    Key("largest", year=2025): MAX_NUMBER - Decimal("0.01"),
    Key("staff_total"): 57,
    Key("staff_zero"): 0,
    Key("merged", record="p1"): True,
    Key("has_rd"): False,
    Key("acceptance_date", record="p1"): date(2025, 12, 31),
    Key("company_name"): "新疆某某信息技术有限公司 (Urumqi) ✓",
    Key("licence"): FileRef("a" * 64, "营业执照 扫描件.pdf", 123456, "application/pdf"),
}


def test_every_value_type_round_trips(database: Database) -> None:
    filing_id = _new_filing(database)
    _apply(database, filing_id, [SetAnswer(k, v) for k, v in EVERY_TYPE.items()])

    filing = _load(database, filing_id)
    assert (filing.id, filing.year, filing.status) == (filing_id, 2025, "draft")
    assert set(filing.answers) == set(EVERY_TYPE)
    for key, expected in EVERY_TYPE.items():
        answer = filing.answers[key]
        assert type(answer.value) is type(expected), key
        assert answer.value == expected, key
        assert (answer.source, answer.revision) == (Source.USER, 1)
    assert str(filing.get(Key("revenue", year=2025))) == "12345678.90"


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    amount=st.decimals(
        min_value=-MAX_NUMBER + Decimal("0.01"),
        max_value=MAX_NUMBER - Decimal("0.01"),
        places=2,
        allow_nan=False,
        allow_infinity=False,
    ),
    # Lone surrogates cannot be encoded as UTF-8 at all; the parsers strip them before storage.
    words=st.text(
        alphabet=st.characters(codec="utf-8", exclude_characters="\x00"),
        max_size=200,
    ),
)
def test_decimals_and_text_are_exact(database: Database, amount: Decimal, words: str) -> None:
    filing_id = _new_filing(database)
    _apply(database, filing_id, [SetAnswer(Key("m"), amount), SetAnswer(Key("t"), words)])
    filing = _load(database, filing_id)
    assert filing.get(Key("m")) == amount
    assert filing.get(Key("t")) == words


def test_stored_filing_equals_in_memory_replay(database: Database) -> None:
    filing_id = _new_filing(database)
    steps: list[list[Change]] = [
        [SetAnswer(Key("staff_total"), 40), AddRecord("projects", "p1")],
        [SetAnswer(Key("name", "p1"), "智慧园区"), SetAnswer(Key("fee", "p1"), Decimal("10.50"))],
        [AddRecord("projects", "p2"), SetAnswer(Key("name", "p2"), "数据中心")],
        [SetAnswer(Key("staff_total"), 41, 40), ClearAnswer(Key("fee", "p1"), Decimal("10.50"))],
        [DeleteRecord("projects", "p1"), AddRecord("holders", "h1")],
    ]
    expected = _load(database, filing_id)
    for step in steps:
        expected = apply_changes(expected, step)
        _apply(database, filing_id, step)
        stored = _load(database, filing_id)
        assert dict(stored.answers) == dict(expected.answers)
        assert dict(stored.records) == dict(expected.records)


def test_revision_author_and_timestamps(database: Database) -> None:
    filing_id = _new_filing(database)
    key = Key("staff_total")
    later = datetime(2025, 12, 1, 18, 0, tzinfo=SHANGHAI)
    _apply(database, filing_id, [SetAnswer(key, 30)])
    _apply(database, filing_id, [SetAnswer(key, 31, previous=30)], now=later)

    assert _load(database, filing_id).answers[key].revision == 2
    with database.session() as session:
        row = session.execute(
            select(AnswerRow).where(AnswerRow.filing_id == filing_id)
        ).scalar_one()
        filing = session.get(FilingRow, filing_id)
        assert filing is not None
        assert row.updated_by == "contact:1"
        for stamp in (row.updated_at, filing.updated_at):
            assert stamp == later
            assert stamp.tzinfo is UTC
        assert filing.created_at == NOW


def test_naive_datetimes_are_refused(database: Database) -> None:
    with pytest.raises(StatementError, match="naive"), database.session() as session:
        FilingRepository(session).create(2025, datetime(2025, 1, 1))


def test_same_key_twice_in_one_batch(database: Database) -> None:
    filing_id = _new_filing(database)
    key = Key("x")
    _apply(database, filing_id, [SetAnswer(key, 1), SetAnswer(key, 2, previous=1)])
    assert _load(database, filing_id).answers[key].revision == 2
    _apply(database, filing_id, [ClearAnswer(key, previous=2), SetAnswer(key, 3)])
    answer = _load(database, filing_id).answers[key]
    assert (answer.value, answer.revision) == (3, 1)


def test_records_keep_their_order_and_take_their_answers_along(database: Database) -> None:
    filing_id = _new_filing(database)
    _apply(database, filing_id, [AddRecord("projects", "p1"), AddRecord("projects", "p2")])
    _apply(database, filing_id, [AddRecord("projects", "p3"), AddRecord("projects", "p1")])
    _apply(database, filing_id, [AddRecord("holders", "h1")])
    for record in ("p1", "p2", "p3"):
        _apply(database, filing_id, [SetAnswer(Key("name", record), f"项目 {record}")])
    _apply(database, filing_id, [SetAnswer(Key("staff_total"), 12)])
    assert _load(database, filing_id).record_ids("projects") == ("p1", "p2", "p3")

    _apply(database, filing_id, [DeleteRecord("projects", "p2")])
    _apply(database, filing_id, [AddRecord("projects", "p4")])

    filing = _load(database, filing_id)
    assert filing.record_ids("projects") == ("p1", "p3", "p4")
    assert filing.record_ids("holders") == ("h1",)
    assert set(filing.answers) == {Key("name", "p1"), Key("name", "p3"), Key("staff_total")}


def test_deleting_a_filing_cascades(database: Database) -> None:
    filing_id = _new_filing(database)
    _apply(database, filing_id, [AddRecord("projects", "p1"), SetAnswer(Key("n", "p1"), 1)])
    with database.session() as session:
        ConversationRepository(session).put("telegram", "42", filing_id, {}, NOW)
    with database.session() as session:
        session.execute(delete(FilingRow).where(FilingRow.id == filing_id))
    with database.session() as session:
        for table in ("answers", "records"):
            assert session.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0
        stored = ConversationRepository(session).get("telegram", "42")
        assert stored is not None
        assert stored.filing_id is None


def test_stale_previous_refuses_the_whole_batch(database: Database) -> None:
    filing_id = _new_filing(database)
    _apply(database, filing_id, [SetAnswer(Key("a"), 1)])

    batches: list[list[Change]] = [
        [SetAnswer(Key("b"), 5), AddRecord("g", "r"), SetAnswer(Key("a"), 3, previous=2)],
        [SetAnswer(Key("b"), 5), SetAnswer(Key("a"), 3)],  # the user saw no value yet
        [AddRecord("g", "r"), ClearAnswer(Key("a"), previous=Decimal("1.00"))],  # type differs
        [SetAnswer(Key("b"), 5, previous=4)],  # the user saw a value that is gone
    ]
    for batch in batches:
        with pytest.raises(StaleAnswer) as raised, database.session() as session:
            FilingRepository(session).apply(filing_id, batch, actor="c", now=NOW)
        stale = batch[-1]
        assert isinstance(stale, SetAnswer | ClearAnswer)
        assert raised.value.key == stale.key
        assert raised.value.current == (1 if stale.key == Key("a") else None)

    filing = _load(database, filing_id)
    assert dict(filing.answers) == {Key("a"): filing.answers[Key("a")]}
    assert filing.get(Key("a")) == 1
    assert filing.records == {}


def test_a_concurrent_edit_is_not_overwritten(database: Database) -> None:
    filing_id = _new_filing(database)
    key = Key("revenue", year=2025)
    _apply(database, filing_id, [SetAnswer(key, Decimal("100.00"))])
    seen_by_alice = _load(database, filing_id)
    seen_by_bob = _load(database, filing_id)

    _apply(database, filing_id, [SetAnswer(key, Decimal("120.00"), seen_by_bob.get(key))])
    with pytest.raises(StaleAnswer) as raised:
        _apply(database, filing_id, [SetAnswer(key, Decimal("90.00"), seen_by_alice.get(key))])
    assert raised.value.current == Decimal("120.00")
    assert _load(database, filing_id).get(key) == Decimal("120.00")


def test_concurrent_steps_on_one_filing_do_not_lose_updates(
    database: Database, db_url: str
) -> None:
    filing_id = _new_filing(database)
    key = Key("staff_total")
    _apply(database, filing_id, [SetAnswer(key, 1)])
    other = Database.from_url(db_url)  # Bob's process
    alice_wrote, alice_may_commit = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def alice() -> None:
        with database.session() as session:
            FilingRepository(session).apply(filing_id, [SetAnswer(key, 2, 1)], actor="a", now=NOW)
            alice_wrote.set()
            alice_may_commit.wait(10)

    def bob() -> None:
        try:
            with other.session() as session:
                repository = FilingRepository(session)
                repository.apply(filing_id, [SetAnswer(key, 3, 1)], actor="b", now=NOW)
        except StaleAnswer as error:
            outcome["stale"] = error.current

    threads = [threading.Thread(target=alice), threading.Thread(target=bob)]
    try:
        threads[0].start()
        assert alice_wrote.wait(10)
        threads[1].start()
        time.sleep(0.2)  # Bob now waits for Alice's lock (or, if slow, starts after her commit)
        alice_may_commit.set()
        for thread in threads:
            thread.join(20)
    finally:
        alice_may_commit.set()
        other.dispose()

    assert outcome == {"stale": 2}
    assert _load(database, filing_id).answers[key] == Answer(2, Source.USER, 2)


def test_roster_answers_are_read_only(database: Database) -> None:
    filing_id = _new_filing(database)
    key = Key("completed_value", year=2023)
    with database.session() as session:
        FilingRepository(session).import_answer(filing_id, key, Decimal("1500.00"), NOW)

    answer = _load(database, filing_id).answers[key]
    assert (answer.value, answer.source, answer.revision) == (Decimal("1500.00"), Source.ROSTER, 1)
    for change in (SetAnswer(key, Decimal("1.00"), answer.value), ClearAnswer(key, answer.value)):
        with pytest.raises(ReadOnlyAnswer), database.session() as session:
            FilingRepository(session).apply(filing_id, [change], actor="c", now=NOW)

    with database.session() as session:  # a re-import corrects the value
        FilingRepository(session).import_answer(filing_id, key, Decimal("1600.00"), NOW)
    answer = _load(database, filing_id).answers[key]
    assert (answer.value, answer.source, answer.revision) == (Decimal("1600.00"), Source.ROSTER, 2)


def test_values_the_schema_cannot_hold_exactly_are_refused(database: Database) -> None:
    filing_id = _new_filing(database)
    for value in (MAX_NUMBER, Decimal("1.005"), Decimal("NaN"), "a\x00b", 10**15):
        with pytest.raises(UnstorableValue):
            _apply(database, filing_id, [SetAnswer(Key("x"), value)])
    with pytest.raises(UnstorableValue):
        _apply(database, filing_id, [DeleteRecord("projects", "")])
    assert _load(database, filing_id).answers == {}


def test_status_and_missing_filings(database: Database) -> None:
    filing_id = _new_filing(database)
    with database.session() as session:
        FilingRepository(session).set_status(filing_id, "submitted", NOW)
    assert _load(database, filing_id).status == "submitted"

    missing = filing_id + 1000
    with pytest.raises(FilingNotFound):
        _load(database, missing)
    with pytest.raises(FilingNotFound):
        _apply(database, missing, [AddRecord("g", "r")])
    with pytest.raises(FilingNotFound), database.session() as session:
        FilingRepository(session).set_status(missing, "submitted", NOW)


def test_a_commit_is_visible_to_another_process(database: Database, db_url: str) -> None:
    other = Database.from_url(db_url)  # stands in for a second bot process
    try:
        filing_id = _new_filing(database)
        _apply(database, filing_id, [SetAnswer(Key("staff_total"), 7)])
        with other.session() as session:
            assert FilingRepository(session).load(filing_id).get(Key("staff_total")) == 7
            FilingRepository(session).apply(
                filing_id, [SetAnswer(Key("staff_total"), 8, 7)], actor="b", now=NOW
            )
        assert _load(database, filing_id).get(Key("staff_total")) == 8
    finally:
        other.dispose()


def test_a_whole_filing_step_by_step_is_fast(database: Database) -> None:
    filing_id = _new_filing(database)
    steps: list[list[Change]] = []
    for project in range(10):
        record = f"p{project}"
        steps.append([AddRecord("projects", record)])
        steps += [
            [SetAnswer(Key(f"fee{i}", record), Decimal(f"{i}.25")) for i in range(j, j + 5)]
            for j in (0, 5)
        ]
    steps += [
        [SetAnswer(Key(f"f{i}", year=2025), i) for i in range(j, j + 5)] for j in range(0, 100, 5)
    ]

    started = time.perf_counter()
    for step in steps:
        with database.session() as session:
            repository = FilingRepository(session)
            before = repository.load(filing_id)
            changes = [
                SetAnswer(c.key, c.value, before.get(c.key)) if isinstance(c, SetAnswer) else c
                for c in step
            ]
            repository.apply(filing_id, changes, actor="c", now=NOW)
    elapsed = time.perf_counter() - started

    assert len(_load(database, filing_id).answers) == 200
    budget = 2.0 if database.dialect == "sqlite" else 10.0
    assert elapsed < budget, f"{len(steps)} steps took {elapsed:.2f} s"


# --- conversations and attachments ----------------------------------------------------------


def test_conversation_put_get_and_upsert(database: Database) -> None:
    filing_id = _new_filing(database)
    state = {"step": "经营情况", "draft": {"营业收入": "1,234.5万"}, "stack": [1, 2]}
    with database.session() as session:
        conversations = ConversationRepository(session)
        assert conversations.get("telegram", "1001") is None
        conversations.put("telegram", "1001", None, state, NOW)

    with database.session() as session:
        stored = ConversationRepository(session).get("telegram", "1001")
        raw = session.scalar(select(ConversationRow.state))
        updated_at = session.scalar(select(ConversationRow.updated_at))
    assert stored is not None
    assert (stored.channel, stored.chat_id, stored.filing_id) == ("telegram", "1001", None)
    assert stored.state == state
    assert updated_at == NOW
    assert raw is not None
    assert "经营情况" in raw  # readable in the database, not \\u-escaped

    later = NOW + timedelta(minutes=5)
    with database.session() as session:
        ConversationRepository(session).put("telegram", "1001", filing_id, {"step": "附件"}, later)
        ConversationRepository(session).put("wecom", "1001", None, {}, later)
    with database.session() as session:
        stored = ConversationRepository(session).get("telegram", "1001")
        other = ConversationRepository(session).get("wecom", "1001")
        updated_at = session.scalar(
            select(ConversationRow.updated_at).where(ConversationRow.channel == "telegram")
        )
    assert stored is not None
    assert other is not None
    assert (stored.filing_id, stored.state, updated_at) == (filing_id, {"step": "附件"}, later)
    assert other.state == {}


def test_attachments_are_recorded_once(database: Database) -> None:
    ref = FileRef("b" * 64, "合同.pdf", 2048, "application/pdf")
    with database.session() as session:
        attachments = AttachmentRepository(session)
        assert not attachments.exists(ref.sha256)
        attachments.record(ref, NOW)
        attachments.record(ref, NOW)
    with database.session() as session:
        attachments = AttachmentRepository(session)
        attachments.record(FileRef(ref.sha256, "另一个名字.pdf", 2048, ref.content_type), NOW)
        assert attachments.exists(ref.sha256)
        assert not attachments.exists("c" * 64)
        assert session.execute(text("SELECT count(*) FROM attachments")).scalar() == 1
