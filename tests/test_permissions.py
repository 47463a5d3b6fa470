"""Who may do what: every reviewer command, every contact action and file download, tried by
an unbound user, the contact of enterprise A (filing submitted, with stored files), the
contact of enterprise B (a draft) and a reviewer. Only the right ones succeed:

- only the reviewer decides, opens filings, lists and sends files, handles requests, issues
  invites and promotes reviewers;
- a contact's reviewer words ("打开 5", "通过", "文件 1", ...) reach only their own filing's
  dialog and change nothing else; B's contact never sees or changes A's answers or files;
- an unbound user gets the onboarding for everything, and nothing they send is kept;
- no stored file leaves the system except to the reviewer (and the declaration PDF to A's
  contact when the reviewer approves).

Service level on SQLite: the world is built once and copied for each case."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.admin import import_roster, issue_invite
from bot.app import bootstrap
from bot.declaration import Fonts
from bot.service import ChatService
from bot.settings import Settings
from bot.workflow import load_filing
from dialogs import texts
from dialogs.model import FileRef, Filing, Key, Value
from dialogs.replies import (
    Choice,
    Document,
    FileRequest,
    Reply,
    Start,
    TextIn,
    from_payload,
    reply_text,
)
from dialogs.spec import FormSpec
from storage.db import Database
from storage.files import AttachmentStore
from storage.migrate import upgrade
from storage.models import FilingRow, InviteRow, MemberRow, OutboxRow, RequestRow, ReviewerRow
from tests.fakes import (
    CODE_A,
    CODE_B,
    ENTERPRISE_A,
    ENTERPRISE_B,
    FrozenClock,
    fill_like_the_script,
    write_roster,
)
from tests.filing_script import PROJECTS, pdf_bytes

CHANNEL = "tg"  # a messaging channel: replies are queued, unbound chats onboard
REVIEWER, CONTACT_A, CONTACT_B, STRANGER = "wang", "alice", "bob", "mallory"
APPLICANT = "carol"  # asked to be bound to B; the request waits for a reviewer
ACTORS = {
    "unbound user": STRANGER,
    "contact of A": CONTACT_A,
    "contact of B": CONTACT_B,
    "reviewer": REVIEWER,
}


@dataclass(frozen=True)
class Upload:
    name: str
    data: bytes


Step = str | Upload
UPLOAD = Upload("营业执照.pdf", pdf_bytes("a contact's upload"))

# Each action as typed (or sent): {a} is A's filing id, {request} the pending request's.
ACTIONS: dict[str, tuple[Step, ...]] = {
    "待审": ("待审",),
    "打开": ("打开 {a}",),
    "通过": ("打开 {a}", "通过"),
    "驳回": ("打开 {a}", "驳回", "资料不全需补充", "部分 projects", "完成"),
    "附件": ("打开 {a}", "附件"),
    "文件 N": ("打开 {a}", "附件", "文件 1"),
    "申请": ("申请",),
    "批准申请 N": ("批准申请 {request}",),
    "邀请": (f"邀请 {CODE_B}",),
    "添加审核员": (f"添加审核员 {CHANNEL}:{STRANGER}",),
    "历史": ("打开 {a}", "历史"),
    "answer": ("李娜",),
    "提交": ("提交", "确认提交"),
    "总览": ("总览",),
    "/history": ("/history",),
    "upload": (UPLOAD,),
}
# Words of the reviewer's screens: nobody else ever sees them.
REVIEWER_ONLY = ("【审核】", "【待审核", "有效期至", "已添加审核员", "已处理申请", "这份申报的附件")
# What only A's filing holds: shown to A's contact and the reviewer, never to anyone else.
A_SECRETS = (ENTERPRISE_A[0], CODE_A, "13991234567", *(project[0] for project in PROJECTS))
ONBOARDING = "开始填报前，需要先把这个聊天绑定到您的单位"


# --- the world, built once -------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    root: Path
    form: FormSpec
    fonts: Fonts
    a: int  # A's filing
    request: int  # the pending binding request


def _settings(root: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{root / 'nianjian.sqlite3'}",
        attachments_dir=root / "files",
        reviewers=f"{CHANNEL}:{REVIEWER}",
        trial_channels="",
    )


def _say(service: ChatService, chat: str, *lines: str) -> str:
    turns = [service.handle(CHANNEL, chat, TextIn(line), queue=True) for line in lines]
    return "\n".join(reply_text(r) for turn in turns for r in turn.replies)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    """A submitted with every file stored, B bound with a draft, a request waiting."""
    root = tmp_path_factory.mktemp("permissions")
    settings = _settings(root)
    upgrade(settings.database_url)
    app = bootstrap(settings, FrozenClock())
    service = app.service
    try:
        roster = write_roster(root / "roster.xlsx", [ENTERPRISE_A, ENTERPRISE_B])
        assert import_roster(app, roster).created == 2
        filings = {}
        for chat, credit_code in ((CONTACT_A, CODE_A), (CONTACT_B, CODE_B)):
            lines, found = issue_invite(app, credit_code)
            assert found
            code = lines[0].split("：")[1][:8]
            turn = service.handle(CHANNEL, chat, Start(code), queue=True)
            assert turn.filing_id is not None
            filings[chat] = turn.filing_id
        now = service.clock.now()
        fill_like_the_script(app.db, filings[CONTACT_A], now, files=service.files)
        assert "已提交审核（第 1 版）" in _say(service, CONTACT_A, "提交", "确认提交")
        assert "申请已提交" in _say(service, APPLICANT, "申请绑定", "赵敏", CODE_B)
        with app.db.session() as session:
            request = session.scalars(select(RequestRow.id)).one()
    finally:
        app.db.dispose()  # the last connection closed: the WAL is checkpointed into the file
    return Template(root, app.form, service.fonts, filings[CONTACT_A], request)


@dataclass
class World:
    service: ChatService
    root: Path
    a: int
    request: int

    @property
    def db(self) -> Database:
        return self.service.db

    def act(self, chat: str, steps: Sequence[Step]) -> list[list[Reply]]:
        """Each step's replies (also queued to the chat, as a messaging channel has them)."""
        out: list[list[Reply]] = []
        for step in steps:
            if isinstance(step, Upload):
                turn = self.service.receive_file(CHANNEL, chat, step.data, step.name, queue=True)
            else:
                text = step.format(a=self.a, request=self.request)
                turn = self.service.handle(CHANNEL, chat, TextIn(text), queue=True)
            out.append(list(turn.replies))
        return out


@pytest.fixture
def world(template: Template, tmp_path: Path) -> Iterator[World]:
    shutil.copyfile(template.root / "nianjian.sqlite3", tmp_path / "nianjian.sqlite3")
    shutil.copytree(template.root / "files", tmp_path / "files")
    db = Database.from_url(_settings(tmp_path).database_url)
    service = ChatService(
        db,
        template.form,
        FrozenClock(),
        AttachmentStore(tmp_path / "files"),
        reviewers=[(CHANNEL, REVIEWER)],
        trial_channels=(),
        fonts=template.fonts,
    )
    try:
        yield World(service, tmp_path, template.a, template.request)
    finally:
        db.dispose()


# --- what can be observed -------------------------------------------------------------------


@dataclass(frozen=True)
class State:
    filings: dict[int, Filing]
    reviewers: frozenset[tuple[str, str]]
    invites: frozenset[str]
    requests: dict[int, str]
    members: frozenset[tuple[str, int]]
    queued: dict[str, list[Reply]]  # every reply in the outbox, per chat
    stored: frozenset[str]  # the attachment store's files (sha256)

    def answers(self, filing_id: int) -> dict[Key, Value]:
        return {k: a.value for k, a in self.filings[filing_id].answers.items()}


def _state(world: World) -> State:
    with world.db.session() as session:
        filings = {i: load_filing(session, i) for i in session.scalars(select(FilingRow.id))}
        reviewers = session.execute(select(ReviewerRow.channel, ReviewerRow.chat_id)).all()
        invites = session.scalars(select(InviteRow.code)).all()
        requests = session.execute(select(RequestRow.id, RequestRow.status)).all()
        members = session.execute(select(MemberRow.chat_id, MemberRow.enterprise_id)).all()
        queued: dict[str, list[Reply]] = {}
        for chat, payload in session.execute(
            select(OutboxRow.chat_id, OutboxRow.payload).order_by(OutboxRow.id)
        ):
            queued.setdefault(chat, []).append(from_payload(_json(payload)))
    stored = frozenset(p.name for p in (world.root / "files").rglob("*") if p.is_file())
    return State(
        filings,
        frozenset((c, i) for c, i in reviewers),
        frozenset(invites),
        dict(requests),
        frozenset((c, e) for c, e in members),
        queued,
        stored,
    )


def _json(payload: Any) -> dict[str, Any]:
    value = json.loads(payload) if isinstance(payload, str) else payload
    assert isinstance(value, dict)
    return value


def _new_outbox(before: State, after: State) -> dict[str, list[Reply]]:
    return {
        chat: replies[len(before.queued.get(chat, [])) :]
        for chat, replies in after.queued.items()
        if len(replies) > len(before.queued.get(chat, []))
    }


def _text(replies: Sequence[Reply]) -> str:
    """Everything the replies show: texts, captions and the labels of their buttons."""
    lines = []
    for reply in replies:
        lines.append(reply_text(reply))
        if isinstance(reply, Choice | FileRequest):
            lines.extend(f"[{button.label}]" for button in reply.options)
    return "\n".join(lines)


def _files_of(world: World, state: State, filing_id: int) -> dict[str, bytes]:
    refs = [v for v in state.answers(filing_id).values() if isinstance(v, FileRef)]
    return {ref.sha256: world.service.files.read(ref.sha256) for ref in refs}


# --- the matrix -----------------------------------------------------------------------------


@pytest.mark.parametrize("action", list(ACTIONS))
@pytest.mark.parametrize("actor", list(ACTORS))
def test_only_the_right_ones_succeed(world: World, actor: str, action: str) -> None:
    chat = ACTORS[actor]
    before = _state(world)
    per_step = world.act(chat, ACTIONS[action])
    replies = [reply for step in per_step for reply in step]
    after = _state(world)
    new = _new_outbox(before, after)
    assert replies == new.get(chat, []), "every reply of a messaging chat is queued"
    others = {c: r for c, r in new.items() if c != chat}
    everything = [*replies, *(reply for sent in others.values() for reply in sent)]
    documents = [r for r in everything if isinstance(r, Document)]

    if chat == REVIEWER:
        _reviewer_succeeds(
            world, action=action, before=before, after=after, replies=replies, others=others
        )
        return
    text = _text(replies)
    assert not documents, "a non-reviewer obtained a file"
    assert not others, f"{actor} made the bot write to {sorted(others)}"
    assert not any(word in text for word in REVIEWER_ONLY), text
    if chat != CONTACT_A:
        leaked = [s for s in A_SECRETS if s in text]
        assert not leaked, f"{actor} saw A's {leaked}"
    # Nothing but the actor's own draft may change; no decision, request, invite or reviewer.
    assert after.reviewers == before.reviewers and after.invites == before.invites
    assert after.requests == before.requests and after.members == before.members
    assert {i: f.status for i, f in after.filings.items()} == {
        i: f.status for i, f in before.filings.items()
    }
    for filing_id in before.filings:
        if chat != CONTACT_B or filing_id == world.a:
            assert after.answers(filing_id) == before.answers(filing_id)

    if chat == STRANGER:
        # Onboarding for everything; an uploaded file is not even kept.
        assert all(ONBOARDING in _text(step) for step in per_step), text
        assert after.stored == before.stored
    elif chat == CONTACT_A:
        _contact_a_sees_only_their_own(action, text)
    else:
        _contact_b_works_on_their_own_draft(world, action, text, before, after)


def _contact_a_sees_only_their_own(action: str, text: str) -> None:
    if action in ("历史", "/history"):
        assert "【处理记录】" in text and "提交审核（第 1 版）" in text
    else:  # whatever they type: their filing is with the reviewers
        assert "正在审核中" in text, text


def _contact_b_works_on_their_own_draft(
    world: World, action: str, text: str, before: State, after: State
) -> None:
    (b_filing,) = (i for i in after.filings if i != world.a)
    changed = after.answers(b_filing).keys() ^ before.answers(b_filing).keys()
    changed |= {
        k for k, v in after.answers(b_filing).items() if before.answers(b_filing).get(k, v) != v
    }
    expected = {
        "answer": "✓ 已保存 联系人姓名：李娜",
        "提交": texts.CHECK_NOT_READY,
        "总览": "【填报总览",
        "/history": texts.HISTORY_EMPTY,
        "历史": texts.HISTORY_EMPTY,
        "upload": texts.FILE_NOT_EXPECTED,
    }
    if action in expected:
        assert expected[action] in text, text
    if action in ("总览", "/history", "提交", "upload"):
        assert not changed, changed
    assert all(k.field.startswith("contact.") for k in changed), changed  # typed at a question


def _reviewer_succeeds(
    world: World,
    *,
    action: str,
    before: State,
    after: State,
    replies: Sequence[Reply],
    others: dict[str, list[Reply]],
) -> None:
    text = _text(replies)
    a_before, a_after = before.filings[world.a], after.filings[world.a]
    status = a_after.status
    name = ENTERPRISE_A[0]
    match action:
        case "待审":
            assert "【待审核 1 份】" in text and name in text
        case "打开":
            assert f"【审核】{name} · 第 1 版 · 待审核" in text
        case "通过":
            assert status == "approved" and f"✅ 已通过 {name} 第 1 版" in text
            (pdf, notice) = others[CONTACT_A]
            assert isinstance(pdf, Document) and pdf.content.startswith(b"%PDF-")
            assert "已审核通过" in reply_text(notice)
        case "驳回":
            assert status == "rejected" and f"❌ 已驳回 {name} 第 1 版" in text
            assert "资料不全需补充" in _text(others[CONTACT_A])
        case "附件":
            assert "这份申报的附件" in text and "[营业执照：营业执照.png]" in text
        case "文件 N":
            (document,) = [r for r in replies if isinstance(r, Document)]
            assert document.content in _files_of(world, after, world.a).values()
            digest = hashlib.sha256(document.content).hexdigest()
            assert document.filename == _name_of(a_after, digest)
        case "申请":
            assert "【待处理的申请 1 个】" in text and "赵敏 申请绑定" in text
        case "批准申请 N":
            assert after.requests[world.request] == "approved"
            assert (APPLICANT, _enterprise_of(after, CONTACT_B)) in after.members
            assert "绑定成功" in _text(others[APPLICANT])
        case "邀请":
            (code,) = after.invites - before.invites
            assert f"邀请码：{code}（{ENTERPRISE_B[0]}" in text
        case "添加审核员":
            assert (CHANNEL, STRANGER) in after.reviewers - before.reviewers
        case "历史":
            assert "【处理记录】" in text and "提交审核（第 1 版）" in text
        case _:  # the contacts' actions mean nothing on the reviewer's side
            assert "没有理解" in text or "【待审核 1 份】" in text, text
            assert after.stored == before.stored  # an upload is not kept either
    deciding = action in ("通过", "驳回")
    assert (status != a_before.status) == deciding
    if not deciding:
        assert after.answers(world.a) == before.answers(world.a)
    expected_others = {
        "通过": {CONTACT_A},
        "驳回": {CONTACT_A},
        "批准申请 N": {APPLICANT},
    }.get(action, set())
    assert set(others) == expected_others
    if action != "文件 N":
        assert not [r for r in replies if isinstance(r, Document)]


def _enterprise_of(state: State, chat: str) -> int:
    (enterprise,) = (e for c, e in state.members if c == chat)
    return enterprise


def _name_of(filing: Filing, sha256: str) -> str:
    for answer in filing.answers.values():
        if isinstance(answer.value, FileRef) and answer.value.sha256 == sha256:
            return answer.value.name
    raise AssertionError(f"no file {sha256} in the filing")


def test_a_contact_cannot_reach_another_enterprises_filing(world: World) -> None:
    """B's contact tries every way into A's filing: ids, commands, numbers."""
    before = _state(world)
    attempts = [f"打开 {world.a}", f"审核 {world.a}", "附件", "文件 1", "文件 2", "通过", "修改"]
    attempts += ["总览", "1", "3", "编辑 1", "/history", "历史"]
    shown = _text([r for step in world.act(CONTACT_B, attempts) for r in step])
    after = _state(world)
    assert after.answers(world.a) == before.answers(world.a)
    assert after.filings[world.a].status == "submitted"
    assert not [s for s in A_SECRETS if s in shown]
    assert not [
        r for rs in _new_outbox(before, after).values() for r in rs if isinstance(r, Document)
    ]
