"""The attachment store: files checked by content, kept once per content under their sha256."""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import io
import os
import re
import tempfile
import zipfile
from pathlib import Path

from dialogs.model import FileRef
from dialogs.parsing import clean_text

PDF = "application/pdf"
JPEG = "image/jpeg"
PNG = "image/png"
OFD = "application/ofd"  # China's e-invoice / e-document format (GB/T 33190)
ACCEPTED = frozenset({PDF, JPEG, PNG, OFD})

DEFAULT_MAX_BYTES = 20 * 1024 * 1024

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_ZIP_SIGNATURE = b"PK\x03\x04"
# Readers accept the header anywhere in the first KiB; some generators prepend junk.
_PDF_HEADER_WINDOW = 1024
# A PDF ends with %%EOF, possibly followed by a little padding; missing means cut off.
_PDF_TRAILER_WINDOW = 2048
_SHA256 = re.compile(r"[0-9a-f]{64}")

# User-facing reasons (Chinese), in one place.
REASON_EMPTY = "文件为空，请重新发送。"
REASON_TOO_LARGE = "文件超过 {limit}，请压缩或拆分后重新发送。"
REASON_TRUNCATED_PDF = "PDF 文件不完整（可能没有传完），请重新发送。"
REASON_WRONG_TYPE = (
    "只接受 PDF、JPG、PNG 或 OFD 文件；这个文件看起来是{what}。请转换为 PDF 或 JPG 后重新发送。"
)
UNKNOWN_FORMAT = "无法识别的格式"


class AttachmentRejected(Exception):
    """A file the association does not accept; `reason_zh` is shown to the user as is."""

    def __init__(self, reason_zh: str) -> None:
        super().__init__(reason_zh)
        self.reason_zh = reason_zh


def _zip_names(data: bytes) -> list[str] | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return archive.namelist()
    except (zipfile.BadZipFile, EOFError, OSError, ValueError):
        return None


def detect_content_type(data: bytes) -> str | None:
    """The accepted type the bytes really are, ignoring whatever name or type the sender claims."""
    if b"%PDF-" in data[:_PDF_HEADER_WINDOW]:
        return PDF
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(_PNG_SIGNATURE):
        return PNG
    if data.startswith(_ZIP_SIGNATURE):
        names = _zip_names(data)
        if names is not None and any(n.lower() == "ofd.xml" for n in names):
            return OFD
    return None


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def is_xlsx(data: bytes) -> bool:
    """An Excel workbook (a ZIP holding xl/workbook.xml), by content. Never an attachment:
    only the project import reads one, while the conversation waits for it."""
    if not data.startswith(_ZIP_SIGNATURE):
        return False
    names = _zip_names(data)
    return names is not None and "xl/workbook.xml" in names


def pdf_looks_complete(data: bytes) -> bool:
    return b"%%EOF" in data[-_PDF_TRAILER_WINDOW:]


def describe_format(data: bytes) -> str:
    """A Chinese description of a refused file, so the user learns what to convert."""
    if data.startswith(_ZIP_SIGNATURE):
        names = _zip_names(data) or []
        if any(n.startswith("word/") for n in names):
            return "Word 文档（DOCX）"
        if any(n.startswith("xl/") for n in names):
            return "Excel 表格（XLSX）"
        if any(n.startswith("ppt/") for n in names):
            return "PowerPoint 演示文稿（PPTX）"
        return "ZIP 压缩包"
    signatures: list[tuple[bytes, str]] = [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "旧版 Office 文档（DOC/XLS）"),
        (b"MZ", "Windows 程序（EXE）"),
        (b"\x7fELF", "可执行程序"),
        (b"GIF87a", "GIF 图片"),
        (b"GIF89a", "GIF 图片"),
        (b"II*\x00", "TIFF 图片"),
        (b"MM\x00*", "TIFF 图片"),
        (b"Rar!\x1a\x07", "RAR 压缩包"),
        (b"7z\xbc\xaf\x27\x1c", "7z 压缩包"),
    ]
    for magic, what in signatures:
        if data.startswith(magic):
            return what
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP 图片"
    if data[4:8] == b"ftyp" and data[8:12] in (b"heic", b"heix", b"mif1", b"msf1"):
        return "HEIC 图片（苹果手机照片）"
    if _looks_like_text(data):
        return "纯文本"
    return UNKNOWN_FORMAT


def _looks_like_text(data: bytes) -> bool:
    head = data[:4096]
    if b"\x00" in head:
        return False
    try:
        # Incremental, so a multi-byte character cut at the window's edge is not an error.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


def _format_size(size: int) -> str:
    mib = size / (1024 * 1024)
    return f"{mib:g} MB" if mib >= 1 else f"{size // 1024} KB"


# The extension a stored file carries, by its real content type; the first is given.
EXTENSIONS = {PDF: (".pdf",), JPEG: (".jpg", ".jpeg", ".jpe"), PNG: (".png",), OFD: (".ofd",)}
DEFAULT_STEM = "附件"
_NAME_LIMIT = 120
# What reads as an extension: a dot and a few letters or digits at the end ("exe", "docx").
_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,5}$")


def display_name(name: str, content_type: str, *, default: str = DEFAULT_STEM) -> str:
    """The name a file is shown (and kept) under: the sender's last path component without
    control, bidi-override and other invisible characters ("营业执照\u202efdp.exe" is
    "营业执照fdp.exe" to the eye of whoever reads it), ending in the extension of what the
    bytes really are: a PNG sent as ".pdf" is shown as ".png", "报告.exe" holding a PDF as
    "报告.pdf"."""
    base = clean_text(re.split(r"[/\\]", name)[-1])
    extensions = EXTENSIONS.get(content_type, ())
    stem, suffix = _split_suffix(base)
    if suffix.lower() not in extensions:
        suffix = extensions[0] if extensions else suffix
    stem = stem.strip(" .") or default
    return stem[: _NAME_LIMIT - len(suffix)] + suffix


def _split_suffix(base: str) -> tuple[str, str]:
    found = _SUFFIX.search(base)
    return (base[: found.start()], found.group()) if found else (base, "")


class AttachmentStore:
    """Content-addressed files under `root/ab/cd/<sha256>`: one copy per content, never partial."""

    def __init__(self, root: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def put(self, data: bytes, name: str) -> FileRef:
        content_type = self.check(data)
        sha256 = hashlib.sha256(data).hexdigest()
        target = self.path(sha256)
        if not (target.is_file() and target.stat().st_size == len(data)):
            _write_atomically(target, data)
        return FileRef(sha256, display_name(name, content_type), len(data), content_type)

    def check(self, data: bytes) -> str:
        """The content type, or AttachmentRejected with the reason in Chinese."""
        if not data:
            raise AttachmentRejected(REASON_EMPTY)
        if len(data) > self.max_bytes:
            raise AttachmentRejected(REASON_TOO_LARGE.format(limit=_format_size(self.max_bytes)))
        content_type = detect_content_type(data)
        if content_type is None:
            what = describe_format(data)
            # Chinese typesetting: a space between Han characters and Latin text.
            what = f" {what}" if what[:1].isascii() else what
            raise AttachmentRejected(REASON_WRONG_TYPE.format(what=what))
        if content_type == PDF and not pdf_looks_complete(data):
            raise AttachmentRejected(REASON_TRUNCATED_PDF)
        return content_type

    def path(self, sha256: str) -> Path:
        if not _SHA256.fullmatch(sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def read(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()


def _write_atomically(target: Path, data: bytes) -> None:
    # Readers see either no file or the whole file, even if the process dies mid-write.
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_directory(target.parent)


def _fsync_directory(directory: Path) -> None:
    # The rename itself is only durable once the directory entry is flushed.
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
