"""Accounts, binding, submission and review storage, on SQLite and PostgreSQL (see the
`database` fixture in conftest)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import MappingProxyType

import pytest
from sqlalchemy import delete, inspect, select, text

from dialogs.cycle import Grade
from dialogs.model import (
    AddRecord,
    Answer,
    Change,
    ClearAnswer,
    FileRef,
    Filing,
    Key,
    SetAnswer,
    Source,
    Value,
)
from dialogs.roster import PriorYear, RosterEntry
from storage.db import Database, make_engine
from storage.enterprises import EnterpriseExists, EnterpriseNotFound, EnterpriseRepository
from storage.invites import INVITE_ALPHABET, InviteRepository, new_code
from storage.members import MemberRepository
from storage.migrate import current_revision, downgrade, upgrade
from storage.models import EnterpriseRow, FilingRow
from storage.repository import FilingNotFound, FilingRepository, ReadOnlyAnswer, UnstorableValue
from storage.requests import RequestRepository
from storage.reviewers import ReviewerRepository
from storage.workflow import StatusConflict, WorkflowRepository, filing_from_snapshot, snapshot_of
from tests.fakes import schema_diff

NOW = datetime(2025, 11, 27, 8, 30, tzinfo=UTC)
YEAR = 2025
CODE_A = "91110108551385082Q"
CODE_B = "91650100MA7XXXXXXX"


def _entry(
    name: str = "新疆某某信息技术有限公司",
    grade: Grade = Grade.YI,
    cert_number: str = "XJSI-2019-0042",
    prior: tuple[PriorYear, ...] = (),
    code: str = CODE_A,
) -> RosterEntry:
    return RosterEntry(2, name, code, grade, cert_number, 2019, prior)


def _filing_id(database: Database, enterprise_id: int, year: int = YEAR) -> int:
    with database.session() as session:
        found = session.scalar(
            select(FilingRow.id).where(
                FilingRow.enterprise_id == enterprise_id, FilingRow.year == year
            )
        )
    assert found is not None
    return found


def _load(database: Database, filing_id: int) -> Filing:
    with database.session() as session:
        return FilingRepository(session).load(filing_id)


def _count(database: Database, table: str) -> int:
    with database.session() as session:
        return int(session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def _enterprise(database: Database, code: str = CODE_A) -> int:
    with database.session() as session:
        enterprise_id, _created = EnterpriseRepository(session).upsert_from_roster(
            _entry(code=code), YEAR, NOW
        )
    return enterprise_id


# --- enterprises and the roster -------------------------------------------------------------

PRIOR = (
    PriorYear(2022, 3, Decimal("100.00"), Decimal("10.00")),  # outside the window
    PriorYear(2023, 5, Decimal("1500.50"), Decimal("300.25")),
    PriorYear(2024, None, Decimal("880.00"), None),  # only what is present
)


def test_roster_import_creates_then_updates(database: Database) -> None:
    with database.session() as session:
        enterprise_id, created = EnterpriseRepository(session).upsert_from_roster(
            _entry(prior=PRIOR), YEAR, NOW
        )
    assert created
    filing_id = _filing_id(database, enterprise_id)
    filing = _load(database, filing_id)
    assert (filing.year, filing.status) == (YEAR, "draft")
    expected: dict[Key, Value] = {
        Key("enterprise.name"): "新疆某某信息技术有限公司",
        Key("enterprise.credit_code"): CODE_A,
        Key("enterprise.grade"): "乙",
        Key("enterprise.cert_number"): "XJSI-2019-0042",
        Key("enterprise.first_year"): 2019,
        Key("completion.count", "", 2023): 5,
        Key("completion.contract", "", 2023): Decimal("1500.50"),
        Key("completion.service", "", 2023): Decimal("300.25"),
        Key("completion.contract", "", 2024): Decimal("880.00"),
    }
    assert {key: answer.value for key, answer in filing.answers.items()} == expected
    for key, answer in filing.answers.items():
        assert type(answer.value) is type(expected[key]), key
        assert (answer.source, answer.revision) == (Source.ROSTER, 1)

    later = NOW + timedelta(days=1)
    with database.session() as session:
        repository = EnterpriseRepository(session)
        again = repository.upsert_from_roster(
            _entry(name="新疆某某科技有限公司", grade=Grade.BING, cert_number="", prior=PRIOR),
            YEAR,
            later,
        )
        assert again == (enterprise_id, False)
        enterprise = repository.get(enterprise_id)
    assert enterprise is not None
    assert (enterprise.name, enterprise.grade, enterprise.cert_number) == (
        "新疆某某科技有限公司",
        "丙",
        "",
    )
    assert (enterprise.status, enterprise.created_at, enterprise.updated_at) == (
        "active",
        NOW,
        later,
    )
    assert _count(database, "enterprises") == 1
    assert _count(database, "filings") == 1
    filing = _load(database, filing_id)
    assert filing.answers[Key("enterprise.name")] == Answer(
        "新疆某某科技有限公司", Source.ROSTER, 2
    )
    assert filing.answers[Key("enterprise.grade")] == Answer("丙", Source.ROSTER, 2)
    # Unchanged values are not written again.
    assert filing.answers[Key("completion.count", "", 2023)] == Answer(5, Source.ROSTER, 1)


def test_roster_answers_are_read_only_for_contacts(database: Database) -> None:
    enterprise_id = _enterprise(database)
    filing_id = _filing_id(database, enterprise_id)
    name = Key("enterprise.name")
    current = _load(database, filing_id).get(name)
    for change in (SetAnswer(name, "别的公司", current), ClearAnswer(name, current)):
        with pytest.raises(ReadOnlyAnswer), database.session() as session:
            FilingRepository(session).apply(filing_id, [change], actor="contact", now=NOW)
    assert _load(database, filing_id).get(name) == current


def test_the_roster_activates_a_pending_registration(database: Database) -> None:
    with database.session() as session:
        pending = EnterpriseRepository(session).create_pending(
            "新疆某某信息技术有限公司", CODE_A, "乙", "", 2025, NOW
        )
    with database.session() as session:
        repository = EnterpriseRepository(session)
        assert repository.upsert_from_roster(_entry(), YEAR, NOW) == (pending, False)
        enterprise = repository.get(pending)
    assert enterprise is not None
    assert enterprise.status == "active"


def test_registration_lifecycle(database: Database) -> None:
    with database.session() as session:
        repository = EnterpriseRepository(session)
        enterprise_id = repository.create_pending(
            "新疆新获证信息技术有限公司", " 91650100ma7xxxxxxx ", Grade.DING, "", 2025, NOW
        )
        enterprise = repository.by_credit_code(CODE_B.lower())
        assert enterprise is not None
        assert (enterprise.id, enterprise.credit_code, enterprise.status) == (
            enterprise_id,
            CODE_B,
            "pending",
        )
        assert enterprise.grade == "丁"
        assert repository.all_active() == []
        with pytest.raises(EnterpriseExists) as exists:
            repository.create_pending("别的名字", CODE_B, "乙", "", 2025, NOW)
        assert (exists.value.enterprise_id, exists.value.status) == (enterprise_id, "pending")
        with pytest.raises(ValueError):
            repository.create_pending("x", CODE_A, "戊", "", 2025, NOW)
        with pytest.raises(UnstorableValue):
            repository.create_pending("x", CODE_A, "乙", "C" * 61, 2025, NOW)

        assert repository.reject(enterprise_id, NOW)
        assert not repository.reject(enterprise_id, NOW)
        assert not repository.activate(enterprise_id, NOW)
        # Registering again after a rejection reuses the row with the corrected values.
        again = repository.create_pending("新疆新获证科技有限公司", CODE_B, "丙", "", 2025, NOW)
        assert again == enterprise_id
        assert repository.activate(enterprise_id, NOW)
        assert not repository.activate(enterprise_id, NOW)
        with pytest.raises(EnterpriseExists):
            repository.create_pending("新疆新获证科技有限公司", CODE_B, "丙", "", 2025, NOW)
        assert [e.name for e in repository.all_active()] == ["新疆新获证科技有限公司"]
        assert repository.get(enterprise_id + 100) is None
        assert repository.by_credit_code(CODE_A) is None


def test_filing_for_creates_once_and_follows_the_enterprise(database: Database) -> None:
    with database.session() as session:
        repository = EnterpriseRepository(session)
        enterprise_id = repository.create_pending("甲公司", CODE_B, "丙", "", 2025, NOW)
        filing_id = repository.filing_for(enterprise_id, YEAR, NOW)
        assert repository.filing_for(enterprise_id, YEAR, NOW) == filing_id
        assert repository.filing_for(enterprise_id, YEAR + 1, NOW) != filing_id
        with pytest.raises(EnterpriseNotFound):
            repository.filing_for(enterprise_id + 100, YEAR, NOW)
    filing = _load(database, filing_id)
    assert filing.get(Key("enterprise.name")) == "甲公司"
    assert filing.get(Key("enterprise.first_year")) == 2025
    assert not filing.has(Key("enterprise.cert_number"))
    assert filing.answers[Key("enterprise.grade")] == Answer("丙", Source.ROSTER, 1)

    with database.session() as session:  # rejected, registered again with another name
        repository = EnterpriseRepository(session)
        assert repository.reject(enterprise_id, NOW)
        repository.create_pending("乙公司", CODE_B, "丙", "", 2025, NOW)
        assert repository.filing_for(enterprise_id, YEAR, NOW) == filing_id
    filing = _load(database, filing_id)
    assert filing.answers[Key("enterprise.name")] == Answer("乙公司", Source.ROSTER, 2)
    assert filing.answers[Key("enterprise.grade")] == Answer("丙", Source.ROSTER, 1)


def test_concurrent_first_filings_of_one_enterprise_share_it(
    database: Database, db_url: str
) -> None:
    enterprise_id = _enterprise(database)
    with database.session() as session:
        session.execute(delete(FilingRow))
    other = Database.from_url(db_url)
    results: list[int] = []
    first_inserted, first_may_commit = threading.Event(), threading.Event()

    def first() -> None:
        with database.session() as session:
            results.append(EnterpriseRepository(session).filing_for(enterprise_id, YEAR, NOW))
            first_inserted.set()
            first_may_commit.wait(10)

    def second() -> None:
        with other.session() as session:
            results.append(EnterpriseRepository(session).filing_for(enterprise_id, YEAR, NOW))

    _hold_then_race(first, second, first_inserted, first_may_commit)
    other.dispose()
    assert len(results) == 2
    assert results[0] == results[1]
    assert _count(database, "filings") == 1


# --- members and reviewers ------------------------------------------------------------------


def test_members_bind_rebind_and_unbind(database: Database) -> None:
    a, b = _enterprise(database, CODE_A), _enterprise(database, CODE_B)
    later = NOW + timedelta(hours=1)
    with database.session() as session:
        members = MemberRepository(session)
        assert members.get("telegram", "1") is None
        members.bind("telegram", "1", a, "invite", NOW, full_name="张三", mobile="13800138000")
        members.bind("telegram", "2", a, "request", later)
        members.bind("wecom", "1", b, "console", NOW)
        with pytest.raises(ValueError):
            members.bind("telegram", "3", a, "password", NOW)
    with database.session() as session:
        members = MemberRepository(session)
        member = members.get("telegram", "1")
        assert member is not None
        assert (member.enterprise_id, member.full_name, member.mobile, member.via) == (
            a,
            "张三",
            "13800138000",
            "invite",
        )
        assert member.bound_at == NOW
        assert [m.chat_id for m in members.of_enterprise(a)] == ["1", "2"]

        # A chat belongs to one enterprise: binding it again moves it.
        members.bind("telegram", "1", b, "registration", later)
        assert [m.chat_id for m in members.of_enterprise(a)] == ["2"]
        assert [(m.channel, m.chat_id) for m in members.of_enterprise(b)] == [
            ("wecom", "1"),
            ("telegram", "1"),
        ]
        moved = members.get("telegram", "1")
        assert moved is not None
        assert (moved.enterprise_id, moved.via, moved.full_name) == (b, "registration", "")

        assert members.set_contact("telegram", "1", "李四", "13900139000")
        assert not members.set_contact("telegram", "404", "李四", "13900139000")
        contact = members.get("telegram", "1")
        assert contact is not None
        assert (contact.full_name, contact.mobile) == ("李四", "13900139000")

        assert members.unbind("telegram", "2")
        assert not members.unbind("telegram", "2")
        assert members.of_enterprise(a) == []


def test_reviewers_are_configured_or_stored(database: Database) -> None:
    configured = {("telegram", "100"), ("wecom", "admin")}
    with database.session() as session:
        reviewers = ReviewerRepository(session)
        assert reviewers.is_reviewer("telegram", "100", configured)
        assert not reviewers.is_reviewer("telegram", "7", configured)
        assert reviewers.add("telegram", "7", "telegram:100", NOW)
        assert not reviewers.add("telegram", "7", "telegram:100", NOW)
        assert reviewers.add("telegram", "100", "telegram:100", NOW)  # also configured
    with database.session() as session:
        reviewers = ReviewerRepository(session)
        assert reviewers.is_reviewer("telegram", "7", configured)
        assert reviewers.is_reviewer("telegram", "7", ())
        assert reviewers.all(configured) == [
            ("telegram", "100"),
            ("telegram", "7"),
            ("wecom", "admin"),
        ]
        assert reviewers.remove("telegram", "100")
        assert reviewers.is_reviewer("telegram", "100", configured)  # the settings still say so
        assert not reviewers.is_reviewer("telegram", "100", ())
        assert reviewers.all(()) == [("telegram", "7")]


# --- invites --------------------------------------------------------------------------------


def test_new_codes_are_unambiguous() -> None:
    codes = {new_code() for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        assert len(code) == 8
        assert set(code) <= set(INVITE_ALPHABET)
    assert not set("01IO") & set(INVITE_ALPHABET)


def test_invites_redeem_once(database: Database) -> None:
    enterprise_id = _enterprise(database)
    with database.session() as session:
        invites = InviteRepository(session)
        code = invites.issue(enterprise_id, NOW, timedelta(days=7), "abcd 2345")
        assert code == "ABCD2345"
        with pytest.raises(ValueError):
            invites.issue(enterprise_id, NOW, timedelta(days=7), "  ")
        with pytest.raises(ValueError):
            invites.issue(enterprise_id, NOW, timedelta(0), new_code())

    later = NOW + timedelta(days=1)
    with database.session() as session:
        invites = InviteRepository(session)
        info = invites.peek(" abcd-2345 ", later)
        assert info is not None
        assert (info.enterprise_id, info.enterprise_name, info.usable) == (
            enterprise_id,
            "新疆某某信息技术有限公司",
            True,
        )
        assert info.expires_at == NOW + timedelta(days=7)
        assert invites.peek("ZZZZ2222", later) is None
        assert invites.redeem("ZZZZ2222", "telegram:1", later) is None  # unknown
        assert invites.redeem("", "telegram:1", later) is None
        # Full-width characters, as a Chinese input method may type them.
        assert invites.redeem("ａｂｃｄ２３４５", "telegram:1", later) == enterprise_id
    with database.session() as session:
        invites = InviteRepository(session)
        assert invites.redeem(code, "telegram:2", later) is None  # used
        info = invites.peek(code, later)
        assert info is not None
        assert (info.usable, info.used_at, info.used_by) == (False, later, "telegram:1")


def test_expired_invites_are_refused(database: Database) -> None:
    enterprise_id = _enterprise(database)
    with database.session() as session:
        code = InviteRepository(session).issue(enterprise_id, NOW, timedelta(hours=1), new_code())
    expiry = NOW + timedelta(hours=1)
    with database.session() as session:
        invites = InviteRepository(session)
        info = invites.peek(code, expiry)
        assert info is not None
        assert not info.usable
        assert invites.redeem(code, "telegram:1", expiry) is None
        assert invites.redeem(code, "telegram:1", expiry - timedelta(microseconds=1)) == (
            enterprise_id
        )


def _hold_then_race(
    first: Callable[[], None],
    second: Callable[[], None],
    first_wrote: threading.Event,
    first_may_commit: threading.Event,
) -> None:
    """Runs `first` until it has written (and holds its transaction open), starts `second`
    against it, then lets `first` commit."""
    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    try:
        threads[0].start()
        assert first_wrote.wait(10)
        threads[1].start()
        time.sleep(0.2)  # the second now waits for the first's lock
        first_may_commit.set()
        for thread in threads:
            thread.join(20)
    finally:
        first_may_commit.set()


def test_concurrent_redeems_succeed_once(database: Database, db_url: str) -> None:
    enterprise_id = _enterprise(database)
    with database.session() as session:
        code = InviteRepository(session).issue(enterprise_id, NOW, timedelta(days=1), new_code())
    other = Database.from_url(db_url)  # the second chat's bot process
    results: dict[str, int | None] = {}
    alice_redeemed, alice_may_commit = threading.Event(), threading.Event()

    def alice() -> None:
        with database.session() as session:
            results["alice"] = InviteRepository(session).redeem(code, "telegram:1", NOW)
            alice_redeemed.set()
            alice_may_commit.wait(10)

    def bob() -> None:
        with other.session() as session:
            results["bob"] = InviteRepository(session).redeem(code, "telegram:2", NOW)

    _hold_then_race(alice, bob, alice_redeemed, alice_may_commit)
    other.dispose()
    assert results == {"alice": enterprise_id, "bob": None}


def _redeem_racing(database: Database, code: str, chats: int) -> list[int | None]:
    start = threading.Barrier(chats)
    results: list[int | None] = []

    def redeem(chat: int) -> None:
        start.wait(10)
        with database.session() as session:
            results.append(InviteRepository(session).redeem(code, f"telegram:{chat}", NOW))

    threads = [threading.Thread(target=redeem, args=(chat,)) for chat in range(chats)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    return results


def test_racing_redeems_succeed_once(database: Database) -> None:
    enterprise_id = _enterprise(database)
    with database.session() as session:
        invites = InviteRepository(session)
        codes = [invites.issue(enterprise_id, NOW, timedelta(days=1), new_code()) for _ in range(5)]
    for code in codes:
        results = _redeem_racing(database, code, 4)
        assert sorted(results, key=lambda won: won is None) == [enterprise_id, None, None, None]


# --- requests -------------------------------------------------------------------------------


def test_request_lifecycle(database: Database) -> None:
    enterprise_id = _enterprise(database)
    later = NOW + timedelta(minutes=5)
    payload = {"full_name": "张三", "mobile": "13800138000", "amount": "1.50"}
    with database.session() as session:
        requests = RequestRepository(session)
        binding = requests.open(
            "binding", "telegram", "1", payload, later, enterprise_id=enterprise_id
        )
        registration = requests.open("registration", "telegram", "2", {"name": "新公司"}, NOW)
        with pytest.raises(ValueError):
            requests.open("password", "telegram", "3", {}, NOW)
    with database.session() as session:
        requests = RequestRepository(session)
        assert [r.id for r in requests.pending()] == [registration, binding]  # oldest first
        assert [r.id for r in requests.pending("binding")] == [binding]
        assert [r.id for r in requests.pending_for("telegram", "1")] == [binding]
        assert requests.pending_for("wecom", "1") == []
        stored = requests.get(binding)
        assert stored is not None
        assert (stored.kind, stored.enterprise_id, stored.payload, stored.status) == (
            "binding",
            enterprise_id,
            payload,
            "pending",
        )
        assert requests.get(binding + 100) is None

        with pytest.raises(ValueError):
            requests.decide(binding, "pending", "telegram:100", NOW)
        assert requests.decide(binding, "rejected", "telegram:100", later, reason="不认识此人")
        assert not requests.decide(binding, "approved", "telegram:101", later)  # already decided
        assert requests.decide(registration, "approved", "telegram:101", later)
    with database.session() as session:
        requests = RequestRepository(session)
        decided = requests.get(binding)
        assert decided is not None
        assert (decided.status, decided.decided_at, decided.decided_by, decided.reason) == (
            "rejected",
            later,
            "telegram:100",
            "不认识此人",
        )
        assert requests.pending() == []
        assert requests.pending_for("telegram", "1") == []


def test_deleting_an_enterprise_takes_its_bindings_along(database: Database) -> None:
    enterprise_id = _enterprise(database)
    filing_id = _filing_id(database, enterprise_id)
    with database.session() as session:
        MemberRepository(session).bind("telegram", "1", enterprise_id, "invite", NOW)
        InviteRepository(session).issue(enterprise_id, NOW, timedelta(days=1), new_code())
        request_id = RequestRepository(session).open(
            "binding", "telegram", "2", {}, NOW, enterprise_id=enterprise_id
        )
    with database.session() as session:
        session.execute(delete(EnterpriseRow))
    assert _count(database, "members") == 0
    assert _count(database, "invites") == 0
    with database.session() as session:
        request = RequestRepository(session).get(request_id)
        filing = session.get(FilingRow, filing_id)
        assert request is not None
        assert filing is not None
        assert (request.enterprise_id, filing.enterprise_id) == (None, None)


# --- submission and review ------------------------------------------------------------------

EVERY_TYPE: dict[Key, Value] = {
    Key("revenue", year=2025): Decimal("12345678.90"),
    Key("net_profit", year=2025): Decimal("-98765.43"),
    Key("taxes", year=2024): Decimal("0.00"),
    Key("staff_total"): 57,
    Key("staff_zero"): 0,
    Key("merged", record="p1"): True,
    Key("has_rd"): False,
    Key("acceptance_date", record="p1"): date(2025, 12, 31),
    Key("company_name"): '新疆某某 "信息" 技术有限公司 ✓\n第二行',
    Key("licence"): FileRef("a" * 64, "营业执照 扫描件.pdf", 123456, "application/pdf"),
}


def _filled_filing(database: Database) -> tuple[int, Filing]:
    enterprise_id = _enterprise(database)
    filing_id = _filing_id(database, enterprise_id)
    with database.session() as session:
        repository = FilingRepository(session)
        changes: list[Change] = [AddRecord("projects", "p2"), AddRecord("projects", "p1")]
        changes += [SetAnswer(key, value) for key, value in EVERY_TYPE.items()]
        repository.apply(filing_id, changes, actor="telegram:1", now=NOW)
        return filing_id, repository.load(filing_id)


def test_snapshot_round_trips_every_value_type() -> None:
    answers = {key: Answer(value) for key, value in EVERY_TYPE.items()}
    filing = Filing(
        7,
        YEAR,
        "draft",
        MappingProxyType(answers),
        MappingProxyType({"projects": ("p2", "p1"), "holders": ()}),
    )
    snapshot = snapshot_of(filing)
    again = filing_from_snapshot(snapshot, 7, YEAR)
    assert (again.id, again.year, again.status) == (7, YEAR, "submitted")
    assert dict(again.answers) == answers
    for key, value in EVERY_TYPE.items():
        assert type(again.get(key)) is type(value), key
    assert dict(again.records) == {"projects": ("p2", "p1"), "holders": ()}
    assert snapshot_of(again) == snapshot
    with pytest.raises(ValueError):
        filing_from_snapshot({**snapshot, "format": 99}, 7, YEAR)


def test_submitting_freezes_numbered_versions(database: Database) -> None:
    filing_id, filing = _filled_filing(database)
    first, second = NOW + timedelta(hours=1), NOW + timedelta(hours=5)
    with database.session() as session:
        workflow = WorkflowRepository(session)
        assert workflow.status(filing_id) == ("draft", 0)
        assert workflow.submit(filing_id, snapshot_of(filing), "telegram:1", "telegram", first) == 1
        assert workflow.status(filing_id) == ("submitted", 1)
    with database.session() as session:
        workflow = WorkflowRepository(session)
        assert workflow.transition(
            filing_id,
            "rejected",
            "telegram:100",
            "telegram",
            first,
            reason="请补充",
            sections=["4"],
        )
        FilingRepository(session).apply(
            filing_id,
            [SetAnswer(Key("staff_total"), 58, 57)],
            actor="telegram:1",
            now=second,
        )
        changed = FilingRepository(session).load(filing_id)
        version = workflow.submit(
            filing_id,
            snapshot_of(changed),
            "wecom:9",
            "wecom",
            second,
            expect_from=("draft", "rejected"),
        )
        assert version == 2
    with database.session() as session:
        workflow = WorkflowRepository(session)
        assert workflow.status(filing_id) == ("submitted", 2)
        one, two = (workflow.version_snapshot(filing_id, v) for v in (1, 2))
        assert workflow.version_snapshot(filing_id, 3) is None
        with pytest.raises(StatusConflict) as conflict:
            workflow.submit(filing_id, {}, "telegram:1", "telegram", second, expect_from=["draft"])
        assert conflict.value.status == "submitted"
        with pytest.raises(FilingNotFound):
            workflow.status(filing_id + 100)
        with pytest.raises(FilingNotFound):
            workflow.submit(filing_id + 100, {}, "telegram:1", "telegram", second)
    assert one is not None
    assert two is not None
    frozen = filing_from_snapshot(one, filing_id, YEAR)
    assert {k: a.value for k, a in frozen.answers.items()} == {
        k: a.value for k, a in filing.answers.items()
    }
    assert frozen.records == {"projects": ("p2", "p1")}
    assert filing_from_snapshot(two, filing_id, YEAR).get(Key("staff_total")) == 58
    assert frozen.get(Key("staff_total")) == 57


def test_transitions_are_guarded_and_recorded(database: Database) -> None:
    enterprise_id = _enterprise(database)
    filing_id = _filing_id(database, enterprise_id)
    times = [NOW + timedelta(minutes=m) for m in range(6)]
    with database.session() as session:
        workflow = WorkflowRepository(session)
        assert not workflow.transition(
            filing_id, "approved", "telegram:100", "telegram", times[0], expect_from=["submitted"]
        )
        assert workflow.status(filing_id) == ("draft", 0)
        workflow.submit(filing_id, {}, "telegram:1", "telegram", times[1])
        assert workflow.transition(
            filing_id, "approved", "telegram:100", "telegram", times[2], expect_from=["submitted"]
        )
        # A second reviewer deciding the same submission is refused.
        assert not workflow.transition(
            filing_id,
            "rejected",
            "telegram:101",
            "telegram",
            times[3],
            reason="晚了",
            expect_from=["submitted"],
        )
        assert workflow.transition(filing_id, "completed", "system", "console", times[4])
        with pytest.raises(FilingNotFound):
            workflow.transition(filing_id + 100, "approved", "x", "console", times[5])
    with database.session() as session:
        history = WorkflowRepository(session).history(filing_id)
    assert [(t.from_status, t.to_status, t.version, t.actor, t.at) for t in history] == [
        ("draft", "submitted", 1, "telegram:1", times[1]),
        ("submitted", "approved", 1, "telegram:100", times[2]),
        ("approved", "completed", 1, "system", times[4]),
    ]
    assert {t.filing_id for t in history} == {filing_id}
    assert [t.channel for t in history] == ["telegram", "telegram", "console"]
    assert all(t.reason is None and t.sections is None for t in history)

    with database.session() as session:
        workflow = WorkflowRepository(session)
        workflow.transition(
            filing_id,
            "rejected",
            "telegram:100",
            "telegram",
            times[5],
            reason="第 4 节数据有误",
            sections=("4", "5.1"),
        )
        last = workflow.history(filing_id)[-1]
    assert (last.reason, last.sections, last.to_status) == (
        "第 4 节数据有误",
        ("4", "5.1"),
        "rejected",
    )


def test_concurrent_submissions_submit_once(database: Database, db_url: str) -> None:
    enterprise_id = _enterprise(database)
    filing_id = _filing_id(database, enterprise_id)
    other = Database.from_url(db_url)
    outcome: dict[str, object] = {}
    alice_submitted, alice_may_commit = threading.Event(), threading.Event()

    def alice() -> None:
        with database.session() as session:
            workflow = WorkflowRepository(session)
            outcome["alice"] = workflow.submit(
                filing_id, {}, "telegram:1", "telegram", NOW, expect_from=["draft"]
            )
            alice_submitted.set()
            alice_may_commit.wait(10)

    def bob() -> None:
        try:
            with other.session() as session:
                workflow = WorkflowRepository(session)
                outcome["bob"] = workflow.submit(
                    filing_id, {}, "telegram:2", "telegram", NOW, expect_from=["draft"]
                )
        except StatusConflict as conflict:
            outcome["bob"] = conflict.status

    _hold_then_race(alice, bob, alice_submitted, alice_may_commit)
    other.dispose()
    assert outcome == {"alice": 1, "bob": "submitted"}
    with database.session() as session:
        assert WorkflowRepository(session).status(filing_id) == ("submitted", 1)
        assert len(WorkflowRepository(session).history(filing_id)) == 1


def test_queue_is_oldest_first(database: Database) -> None:
    a, b = _enterprise(database, CODE_A), _enterprise(database, CODE_B)
    filing_a, filing_b = _filing_id(database, a), _filing_id(database, b)
    with database.session() as session:
        unlinked = FilingRepository(session).create(YEAR, NOW)  # from before accounts existed
    with database.session() as session:
        workflow = WorkflowRepository(session)
        assert workflow.queue() == []
        workflow.submit(filing_a, {}, "telegram:1", "telegram", NOW + timedelta(hours=3))
        workflow.submit(filing_b, {}, "telegram:2", "telegram", NOW + timedelta(hours=1))
        workflow.submit(unlinked, {}, "console:1", "console", NOW + timedelta(hours=2))
        queue = workflow.queue()
        assert [item.filing_id for item in queue] == [filing_b, unlinked, filing_a]
        first = queue[0]
        assert (first.enterprise_id, first.credit_code, first.grade, first.year) == (
            b,
            CODE_B,
            "乙",
            YEAR,
        )
        assert (first.enterprise_name, first.version, first.status) == (
            "新疆某某信息技术有限公司",
            1,
            "submitted",
        )
        assert first.submitted_at == NOW + timedelta(hours=1)
        assert (queue[1].enterprise_id, queue[1].enterprise_name) == (None, "")

        # Resubmitted after a rejection: it waits since the resubmission.
        workflow.transition(filing_b, "rejected", "telegram:100", "telegram", NOW)
        assert [item.filing_id for item in workflow.queue()] == [unlinked, filing_a]
        workflow.submit(filing_b, {}, "telegram:2", "telegram", NOW + timedelta(hours=4))
        queue = workflow.queue()
        assert [item.filing_id for item in queue] == [unlinked, filing_a, filing_b]
        assert (queue[2].version, queue[2].submitted_at) == (2, NOW + timedelta(hours=4))

        workflow.transition(filing_a, "approved", "telegram:100", "telegram", NOW)
        approved = workflow.queue(["approved"])
        assert [(item.filing_id, item.status) for item in approved] == [(filing_a, "approved")]
        assert approved[0].submitted_at == NOW + timedelta(hours=3)


# --- migration 0003 -------------------------------------------------------------------------


def test_migration_0003_goes_down_and_up_keeping_the_filings(db_url: str) -> None:
    upgrade(db_url)
    database = Database.from_url(db_url)
    try:
        filing_id, _filing = _filled_filing(database)
        with database.session() as session:
            WorkflowRepository(session).submit(filing_id, {}, "telegram:1", "telegram", NOW)
        answers = _count(database, "answers")
        assert answers > len(EVERY_TYPE)
    finally:
        database.dispose()

    # On SQLite the filings table is rebuilt both ways: its answers and records must survive.
    downgrade(db_url, "0002")
    assert current_revision(db_url) == "0002"
    engine = make_engine(db_url)
    try:
        inspector = inspect(engine)
        assert not {"enterprises", "members", "transitions"} & set(inspector.get_table_names())
        columns = {column["name"] for column in inspector.get_columns("filings")}
        assert not {"enterprise_id", "version"} & columns
    finally:
        engine.dispose()
    database = Database.from_url(db_url)
    try:
        assert _count(database, "answers") == answers
        assert _count(database, "records") == 2
        if database.dialect == "sqlite":
            with database.session() as session:  # enforcement is back on
                assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        database.dispose()

    upgrade(db_url)
    assert schema_diff(db_url) == []
    database = Database.from_url(db_url)
    try:
        filing = _load(database, filing_id)
        assert filing.status == "submitted"
        assert len(filing.answers) == answers
        with database.session() as session:
            row = session.get(FilingRow, filing_id)
            assert row is not None
            assert (row.enterprise_id, row.version) == (None, 0)
    finally:
        database.dispose()
