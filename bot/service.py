"""The application service every channel calls: load, step the engine, commit, reply.

The answer and the conversation state are committed in one transaction before the replies
are returned, so whatever the user sees acknowledged survives a crash at any moment.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from bot.clock import Clock
from dialogs.engine import Outcome, step
from dialogs.replies import Event, FileIn, Reply
from dialogs.spec import FormSpec
from dialogs.state import ConvState
from storage.db import Database
from storage.files import AttachmentRejected, AttachmentStore
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
    filing_id: int
    outcome: Outcome

    @property
    def replies(self) -> Sequence[Reply]:
        return self.outcome.replies


class ChatService:
    def __init__(self, db: Database, form: FormSpec, clock: Clock, files: AttachmentStore) -> None:
        self.db = db
        self.form = form
        self.clock = clock
        self.files = files

    def handle(self, channel: str, chat_id: str, event: Event) -> Turn:
        for attempt in range(_ATTEMPTS):
            try:
                return self._handle_once(channel, chat_id, event)
            except StaleAnswer as conflict:
                # Another contact changed this answer since we loaded it; the next attempt
                # loads the new value, so the engine decides on what is really stored.
                log.info("stale answer %s on attempt %d", conflict.key, attempt + 1)
        return self._handle_once(channel, chat_id, event)

    def _handle_once(self, channel: str, chat_id: str, event: Event) -> Turn:
        now = self.clock.now()
        with self.db.session() as session:
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
        return Turn(filing_id, outcome)

    def receive_file(self, channel: str, chat_id: str, data: bytes, name: str) -> Turn:
        """Stores an uploaded file (checked by content) and hands it to the engine."""
        try:
            ref = self.files.put(data, name)
        except AttachmentRejected as rejected:
            return self.handle(channel, chat_id, FileIn(None, rejected.reason_zh))
        return self.handle(channel, chat_id, FileIn(ref))
