"""The application service every channel calls: load, step the engine, commit, reply.

The answer, the conversation state, the "already processed" mark of the channel's event and
(for messaging channels) the replies to send are committed in one transaction before anything
is sent, so whatever the user sees acknowledged survives a crash at any moment, a redelivered
event is handled once, and no reply is lost between the commit and the network.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.declaration import Fonts, register_font
from bot.privacy import mask_mobile
from bot.project_sheet import template_document
from bot.sheet_guard import read_guarded
from bot.workflow import (
    ReviewerView,
    Workflow,
    enterprise_name,
    history_lines,
    load_filing,
    reviewers_of,
)
from dialogs import texts, texts_input, texts_reminders
from dialogs import texts_delivery as td
from dialogs import texts_review as tr
from dialogs.commands import Command, command_of
from dialogs.effects import (
    DecideRequest,
    Effect,
    IssueInvite,
    PromoteReviewer,
    RedeemInvite,
    RequestBinding,
    RequestRegistration,
    SendProjectTemplate,
)
from dialogs.engine import Outcome, step
from dialogs.last_year import needs_previous
from dialogs.model import Filing, apply_changes
from dialogs.onboarding import OnboardingState, onboarding_step
from dialogs.project_import import waits_for_table
from dialogs.replies import (
    Button,
    Choice,
    Event,
    FileIn,
    FileRequest,
    Reply,
    Start,
    TableIn,
    Text,
    TextIn,
    to_payload,
)
from dialogs.review import ReviewState, review_step
from dialogs.spec import FormSpec, Kind
from dialogs.state import ConvState, Mode
from dialogs.view import View
from dialogs.workdays import SHANGHAI
from reminders.views import ReminderViews, renewal_argument
from storage.compose import IMAGE_TYPES, images_to_pdf
from storage.console import ConsoleAuth
from storage.db import Database
from storage.enterprises import EnterpriseExists, EnterpriseRepository
from storage.files import AttachmentRejected, AttachmentStore, is_xlsx
from storage.filing_cache import FilingCache
from storage.invites import InviteRepository, new_code
from storage.last_year import Decoded, last_filed
from storage.members import MemberRepository
from storage.messaging import AGAIN, OWN, ChannelChats, EventLog, Outbox, OutboxItem
from storage.models import AnswerRow, FilingRow
from storage.repository import (
    AttachmentRepository,
    ConversationRepository,
    FilingRepository,
    StaleAnswer,
)
from storage.requests import RequestRepository
from storage.reviewers import ReviewerRepository
from storage.throttle import InviteThrottle
from storage.workflow import WorkflowRepository

log = logging.getLogger(__name__)

# A conflicting edit by another contact is retried against the fresh filing this often.
_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class Turn:
    filing_id: int | None
    outcome: Outcome | None  # the filing dialog's; None for reviewers, onboarding, no-ops
    outbox_ids: tuple[int, ...] = ()
    duplicate: bool = False
    stale: bool = False
    extra: tuple[Reply, ...] = ()  # replies that did not come from the filing dialog
    lead: tuple[Reply, ...] = ()  # shown before the dialog's replies ("bound to ...")

    # Other chats that got messages queued by this event (a reviewer told of a submission,
    # a contact of a decision): channels deliver them at once instead of at the next sweep.
    notified: tuple[tuple[str, str], ...] = ()
    # Everything this event queued (its own chat's replies and the other chats'), as stored:
    # a channel sends these without reading them back from the outbox.
    queued: tuple[OutboxItem, ...] = ()

    @property
    def replies(self) -> Sequence[Reply]:
        own = self.outcome.replies if self.outcome is not None else ()
        return (*self.lead, *own, *self.extra)


@dataclass(frozen=True, slots=True)
class Incoming:
    """A file as a channel received it, before it is checked and stored. `name` is empty
    for a file sent without one (a photo): it is named after the question it answers."""

    name: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Press:
    """A pressed button: option `index` of the prompt numbered `seq`."""

    seq: int
    index: int


# The terminal chat has no delivery of its own: nothing is queued for it.
UNDELIVERED_CHANNELS = frozenset({"console"})


class ChatService:
    def __init__(
        self,
        db: Database,
        form: FormSpec,
        clock: Clock,
        files: AttachmentStore,
        *,
        reviewers: Collection[tuple[str, str]] = (),
        trial_channels: Collection[str] = ("console",),
        fonts: Fonts | None = None,
        invite_days: int = 30,
        bot_username: str | None = None,
        reminders: ReminderViews | None = None,
    ) -> None:
        self.db = db
        self.form = form
        self.clock = clock
        self.files = files
        self.configured_reviewers = tuple(reviewers)
        # Channels where an unbound user fills a trial filing of their own (the terminal chat,
        # for trying the form out); elsewhere a chat must be bound to an enterprise first.
        self.trial_channels = frozenset(trial_channels)
        self.fonts = fonts or register_font()
        self.invite_days = invite_days
        self.bot_username = bot_username
        # /reminders and "续证已办理" (reminders/views.py); None: no reminder schedule.
        self.reminders = reminders
        # Chats notified while handling the current event (one event per thread at a time).
        self._local = threading.local()
        self.filing_cache = FilingCache()
        self._last_year: Decoded = {}
        # The web console's address (…/console), set when the web server serving it starts;
        # None: 后台 answers that the console is not running.
        self.console_url: str | None = None
        self.console_link_minutes = 10

    def handle(
        self,
        channel: str,
        chat_id: str,
        event: Event | Press,
        *,
        event_id: str | None = None,
        queue: bool = False,
        sent_at: datetime | None = None,
    ) -> Turn:
        """Steps the right dialog for this chat. With `event_id`, an event seen before is
        skipped; with `queue`, the replies go to the outbox in the same transaction
        (messaging channels deliver them from there) instead of only being returned.
        `sent_at`: when the person sent it, as the platform says (see `_repeat_check`)."""
        for attempt in range(_ATTEMPTS):
            try:
                return self._handle_once(channel, chat_id, event, event_id, queue, sent_at)
            except StaleAnswer as conflict:
                # Another contact changed this answer since we loaded it; the next attempt
                # loads the new value, so the engine decides on what is really stored.
                log.info("stale answer %s on attempt %d", conflict.key, attempt + 1)
        return self._handle_once(channel, chat_id, event, event_id, queue, sent_at)

    def _handle_once(  # noqa: PLR0917
        self,
        channel: str,
        chat_id: str,
        event: Event | Press,
        event_id: str | None,
        queue: bool,
        sent_at: datetime | None = None,
    ) -> Turn:
        now = self.clock.now()
        self._local.touched = []
        self._local.queued = []
        self._local.cache = []
        with self.db.session() as session:
            if event_id is not None and not EventLog(session).first_time(channel, event_id, now):
                return Turn(None, None, duplicate=True)
            chats = ChannelChats(session)
            if isinstance(event, Press):
                pressed = self._pressed(chats, channel, chat_id, event)
                if pressed is None:
                    if queue:
                        chats.seen(channel, chat_id, now)
                    return Turn(None, None, stale=True)
                event = TextIn(pressed)
            confirm: Turn | None = None
            if queue and isinstance(event, TextIn):
                event, confirm = self._repeat_check(
                    session, chats, channel, chat_id, event, sent_at
                )
            turn = confirm or self._route(session, channel, chat_id, event, now)
            if queue:
                # The user wrote: recorded with the new prompt (ChannelChats.seen).
                ids = self._queue(session, chats, channel, chat_id, turn.replies, seen=True)
                turn = replace(turn, outbox_ids=ids)
        # Committed: the filings this event read or wrote are current as of now.
        for filing_id, revision, filing, view in self._local.cache:
            self.filing_cache.put(filing_id, revision, filing, view)
        touched = tuple(dict.fromkeys(self._local.touched))
        queued = tuple(self._local.queued)
        if touched or queued:
            turn = replace(turn, notified=touched, queued=queued)
        return turn

    def _repeat_check(  # noqa: PLR0917
        self,
        session: Session,
        chats: ChannelChats,
        channel: str,
        chat_id: str,
        event: TextIn,
        sent_at: datetime | None,
    ) -> tuple[TextIn, Turn | None]:
        """A person who saw no answer sends theirs again; taken as it is, it would land in
        the next question's field. So a text equal to the chat's previous one is confirmed
        before it is stored (是 stores it, 否 asks the question again) when the person
        cannot have seen the next question: it was sent before the reply to the previous
        one was delivered (`sent_at`), or right after a restart that coalesced what the
        chat was owed (the resumed mark)."""
        text = event.text.strip()
        resumed, last, waiting = chats.memory(channel, chat_id)
        if waiting is not None:
            if text in td.YES_WORDS:
                chats.remember(channel, chat_id, waiting)
                return TextIn(waiting), None
            if text in td.NO_WORDS:
                chats.remember(channel, chat_id, last)
                return TextIn(td.AGAIN), None
            if text != waiting:
                chats.remember(channel, chat_id, text, at=sent_at)
                return event, None  # a new answer instead: taken as one
            resumed = True  # sent once more still: asked once more
        repeat = last is not None and text == last.strip() and command_of(text) is None
        if repeat and not resumed and sent_at is not None:
            previous = chats.last_text_at(channel, chat_id)
            resumed = Outbox(session).unseen_at(channel, chat_id, sent_at, previous)
        if repeat and resumed:
            chats.remember(channel, chat_id, last, confirm=text)
            ask = Choice(
                self._confirm_text(session, channel, chat_id, text),
                (Button(td.BTN_YES, td.BTN_YES), Button(td.BTN_NO, td.BTN_NO)),
            )
            return event, Turn(None, None, extra=(ask,))
        chats.remember(channel, chat_id, text if command_of(text) is None else last, at=sent_at)
        return event, None

    def _confirm_text(self, session: Session, channel: str, chat_id: str, text: str) -> str:
        stored = ConversationRepository(session).get(channel, chat_id)
        state = ConvState.from_dict(stored.state) if stored is not None else None
        if state is None or state.mode is not Mode.ASK or state.field is None:
            return td.CONFIRM_REPEAT_PLAIN.format(text=text)
        current = self.form.field(state.field).label
        previous = self._previous_label(session, stored, state)
        if previous is None:
            return td.CONFIRM_REPEAT_PLAIN.format(text=text)
        return td.CONFIRM_REPEAT.format(text=text, previous=previous, current=current)

    def _previous_label(self, session: Session, stored: Any, state: ConvState) -> str | None:
        """The label of the answer this chat stored last."""
        if stored is None or stored.filing_id is None:
            return None
        field = session.scalar(
            select(AnswerRow.field)
            .where(AnswerRow.filing_id == stored.filing_id, AnswerRow.source == "user")
            .order_by(AnswerRow.revision.desc(), AnswerRow.updated_at.desc())
            .limit(1)
        )
        if field is None or field == state.field:
            return None
        try:
            return self.form.field(field).label
        except KeyError:
            return None

    def act_as_reviewer(self, via: str, reviewer: str, effects: Sequence[Effect]) -> Turn:
        """Carries out what a reviewer decided outside a chat (the web console, `via` "web")
        through the same workflow as a chat's decisions, in one transaction: history records
        `via` as the channel and "via:reviewer" as the actor. The turn names the chats that
        got messages, for the channels to deliver at once."""
        now = self.clock.now()
        self._local.touched = []
        self._local.queued = []
        self._local.cache = []
        with self.db.session() as session:
            actor = (via, reviewer)
            extra = self._workflow(session, now).carry_out(effects, None, actor)
            extra += self._reviewer_effects(session, effects, actor, now)
        return Turn(
            None,
            None,
            extra=tuple(extra),
            notified=tuple(dict.fromkeys(self._local.touched)),
            queued=tuple(self._local.queued),
        )

    def _route(
        self, session: Session, channel: str, chat_id: str, event: Event, now: datetime
    ) -> Turn:
        if isinstance(event, TextIn) and command_of(event.text) is Command.CONSOLE:
            return Turn(None, None, extra=(self._console_link(session, channel, chat_id, now),))
        if isinstance(event, TextIn) and self.reminders is not None:
            answered = self._reminders(
                session, self.reminders, channel, chat_id, text=event.text, now=now
            )
            if answered is not None:
                return answered
        reviewers = ReviewerRepository(session)
        if reviewers.is_reviewer(channel, chat_id, self.configured_reviewers):
            return self._review(session, channel, chat_id, event, now)
        enterprise_id = MemberRepository(session).enterprise_of(channel, chat_id)
        if enterprise_id is not None:
            return self._file(
                session,
                channel,
                chat_id,
                event,
                filing_id=None,
                enterprise_id=enterprise_id,
                now=now,
            )
        if channel in self.trial_channels:
            return self._file(session, channel, chat_id, event, filing_id=None, now=now, trial=True)
        return self._onboard(session, channel, chat_id, event, now)

    def _file(
        self,
        session: Session,
        channel: str,
        chat_id: str,
        event: Event,
        *,
        filing_id: int | None,
        now: datetime,
        enterprise_id: int | None = None,
        trial: bool = False,
    ) -> Turn:
        filings = FilingRepository(session)
        conversations = ConversationRepository(session)
        stored = conversations.get(channel, chat_id)
        state = ConvState()
        if (
            stored is not None
            and stored.filing_id is not None
            and filing_id in (None, stored.filing_id)
        ):
            filing_id = stored.filing_id
            state = ConvState.from_dict(stored.state)
        year = self.form.cycle.year
        if filing_id is None and enterprise_id is not None:
            # Only when the chat has no conversation yet: resolving (and re-syncing the
            # roster's section 1) on every message cost a tenth of a Telegram update's CPU.
            filing_id = EnterpriseRepository(session).filing_for(enterprise_id, year, now)
        if filing_id is None:
            filing_id = filings.create(year, now)
        if isinstance(event, TextIn) and command_of(event.text) is Command.HISTORY:
            return Turn(filing_id, None, extra=(Text(self._history(session, filing_id)),))
        if isinstance(event, FileIn) and event.ref is not None:
            AttachmentRepository(session).record(event.ref, now)
        loaded, revision, view = self._load(session, filing_id)
        if enterprise_id is not None and loaded.year != year:
            # A new inspection cycle: the conversation moves to this year's filing.
            filing_id = EnterpriseRepository(session).filing_for(enterprise_id, year, now)
            (loaded, revision, view), state = self._load(session, filing_id), ConvState()
        filing = replace(loaded, trial=True) if trial else loaded
        if enterprise_id is not None and needs_previous(self.form, filing, state):
            # Last year's filing, for the engine to offer its reusable answers.
            previous = last_filed(session, enterprise_id, year, self._last_year)
            if previous is not None:
                filing = replace(filing, previous=previous)
        outcome = step(self.form, filing, state, event, now, view=view)
        if outcome.view is not None and filing is loaded:
            after, view = outcome.view.filing, outcome.view  # the engine applied the changes
        else:
            after = apply_changes(loaded, outcome.changes) if outcome.changes else loaded
            view = None
        if outcome.changes:
            revision = filings.apply(
                filing_id,
                outcome.changes,
                actor=f"{channel}:{chat_id}",
                now=now,
                current=loaded.answers,
            )
        conversations.put(channel, chat_id, filing_id, outcome.state.to_dict(), now)
        extra: list[Reply] = []
        if outcome.effects:
            shown = replace(after, trial=True) if trial else after
            extra = self._workflow(session, now).carry_out(
                outcome.effects, shown, (channel, chat_id)
            )
        else:
            # Without effects the filing is exactly `after` at `revision` once this commits.
            self._local.cache.append((filing_id, revision, after, view))
        lead: tuple[Reply, ...] = ()
        if any(isinstance(e, SendProjectTemplate) for e in outcome.effects):
            lead = (template_document(self.form),)  # before the request to fill it in
        return Turn(filing_id, outcome, extra=tuple(extra), lead=lead)

    def _load(self, session: Session, filing_id: int) -> tuple[Filing, int, View | None]:
        """The filing as stored, its revision and the engine's view of it if known, taking
        its row lock: from this process's cache when nothing changed it since, or read."""
        revision = FilingRepository(session).lock_revision(filing_id)
        cached = self.filing_cache.get(filing_id, revision)
        if cached is not None:
            return cached[0], revision, cached[1]
        return load_filing(session, filing_id), revision, None

    def _review(
        self, session: Session, channel: str, chat_id: str, event: Event, now: datetime
    ) -> Turn:
        conversations = ConversationRepository(session)
        stored = conversations.get(channel, chat_id)
        state = ReviewState.from_dict(stored.state if stored is not None else None)
        ports = ReviewerView(session, self.form, now)
        if (
            isinstance(event, TextIn)
            and command_of(event.text) is Command.HISTORY
            and state.filing_id
        ):
            opened = ports.open(state.filing_id)
            lines = opened.history if opened is not None else ()
            text = "\n".join((texts.HISTORY_HEAD, *lines)) if lines else texts.HISTORY_EMPTY
            return Turn(None, None, extra=(Text(text),))
        outcome = review_step(self.form, ports, state, event, now)
        conversations.put(channel, chat_id, None, outcome.state.to_dict(), now)
        actor = (channel, chat_id)
        extra = self._workflow(session, now).carry_out(outcome.effects, None, actor)
        extra += self._reviewer_effects(session, outcome.effects, actor, now)
        return Turn(None, None, extra=(*outcome.replies, *extra))

    def _onboard(
        self, session: Session, channel: str, chat_id: str, event: Event, now: datetime
    ) -> Turn:
        conversations = ConversationRepository(session)
        stored = conversations.get(channel, chat_id)
        state = OnboardingState.from_dict(stored.state if stored is not None else None)
        waiting = RequestRepository(session).pending_for(channel, chat_id)
        year, help_line = self.form.cycle.year, self.form.cycle.help_line
        outcome = onboarding_step(state, event, help_line, year)
        conversations.put(channel, chat_id, None, outcome.state.to_dict(), now)
        for effect in outcome.effects:
            match effect:
                case RedeemInvite(code=code):
                    return self._redeem(session, channel, chat_id, code, now)
                case RequestBinding() | RequestRegistration():
                    reply = self._request(session, channel, chat_id, effect, now)
                    return Turn(None, None, extra=(reply,))
        if waiting and not state.path and outcome.state.path == "":
            return Turn(None, None, extra=(Text(texts.REQUEST_PENDING.format(id=waiting[0].id)),))
        return Turn(None, None, extra=outcome.replies)

    def _redeem(
        self, session: Session, channel: str, chat_id: str, code: str, now: datetime
    ) -> Turn:
        throttle = InviteThrottle(session)
        wait = throttle.wait(channel, chat_id, now)
        if wait is not None:  # the code is not even looked at
            return Turn(None, None, extra=(Text(self._waiting(texts.INVITE_THROTTLED, wait, now)),))
        enterprise_id = InviteRepository(session).redeem(code, f"{channel}:{chat_id}", now)
        if enterprise_id is None:
            throttle.failed(channel, chat_id, now)
            wait = throttle.wait(channel, chat_id, now)
            said = texts.INVITE_INVALID
            if wait is not None:
                said += "\n" + self._waiting(texts.INVITE_BACK_OFF, wait, now)
            return Turn(None, None, extra=(Text(said),))
        return self._bind(session, channel, chat_id, enterprise_id, via="invite", now=now)

    def _waiting(self, text: str, wait: timedelta, now: datetime) -> str:
        minutes = max(1, math.ceil(wait.total_seconds() / 60))
        until = (now + wait).astimezone(SHANGHAI).strftime("%H:%M")
        return text.format(minutes=minutes, until=until, help_line=self.form.cycle.help_line)

    def _bind(
        self,
        session: Session,
        channel: str,
        chat_id: str,
        enterprise_id: int,
        *,
        via: str,
        now: datetime,
        **contact: str,
    ) -> Turn:
        """Binds the chat and opens its enterprise's filing at the right question."""
        MemberRepository(session).bind(channel, chat_id, enterprise_id, via, now, **contact)
        filing_id = EnterpriseRepository(session).filing_for(
            enterprise_id, self.form.cycle.year, now
        )
        bound = Text(texts.BOUND.format(name=enterprise_name(session, enterprise_id)))
        turn = self._file(
            session,
            channel,
            chat_id,
            Start(),
            filing_id=filing_id,
            now=now,
            enterprise_id=enterprise_id,  # so the first question can offer last year's values
        )
        # The confirmation comes first: the first question must be the last message.
        return replace(turn, lead=(bound, *turn.lead))

    def _request(
        self,
        session: Session,
        channel: str,
        chat_id: str,
        effect: RequestBinding | RequestRegistration,
        now: datetime,
    ) -> Reply:
        enterprises = EnterpriseRepository(session)
        year = self.form.cycle.year
        if isinstance(effect, RequestBinding):
            found = enterprises.by_credit_code(effect.credit_code)
            if found is None or found.status != "active":
                return Text(texts.NOT_ON_ROSTER.format(code=effect.credit_code, year=year))
            kind, enterprise_id = "binding", found.id
            summary = tr.BINDING_SUMMARY.format(
                full_name=effect.full_name, name=found.name, code=found.credit_code
            )
        else:
            try:
                enterprise_id = enterprises.create_pending(
                    effect.name,
                    effect.credit_code,
                    effect.grade,
                    effect.cert_number,
                    effect.first_year,
                    now,
                )
            except EnterpriseExists:
                return Text(texts.ALREADY_REGISTERED)
            kind = "registration"
            summary = tr.REGISTRATION_SUMMARY.format(
                name=effect.name,
                code=effect.credit_code,
                grade=effect.grade,
                cert=effect.cert_number,
                full_name=effect.full_name,
                mobile=mask_mobile(effect.mobile),
            )
        payload = {k: v for k, v in asdict(effect).items()}
        request_id = RequestRepository(session).open(
            kind, channel, chat_id, payload, now, enterprise_id=enterprise_id
        )
        notice = Choice(
            tr.NEW_REQUEST.format(kind=tr.REQUEST_KINDS[kind], id=request_id, summary=summary),
            (
                Button(tr.BTN_APPROVE_REQUEST, f"批准申请 {request_id}"),
                Button(tr.BTN_DECLINE_REQUEST, f"不批准申请 {request_id}"),
            ),
        )
        workflow = self._workflow(session, now)
        for reviewer in workflow.reviewers:
            workflow.notify(*reviewer, [notice])
        return Text(texts.REQUEST_SENT.format(id=request_id))

    def _decide(
        self, session: Session, request_id: int, approve: bool, actor: str, now: datetime
    ) -> None:
        requests = RequestRepository(session)
        request = requests.get(request_id)
        if request is None or request.status != "pending":
            return
        requests.decide(request_id, "approved" if approve else "rejected", actor, now)
        enterprises = EnterpriseRepository(session)
        notify = self._workflow(session, now).notify
        if request.enterprise_id is None:
            return
        if not approve:
            if request.kind == "registration":
                enterprises.reject(request.enterprise_id, now)
            text = texts.REQUEST_DECLINED.format(id=request_id, help_line=self.form.cycle.help_line)
            notify(request.channel, request.chat_id, [Text(text)])
            return
        if request.kind == "registration":
            enterprises.activate(request.enterprise_id, now)
        contact = {
            "full_name": str(request.payload.get("full_name", "")),
            "mobile": str(request.payload.get("mobile", "")),
        }
        turn = self._bind(
            session,
            request.channel,
            request.chat_id,
            request.enterprise_id,
            via="request",
            now=now,
            **contact,
        )
        notify(request.channel, request.chat_id, [Text(texts.REQUEST_APPROVED), *turn.replies])

    def _reviewer_effects(
        self, session: Session, effects: Sequence[Effect], actor: tuple[str, str], now: datetime
    ) -> list[Reply]:
        replies: list[Reply] = []
        for effect in effects:
            match effect:
                case DecideRequest(request_id=request_id, approve=approve):
                    self._decide(session, request_id, approve, f"{actor[0]}:{actor[1]}", now)
                case PromoteReviewer(channel=channel, chat_id=chat_id):
                    ReviewerRepository(session).add(channel, chat_id, f"{actor[0]}:{actor[1]}", now)
                case IssueInvite(credit_code=code):
                    replies.append(self._invite(session, code, now))
        return replies

    def _invite(self, session: Session, credit_code: str, now: datetime) -> Reply:
        enterprise = EnterpriseRepository(session).by_credit_code(credit_code)
        if enterprise is None:
            return Text(tr.INVITE_UNKNOWN.format(code=credit_code))
        valid = timedelta(days=self.invite_days)
        code = InviteRepository(session).issue(enterprise.id, now, valid, new_code())
        until = (now + valid).astimezone(SHANGHAI).strftime("%Y-%m-%d")
        lines = [tr.INVITE_ISSUED.format(code=code, name=enterprise.name, until=until)]
        if self.bot_username:
            lines.append(tr.INVITE_LINK.format(bot=self.bot_username, code=code))
        return Text("\n".join(lines))

    def _reminders(
        self,
        session: Session,
        views: ReminderViews,
        channel: str,
        chat_id: str,
        *,
        text: str,
        now: datetime,
    ) -> Turn | None:
        """/reminders and "续证已办理", for contacts and reviewers, before any dialog sees the
        text (like /history); None for any other text."""
        listing = command_of(text) is Command.REMINDERS
        renewal = renewal_argument(text)
        if not listing and renewal is None:
            return None
        actor = f"{channel}:{chat_id}"
        if ReviewerRepository(session).is_reviewer(channel, chat_id, self.configured_reviewers):
            if renewal is not None:
                reply = views.reviewer_mark_renewal(session, renewal, actor, now)
            else:
                reply = views.reviewer(session, now)
            return Turn(None, None, extra=(reply,))
        member = MemberRepository(session).get(channel, chat_id)
        if member is None:
            if renewal is not None:
                return None
            return Turn(None, None, extra=(Text(texts_reminders.NOT_BOUND),))
        if renewal is not None:
            reply = views.mark_renewal(session, member.enterprise_id, actor, now)
        else:
            reply = views.contact(session, member.enterprise_id, channel, now)
        return Turn(None, None, extra=(reply,))

    def _console_link(self, session: Session, channel: str, chat_id: str, now: datetime) -> Reply:
        """后台 / /console: a one-time sign-in link to the web console, for reviewers only."""
        if not ReviewerRepository(session).is_reviewer(channel, chat_id, self.configured_reviewers):
            log.warning("console sign-in link refused to %s:%s: not a reviewer", channel, chat_id)
            return Text(tr.CONSOLE_NOT_REVIEWER)
        if self.console_url is None:
            return Text(tr.CONSOLE_OFF)
        valid = timedelta(minutes=self.console_link_minutes)
        token = ConsoleAuth(session).issue_link(channel, chat_id, now, valid)
        log.info("console sign-in link issued to %s:%s", channel, chat_id)
        url = f"{self.console_url}/login/{token}"
        return Text(tr.CONSOLE_LINK.format(url=url, minutes=self.console_link_minutes))

    def _history(self, session: Session, filing_id: int) -> str:
        """The filing's transitions, and those of the enterprise's filings of earlier cycles
        (each under its year): last year stays in view once a new cycle is open."""
        workflow = WorkflowRepository(session)
        enterprise_id, this_year = session.execute(
            select(FilingRow.enterprise_id, FilingRow.year).where(FilingRow.id == filing_id)
        ).one()
        earlier: Sequence[Row[int, int]] = []
        if enterprise_id is not None:
            earlier = session.execute(
                select(FilingRow.id, FilingRow.year)
                .where(FilingRow.enterprise_id == enterprise_id, FilingRow.id != filing_id)
                .order_by(FilingRow.year.desc())
            ).all()
        lines = history_lines(workflow.history(filing_id))
        if not earlier:
            return "\n".join((texts.HISTORY_HEAD, *lines)) if lines else texts.HISTORY_EMPTY
        out = [texts.HISTORY_HEAD, texts.HISTORY_YEAR.format(year=this_year)]
        out.extend(lines or [texts.HISTORY_EMPTY])
        for other_id, year in earlier:
            out.append(texts.HISTORY_YEAR.format(year=year))
            out.extend(history_lines(workflow.history(other_id)) or [texts.HISTORY_EMPTY])
        return "\n".join(out)

    def _workflow(self, session: Session, now: datetime) -> Workflow:
        chats = ChannelChats(session)

        def notify(channel: str, chat_id: str, replies: Sequence[Reply]) -> None:
            if channel not in UNDELIVERED_CHANNELS:
                self._queue(session, chats, channel, chat_id, replies)
                self._local.touched.append((channel, chat_id))

        reviewers = reviewers_of(session, self.configured_reviewers)
        return Workflow(session, self.form, self.files, self.fonts, reviewers, notify, now)

    def _pressed(self, chats: ChannelChats, channel: str, chat_id: str, press: Press) -> str | None:
        """The value of a live button, consuming the prompt so it cannot act twice."""
        info = chats.get(channel, chat_id)
        if info is None or info.prompt is None or info.prompt_seq != press.seq:
            return None
        if not 0 <= press.index < len(info.prompt):
            return None
        chats.consume_prompt(channel, chat_id, press.seq, self.clock.now())
        return info.prompt[press.index][1]

    def _queue(
        self,
        session: Session,
        chats: ChannelChats,
        channel: str,
        chat_id: str,
        replies: Sequence[Reply],
        *,
        seen: bool = False,
    ) -> tuple[int, ...]:
        now = self.clock.now()
        payloads = []
        live = False
        for reply in replies:
            payload = to_payload(reply)
            if seen:
                payload[OWN] = 1  # answers the chat's own message (Outbox.coalesce)
            if isinstance(reply, Choice | FileRequest) and reply.options:
                options = [[b.label, b.value] for b in reply.options]
                seq = self._same_prompt(chats, channel, chat_id, reply, options)
                if seq:
                    # The question again, with the options still on screen: they stay live
                    # (an earlier message's option still answers it) and are not listed again.
                    payload["seq"] = seq
                    if seen:
                        chats.seen(channel, chat_id, now)
                else:
                    payload["seq"] = chats.new_prompt(channel, chat_id, options, now, seen=seen)
                    payload.pop(AGAIN, None)
                live = True
            payloads.append(payload)
        if not live:
            # The newest message has no buttons: every older button is stale now.
            chats.clear_prompt(channel, chat_id, now, seen=seen)
        ids = tuple(Outbox(session).add(channel, chat_id, payloads, now))
        queued = getattr(self._local, "queued", None)
        if queued is not None:
            queued.extend(
                OutboxItem(i, channel, chat_id, payload, 0, 0, now)
                for i, payload in zip(ids, payloads, strict=True)
            )
        return ids

    @staticmethod
    def _same_prompt(
        chats: ChannelChats,
        channel: str,
        chat_id: str,
        reply: Choice | FileRequest,
        options: list[list[str]],
    ) -> int:
        """The live prompt's number when `reply` asks its question again with the same options;
        0 otherwise (then it is a new prompt)."""
        if not isinstance(reply, Choice) or not reply.again:
            return 0
        seq, live = chats.live_prompt(channel, chat_id)
        return seq if live == options else 0

    def resumed(self, channel: str, chat_id: str) -> None:
        """The chat's last message was sent before a restart (handled after it): the person
        may send it again, having seen no answer; that repeat is confirmed first."""
        with self.db.session() as session:
            ChannelChats(session).resumed(channel, chat_id, self.clock.now())

    def live_prompt(self, channel: str, chat_id: str) -> tuple[int, list[list[str]]] | None:
        with self.db.session() as session:
            info = ChannelChats(session).get(channel, chat_id)
        if info is None or info.prompt is None:
            return None
        return info.prompt_seq, info.prompt

    # --- files ---------------------------------------------------------------------------------

    def receive_file(
        self,
        channel: str,
        chat_id: str,
        data: bytes,
        name: str,
        *,
        event_id: str | None = None,
        queue: bool = False,
    ) -> Turn:
        """Stores an uploaded file (checked by content) and hands it to the engine."""
        return self.receive_files(
            channel, chat_id, [Incoming(name, data)], event_id=event_id, queue=queue
        )

    def receive_files(
        self,
        channel: str,
        chat_id: str,
        files: Sequence[Incoming],
        *,
        event_id: str | None = None,
        queue: bool = False,
    ) -> Turn:
        """Several photos sent together (an album) become one PDF, one page each: the form
        wants one file per slot, e.g. a contract's key pages plus its acceptance report.
        Other files sent together are taken one after the other."""
        if not self._takes_files(channel, chat_id):
            # Unbound chats and reviewers have no filing to attach to: nothing is stored.
            return self.handle(channel, chat_id, FileIn(None, ""), event_id=event_id, queue=queue)
        if len(files) == 1 and is_xlsx(files[0].data) and self._waits_for_table(channel, chat_id):
            # The project spreadsheet: read into rows for the engine, never stored as a file.
            table = self._read_table(files[0])
            return self.handle(channel, chat_id, table, event_id=event_id, queue=queue)
        try:
            kinds = [self.files.check(f.data) for f in files]
        except AttachmentRejected as rejected:
            event = FileIn(None, rejected.reason_zh)
            return self.handle(channel, chat_id, event, event_id=event_id, queue=queue)
        slot = self._slot_label(channel, chat_id)
        if len(files) > 1 and all(kind in IMAGE_TYPES for kind in kinds):
            combined = images_to_pdf([f.data for f in files])
            ref = self.files.put(combined, _album_name(files, slot))
            return self.handle(channel, chat_id, FileIn(ref), event_id=event_id, queue=queue)
        turns = []
        for i, incoming in enumerate(files):
            ref = self.files.put(incoming.data, incoming.name or slot)
            part_id = event_id if event_id is None or len(files) == 1 else f"{event_id}#{i}"
            turns.append(self.handle(channel, chat_id, FileIn(ref), event_id=part_id, queue=queue))
        ids = tuple(i for turn in turns for i in turn.outbox_ids)
        notified = tuple(dict.fromkeys(n for turn in turns for n in turn.notified))
        return replace(turns[-1], outbox_ids=ids, notified=notified)

    def _slot_label(self, channel: str, chat_id: str) -> str:
        """The label of the file question the chat is at ("营业执照"), to name a photo by;
        a general name when it is at none."""
        with self.db.session() as session:
            stored = ConversationRepository(session).get(channel, chat_id)
        field_id = ConvState.from_dict(stored.state).field if stored is not None else ""
        if field_id and self.form.owner_of(field_id) is not None:
            spec = self.form.field(field_id)
            if spec.kind is Kind.FILE:
                return spec.label
        return texts_input.PHOTO_STEM

    def _waits_for_table(self, channel: str, chat_id: str) -> bool:
        with self.db.session() as session:
            stored = ConversationRepository(session).get(channel, chat_id)
        return stored is not None and waits_for_table(ConvState.from_dict(stored.state))

    def _read_table(self, incoming: Incoming) -> TableIn:
        if len(incoming.data) > self.files.max_bytes:
            limit = self.files.max_bytes // (1024 * 1024)
            return TableIn(incoming.name, (), rejected=texts.IMPORT_TOO_LARGE.format(limit=limit))
        # In a worker process, within size, CPU and memory limits (a ZIP bomb is refused).
        return read_guarded(incoming.name, incoming.data)

    def _takes_files(self, channel: str, chat_id: str) -> bool:
        """Whether the chat fills a filing (bound, or on a trial channel) and is no reviewer."""
        with self.db.session() as session:
            if ReviewerRepository(session).is_reviewer(channel, chat_id, self.configured_reviewers):
                return False
            member = MemberRepository(session).get(channel, chat_id)
        return member is not None or channel in self.trial_channels


def _album_name(files: Sequence[Incoming], slot: str) -> str:
    stem = files[0].name.rsplit(".", 1)[0] or slot
    return f"{stem}（{len(files)}页）.pdf"
