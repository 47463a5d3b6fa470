"""Carrying out what the dialogs decide about a filing's life after the form: submission,
approval (with the declaration form), rejection, the stamped form, files for reviewers; and
the read-only view of filings that the reviewer dialog works on.

Everything runs inside the caller's transaction: the status change, the version snapshot and
every notification (queued in the outbox) commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, time

from sqlalchemy.orm import Session

from bot.declaration import Fonts, declaration_pdf
from bot.export import export_year, form_for
from bot.export_formats import XLSX_TYPE
from bot.privacy import mask_mobile
from dialogs import texts
from dialogs import texts_review as tr
from dialogs.effects import (
    Approve,
    Effect,
    ExportFilings,
    Reject,
    SendAttachment,
    SendDeclaration,
    StampedFormReceived,
    SubmitFiling,
)
from dialogs.engine import step
from dialogs.model import FileRef, Filing, Key
from dialogs.replies import Button, Choice, Document, Reply, Start, Text
from dialogs.review import Opened, QueueEntry, RequestEntry
from dialogs.screens.locked import STAMPED_FORM
from dialogs.spec import FormSpec
from dialogs.state import ConvState
from dialogs.submission import changes_between
from dialogs.view import View
from dialogs.workdays import SHANGHAI, add_working_days
from storage.enterprises import EnterpriseRepository
from storage.files import AttachmentStore, display_name
from storage.members import MemberRepository
from storage.repository import ConversationRepository, FilingRepository
from storage.requests import RequestRepository
from storage.reviewers import ReviewerRepository
from storage.statuses import APPROVED, DRAFT, SUBMITTED
from storage.workflow import Transition, WorkflowRepository, filing_from_snapshot, snapshot_of

COMPLETE = "complete"
REJECTED = "rejected"

# Sends replies to another chat (through the outbox); the service provides it.
Notify = Callable[[str, str, Sequence[Reply]], None]


def load_filing(session: Session, filing_id: int) -> Filing:
    """The filing with what the workflow knows about it (version, review note)."""
    filing = FilingRepository(session).load(filing_id)
    if filing.status == DRAFT and not filing.version:
        return filing
    workflow = WorkflowRepository(session)
    status, version = workflow.status(filing_id)
    submitted_at = None
    note = ""
    sections: tuple[str, ...] = ()
    for move in workflow.history(filing_id):
        if move.to_status == SUBMITTED:
            submitted_at = move.at
        if move.to_status == REJECTED:
            note, sections = move.reason or "", tuple(move.sections or ())
    return replace(
        filing,
        status=status,
        version=version,
        submitted_at=submitted_at,
        review_note=note,
        review_sections=sections,
    )


def history_lines(moves: Sequence[Transition]) -> list[str]:
    lines = []
    for move in moves:
        what = texts.HISTORY_WHAT.get(move.to_status, move.to_status).format(
            version=move.version, reason=move.reason or ""
        )
        when = move.at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
        lines.append(texts.HISTORY_LINE.format(when=when, what=what))
    return lines


@dataclass
class Workflow:
    session: Session
    form: FormSpec
    files: AttachmentStore
    fonts: Fonts
    reviewers: Sequence[tuple[str, str]]
    notify: Notify
    now: datetime

    def carry_out(
        self, effects: Sequence[Effect], filing: Filing | None, actor: tuple[str, str]
    ) -> list[Reply]:
        """Applies the effects; returns extra replies for the acting chat itself."""
        replies: list[Reply] = []
        for effect in effects:
            match effect:
                case SubmitFiling() if filing is not None:
                    self.submit(filing, actor)
                case StampedFormReceived() if filing is not None:
                    self.stamped(filing, actor)
                case Approve(filing_id=filing_id):
                    self.approve(filing_id, actor)
                case Reject(filing_id=filing_id, reason=reason, sections=sections):
                    self.reject(filing_id, reason, sections, actor)
                case SendAttachment(ref=ref):
                    replies.append(self.document(ref))
                case SendDeclaration() if filing is not None:
                    replies.append(self.declaration(filing))
                case ExportFilings(year=year):
                    replies.append(self.export(year))
        return replies

    # --- contacts' side ----------------------------------------------------------------------

    def submit(self, filing: Filing, actor: tuple[str, str]) -> None:
        workflow = WorkflowRepository(self.session)
        version = workflow.submit(
            filing.id,
            snapshot_of(filing),
            f"{actor[0]}:{actor[1]}",
            actor[0],
            self.now,
            expect_from=(DRAFT, REJECTED),
        )
        name = str(filing.get(Key("enterprise.name")) or "")
        grade = str(filing.get(Key("enterprise.grade")) or "")
        text = tr.NEW_SUBMISSION.format(name=name, grade=grade, version=version)
        notice = Choice(text, (Button(tr.BTN_OPEN, f"打开 {filing.id}"),))
        for channel, chat_id in self.reviewers:
            self.notify(channel, chat_id, [notice])

    def stamped(self, filing: Filing, actor: tuple[str, str]) -> None:
        WorkflowRepository(self.session).transition(
            filing.id,
            COMPLETE,
            f"{actor[0]}:{actor[1]}",
            actor[0],
            self.now,
            expect_from=(APPROVED,),
        )
        name = str(filing.get(Key("enterprise.name")) or "")
        for channel, chat_id in self.reviewers:
            self.notify(channel, chat_id, [Text(tr.STAMPED_IN.format(name=name))])

    # --- reviewers' side ------------------------------------------------------------------------

    def approve(self, filing_id: int, actor: tuple[str, str]) -> None:
        moved = WorkflowRepository(self.session).transition(
            filing_id,
            APPROVED,
            f"{actor[0]}:{actor[1]}",
            actor[0],
            self.now,
            expect_from=(SUBMITTED,),
        )
        if not moved:
            return
        filing = load_filing(self.session, filing_id)
        document = self.declaration(filing)
        notice = Text(texts.APPROVED_NOTICE.format(version=filing.version))
        for channel, chat_id in self.members_of(filing_id):
            self.notify(channel, chat_id, [document, notice])

    def declaration(self, filing: Filing) -> Document:
        # A filing of an earlier cycle (approved after the switch) gets its own year's form.
        form = form_for(self.form, filing.year)
        pdf = declaration_pdf(
            View(form, filing), version=filing.version, fonts=self.fonts, generated_at=self.now
        )
        name = str(filing.get(Key("enterprise.name")) or "")
        caption = texts.DECLARATION_CAPTION.format(
            name=name, year=filing.year, version=filing.version
        )
        return Document(f"{name}-年检申报表-第{filing.version}版.pdf", pdf, caption)

    def reject(
        self, filing_id: int, reason: str, sections: Sequence[str], actor: tuple[str, str]
    ) -> None:
        moved = WorkflowRepository(self.session).transition(
            filing_id,
            REJECTED,
            f"{actor[0]}:{actor[1]}",
            actor[0],
            self.now,
            reason=reason,
            sections=list(sections),
            expect_from=(SUBMITTED,),
        )
        if not moved:
            return
        filing = load_filing(self.session, filing_id)
        conversations = ConversationRepository(self.session)
        for channel, chat_id in self.members_of(filing_id):
            # The contact's chat opens on the reason, with the named sections a press away.
            outcome = step(self.form, filing, ConvState(), Start(), self.now)
            conversations.put(channel, chat_id, filing_id, outcome.state.to_dict(), self.now)
            self.notify(channel, chat_id, outcome.replies)

    def export(self, year: int) -> Reply:
        """The association's workbook for a reviewer's chat (mobile numbers masked)."""
        form = form_for(self.form, year)
        export = export_year(self.session, form, self.now, mask_mobiles=True)
        if not export.count:
            return Text(tr.EXPORT_EMPTY.format(year=year))
        return Document(export.filename, export.xlsx(), export.caption, XLSX_TYPE)

    def document(self, ref: FileRef) -> Document:
        name = display_name(ref.name, ref.content_type)  # also for names stored before cleaning
        return Document(name, self.files.read(ref.sha256), name, ref.content_type)

    def members_of(self, filing_id: int) -> list[tuple[str, str]]:
        enterprise_id = FilingRepository(self.session).enterprise_of(filing_id)
        if enterprise_id is None:
            return []
        return [
            (m.channel, m.chat_id)
            for m in MemberRepository(self.session).of_enterprise(enterprise_id)
        ]


@dataclass
class ReviewerView:
    """The read port of the reviewer dialog, on the caller's session."""

    session: Session
    form: FormSpec
    now: datetime

    def queue(self) -> Sequence[QueueEntry]:
        entries = []
        for item in WorkflowRepository(self.session).queue():
            submitted = item.submitted_at.astimezone(SHANGHAI).date()
            due = add_working_days(submitted, 1, self.form.cycle.calendar)
            deadline = datetime.combine(due, time(23, 59, 59), SHANGHAI)
            entries.append(
                QueueEntry(
                    item.filing_id,
                    item.enterprise_name or f"申报 {item.filing_id}",
                    item.grade,
                    item.version,
                    item.submitted_at,
                    self.now > deadline,
                )
            )
        return entries

    def open(self, filing_id: int) -> Opened | None:
        try:
            filing = load_filing(self.session, filing_id)
        except LookupError:
            return None
        if filing.status == DRAFT and not filing.version:
            return None
        workflow = WorkflowRepository(self.session)
        moves = workflow.history(filing_id)
        changes: tuple[str, ...] = ()
        if filing.version > 1 and any(m.to_status == REJECTED for m in moves):
            previous = workflow.version_snapshot(filing_id, filing.version - 1)
            if previous is not None:
                old = filing_from_snapshot(previous, filing_id, filing.year)
                form = form_for(self.form, filing.year)
                changes = tuple(changes_between(form, old, filing))
        name = str(filing.get(Key("enterprise.name")) or "")
        return Opened(
            filing,
            name,
            filing.status,
            filing.version,
            filing.submitted_at,
            changes,
            tuple(history_lines(moves)),
            tuple(self.attachments(filing)),
        )

    def requests(self) -> Sequence[RequestEntry]:
        entries = []
        for request in RequestRepository(self.session).pending():
            p = request.payload
            if request.kind == "binding":
                name = enterprise_name(self.session, request.enterprise_id or 0)
                summary = tr.BINDING_SUMMARY.format(
                    full_name=p.get("full_name", ""), name=name, code=p.get("credit_code", "")
                )
            else:
                summary = tr.REGISTRATION_SUMMARY.format(
                    name=p.get("name", ""),
                    code=p.get("credit_code", ""),
                    grade=p.get("grade", ""),
                    cert=p.get("cert_number", ""),
                    full_name=p.get("full_name", ""),
                    mobile=mask_mobile(str(p.get("mobile", ""))),
                )
            entries.append(RequestEntry(request.id, request.kind, summary))
        return entries

    def attachments(self, filing: Filing) -> list[tuple[str, FileRef]]:
        """Every stored file of the filing, in the order of the form, the stamped form last."""
        form = form_for(self.form, filing.year)
        view = View(form, filing)
        found = []
        for section in form.sections:
            for key in view.steps(section):
                value = filing.get(key)
                if isinstance(value, FileRef):
                    found.append((view.label(key), value))
        stamped = filing.get(Key(STAMPED_FORM))
        if isinstance(stamped, FileRef):
            found.append((texts.STAMPED_LABEL, stamped))
        return found


def enterprise_name(session: Session, enterprise_id: int) -> str:
    enterprise = EnterpriseRepository(session).get(enterprise_id)
    return enterprise.name if enterprise is not None else ""


def reviewers_of(session: Session, configured: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    return ReviewerRepository(session).all(configured)
