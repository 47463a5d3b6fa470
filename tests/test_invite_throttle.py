"""Invite codes cannot be guessed: wrong codes are throttled per chat and overall, the reply
says how long to wait, a genuine code sent during the wait is not even looked at (and stays
valid), reviewers see the chats that failed repeatedly, and a bound contact who sends another
enterprise's code is handled as before. Through the service on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from bot.admin import import_roster, issue_invite
from bot.app import App, bootstrap
from bot.settings import Settings
from dialogs.replies import TextIn, reply_text
from storage.db import Database
from storage.invites import InviteRepository
from storage.members import MemberRepository
from storage.models import InviteFailureRow
from storage.throttle import InviteThrottle, Limits
from tests.fakes import CODE_A, CODE_B, ENTERPRISE_A, ENTERPRISE_B, FrozenClock, write_roster

CHANNEL = "tg"
REVIEWER = "wang"
WRONG = ["ABCDEFGH", "K7M2QX9P", "HJKLMNPQ", "RSTUVWXY", "Z2345678", "23456789"]
BACK_OFF = "为防止猜测"
THROTTLED = "暂时不能验证"


@dataclass
class World:
    app: App
    clock: FrozenClock

    def send(self, chat: str, text: str) -> str:
        turn = self.app.service.handle(CHANNEL, chat, TextIn(text), queue=True)
        return "\n".join(reply_text(r) for r in turn.replies)

    def invite(self, credit_code: str) -> str:
        lines, found = issue_invite(self.app, credit_code)
        assert found
        return lines[0].split("：")[1][:8]

    def bound(self, chat: str) -> bool:
        with self.app.db.session() as session:
            return MemberRepository(session).get(CHANNEL, chat) is not None

    def usable(self, code: str) -> bool:
        with self.app.db.session() as session:
            info = InviteRepository(session).peek(code, self.clock.now())
        return info is not None and info.usable

    def failures(self) -> int:
        with self.app.db.session() as session:
            counted = session.scalar(select(func.count()).select_from(InviteFailureRow))
        return int(counted or 0)


def _world(database: Database, tmp_path: Path) -> World:
    settings = Settings(
        database_url=database.engine.url.render_as_string(hide_password=False),
        attachments_dir=tmp_path / "files",
        reviewers=f"{CHANNEL}:{REVIEWER}",
        trial_channels="console",
    )
    clock = FrozenClock()
    world = World(bootstrap(settings, clock), clock)
    import_roster(world.app, write_roster(tmp_path / "roster.xlsx", [ENTERPRISE_A, ENTERPRISE_B]))
    return world


def test_a_chat_that_guesses_waits_longer_after_each_failure(
    database: Database, tmp_path: Path
) -> None:
    world = _world(database, tmp_path)
    code = world.invite(CODE_A)
    # A mistyped code or two: the usual answer, no waiting.
    for wrong in WRONG[:2]:
        said = world.send("mallory", wrong)
        assert "邀请码无效" in said and BACK_OFF not in said
    # The third: the reply says to wait a minute.
    said = world.send("mallory", WRONG[2])
    assert "邀请码无效" in said and "请 1 分钟后" in said and "申请绑定" in said
    # Three hundred more in that minute, the genuine code among them: none is looked at.
    for attempt in range(300):
        said = world.send("mallory", code if attempt == 150 else WRONG[attempt % len(WRONG)])
        assert THROTTLED in said and "例如：K7M2QX9P" in said, said
    assert not world.bound("mallory") and world.usable(code)
    assert world.failures() == 3
    # After the minute, one more wrong code: now two minutes.
    world.clock.advance(seconds=61)
    assert "请 2 分钟后" in world.send("mallory", WRONG[3])
    world.clock.advance(seconds=60)
    assert THROTTLED in world.send("mallory", code)
    world.clock.advance(seconds=61)
    assert "绑定成功" in world.send("mallory", code)  # a genuine code binds once the wait is over
    # Doubling stops at an hour.
    with world.app.db.session() as session:
        throttle = InviteThrottle(session)
        for _ in range(12):
            throttle.failed(CHANNEL, "eve", world.clock.now())
        assert throttle.wait(CHANNEL, "eve", world.clock.now()) == Limits().longest_wait


def test_many_chats_guessing_together_are_throttled_overall(
    database: Database, tmp_path: Path
) -> None:
    world = _world(database, tmp_path)
    limits = Limits()
    code = world.invite(CODE_A)
    # One wrong code from "carol" first; then seven chats each use their three free failures.
    assert BACK_OFF not in world.send("carol", WRONG[0])
    for chat in range(7):
        for wrong in WRONG[:3]:
            world.send(f"guesser{chat}", wrong)
    # Once 20 codes failed within the hour, a chat that failed before is not heard again.
    assert world.failures() == limits.overall_soft
    # carol is far below her own limit, but failed lately: she waits for the overall count.
    assert THROTTLED in world.send("carol", WRONG[1])
    # A chat that has not failed may still try: a contact with a genuine code binds.
    assert "绑定成功" in world.send("dave", code)
    # Past the hard limit, every chat waits, fresh ones too.
    chat = 7
    while world.failures() < limits.overall_hard:
        world.send(f"guesser{chat}", WRONG[0])
        chat += 1
    other = world.invite(CODE_B)
    assert THROTTLED in world.send("frank", other)
    assert not world.bound("frank") and world.usable(other)
    # An hour later the window has moved on.
    world.clock.advance(hours=1, seconds=1)
    assert "绑定成功" in world.send("frank", other)


def test_reviewers_see_repeated_failures(database: Database, tmp_path: Path) -> None:
    world = _world(database, tmp_path)
    for wrong in WRONG[:3]:
        world.send("mallory", wrong)
    world.send("alice", WRONG[0])  # once: a typo, not worth a reviewer's time
    text = world.send(REVIEWER, "/reminders")
    assert "近7天多次输错邀请码的聊天" in text
    assert "· tg mallory：输错3次，最近一次2025-12-01 10:00" in text
    assert "alice" not in text
    # Seven days later it is no longer shown.
    world.clock.advance(days=7, seconds=1)
    assert "多次输错邀请码" not in world.send(REVIEWER, "/reminders")


def test_a_bound_contact_sending_another_enterprises_code_is_not_throttled(
    database: Database, tmp_path: Path
) -> None:
    world = _world(database, tmp_path)
    assert "绑定成功：新疆天山智联信息技术有限公司" in world.send("alice", world.invite(CODE_A))
    other = world.invite(CODE_B)
    for _ in range(5):
        world.send("alice", other)
    assert world.failures() == 0
    assert world.usable(other)  # no rebinding, the code stays valid for its enterprise
    with world.app.db.session() as session:
        member = MemberRepository(session).get(CHANNEL, "alice")
    assert member is not None
    assert "绑定成功：新疆新星数据科技有限公司" in world.send("bob", other)
