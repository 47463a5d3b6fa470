"""Fakes that stand in for the world at the edge: a frozen clock, a service on a real DB."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from openpyxl import Workbook

from bot.service import ChatService
from dialogs import engine
from dialogs.cycle import Cycle
from dialogs.form import build_form
from dialogs.model import AddRecord, FileRef, Filing, Key, SetAnswer, apply_changes
from dialogs.replies import Event, FileIn, Reply, Start, TextIn, reply_text
from dialogs.spec import FormSpec
from dialogs.state import ConvState
from storage.db import Database, make_engine
from storage.files import AttachmentStore, detect_content_type
from storage.models import Base
from storage.repository import AttachmentRepository, FilingRepository
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


# --- the association's side: roster rows, a filled filing, the PDF read back ------------------

ROSTER_HEADER = ("单位名称", "统一社会信用代码", "资质等级", "证书编号", "首次获证年份")
# The scripted filing's enterprise (its code typed with spaces and a lower-case check letter).
ENTERPRISE_A = (
    "新疆天山智联信息技术有限公司",
    "9111 0108 5513 8508 2q",
    "乙级",
    "XJSI-2025-0088",
    2025,
)
CODE_A = "91110108551385082Q"
ENTERPRISE_B = ("新疆新星数据科技有限公司", "91110000600037341L", "丙级", "XJSI-2019-0031", 2019)
CODE_B = "91110000600037341L"


def write_roster(path: Path, rows: Sequence[Sequence[object]]) -> Path:
    """The association's roster as the Excel sheet `bot.admin.import_roster` reads."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(ROSTER_HEADER))
    for row in rows:
        sheet.append(list(row))
    book.save(path)
    return path


def fill_like_the_script(
    db: Database,
    filing_id: int,
    now: datetime,
    *,
    files: AttachmentStore | None = None,
    leave: Callable[[Key], bool] = lambda key: False,
) -> None:
    """Every answer of the scripted filing except those already given (the roster's, for a
    bound enterprise) and those `leave` keeps for the test to give itself. With `files`, the
    scripted uploads are stored too, so every file reference of the filing can be opened."""
    _form, scripted = completed_filing()
    if files is not None:
        for step in filing_script():
            if isinstance(step, Upload):
                files.put(step.data, step.name)
    with db.session() as session:
        filings = FilingRepository(session)
        current = filings.load(filing_id)
        changes = [
            SetAnswer(key, answer.value, None)
            for key, answer in scripted.answers.items()
            if key not in current.answers and not leave(key)
        ]
        if files is not None:
            attachments = AttachmentRepository(session)
            for change in changes:
                if isinstance(change.value, FileRef):
                    attachments.record(change.value, now)
        adds = [AddRecord(g, r) for g, ids in scripted.records.items() for r in ids]
        filings.apply(filing_id, [*adds, *changes], actor="test", now=now)


def pdf_text(pdf: bytes, workdir: Path) -> str:
    """The PDF's text as `pdftotext -layout` reads it (poppler-utils; skipped without it
    locally, failed on CI)."""
    if shutil.which("pdftotext") is None:
        message = "pdftotext (Debian poppler-utils) is needed to read the PDF back"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    path = workdir / "read-back.pdf"
    path.write_bytes(pdf)
    done = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True, text=True
    )
    return done.stdout


def schema_diff(url: str) -> list[object]:
    """What the migrated database differs in from the models (empty: they match)."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": True}
            )
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


# An invented holiday notice for 2027, a year chinese-calendar does not know (the tests' own
# dates): Spring Festival off from Friday 5 to Friday 12 February, Saturday 13 and Sunday 14
# February worked.
NOTICE_2027 = """\
year = 2027
source = "测试用：2027年部分节假日安排"

[[holidays]]
name = "元旦"
first = 2027-01-01

[[holidays]]
name = "春节"
first = 2027-02-05
last = 2027-02-12
working_days = [2027-02-13, 2027-02-14]
"""
