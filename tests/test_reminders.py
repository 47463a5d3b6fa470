"""Reminders on a real database (SQLite and PostgreSQL), through the real service and runner,
with a frozen clock: a filing's whole cycle, every reminder's time and text; /reminders and
"续证已办理"; contacts without push delivery and contacts who blocked the bot; the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot import reminder_admin
from bot.admin import import_roster, issue_invite
from bot.app import App, bootstrap
from bot.cli import main as cli_main
from bot.service import Press
from bot.settings import Settings
from dialogs.replies import Choice, Reply, Start, TextIn, from_payload, reply_text
from reminders.runner import Report
from storage.db import Database
from storage.members import MemberRepository
from storage.messaging import ChannelChats, Outbox
from storage.reminders import ReminderRepository
from tests.fakes import ENTERPRISE_A, FrozenClock, fill_like_the_script, write_roster
from tests.filing_script import pdf_bytes

CHANNEL = "tg"
CONTACT, REVIEWER, BLOCKER = "alice", "wang", "carol"
NAME = "新疆天山智联信息技术有限公司"
LATE = "（本提醒原定于{due}发送，因系统暂停而延迟送达。）"


def bj(y: int, m: int, d: int, hh: int = 9, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=UTC) - timedelta(hours=8)


# The renewal countdown's reminders before the last one: 30, 14, 7 and 3 days before 30 April.
COUNTDOWN = (
    (bj(2026, 3, 31), 30),
    (bj(2026, 4, 16), 14),
    (bj(2026, 4, 23), 7),
    (bj(2026, 4, 27), 3),
)


@dataclass
class World:
    app: App
    clock: FrozenClock

    @property
    def db(self) -> Database:
        return self.app.db

    def at(self, moment: datetime) -> None:
        self.clock.current = moment

    def send(self, chat: str, text: str) -> str:
        turn = self.app.service.handle(CHANNEL, chat, TextIn(text), queue=True)
        return "\n".join(reply_text(r) for r in turn.replies)

    def take(self, chat: str) -> list[tuple[Reply, int]]:
        """The chat's undelivered messages (reply, prompt seq), now marked delivered."""
        with self.db.session() as session:
            outbox = Outbox(session)
            items = outbox.pending(CHANNEL, chat)
            outbox.delivered([i.id for i in items], self.clock.now())
        return [(from_payload(i.payload), int(i.payload.get("seq", 0))) for i in items]

    def flush(self) -> None:
        for chat in (CONTACT, REVIEWER, BLOCKER):
            self.take(chat)

    def dispatch(self, moment: datetime) -> Report:
        self.at(moment)
        return self.app.reminder_runner().dispatch()

    def quiet_until(self, moment: datetime) -> None:
        """Nothing goes out a minute before `moment` (and the runner then runs at it)."""
        report = self.dispatch(moment - timedelta(minutes=1))
        assert report.sent == 0, self.take(CONTACT)
        assert self.take(CONTACT) == [] and self.take(REVIEWER) == []

    def reminder(self, chat: str, moment: datetime) -> tuple[Choice, int]:
        """Runs the runner at `moment` (after a quiet minute): exactly one message to `chat`."""
        self.quiet_until(moment)
        report = self.dispatch(moment)
        assert report.sent == 1
        ((reply, seq),) = self.take(chat)
        assert isinstance(reply, Choice)
        # Run again at once, and later: sent once, ever.
        assert self.dispatch(moment + timedelta(minutes=10)).sent == 0
        assert self.take(chat) == []
        return reply, seq


def _world(database: Database, tmp_path: Path, start: datetime) -> World:
    settings = Settings(
        database_url=database.engine.url.render_as_string(hide_password=False),
        attachments_dir=tmp_path / "files",
        reviewers=f"{CHANNEL}:{REVIEWER}",
        trial_channels="console",
    )
    clock = FrozenClock(start)
    return World(bootstrap(settings, clock), clock)


def _bound_and_filled(world: World, tmp_path: Path, *, fill: bool = True) -> int:
    import_roster(world.app, write_roster(tmp_path / "roster.xlsx", [ENTERPRISE_A]))
    lines, _ = issue_invite(world.app, "91110108551385082Q")
    code = lines[0].split("：")[1][:8]
    turn = world.app.service.handle(CHANNEL, CONTACT, Start(code), queue=True)
    assert turn.filing_id is not None
    if fill:
        fill_like_the_script(world.db, turn.filing_id, world.clock.now())
    return turn.filing_id


def _approved(world: World, filing_id: int) -> None:
    """The contact submits the filing and a reviewer approves it."""
    world.send(CONTACT, "提交")
    world.send(CONTACT, "确认提交")
    world.send(REVIEWER, f"打开 {filing_id}")
    world.send(REVIEWER, "通过")
    world.flush()


def _buttons(reply: Choice) -> list[tuple[str, str]]:
    return [(b.label, b.value) for b in reply.options]


def test_a_filing_through_its_whole_cycle(database: Database, tmp_path: Path) -> None:
    world = _world(database, tmp_path, bj(2025, 9, 26, 9))
    filing_id = _bound_and_filled(world, tmp_path)
    # A second contact, on the terminal (no push), and a third who blocked the bot.
    with world.db.session() as session:
        members = MemberRepository(session)
        enterprise_id = members.get(CHANNEL, CONTACT).enterprise_id  # type: ignore[union-attr]
        members.bind("console", "bob", enterprise_id, "console", world.clock.now())
        members.bind(CHANNEL, BLOCKER, enterprise_id, "invite", world.clock.now())
        ChannelChats(session).blocked(CHANNEL, BLOCKER, world.clock.now())

    # Submitted on Friday 2025-09-26 at 10:00.
    world.at(bj(2025, 9, 26, 10))
    world.send(CONTACT, "提交")
    assert "已提交审核（第 1 版）" in world.send(CONTACT, "确认提交")
    world.flush()

    # Sunday the 28th is an adjusted working day: review was due by then, so the reviewers
    # hear of it on Monday the 29th at 09:00.
    digest, _ = world.reminder(REVIEWER, bj(2025, 9, 29))
    assert digest.text == (
        "【审核提醒】1份申报等待审核已超过1个工作日：\n"
        f"1. {NAME}（乙级）第1版，2025年9月26日（周五）10:00提交，应于2025年9月28日（周日）前审核"
    )
    assert _buttons(digest) == [(f"打开：{NAME}", f"打开 {filing_id}")]

    # Approved on Tuesday the 30th, the working day before National Day (1-8 October).
    world.at(bj(2025, 9, 30, 16))
    world.send(REVIEWER, f"打开 {filing_id}")
    assert "已通过" in world.send(REVIEWER, "通过")
    world.flush()

    _stamped_form_reminders(world)
    _results_and_renewal(world)
    _recorded_and_unreachable(world)


def _stamped_form_reminders(world: World) -> None:
    stamped = (
        f"【年检提醒】{NAME}：2025年度年检申报已于2025年9月30日（周二）审核通过，"
        "盖章版申报表还没有回传（第{n}次提醒）。\n"
        "请打印申报表，加盖公章后把扫描件（PDF、JPG 或 PNG）发送到本对话；"
        "收到后即完成网上填报。\n"
        "当前进度：已审核通过，尚缺：盖章版申报表。"
    )
    # Working days 1, 3 and 7 after approval: Thursday 9 October, Saturday 11 October (an
    # adjusted working day), Thursday 16 October; all at 09:00 Beijing time.
    for n, due in enumerate((bj(2025, 10, 9), bj(2025, 10, 11), bj(2025, 10, 16)), 1):
        reply, seq = world.reminder(CONTACT, due)
        assert reply.text == stamped.replace("{n}", str(n))
        assert _buttons(reply) == [("上传盖章版申报表", "总览"), ("重新获取申报表", "申报表")]
        assert world.take(BLOCKER) == []  # blocked: nothing queued for carol
    # The button leads to the stamped-form upload.
    turn = world.app.service.handle(CHANNEL, CONTACT, Press(seq, 0), queue=True)
    assert "盖章" in reply_text(turn.replies[-1])

    # The stamped form comes back after the third reminder: the fourth never goes out.
    world.at(bj(2025, 10, 17, 10))
    world.app.service.receive_file(CHANNEL, CONTACT, pdf_bytes("stamped"), "盖章版.pdf", queue=True)
    world.flush()
    assert world.dispatch(bj(2025, 10, 23, 9)).sent == 0
    assert world.take(CONTACT) == []


def _results_and_renewal(world: World) -> None:
    # Results day (Sunday 15 March 2026).
    results, _ = world.reminder(CONTACT, bj(2026, 3, 15))
    assert results.text == (
        "【年检结果】2025年度年检结果已于2026年3月15日（周日）公布，可以查看结果文件。"
        "结果文件请在协会网站“通知公告”栏目查看，或致电协会 0991-2301105 咨询。\n"
        f"{NAME}的申报状态：已完成网上填报。"
    )

    # The renewal countdown: 30, 14, 7, 3 and 1 days before 30 April.
    for due, days in COUNTDOWN:
        reply, seq = world.reminder(CONTACT, due)
        assert reply.text == (
            f"【续证提醒】{NAME}：资质证书续证须在2026年4月30日（周四）前办理完成，还有{days}天。\n"
            "办理完成后请点「续证已办理」，之后不再提醒。"
        )
        assert _buttons(reply)[0] == ("✅ 续证已办理", "续证已办理")

    # Before the last one: /reminders shows what was sent and what comes.
    world.at(bj(2026, 4, 28, 12))
    mine = world.send(CONTACT, "/reminders")
    assert "· 2026年4月27日（周一）09:00：资质证书续证" in mine
    assert "· 2026年4月29日（周三）09:00：资质证书续证（截止2026年4月30日（周四））" in mine
    assert "· 2026年4月30日（周四）09:00：资质证书续证" in mine
    # The terminal contact gets no pushed messages: /reminders shows them.
    console = world.app.service.handle("console", "bob", TextIn("我的提醒"))
    assert "资质证书续证（终端对话不推送，在此查看）" in reply_text(console.replies[0])
    world.flush()

    reply, seq = world.reminder(CONTACT, bj(2026, 4, 29))
    assert "还有1天" in reply.text
    # The contact presses 续证已办理 on it: no reminder on the day itself.
    world.at(bj(2026, 4, 29, 12))
    turn = world.app.service.handle(CHANNEL, CONTACT, Press(seq, 0), queue=True)
    assert reply_text(turn.replies[0]) == (
        f"✓ 已记录：{NAME}的资质证书续证已办理（2026年4月29日（周三）12:00）。"
        "之后不再发送续证提醒。"
    )
    world.flush()
    assert world.dispatch(bj(2026, 4, 30, 9)).sent == 0
    assert world.take(CONTACT) == []
    mine = world.send(CONTACT, "/reminders")
    assert "已于2026年4月29日（周三）12:00标记为已办理" in mine and "目前没有待发送的提醒" in mine


def _recorded_and_unreachable(world: World) -> None:
    # Every reminder was recorded once, with whom it reached and whom it could not.
    with world.db.session() as session:
        sent = [r for r in ReminderRepository(session).all(2025) if r.status == "sent"]
    assert [(r.kind, r.due_at) for r in sent] == [
        ("review_overdue", bj(2025, 9, 29)),
        ("stamped_form", bj(2025, 10, 9)),
        ("stamped_form", bj(2025, 10, 11)),
        ("stamped_form", bj(2025, 10, 16)),
        ("results", bj(2026, 3, 15)),
        *(("renewal", due) for due, _days in COUNTDOWN),
        ("renewal", bj(2026, 4, 29)),
    ]
    skipped = {r["chat_id"]: r.get("skipped") for r in sent[-1].recipients}
    assert skipped == {CONTACT: None, "bob": "no push", BLOCKER: "blocked"}

    # The reviewers see who cannot be reached; so does the CLI.
    overview = world.send(REVIEWER, "/reminders")
    assert f"· {NAME}：tg carol，已屏蔽机器人" in overview
    lines, _ok = reminder_admin.blocked(world.app)
    assert any("tg carol" in line for line in lines)


def test_a_reminder_due_during_an_outage_goes_out_once_after_it(
    database: Database, tmp_path: Path
) -> None:
    world = _world(database, tmp_path, bj(2025, 9, 30, 16))
    _approved(world, _bound_and_filled(world, tmp_path))
    assert world.dispatch(bj(2025, 10, 8, 23)).sent == 0
    # Down from the evening of 8 October until 14:00 on the 17th: three stamped-form
    # reminders fell due. Only the latest goes out, once, saying when it was due.
    report = world.dispatch(bj(2025, 10, 17, 14))
    assert (report.sent, report.superseded) == (1, 2)
    ((reply, _seq),) = world.take(CONTACT)
    assert "（第3次提醒）" in reply_text(reply)
    assert reply_text(reply).endswith(LATE.format(due="2025年10月16日（周四）09:00"))
    assert world.dispatch(bj(2025, 10, 17, 15)).sent == 0
    assert world.take(CONTACT) == []
    # The next one comes on time, worded as such.
    reply, _ = world.reminder(CONTACT, bj(2025, 10, 23))
    assert "（第4次提醒）" in reply.text and "延迟" not in reply.text


def test_obsolete_when_its_reason_went_away_before_it_was_sent(
    database: Database, tmp_path: Path
) -> None:
    world = _world(database, tmp_path, bj(2026, 4, 15, 16))
    _approved(world, _bound_and_filled(world, tmp_path))
    runner = world.app.reminder_runner()
    world.at(bj(2026, 4, 16, 9))
    # Due: the first stamped-form reminder, the (late) results, and the renewal countdown's
    # 14-day reminder, which supersedes the 30-day one.
    assert runner.record_due(world.clock.now()) == (4, 1)
    # Before a dispatcher sends them, a reviewer marks the renewal done for the enterprise.
    text = world.send(REVIEWER, "续证已办理 91110108551385082Q")
    assert text.startswith(f"✓ 已记录：{NAME}的资质证书续证已办理")
    assert "已于" in world.send(REVIEWER, "续证已办理 91110108551385082Q")
    assert "没有找到" in world.send(REVIEWER, "续证已办理 91110000600037341L")
    report = Report()
    runner.send_pending(world.clock.now(), report)
    assert (report.sent, report.obsolete) == (2, 1)
    texts = [reply_text(reply) for reply, _seq in world.take(CONTACT)]
    assert [t[:6] for t in texts] == ["【年检结果】", "【年检提醒】"]
    assert texts[0].endswith(LATE.format(due="2026年3月15日（周日）09:00"))
    with world.db.session() as session:
        statuses = sorted(
            (r.kind, r.occurrence, r.status) for r in ReminderRepository(session).all(2025)
        )
    assert statuses == [
        ("renewal", "2025:14d", "obsolete"),
        ("renewal", "2025:30d", "skipped"),
        ("results", "2025", "sent"),
        ("stamped_form", "2025:v1:1", "sent"),
    ]


def test_draft_nudges_and_the_dry_run(database: Database, tmp_path: Path) -> None:
    schedule = tmp_path / "schedule.toml"
    schedule.write_text("year = 2025\n[filing_deadline]\ndate = 2026-01-31\n")
    settings = Settings(
        database_url=database.engine.url.render_as_string(hide_password=False),
        attachments_dir=tmp_path / "files",
        reviewers=f"{CHANNEL}:{REVIEWER}",
        reminders_schedule=schedule,
    )
    clock = FrozenClock(bj(2026, 1, 10))
    world = World(bootstrap(settings, clock), clock)
    filing_id = _bound_and_filled(world, tmp_path, fill=False)
    world.flush()
    lines, _ = reminder_admin.list_reminders(world.app, datetime(2026, 1, 31).date())
    assert lines[0] == "到 2026-01-31 为止将发送 4 条提醒："
    assert "2026年1月17日（周六）09:00" in lines[1]
    assert "提交年检申报（截止2026年1月31日（周六））" in lines[1]
    world.at(bj(2026, 1, 24, 9, 30))
    preview, _ = reminder_admin.dispatch(world.app, dry_run=True)
    assert preview[0] == "（试运行，不发送）现在到期的提醒 1 条："
    assert "还有7天" in "\n".join(preview)
    assert world.take(CONTACT) == []  # a dry run sends nothing
    # Down since before the 14-day nudge: only the 7-day one goes out.
    report = world.dispatch(bj(2026, 1, 24, 9, 30))
    assert (report.sent, report.superseded) == (1, 1)
    ((reply, _),) = world.take(CONTACT)
    assert isinstance(reply, Choice)
    head, progress, *missing = reply.text.split("\n")
    assert head == (
        f"【填报提醒】{NAME}：2025年度年检申报须在2026年1月31日（周六）前提交，还有7天，"
        "您的申报还没有提交。"
    )
    assert progress.startswith("总进度 ") and progress.endswith("%。尚未完成：")
    assert missing[0] == "· 申报联系人：联系人姓名、联系人手机"  # section 1: the roster's
    assert missing[-2].startswith("· ") and missing[-1] == "点「查看缺项」跳到要补的部分。"
    assert _buttons(reply) == [("查看缺项", "总览"), ("继续填报", "继续")]
    # Submitted: no more nudges.
    fill_like_the_script(world.db, filing_id, world.clock.now())
    world.send(CONTACT, "提交")
    assert "已提交审核" in world.send(CONTACT, "确认提交")
    world.flush()
    world.dispatch(bj(2026, 1, 28, 9))
    assert world.take(CONTACT) == []  # (the reviewers are reminded of the waiting review)


def test_cli_lists_warns_of_an_unknown_year_and_refuses_another_years_schedule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NIANJIAN_DATABASE_URL", f"sqlite:///{tmp_path / 'nj.sqlite3'}")
    monkeypatch.setenv("NIANJIAN_HOLIDAYS", str(tmp_path / "holidays"))
    assert cli_main(["db", "upgrade"]) == 0
    assert cli_main(["reminders", "list", "--until", "2026-05-01"]) == 0
    assert "为止将发送 0 条提醒" in capsys.readouterr().out
    assert cli_main(["reminders", "dispatch", "--dry-run"]) == 0
    assert "试运行" in capsys.readouterr().out
    uncovered = tmp_path / "2026.toml"
    uncovered.write_text("year = 2026\n")
    monkeypatch.setenv("NIANJIAN_REMINDERS_SCHEDULE", str(uncovered))
    monkeypatch.setenv("NIANJIAN_INSPECTION_YEAR", "2026")
    # A year no holiday source knows never stops the product: it is named, with the file.
    assert cli_main(["reminders", "list"]) == 0
    out = capsys.readouterr().out
    assert "⚠ 2027年的节假日安排尚未录入" in out
    assert str(tmp_path / "holidays" / "2027.toml") in out
    other = tmp_path / "2024.toml"
    other.write_text("year = 2024\n")
    monkeypatch.setenv("NIANJIAN_REMINDERS_SCHEDULE", str(other))
    assert cli_main(["run"]) == 2
    assert "inspection year 2024" in capsys.readouterr().err
