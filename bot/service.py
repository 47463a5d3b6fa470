"""The application service every channel calls: load, step the engine, commit, reply.

The answer, the conversation state, the "already processed" mark of the channel's event and
(for messaging channels) the replies to send are committed in one transaction before anything
is sent, so whatever the user sees acknowledged survives a crash at any moment, a redelivered
event is handled once, and no reply is lost between the commit and the network.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from bot.clock import Clock
from dialogs.engine import Outcome, step
from dialogs.replies import Choice, Event, FileIn, FileRequest, Reply, TextIn, to_payload
from dialogs.spec import FormSpec
from dialogs.state import ConvState
from storage.compose import IMAGE_TYPES, images_to_pdf
from storage.db import Database
from storage.files import AttachmentRejected, AttachmentStore
from storage.messaging import ChannelChats, EventLog, Outbox
from storage.repository import (
    AttachmentRepository,
    ConversationRepository,
    FilingRepository,
    StaleAnswer,
)

log = logging.getLogger(__name__)

# A conflicting edit by another contact is retried against the fresh filing this often.
_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class Turn:
    filing_id: int | None
    outcome: Outcome | None  # None: nothing was done (a duplicate or a stale button)
    outbox_ids: tuple[int, ...] = ()
    duplicate: bool = False
    stale: bool = False

    @property
    def replies(self) -> Sequence[Reply]:
        return self.outcome.replies if self.outcome is not None else ()


@dataclass(frozen=True, slots=True)
class Incoming:
    """A file as a channel received it, before it is checked and stored."""

    name: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Press:
    """A pressed button: option `index` of the prompt numbered `seq`."""

    seq: int
    index: int


class ChatService:
    def __init__(self, db: Database, form: FormSpec, clock: Clock, files: AttachmentStore) -> None:
        self.db = db
        self.form = form
        self.clock = clock
        self.files = files

    def handle(
        self,
        channel: str,
        chat_id: str,
        event: Event | Press,
        *,
        event_id: str | None = None,
        queue: bool = False,
    ) -> Turn:
        """Steps the engine for one event. With `event_id`, an event seen before is skipped;
        with `queue`, the replies go to the outbox in the same transaction (messaging
        channels deliver them from there) instead of only being returned."""
        for attempt in range(_ATTEMPTS):
            try:
                return self._handle_once(channel, chat_id, event, event_id, queue)
            except StaleAnswer as conflict:
                # Another contact changed this answer since we loaded it; the next attempt
                # loads the new value, so the engine decides on what is really stored.
                log.info("stale answer %s on attempt %d", conflict.key, attempt + 1)
        return self._handle_once(channel, chat_id, event, event_id, queue)

    def _handle_once(
        self,
        channel: str,
        chat_id: str,
        event: Event | Press,
        event_id: str | None,
        queue: bool,
    ) -> Turn:
        now = self.clock.now()
        with self.db.session() as session:
            if event_id is not None and not EventLog(session).first_time(channel, event_id, now):
                return Turn(None, None, duplicate=True)
            chats = ChannelChats(session)
            if queue:
                chats.seen(channel, chat_id, now)
            if isinstance(event, Press):
                pressed = self._pressed(chats, channel, chat_id, event)
                if pressed is None:
                    return Turn(None, None, stale=True)
                event = TextIn(pressed)
            filing_id, outcome = self._step(session, channel, chat_id, event)
            ids: tuple[int, ...] = ()
            if queue:
                ids = self._queue(session, chats, channel, chat_id, outcome.replies)
        return Turn(filing_id, outcome, ids)

    def _step(
        self, session: Session, channel: str, chat_id: str, event: Event
    ) -> tuple[int, Outcome]:
        now = self.clock.now()
        filings = FilingRepository(session)
        conversations = ConversationRepository(session)
        stored = conversations.get(channel, chat_id)
        if stored is None or stored.filing_id is None:
            filing_id = filings.create(self.form.cycle.year, now)
            state = ConvState()
        else:
            filing_id = stored.filing_id
            state = ConvState.from_dict(stored.state)
        if isinstance(event, FileIn) and event.ref is not None:
            AttachmentRepository(session).record(event.ref, now)
        outcome = step(self.form, filings.load(filing_id), state, event, now)
        if outcome.changes:
            filings.apply(filing_id, outcome.changes, actor=f"{channel}:{chat_id}", now=now)
        conversations.put(channel, chat_id, filing_id, outcome.state.to_dict(), now)
        return filing_id, outcome

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
    ) -> tuple[int, ...]:
        now = self.clock.now()
        payloads = []
        for reply in replies:
            payload = to_payload(reply)
            if isinstance(reply, Choice | FileRequest) and reply.options:
                options = [[b.label, b.value] for b in reply.options]
                payload["seq"] = chats.new_prompt(channel, chat_id, options, now)
            payloads.append(payload)
        if payloads and not any("seq" in payload for payload in payloads):
            # The newest message has no buttons: those of the question it superseded (answered
            # by typing) must not answer this one.
            chats.clear_prompt(channel, chat_id, now)
        return tuple(Outbox(session).add(channel, chat_id, payloads, now))

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
        try:
            kinds = [self.files.check(f.data) for f in files]
        except AttachmentRejected as rejected:
            event = FileIn(None, rejected.reason_zh)
            return self.handle(channel, chat_id, event, event_id=event_id, queue=queue)
        if len(files) > 1 and all(kind in IMAGE_TYPES for kind in kinds):
            combined = images_to_pdf([f.data for f in files])
            ref = self.files.put(combined, _album_name(files))
            return self.handle(channel, chat_id, FileIn(ref), event_id=event_id, queue=queue)
        turns = []
        for i, incoming in enumerate(files):
            ref = self.files.put(incoming.data, incoming.name)
            part_id = event_id if event_id is None or len(files) == 1 else f"{event_id}#{i}"
            turns.append(self.handle(channel, chat_id, FileIn(ref), event_id=part_id, queue=queue))
        ids = tuple(i for turn in turns for i in turn.outbox_ids)
        last = turns[-1]
        return Turn(last.filing_id, last.outcome, ids, last.duplicate, last.stale)


def _album_name(files: Sequence[Incoming]) -> str:
    stem = files[0].name.rsplit(".", 1)[0] or "照片"
    return f"{stem}（{len(files)}页）.pdf"
