"""Files that must be refused: empty, a renamed program, a cut-off PDF, an image over the
configured limit, office documents, archives, text and other formats. Each is refused with a
clear Chinese reason ("✗ 文件未被接受：…"), the question is asked again, nothing is written to
the attachment store or the attachments table, and the filing is exactly as before.

Through the service (the contact at the licence question), and a few through Telegram."""

from __future__ import annotations

import asyncio
import io
import random
import shutil
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from bot.app import App, bootstrap
from bot.channels.telegram.sender import CHANNEL as TELEGRAM
from bot.service import ChatService
from bot.settings import Settings
from dialogs.model import Filing
from dialogs.replies import Start, TextIn, reply_text
from dialogs.state import ConvState
from storage import files as store
from storage.db import Database
from storage.migrate import upgrade
from storage.models import AttachmentRow
from storage.repository import ConversationRepository, FilingRepository
from tests.fake_telegram import FakeTelegram
from tests.fakes import FrozenClock, fill_like_the_script
from tests.filing_script import pdf_bytes
from tests.test_telegram import TIMEOUT, bot_running, run

LIMIT_MB = 1  # a small NIANJIAN_MAX_UPLOAD_MB, so an oversized image stays small to build
CHANNEL, CHAT = "test", "alice"
ASKED = "请上传：营业执照"


# --- the corpus ------------------------------------------------------------------------------


def _zip(*names: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name in names:
            archive.writestr(name, "<x/>")
    return out.getvalue()


def _noise_png(megabytes: float) -> bytes:
    """A real PNG of random pixels (incompressible): about `megabytes` MB."""
    side = int((megabytes * 1024 * 1024 / 3) ** 0.5) + 1
    pixels = random.Random(7).randbytes(side * side * 3)
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), pixels).save(out, "PNG")
    return out.getvalue()


def _truncated_pdf() -> bytes:
    whole = pdf_bytes("年报") + b"%" * 10  # padding after %%EOF is fine; a missing end is not
    return whole[: whole.index(b"%%EOF")]


def _wrong(what: str) -> str:
    what = f" {what}" if what[:1].isascii() else what
    return store.REASON_WRONG_TYPE.format(what=what)


@dataclass(frozen=True)
class Bad:
    name: str  # as the sender calls it
    data: Callable[[], bytes]
    reason: str  # the reason shown after "✗ 文件未被接受："


CORPUS = {
    "empty": Bad("营业执照.pdf", lambda: b"", store.REASON_EMPTY),
    "renamed executable": Bad(
        "x.pdf",
        lambda: b"MZ\x90\x00\x03" + bytes(200) + b"This program",
        _wrong("Windows 程序（EXE）"),
    ),
    "ELF program": Bad(
        "scan.pdf", lambda: b"\x7fELF\x02\x01\x01" + bytes(64), _wrong("可执行程序")
    ),
    "truncated PDF": Bad("营业执照.pdf", _truncated_pdf, store.REASON_TRUNCATED_PDF),
    "image over the limit": Bad(
        "营业执照.png",
        lambda: _noise_png(LIMIT_MB * 1.3),
        store.REASON_TOO_LARGE.format(limit=f"{LIMIT_MB} MB"),
    ),
    "DOCX": Bad(
        "营业执照.pdf",
        lambda: _zip("[Content_Types].xml", "word/document.xml"),
        _wrong("Word 文档（DOCX）"),
    ),
    "XLSX": Bad("报表.xlsx", lambda: _zip("xl/workbook.xml"), _wrong("Excel 表格（XLSX）")),
    "ZIP": Bad("材料.zip", lambda: _zip("a.pdf", "b.jpg"), _wrong("ZIP 压缩包")),
    "old Word": Bad(
        "执照.doc",
        lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512),
        _wrong("旧版 Office 文档（DOC/XLS）"),
    ),
    "plain text": Bad(
        "营业执照.pdf", lambda: "营业执照 统一社会信用代码\n".encode() * 20, _wrong("纯文本")
    ),
    "GIF": Bad("执照.gif", lambda: b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", _wrong("GIF 图片")),
    "HEIC": Bad(
        "IMG_0001.HEIC",
        lambda: b"\x00\x00\x00\x18ftypheic" + bytes(32),
        _wrong("HEIC 图片（苹果手机照片）"),
    ),
    "unknown binary": Bad(
        "营业执照.pdf", lambda: bytes([0, 159, 146, 150]) * 64, _wrong(store.UNKNOWN_FORMAT)
    ),
}


# --- a contact at the licence question -----------------------------------------------------


def _settings(root: Path, url: str) -> Settings:
    return Settings(
        database_url=url,
        attachments_dir=root / "files",
        max_upload_mb=LIMIT_MB,
        trial_channels=CHANNEL,
    )


def _to_the_licence(service: ChatService, channel: str, chat: str) -> None:
    """A trial filing with every answer but the licence, and its question asked."""
    turn = service.handle(channel, chat, Start())
    assert turn.filing_id is not None
    now = service.clock.now()
    fill_like_the_script(
        service.db, turn.filing_id, now, leave=lambda k: k.field == "attach.licence"
    )
    service.handle(channel, chat, TextIn("总览"))
    reply = service.handle(channel, chat, TextIn("9"))  # 6 附件
    assert ASKED in reply_text(reply.replies[-1])


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file with the contact at the licence question; copied per test."""
    root = tmp_path_factory.mktemp("bad-files")
    path = root / "template.sqlite3"
    url = f"sqlite:///{path}"
    upgrade(url)
    app = bootstrap(_settings(root, url), FrozenClock())
    try:
        _to_the_licence(app.service, CHANNEL, CHAT)
    finally:
        app.db.dispose()  # the last connection closed: the WAL is checkpointed into the file
    return path


@pytest.fixture
def app(template: Path, tmp_path: Path) -> Iterator[App]:
    path = tmp_path / "nianjian.sqlite3"
    shutil.copyfile(template, path)
    app = bootstrap(_settings(tmp_path, f"sqlite:///{path}"), FrozenClock())
    try:
        yield app
    finally:
        app.db.dispose()


def _filing(db: Database) -> tuple[Filing, ConvState]:
    with db.session() as session:
        stored = ConversationRepository(session).get(CHANNEL, CHAT)
        assert stored is not None and stored.filing_id is not None
        return FilingRepository(session).load(stored.filing_id), ConvState.from_dict(stored.state)


def _stored(root: Path, db: Database) -> tuple[list[Path], int]:
    """The files in the attachment store and the rows of the attachments table."""
    found = [p for p in root.rglob("*") if p.is_file()] if root.exists() else []
    with db.session() as session:
        rows = session.scalar(select(func.count()).select_from(AttachmentRow)) or 0
    return found, rows


@pytest.mark.parametrize("case", list(CORPUS), ids=list(CORPUS))
def test_a_bad_file_is_refused_and_nothing_changes(app: App, case: str) -> None:
    bad = CORPUS[case]
    data = bad.data()
    before, state = _filing(app.db)
    assert state.field == "attach.licence"
    turn = app.service.receive_file(CHANNEL, CHAT, data, bad.name)

    text = "\n".join(reply_text(r) for r in turn.replies)
    assert text.startswith(f"✗ 文件未被接受：{bad.reason}\n"), text
    assert ASKED in text  # and the same question again
    assert turn.outcome is not None and not turn.outcome.changes
    after, state = _filing(app.db)
    assert after.answers == before.answers and after.records == before.records
    assert state.field == "attach.licence"
    assert _stored(app.settings.attachments_dir, app.db) == ([], 0)


def test_the_next_good_file_is_taken(app: App) -> None:
    for bad in CORPUS.values():
        app.service.receive_file(CHANNEL, CHAT, bad.data(), bad.name)
    good = pdf_bytes("营业执照")
    turn = app.service.receive_file(CHANNEL, CHAT, good, "营业执照.pdf")
    assert reply_text(turn.replies[0]).startswith("✓ 已收到文件：营业执照.pdf")
    files, rows = _stored(app.settings.attachments_dir, app.db)
    assert [p.read_bytes() for p in files] == [good] and rows == 1


def test_the_reasons_read_as_plain_chinese() -> None:
    assert CORPUS["renamed executable"].reason == (
        "只接受 PDF、JPG、PNG 或 OFD 文件；这个文件看起来是 Windows 程序（EXE）。"
        "请转换为 PDF 或 JPG 后重新发送。"
    )
    assert CORPUS["image over the limit"].reason == "文件超过 1 MB，请压缩或拆分后重新发送。"
    assert CORPUS["truncated PDF"].reason == "PDF 文件不完整（可能没有传完），请重新发送。"


def test_the_size_limit_is_the_settings_one() -> None:
    assert Settings(max_upload_mb=LIMIT_MB).max_upload_bytes == LIMIT_MB * 1024 * 1024
    exactly = store.AttachmentStore(Path("unused"), max_bytes=len(pdf_bytes("x")))
    assert exactly.check(pdf_bytes("x")) == store.PDF  # the limit itself is allowed


# --- the same through Telegram ---------------------------------------------------------------


USER = 4242


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server


@pytest.mark.parametrize("case", ["renamed executable", "truncated PDF", "image over the limit"])
def test_a_bad_document_sent_on_telegram_is_refused(
    fake: FakeTelegram, tmp_path: Path, case: str
) -> None:
    bad = CORPUS[case]

    async def scenario() -> str:
        async with bot_running(fake, tmp_path, max_upload_mb=LIMIT_MB) as bot:
            await asyncio.to_thread(_to_the_licence, bot.service, TELEGRAM, str(USER))
            fake.send_document(USER, bad.name, bad.data(), "application/pdf")
            (reply,) = await fake.wait_for_messages_async(USER, 1, TIMEOUT)
            return reply.body or ""

    text = run(scenario())
    assert text.startswith(f"✗ 文件未被接受：{bad.reason}\n") and ASKED in text
    assert not (tmp_path / "files").exists()
    assert fake.errors == []
