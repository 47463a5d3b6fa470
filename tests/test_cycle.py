"""A new inspection cycle, end to end on SQLite and PostgreSQL with a frozen clock in December
2026: the 2025 cycle filed and approved, `nianjian cycle open 2026` (twice: harmless, the
2025 data untouched), the 2026 filing of an enterprise that filed 2025 prefilled and its
completion table carried, a 2026-new enterprise registering and filling 2024-2026, the
kick-off notice, the stamped-form reminders across the 2027 Spring Festival from a holiday
file the test writes, the results and renewal reminders of 2027, and the export of 2025.
Then 2027 in no source at all: everything works, the estimate is flagged wherever it is
shown, and the file added later corrects what is still to come."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from bot import reminder_admin
from bot.admin import import_roster, issue_invite, run_export
from bot.app import App, bootstrap
from bot.cli import main as cli_main
from bot.cycle_admin import CycleOptions, open_cycle
from bot.settings import Settings
from dialogs.cycle import Cycle
from dialogs.form import build_form
from dialogs.model import AddRecord, Filing, Key, SetAnswer, Source, Value
from dialogs.replies import Choice, Reply, Start, TextIn, from_payload, reply_text
from dialogs.totals import completion_rows
from dialogs.view import View
from storage.db import Database
from storage.messaging import Outbox
from storage.models import (
    AnswerRow,
    AttachmentRow,
    FilingRow,
    FilingVersionRow,
    RecordRow,
    TransitionRow,
)
from storage.reminders import ReminderRepository
from storage.repository import FilingRepository
from tests.fakes import (
    CODE_A,
    ENTERPRISE_A,
    NOTICE_2027,
    FrozenClock,
    completed_filing,
    fill_like_the_script,
    write_roster,
)
from tests.filing_script import pdf_bytes

CHANNEL = "tg"
CONTACT, REVIEWER, NEWCOMER = "alice", "wang", "carol"
NAME_A = "新疆天山智联信息技术有限公司"
NAME_NEW = "新疆昆仑云数信息技术有限公司"
CODE_NEW = "91110000600037341L"  # valid, on no roster


def bj(y: int, m: int, d: int, hh: int = 9, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=UTC) - timedelta(hours=8)


@dataclass
class World:
    app: App
    clock: FrozenClock

    @property
    def db(self) -> Database:
        return self.app.db

    def send(self, chat: str, text: str) -> str:
        turn = self.app.service.handle(CHANNEL, chat, TextIn(text), queue=True)
        return "\n".join(reply_text(r) for r in turn.replies)

    def take(self, chat: str) -> list[Reply]:
        with self.db.session() as session:
            outbox = Outbox(session)
            items = outbox.pending(CHANNEL, chat)
            outbox.delivered([i.id for i in items], self.clock.now())
        return [from_payload(i.payload) for i in items]

    def dispatch(self, moment: datetime) -> list[Reply]:
        """The reminders at `moment`: what the contact got."""
        self.clock.current = moment
        self.app.reminder_runner().dispatch()
        return self.take(CONTACT)


def _settings(database: Database, tmp_path: Path, **changes: object) -> Settings:
    return Settings(
        database_url=database.engine.url.render_as_string(hide_password=False),
        attachments_dir=tmp_path / "files",
        reviewers=f"{CHANNEL}:{REVIEWER}",
        trial_channels="console",
        holidays=tmp_path / "holidays",
        **changes,  # type: ignore[arg-type]
    )


def _options(tmp_path: Path, **changes: object) -> CycleOptions:
    return CycleOptions(
        directory=tmp_path / "cycles",
        env_file=tmp_path / ".env",
        **changes,  # type: ignore[arg-type]
    )


def _approve(world: World, chat: str, filing_id: int) -> str:
    world.send(chat, "提交")
    submitted = world.send(chat, "确认提交")
    assert "已提交审核" in submitted, submitted
    world.send(REVIEWER, f"打开 {filing_id}")
    return world.send(REVIEWER, "通过")


def _cycle_2025(database: Database, tmp_path: Path) -> int:
    """The seed's cycle: enterprise A files, is approved, returns the stamped form."""
    clock = FrozenClock(bj(2025, 12, 1))
    world = World(bootstrap(_settings(database, tmp_path), clock), clock)
    try:
        import_roster(world.app, write_roster(tmp_path / "roster.xlsx", [ENTERPRISE_A]))
        lines, _ = issue_invite(world.app, CODE_A)
        turn = world.app.service.handle(CHANNEL, CONTACT, Start(lines[0].split("：")[1][:8]))
        assert turn.filing_id is not None
        fill_like_the_script(world.db, turn.filing_id, world.clock.now())
        assert "已通过" in _approve(world, CONTACT, turn.filing_id)
        turn = world.app.service.receive_file(CHANNEL, CONTACT, pdf_bytes("stamped"), "盖章.pdf")
        assert "已全部完成" in "\n".join(reply_text(r) for r in turn.replies)
        for chat in (CONTACT, REVIEWER):
            world.take(chat)  # delivered
        return turn.filing_id or 0
    finally:
        world.app.db.dispose()


def _fingerprint(db: Database, year: int) -> tuple[dict[str, int], str]:
    """Row counts of a year's filings and a checksum of their answers."""
    with db.session() as session:
        ids = [i for (i,) in session.execute(select(FilingRow.id).where(FilingRow.year == year))]
        counts = {
            table.__tablename__: int(
                session.scalar(
                    select(func.count()).select_from(table).where(table.filing_id.in_(ids))
                )
                or 0
            )
            for table in (AnswerRow, RecordRow, FilingVersionRow, TransitionRow)
        }
        counts["attachments"] = int(
            session.scalar(select(func.count()).select_from(AttachmentRow)) or 0
        )
        rows = session.execute(
            select(
                AnswerRow.filing_id,
                AnswerRow.field,
                AnswerRow.record,
                AnswerRow.year,
                AnswerRow.value_num,
                AnswerRow.value_text,
                AnswerRow.source,
                AnswerRow.revision,
            )
            .where(AnswerRow.filing_id.in_(ids))
            .order_by(AnswerRow.filing_id, AnswerRow.field, AnswerRow.record, AnswerRow.year)
        ).all()
        statuses = session.execute(
            select(FilingRow.id, FilingRow.status, FilingRow.version).where(FilingRow.id.in_(ids))
        ).all()
    digest = hashlib.sha256(repr((sorted(statuses), rows)).encode()).hexdigest()
    return counts, digest


def _shifted(value: Value) -> Value:
    if isinstance(value, date):
        return value.replace(year=value.year + 1)
    return value


def fill_2026(db: Database, filing_id: int, now: datetime, *, new: bool) -> None:
    """The scripted filing one year later (years and dates + 1) for what the filing lacks:
    for an enterprise certified before 2026 only its business figures of 2026 (its earlier
    completion years are carried, its contact was kept from last year)."""
    _form, scripted = completed_filing()
    with db.session() as session:
        filings = FilingRepository(session)
        current = filings.load(filing_id)
        changes = []
        for key, answer in scripted.answers.items():
            moved = Key(key.field, key.record, key.year + 1 if key.year else 0)
            if moved in current.answers or key.field.startswith("enterprise."):
                continue
            if (
                not new
                and key.field.startswith(("business.", "completion."))
                and moved.year != 2026
            ):
                continue
            changes.append(SetAnswer(moved, _shifted(answer.value), None))
        adds = [AddRecord(g, r) for g, ids in scripted.records.items() for r in ids]
        filings.apply(filing_id, [*adds, *changes], actor="test", now=now)


def _open_2026(database: Database, tmp_path: Path) -> None:
    """`nianjian cycle open 2026 --notify`, run twice; the 2025 data untouched by either."""
    before = _fingerprint(database, 2025)
    assert before[0]["answers"] > 200 and before[0]["filing_versions"] == 1
    settings = _settings(database, tmp_path)
    lines, ready = open_cycle(settings, 2026, _options(tmp_path, notify=True), date(2026, 12, 2))
    text = "\n".join(lines)
    assert ready, text
    assert "✓ 已写入提醒时间表" in text
    assert "结果公布 2027年3月15日（周一），续证截止 2027年4月30日（周五）" in text
    assert "· 完成情况表：1 家单位的2024、2025年数据取自其已通过的2025年度申报" in text
    assert "2025年度申报 1 份已提交过（已完成网上填报 1）" in text
    again, ready = open_cycle(settings, 2026, _options(tmp_path, notify=True), date(2026, 12, 3))
    text = "\n".join(again)
    assert ready and "已存在，校验通过，未改动" in text and "已是 2026 年度" in text
    assert "· 完成情况表：0 家单位" in text
    assert _fingerprint(database, 2025) == before
    env = (tmp_path / ".env").read_text(encoding="utf-8").splitlines()
    assert env == [
        "NIANJIAN_INSPECTION_YEAR=2026",
        f"NIANJIAN_REMINDERS_SCHEDULE={(tmp_path / 'cycles' / 'schedule-2026.toml').resolve()}",
    ]


def _world_2026(database: Database, tmp_path: Path) -> World:
    """The bot after the restart: Y = 2026 and the schedule the cycle command wrote."""
    settings = _settings(
        database,
        tmp_path,
        inspection_year=2026,
        reminders_schedule=tmp_path / "cycles" / "schedule-2026.toml",
    )
    clock = FrozenClock(bj(2026, 12, 2, 10))
    return World(bootstrap(settings, clock), clock)


def _kickoff_and_prefilled_filing(world: World) -> int:
    """The kick-off notice, then A's 2026 filing: the contact kept from 2025, the completion
    table's 2024 and 2025 from the approved 2025 filing, read-only."""
    listed, _ = reminder_admin.list_reminders(world.app, date(2026, 12, 31))
    assert f"2026年12月2日（周三）09:00  {NAME_A}  年检开始通知  → tg:alice" in listed
    (notice,) = world.dispatch(bj(2026, 12, 2, 10))
    assert isinstance(notice, Choice)
    assert notice.text.startswith(f"【年检通知】{NAME_A}：2026年度年检申报现已开始")
    assert "完成情况表含2024—2026年" in notice.text and "因系统暂停" not in notice.text
    assert (notice.options[0].label, notice.options[0].value) == ("开始填报", "继续")
    assert world.dispatch(bj(2026, 12, 3, 9)) == []  # never twice

    offer = world.send(CONTACT, "继续")
    assert "2026 年度" in offer and "去年（2025 年度）填报的「申报联系人」是：" in offer
    # The years carried from the approved 2025 filing are shown as a section, read-only.
    carried_lines = offer.split("【4 系统集成项目完成情况】（由协会导入，只读；")[1].splitlines()
    assert carried_lines[1:4] == [
        "2024年完成项目数：7 个",
        "2024年项目合同总值：650.00 万元",
        "2024年其中软件和信息技术服务费总值：400.00 万元",
    ]
    assert "2025年项目合同总值：3,532.00 万元" in carried_lines
    assert "✓ 已沿用去年填报的「申报联系人」（4 项）" in world.send(CONTACT, "1")
    with world.db.session() as session:
        filing_id = session.scalar(
            select(FilingRow.id).where(FilingRow.year == 2026, FilingRow.version == 0)
        )
        assert filing_id is not None
        filing = FilingRepository(session).load(filing_id)
    assert filing.answers[Key("contact.name")].value == "李娜"
    carried = {
        (k.field, k.year): (a.value, a.source)
        for k, a in filing.answers.items()
        if k.field.startswith("completion.")
    }
    form_2025, filed_2025 = completed_filing()
    expected: dict[tuple[str, int], tuple[Value, Source]] = {}
    for row in completion_rows(View(form_2025, filed_2025))[1:]:
        expected[("completion.count", row.year)] = (row.count, Source.ROSTER)
        expected[("completion.contract", row.year)] = (row.contract, Source.ROSTER)
        expected[("completion.service", row.year)] = (row.service, Source.ROSTER)
    assert carried == expected
    assert expected[("completion.contract", 2024)][0] == Decimal("650.00")
    assert expected[("completion.contract", 2025)][0] == Decimal("3532.00")
    return int(filing_id)


def _new_enterprise_files_three_years(world: World) -> int:
    world.send(NEWCOMER, "注册")
    world.send(NEWCOMER, NAME_NEW)
    world.send(NEWCOMER, CODE_NEW)
    world.send(NEWCOMER, "丁")
    world.send(NEWCOMER, "XJSI-2026-0201")
    world.send(NEWCOMER, "赵敏")
    assert "申请已提交" in world.send(NEWCOMER, "139 9123 4567")
    text = world.send(REVIEWER, "申请")
    (request_id,) = [int(line.split()[0][1:]) for line in text.splitlines() if line[:1] == "#"]
    world.send(REVIEWER, f"批准申请 {request_id}")
    world.take(NEWCOMER)
    world.send(NEWCOMER, "继续")
    with world.db.session() as session:
        filing_id = session.scalar(
            select(FilingRow.id)
            .where(FilingRow.year == 2026)
            .order_by(FilingRow.id.desc())
            .limit(1)
        )
        assert filing_id is not None
    fill_2026(world.db, filing_id, world.clock.now(), new=True)
    with world.db.session() as session:
        filing = FilingRepository(session).load(filing_id)
    view = View(world.app.form, filing)
    assert filing.answers[Key("enterprise.first_year")].value == 2026
    assert [r.year for r in completion_rows(view)] == [2024, 2025, 2026]
    assert all(Key("business.revenue", "", y) in filing.answers for y in (2024, 2025, 2026))
    assert "已通过" in _approve(world, NEWCOMER, filing_id)
    return filing_id


def _export_2025(world: World, tmp_path: Path) -> None:
    out = tmp_path / "2025.xlsx"
    lines, ok = run_export(world.app, 2025, out, None)
    assert ok, lines
    book = load_workbook(out, read_only=True)
    status = [row for row in book["申报状态"].iter_rows(min_row=3, values_only=True) if row[0]]
    assert len(status) == 1 and NAME_A in status[0]
    totals = [row for row in book["计算合计"].iter_rows(min_row=3, values_only=True) if row[0]]
    assert any(Decimal("4602.50") == Decimal(str(v)) for v in totals[0] if isinstance(v, float))


def _stamped_days(world: World) -> list[tuple[date, str | None]]:
    """The stamped-form reminders recorded (of every enterprise): day and calendar flag."""
    with world.db.session() as session:
        found = {
            (r.due_at.astimezone(UTC).date(), r.calendar_estimate)
            for r in ReminderRepository(session).all(2026)
            if r.kind == "stamped_form"
        }
    return sorted(found)


def test_the_2026_cycle_end_to_end(database: Database, tmp_path: Path) -> None:
    _cycle_2025(database, tmp_path)
    (tmp_path / "holidays").mkdir()
    (tmp_path / "holidays" / "2027.toml").write_text(NOTICE_2027, encoding="utf-8")
    _open_2026(database, tmp_path)
    world = _world_2026(database, tmp_path)
    try:
        filing_id = _kickoff_and_prefilled_filing(world)
        fill_2026(world.db, filing_id, world.clock.now(), new=False)
        with world.db.session() as session:
            filing = FilingRepository(session).load(filing_id)
        three_year = View(world.app.form, filing)
        rows = completion_rows(three_year)
        assert [(r.year, r.contract) for r in rows] == [
            (2024, Decimal("650.00")),
            (2025, Decimal("3532.00")),
            (2026, Decimal("3532.00")),
        ]
        # Approved on Wednesday 3 February 2027, before the Spring Festival of the file.
        world.clock.current = bj(2027, 2, 3, 10)
        assert "已通过" in _approve(world, CONTACT, filing_id)
        world.take(CONTACT)
        _new_enterprise_files_three_years(world)
        world.take(NEWCOMER)

        listed, _ = reminder_admin.list_reminders(world.app, date(2027, 5, 1))
        text = "\n".join(listed)
        # 1, 3 and 7 working days: Thursday the 4th, then over the holiday to the worked
        # Sunday the 14th, then Thursday the 18th.
        for day in ("2027年2月4日（周四）", "2027年2月14日（周日）", "2027年2月18日（周四）"):
            assert f"{day}09:00  {NAME_A}  回传盖章版申报表" in text
        assert f"2027年3月15日（周一）09:00  {NAME_A}  年检结果公布" in text
        assert (
            f"2027年4月30日（周五）09:00  {NAME_A}  资质证书续证（截止2027年4月30日（周五））"
            in text
        )
        assert f"2027年4月30日（周五）09:00  {NAME_NEW}  资质证书续证" in text
        assert "按周一至周五估算" not in text and "⚠" not in text

        (first,) = world.dispatch(bj(2027, 2, 4, 9))
        assert isinstance(first, Choice) and "盖章版申报表还没有回传（第1次提醒）" in first.text
        assert world.dispatch(bj(2027, 2, 13, 9)) == []
        (second,) = world.dispatch(bj(2027, 2, 14, 9))
        assert isinstance(second, Choice) and "第2次提醒" in second.text
        assert _stamped_days(world) == [
            (date(2027, 2, 4), None),
            (date(2027, 2, 14), None),
        ]
        # Last year stays whole: its export, the reviewers' view of it, its history.
        _export_2025(world, tmp_path)
        with world.db.session() as session:
            filing_2025 = session.scalar(select(FilingRow.id).where(FilingRow.year == 2025))
        shown = world.send(REVIEWER, f"打开 {filing_2025}")
        assert f"【审核】{NAME_A} · 第 1 版 · " in shown
        assert "4,602.50" in shown  # the three years 2023-2025 of the 2025 filing
        history = world.send(CONTACT, "/history")
        assert "2025" in history and "2026" in history
    finally:
        world.app.db.dispose()


def test_2027_in_no_source_works_flags_and_is_corrected_later(
    database: Database, tmp_path: Path
) -> None:
    _cycle_2025(database, tmp_path)
    _open_2026(database, tmp_path)
    world = _world_2026(database, tmp_path)
    try:
        filing_id = _kickoff_and_prefilled_filing(world)
        fill_2026(world.db, filing_id, world.clock.now(), new=False)
        # Invites and export work although 2027 is unknown.
        lines, ok = issue_invite(world.app, CODE_A)
        assert ok and lines[0].startswith("邀请码：")
        world.clock.current = bj(2027, 2, 3, 10)
        assert "已通过" in _approve(world, CONTACT, filing_id)
        world.take(CONTACT)
        out = tmp_path / "2026.xlsx"
        assert run_export(world.app, 2026, out, None)[1] and out.stat().st_size > 0

        # Monday to Friday, flagged: in `reminders list`, on the reviewers' /reminders.
        listed = "\n".join(reminder_admin.list_reminders(world.app, date(2027, 2, 28))[0])
        for day in ("2027年2月4日（周四）", "2027年2月8日（周一）", "2027年2月12日（周五）"):
            assert f"{day}09:00  {NAME_A}  回传盖章版申报表" in listed
        assert "（第2次提醒）（2027年按周一至周五估算）" in listed
        assert "⚠ 2027年的节假日安排尚未录入" in listed
        assert str(tmp_path / "holidays" / "2027.toml") in listed
        reviewer = world.send(REVIEWER, "/reminders")
        assert "按周一至周五估算（2027年节假日未录入）" in reviewer
        assert "⚠ 2027年的节假日安排尚未录入" in reviewer

        # The first goes out on the estimated day and its record carries the flag.
        (first,) = world.dispatch(bj(2027, 2, 4, 9))
        assert isinstance(first, Choice)
        assert _stamped_days(world) == [(date(2027, 2, 4), "2027")]

        # The notice is entered; at the next wake-up the rest follow the corrected days.
        (tmp_path / "holidays").mkdir()
        (tmp_path / "holidays" / "2027.toml").write_text(NOTICE_2027, encoding="utf-8")
        assert world.dispatch(bj(2027, 2, 8, 9)) == []  # a Spring Festival day now
        listed = "\n".join(reminder_admin.list_reminders(world.app, date(2027, 2, 28))[0])
        assert "2027年2月18日（周四）09:00" in listed and "估算" not in listed
        (second,) = world.dispatch(bj(2027, 2, 14, 9))
        assert isinstance(second, Choice) and "第2次提醒" in second.text
        assert _stamped_days(world) == [(date(2027, 2, 4), "2027"), (date(2027, 2, 14), None)]
        assert "尚未录入" not in world.send(REVIEWER, "/reminders")
    finally:
        world.app.db.dispose()


def test_cycle_open_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NIANJIAN_DATABASE_URL", f"sqlite:///{tmp_path / 'nj.sqlite3'}")
    for name in ("NIANJIAN_INSPECTION_YEAR", "NIANJIAN_REMINDERS_SCHEDULE"):
        monkeypatch.delenv(name, raising=False)
    # Not migrated yet: said so, nothing written.
    assert cli_main(["cycle", "open", "2026"]) == 1
    assert "请先运行 nianjian db upgrade" in capsys.readouterr().out
    assert not (tmp_path / ".env").exists()
    assert cli_main(["db", "upgrade"]) == 0
    roster = write_roster(tmp_path / "名单2026.xlsx", [ENTERPRISE_A])
    args = ["cycle", "open", "2026", "--roster", str(roster), "--filing-deadline", "2027-02-26"]
    assert cli_main(args) == 0
    out = capsys.readouterr().out
    assert "导入完成：新增 1 家，更新 0 家。" in out and "申报截止 2027年2月26日（周五）" in out
    assert (tmp_path / "data" / "cycles" / "schedule-2026.toml").exists()
    assert "NIANJIAN_INSPECTION_YEAR=2026" in (tmp_path / ".env").read_text(encoding="utf-8")
    # The next start reads .env: the 2026 cycle, its schedule, a warning naming 2027.
    assert cli_main(["reminders", "list", "--until", "2027-05-01"]) == 0
    assert "⚠ 2027年的节假日安排尚未录入" in capsys.readouterr().out
    assert cli_main(["cycle", "check"]) == 0
    assert "⚠ 2027年：没有节假日数据" in capsys.readouterr().out
    # A bad date is refused before anything is written; the environment wins over .env.
    with pytest.raises(SystemExit) as exit_code:
        cli_main(["cycle", "open", "2026", "--renewal", "2027-13-01"])
    assert exit_code.value.code == 2
    assert "日期“2027-13-01”无法识别：请按 年-月-日 写，例如 " in capsys.readouterr().err
    monkeypatch.setenv("NIANJIAN_INSPECTION_YEAR", "2025")
    assert cli_main(["cycle", "open", "2027"]) == 1
    assert "环境变量 NIANJIAN_INSPECTION_YEAR=2025 优先于" in capsys.readouterr().out
    assert not (tmp_path / "data" / "cycles" / "schedule-2027.toml").exists()  # nothing written


def test_the_form_of_2026_follows_the_year() -> None:
    form = build_form(Cycle.for_year(2026))
    assert form.field("enterprise.cert_number").example == "XJSI-2026-0123"
    assert form.field("innovation.number").example == "2026SR012345"
    filing = Filing(1, 2026)
    assert [r.year for r in completion_rows(View(form, filing))] == [2024, 2025, 2026]
