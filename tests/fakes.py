"""Fakes that stand in for the world at the edge: a frozen clock, a service on a real DB."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.service import ChatService
from dialogs import engine
from dialogs.cycle import Cycle
from dialogs.form import build_form
from dialogs.model import FileRef, Filing, apply_changes
from dialogs.replies import Event, FileIn, Reply, Start, TextIn, reply_text
from dialogs.spec import FormSpec
from dialogs.state import ConvState
from storage.db import Database
from storage.files import AttachmentStore, detect_content_type
from tests.filing_script import Bad, Step, Upload, filing_script


@dataclass
class FrozenClock:
    current: datetime = field(default_factory=lambda: datetime(2025, 12, 1, 2, 0, tzinfo=UTC))

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


def make_service(
    db: Database,
    files_dir: Path,
    year: int = 2025,
    *,
    reviewers: Sequence[tuple[str, str]] = (),
    trial: Sequence[str] = ("console", "test"),
) -> ChatService:
    """The service on a real database; chats of `trial` channels fill trial filings unbound."""
    form = build_form(Cycle.for_year(year))
    files = AttachmentStore(files_dir)
    return ChatService(db, form, FrozenClock(), files, reviewers=reviewers, trial_channels=trial)


def play(service: ChatService, chat_id: str, step: Step, channel: str = "test") -> list[Reply]:
    """Sends one scripted step and checks it was acknowledged or, for `Bad`, refused."""
    if isinstance(step, Upload):
        turn = service.receive_file(channel, chat_id, step.data, step.name)
    else:
        text = step.text if isinstance(step, Bad) else step
        turn = service.handle(channel, chat_id, TextIn(text))
    first = reply_text(turn.replies[0])
    if isinstance(step, Bad):
        assert first.startswith("✗"), f"{step.text!r} should be refused, got: {first[:200]}"
        assert turn.outcome is not None and not turn.outcome.changes
    else:
        assert "✗" not in first, f"{step!r} was refused: {first[:300]}"
    return list(turn.replies)


def scripted_events() -> list[Event]:
    """The scripted filing as engine events (uploads as stored-file references)."""
    events: list[Event] = [Start()]
    for step in filing_script():
        if isinstance(step, Upload):
            kind = detect_content_type(step.data) or "application/octet-stream"
            digest = hashlib.sha256(step.data).hexdigest()
            events.append(FileIn(FileRef(digest, step.name, len(step.data), kind)))
        else:
            events.append(TextIn(step.text if isinstance(step, Bad) else step))
    return events


def completed_filing(year: int = 2025) -> tuple[FormSpec, Filing]:
    """The scripted filing played through the pure engine, in memory."""
    form = build_form(Cycle.for_year(year))
    filing, state = Filing(1, year), ConvState()
    now = datetime(2025, 12, 1, 2, tzinfo=UTC)
    for event in scripted_events():
        outcome = engine.step(form, filing, state, event, now)
        filing, state = apply_changes(filing, outcome.changes), outcome.state
    return form, filing
