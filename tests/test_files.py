"""The attachment store: detection by content, refusal reasons in Chinese, content addressing."""

from __future__ import annotations

import hashlib
import io
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storage.files import (
    JPEG,
    OFD,
    PDF,
    PNG,
    AttachmentRejected,
    AttachmentStore,
    describe_format,
    detect_content_type,
)


def _png() -> bytes:
    """A real 1x1 white RGB PNG."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\xff\xff")  # filter byte 0, then one RGB pixel
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def _jpeg() -> bytes:
    """SOI + a JFIF APP0 segment + EOI: what a JPEG file starts and ends with."""
    app0 = b"JFIF\x00" + bytes([1, 1, 0]) + struct.pack(">HH", 72, 72) + b"\x00\x00"
    return b"\xff\xd8" + b"\xff\xe0" + struct.pack(">H", len(app0) + 2) + app0 + b"\xff\xd9"


def _pdf() -> bytes:
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
    ]
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body in files.items():
            archive.writestr(name, body)
    return buffer.getvalue()


def _ofd() -> bytes:
    return _zip(
        {
            "OFD.xml": b'<?xml version="1.0" encoding="UTF-8"?><ofd:OFD Version="1.0"/>',
            "Doc_0/Document.xml": b"<ofd:Document/>",
        }
    )


@pytest.fixture
def store(tmp_path: Path) -> AttachmentStore:
    return AttachmentStore(tmp_path / "attachments")


def _reason(store: AttachmentStore, data: bytes) -> str:
    with pytest.raises(AttachmentRejected) as raised:
        store.put(data, "文件")
    assert str(raised.value) == raised.value.reason_zh
    return raised.value.reason_zh


# --- detection ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [(_pdf(), PDF), (_jpeg(), JPEG), (_png(), PNG), (_ofd(), OFD)],
    ids=["pdf", "jpeg", "png", "ofd"],
)
def test_accepted_types_are_detected_by_content(
    store: AttachmentStore, data: bytes, expected: str
) -> None:
    assert detect_content_type(data) == expected
    ref = store.put(data, "scan.bin")  # the name does not matter, the bytes do
    assert (ref.content_type, ref.size) == (expected, len(data))


def test_pdf_header_after_a_little_junk_is_still_a_pdf() -> None:
    assert detect_content_type(b"\r\n" * 10 + _pdf()) == PDF


def test_a_zip_without_ofd_xml_is_not_ofd() -> None:
    assert detect_content_type(_zip({"Doc_0/Document.xml": b"<x/>"})) is None
    assert detect_content_type(b"PK\x03\x04 but not really a zip") is None


@given(st.binary(max_size=2048))
def test_detection_never_crashes(data: bytes) -> None:
    assert detect_content_type(data) in (None, PDF, JPEG, PNG, OFD)
    assert describe_format(b"PK\x03\x04" + data)


# --- refusals -------------------------------------------------------------------------------


def test_empty_files_are_refused(store: AttachmentStore) -> None:
    assert "文件为空" in _reason(store, b"")


def test_files_over_the_limit_are_refused(tmp_path: Path) -> None:
    default = AttachmentStore(tmp_path)
    limit = 20 * 1024 * 1024
    assert "文件超过 20 MB" in _reason(default, _pdf() + b"\0" * (limit - len(_pdf()) + 1))

    small = AttachmentStore(tmp_path, max_bytes=len(_png()))
    assert small.put(_png(), "exact.png").size == len(_png())
    assert "文件超过" in _reason(small, _png() + b"\0")


def test_a_cut_off_pdf_is_refused(store: AttachmentStore) -> None:
    whole = _pdf()
    assert "PDF 文件不完整" in _reason(store, whole[: whole.index(b"trailer")])


@pytest.mark.parametrize(
    ("data", "looks_like"),
    [
        ("营业执照号码：91650100XXXXXXXXXX\n".encode(), "纯文本"),
        (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + bytes(range(256)), "Windows 程序（EXE）"),
        (_zip({"word/document.xml": b"<w/>", "[Content_Types].xml": b"<T/>"}), "Word 文档"),
        (_zip({"xl/workbook.xml": b"<w/>"}), "Excel 表格"),
        (_zip({"readme.txt": b"hi"}), "ZIP 压缩包"),
        (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "GIF 图片"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "HEIC 图片"),
        (bytes([0xFE, 0x00, 0x81, 0x00]) * 16, "无法识别的格式"),
    ],
    ids=["text", "exe", "docx", "xlsx", "zip", "gif", "heic", "unknown"],
)
def test_other_types_are_refused_with_what_they_look_like(
    store: AttachmentStore, data: bytes, looks_like: str
) -> None:
    reason = _reason(store, data)
    assert reason.startswith("只接受 PDF、JPG、PNG 或 OFD 文件；这个文件看起来是")
    assert looks_like in reason
    assert not store.root.exists() or not any(store.root.rglob("*"))


# --- content addressing ---------------------------------------------------------------------


def test_same_content_is_stored_once(store: AttachmentStore) -> None:
    data = _png()
    first = store.put(data, "照片.png")
    second = store.put(data, "C:\\Users\\王芳\\Desktop\\同一张照片.png")

    sha = hashlib.sha256(data).hexdigest()
    assert first.sha256 == second.sha256 == sha
    assert (first.name, second.name) == ("照片.png", "同一张照片.png")
    assert store.path(sha) == store.root / sha[:2] / sha[2:4] / sha
    assert store.read(sha) == data
    assert store.exists(sha)
    files = [p for p in store.root.rglob("*") if p.is_file()]
    assert files == [store.path(sha)]  # one copy, no temporary files left behind


def test_different_content_gets_different_files(store: AttachmentStore) -> None:
    refs = {store.put(data, "x").sha256 for data in (_pdf(), _jpeg(), _png(), _ofd())}
    assert len(refs) == 4
    assert len([p for p in store.root.rglob("*") if p.is_file()]) == 4


def test_a_damaged_copy_is_rewritten(store: AttachmentStore) -> None:
    ref = store.put(_jpeg(), "a.jpg")
    store.path(ref.sha256).write_bytes(b"\xff\xd8")
    store.put(_jpeg(), "a.jpg")
    assert store.read(ref.sha256) == _jpeg()


def test_paths_only_accept_sha256_digests(store: AttachmentStore) -> None:
    for bad in ("../../etc/passwd", "A" * 64, "a" * 63, ""):
        with pytest.raises(ValueError, match="sha256"):
            store.path(bad)
    assert not store.exists("0" * 64)
