"""The reviewer's side of the chat: the queue, one filing at a time, approve or reject.

Pure like the filing engine: what it needs to read comes through `ReviewPorts` (a read-only
view the service provides), what it decides comes back as effects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Protocol

from dialogs import texts_review as t
from dialogs import totals
from dialogs.commands import Command, command_of
from dialogs.effects import (
    Approve,
    DecideRequest,
    Effect,
    ExportFilings,
    IssueInvite,
    PromoteReviewer,
    Reject,
    SendAttachment,
)
from dialogs.form import form_of_year
from dialogs.indicators import evaluate_all
from dialogs.model import FileRef, Filing
from dialogs.parsing import clean_text, normalize
from dialogs.replies import Button, Choice, Event, Reply, Start, Text, TextIn
from dialogs.spec import FormSpec
from dialogs.view import View
from dialogs.workdays import SHANGHAI


@dataclass(frozen=True, slots=True)
class QueueEntry:
    filing_id: int
    enterprise: str
    grade: str
    version: int
    submitted_at: datetime
    overdue: bool


@dataclass(frozen=True, slots=True)
class Opened:
    filing: Filing
    enterprise: str
    status: str
    version: int
    submitted_at: datetime | None
    changes: tuple[str, ...] = ()  # since the last rejected version
    history: tuple[str, ...] = ()
    attachments: tuple[tuple[str, FileRef], ...] = ()


@dataclass(frozen=True, slots=True)
class RequestEntry:
    id: int
    kind: str  # binding | registration
    summary: str


class ReviewPorts(Protocol):
    def queue(self) -> Sequence[QueueEntry]: ...

    def open(self, filing_id: int) -> Opened | None: ...

    def requests(self) -> Sequence[RequestEntry]: ...


@dataclass(frozen=True, slots=True)
class ReviewState:
    mode: str = "queue"  # queue | filing | reason | sections | files
    filing_id: int = 0
    reason: str = ""
    sections: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["sections"] = list(self.sections)
        return {"review": data}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ReviewState:
        raw = (data or {}).get("review")
        if not isinstance(raw, dict):
            return cls()
        return cls(
            str(raw.get("mode", "queue")),
            int(raw.get("filing_id", 0)),
            str(raw.get("reason", "")),
            tuple(str(s) for s in raw.get("sections", ())),
        )


@dataclass(frozen=True, slots=True)
class ReviewOutcome:
    state: ReviewState
    replies: tuple[Reply, ...]
    effects: tuple[Effect, ...] = ()


def review_step(
    form: FormSpec, ports: ReviewPorts, state: ReviewState, event: Event, now: datetime
) -> ReviewOutcome:
    return _Review(form, ports, now).handle(state, event)


class _Review:
    def __init__(self, form: FormSpec, ports: ReviewPorts, now: datetime) -> None:
        self.form = form
        self.ports = ports
        self.now = now
        self.notes: list[str] = []
        self.effects: list[Effect] = []

    def done(self, state: ReviewState, reply: Reply) -> ReviewOutcome:
        return ReviewOutcome(state, (reply,), tuple(self.effects))

    def lead(self, text: str) -> str:
        parts = [*self.notes, text]
        self.notes.clear()
        return "\n\n".join(parts)

    def handle(self, state: ReviewState, event: Event) -> ReviewOutcome:
        if isinstance(event, Start) or not isinstance(event, TextIn):
            return self.queue()
        text = self.resolve_number(state, normalize(event.text))
        verb, _, arg = text.partition(" ")
        command = command_of(text)
        if verb in ("打开", "审核", "查看") and arg.strip().isdecimal():
            return self.open(int(arg))
        if command is Command.HELP:
            self.notes.append(t.HELP)
            return self.queue()
        if verb in ("批准申请", "不批准申请") and arg.strip().isdecimal():
            approve = verb == "批准申请"
            self.effects.append(DecideRequest(int(arg), approve))
            verdict = "批准" if approve else "不批准"
            self.notes.append(t.REQUEST_DONE.format(id=int(arg), verdict=verdict))
            return self.requests()
        if verb in ("申请", "待处理申请"):
            return self.requests()
        if verb == "添加审核员":
            who = arg.strip()
            channel, sep, chat_id = who.partition(":")
            if not (sep and channel and chat_id):
                return self.done(state, Text(t.PROMOTE_FORMAT))
            self.effects.append(PromoteReviewer(channel, chat_id))
            self.notes.append(t.PROMOTED.format(who=who))
            return self.queue()
        if verb == "邀请" and arg.strip():
            self.effects.append(IssueInvite(arg.strip()))
            return self.done(state, Text(t.INVITE_ISSUING))
        if verb in ("导出", "/export"):
            return self.export(state, arg.strip())
        if verb in ("待审", "列表", "刷新", "队列", "/queue") or command is Command.OVERVIEW:
            return self.queue()
        if state.mode == "queue":
            return self.on_queue(text)
        if state.mode == "filing":
            return self.on_filing(state, text, command)
        if state.mode == "reason":
            return self.on_reason(state, event.text, command)
        if state.mode == "sections":
            return self.on_sections(state, text, command)
        if state.mode == "files":
            return self.on_files(state, text, command)
        return self.queue()

    def resolve_number(self, state: ReviewState, text: str) -> str:
        """A bare number picks that option of the screen shown, as pressing it would."""
        if state.mode == "reason" or not (text.isascii() and text.isdecimal()):
            return text
        shown = _Review(self.form, self.ports, self.now).redisplay(state).replies
        options = shown[-1].options if shown and isinstance(shown[-1], Choice) else ()
        number = int(text)
        return options[number - 1].value if 1 <= number <= len(options) else text

    def redisplay(self, state: ReviewState) -> ReviewOutcome:
        opened = self.ports.open(state.filing_id) if state.filing_id else None
        if opened is None or state.mode == "queue":
            return self.queue()
        if state.mode == "sections":
            return self.sections(state)
        if state.mode == "files":
            return self.files(opened)
        return self.show(opened)

    def export(self, state: ReviewState, arg: str) -> ReviewOutcome:
        """The workbook of every enterprise's filing of the year (this cycle's by default)."""
        year = self.form.cycle.year
        if arg:
            text = arg.removesuffix("年").strip()
            if not (len(text) == 4 and text.isdecimal()) or int(text) > year + 1:
                return self.done(state, Text(t.EXPORT_FORMAT.format(year=year)))
            year = int(text)
        self.effects.append(ExportFilings(year))
        return self.done(state, Text(t.EXPORTING.format(year=year)))

    # --- the queue -----------------------------------------------------------------------------

    def queue(self, exclude: int = 0) -> ReviewOutcome:
        # A filing just decided is still in the ports' queue until the decision is carried out.
        entries = [e for e in self.ports.queue() if e.filing_id != exclude]
        if not entries:
            pending = len(self.ports.requests())
            if pending:
                self.notes.append(t.QUEUE_EMPTY)
                return self.requests()
            return self.done(ReviewState(), Text(self.lead(t.QUEUE_EMPTY)))
        lines = [t.QUEUE_HEAD.format(count=len(entries))]
        buttons = []
        for i, e in enumerate(entries, 1):
            when = e.submitted_at.astimezone(SHANGHAI).strftime("%m-%d %H:%M")
            late = t.OVERDUE if e.overdue else ""
            lines.append(
                t.QUEUE_LINE.format(
                    n=i, name=e.enterprise, grade=e.grade, version=e.version, when=when, late=late
                )
            )
            buttons.append(Button(f"{i}. {e.enterprise}{late}", f"打开 {e.filing_id}"))
        buttons.append(Button(t.BTN_REFRESH, "刷新"))
        pending = len(self.ports.requests())
        if pending:
            buttons.append(Button(t.BTN_REQUESTS.format(count=pending), "申请"))
        return self.done(ReviewState(), Choice(self.lead("\n".join(lines)), tuple(buttons)))

    def requests(self) -> ReviewOutcome:
        entries = list(self.ports.requests())
        if not entries:
            return self.done(ReviewState(), Text(self.lead(t.REQUESTS_EMPTY)))
        lines = [t.REQUESTS_HEAD.format(count=len(entries))]
        buttons = []
        for e in entries:
            kind = t.REQUEST_KINDS.get(e.kind, e.kind)
            lines.append(f"#{e.id} {kind}：{e.summary}")
            buttons.append(Button(f"{t.BTN_APPROVE_REQUEST} #{e.id}", f"批准申请 {e.id}"))
            buttons.append(Button(f"{t.BTN_DECLINE_REQUEST} #{e.id}", f"不批准申请 {e.id}"))
        buttons.append(Button(t.BTN_QUEUE, "列表"))
        return self.done(ReviewState(), Choice(self.lead("\n".join(lines)), tuple(buttons)))

    def on_queue(self, text: str) -> ReviewOutcome:
        entries = list(self.ports.queue())
        if text.isdecimal() and 1 <= int(text) <= len(entries):
            return self.open(entries[int(text) - 1].filing_id)
        self.notes.append(t.NOT_UNDERSTOOD)
        return self.queue()

    # --- one filing ----------------------------------------------------------------------------

    def open(self, filing_id: int) -> ReviewOutcome:
        opened = self.ports.open(filing_id)
        if opened is None:
            self.notes.append(t.NOT_FOUND)
            return self.queue()
        return self.show(opened)

    def show(self, opened: Opened) -> ReviewOutcome:
        # A filing of an earlier cycle is shown with that year's form (its three years).
        view = View(form_of_year(self.form, opened.filing.year), opened.filing)
        lines = [
            t.FILING_HEAD.format(
                name=opened.enterprise,
                version=opened.version,
                status=t.STATUS.get(opened.status, opened.status),
            )
        ]
        if opened.submitted_at is not None:
            lines.append(
                t.SUBMITTED_AT.format(
                    when=opened.submitted_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
                )
            )
        for section_state in view.iter_states():
            if view.applies_section(section_state.section):
                done = not section_state.missing and not section_state.problems
                lines.append(f"{'✓' if done else '✗'} {section_state.section.heading}")
        col = totals.column_totals(view)
        lines.append(t.KEY_FIGURES)
        projects = t.PROJECTS_FIGURE.format(
            count=len(totals.project_records(view)),
            contract=col["contract_amount"],
            service=col["service_total"],
        )
        lines.append(t.FIGURE.format(label="系统集成项目", value=projects))
        lines.extend(f"  {r.spec.label}：{r.text}" for r in evaluate_all(view))
        if opened.changes:
            lines.append(t.CHANGES_HEAD)
            lines.extend(opened.changes[:30])
            if len(opened.changes) > 30:
                lines.append(t.MORE.format(count=len(opened.changes) - 30))
        if opened.history:
            lines.append(t.HISTORY_HEAD)
            lines.extend(opened.history[-5:])
        buttons = []
        if opened.status == "submitted":
            buttons += [Button(t.BTN_APPROVE, "通过"), Button(t.BTN_REJECT, "驳回")]
        if opened.attachments:
            buttons.append(Button(t.BTN_FILES.format(count=len(opened.attachments)), "附件"))
        buttons.append(Button(t.BTN_QUEUE, "列表"))
        state = ReviewState("filing", opened.filing.id)
        return self.done(state, Choice(self.lead("\n".join(lines)), tuple(buttons)))

    def on_filing(self, state: ReviewState, text: str, command: Command | None) -> ReviewOutcome:
        opened = self.ports.open(state.filing_id)
        if opened is None:
            self.notes.append(t.NOT_FOUND)
            return self.queue()
        if text in ("通过", "批准", "同意") and opened.status == "submitted":
            self.effects.append(Approve(opened.filing.id, opened.version))
            self.notes.append(t.APPROVED.format(name=opened.enterprise, version=opened.version))
            return self.queue(exclude=opened.filing.id)
        if text in ("驳回", "退回", "不通过") and opened.status == "submitted":
            return self.done(ReviewState("reason", opened.filing.id), Text(t.ASK_REASON))
        if text in ("附件", "查看附件"):
            return self.files(opened)
        if command is Command.BACK:
            return self.queue()
        self.notes.append(t.NOT_UNDERSTOOD)
        return self.show(opened)

    def on_reason(self, state: ReviewState, raw: str, command: Command | None) -> ReviewOutcome:
        if command in (Command.BACK, Command.CANCEL):
            return self.open(state.filing_id)
        # Kept as typed (full-width punctuation and all): the contact reads these words.
        reason = clean_text(raw)
        if len(reason) < 2:
            return self.done(state, Text(t.ASK_REASON))
        return self.sections(ReviewState("sections", state.filing_id, reason[:500], ()))

    def sections(self, state: ReviewState) -> ReviewOutcome:
        buttons = [
            Button(("☑ " if s.id in state.sections else "☐ ") + s.heading, f"部分 {s.id}")
            for s in self.form.sections
        ]
        buttons.append(Button(t.BTN_SEND_REJECTION, "完成"))
        text = t.ASK_SECTIONS.format(reason=state.reason)
        return self.done(state, Choice(self.lead(text), tuple(buttons)))

    def on_sections(self, state: ReviewState, text: str, command: Command | None) -> ReviewOutcome:
        ids = [s.id for s in self.form.sections]
        verb, _, arg = text.partition(" ")
        if verb == "部分" and arg in ids:
            chosen = set(state.sections) ^ {arg}
            ordered = tuple(i for i in ids if i in chosen)
            return self.sections(ReviewState("sections", state.filing_id, state.reason, ordered))
        if text in ("完成", "发送", "确定"):
            opened = self.ports.open(state.filing_id)
            if opened is None or opened.status != "submitted":
                self.notes.append(t.NOT_FOUND)
                return self.queue()
            self.effects.append(
                Reject(opened.filing.id, opened.version, state.reason, state.sections)
            )
            self.notes.append(t.REJECTED.format(name=opened.enterprise, version=opened.version))
            return self.queue(exclude=opened.filing.id)
        if command in (Command.BACK, Command.CANCEL):
            return self.open(state.filing_id)
        self.notes.append(t.NOT_UNDERSTOOD)
        return self.sections(state)

    def files(self, opened: Opened) -> ReviewOutcome:
        buttons = [
            Button(f"{label}：{clean_text(ref.name)}", f"文件 {i}")
            for i, (label, ref) in enumerate(opened.attachments, 1)
        ]
        buttons.append(Button(t.BTN_BACK_TO_FILING, "返回"))
        state = ReviewState("files", opened.filing.id)
        return self.done(state, Choice(self.lead(t.FILES_HEAD), tuple(buttons)))

    def on_files(self, state: ReviewState, text: str, command: Command | None) -> ReviewOutcome:
        opened = self.ports.open(state.filing_id)
        if opened is None:
            return self.queue()
        verb, _, arg = text.partition(" ")
        number = arg if verb == "文件" else text
        if number.isdecimal() and 1 <= int(number) <= len(opened.attachments):
            label, ref = opened.attachments[int(number) - 1]
            self.effects.append(SendAttachment(ref))
            self.notes.append(t.SENDING_FILE.format(label=label, name=clean_text(ref.name)))
            return self.files(opened)
        if command is Command.BACK or text == "返回":
            return self.show(opened)
        self.notes.append(t.NOT_UNDERSTOOD)
        return self.files(opened)
