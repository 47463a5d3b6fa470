"""Spreadsheet bombs: an XLSX that inflates far beyond its size (honestly declared, or with a
ZIP directory that lies), a sheet of countless empty rows, a single cell a million rows down,
and a sheet that passes every size check but costs openpyxl more CPU than allowed. Each is
refused with a Chinese reason, before openpyxl reads it or by the worker's ceiling, and the
bot's own process does none of the work. A genuine sheet reads exactly as before."""

from __future__ import annotations

import io
import resource
import struct
import zipfile
from pathlib import Path

import pytest

from bot.project_sheet import read_sheet
from bot.sheet_guard import Refused, SheetLimits, inspect, read_guarded
from dialogs import texts
from dialogs.replies import Start, TextIn, reply_text
from storage.db import Database
from tests.fakes import make_service
from tests.test_project_import import PROJECTS_SECTION, project_row, sheet

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    "</Types>"
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Target="xl/workbook.xml" Type="http://schemas.openxmlformats.org/'
    'officeDocument/2006/relationships/officeDocument"/></Relationships>'
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="项目" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Target="worksheets/sheet1.xml" Type="http://schemas.openxmlformats'
    '.org/officeDocument/2006/relationships/worksheet"/></Relationships>'
)


def workbook(sheet_xml: bytes) -> bytes:
    """A minimal XLSX around one worksheet's XML, deflated at the highest level."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _RELS)
        archive.writestr("xl/workbook.xml", _WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        archive.writestr("xl/worksheets/sheet1.xml", sheet_xml)
    return out.getvalue()


def worksheet(rows: bytes, dimension: str = "A1:B2") -> bytes:
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        b'<dimension ref="'
        + dimension.encode()
        + b'"/><sheetData>'
        + rows
        + b"</sheetData></worksheet>"
    )


def empty_rows(count: int) -> bytes:
    """Empty rows as Excel writes formatted ones, without numbers: they deflate ~1000:1."""
    return b'<row spans="1:20" ht="15" customHeight="1"/>' * count


def lie_about_sizes(data: bytes, declared: int) -> bytes:
    """The same archive with every uncompressed size in the central directory and the local
    headers set to `declared`: what a bomb does to pass a size check by the directory."""
    raw = bytearray(data)
    position = 0
    while (position := raw.find(b"PK\x01\x02", position)) != -1:  # central directory
        struct.pack_into("<I", raw, position + 24, declared)
        position += 4
    position = 0
    while (position := raw.find(b"PK\x03\x04", position)) != -1:  # local headers
        struct.pack_into("<I", raw, position + 22, declared)
        position += 4
    return bytes(raw)


def test_a_genuine_sheet_reads_as_before() -> None:
    data = sheet([project_row(i) for i in range(1, 61)])
    assert read_guarded("projects.xlsx", data) == read_sheet("projects.xlsx", data)


def test_a_bomb_is_refused_by_its_declared_size_before_it_is_read() -> None:
    bomb = workbook(worksheet(empty_rows(1_000_000)))  # about 45 MB of rows, in under 1 MB
    assert len(bomb) < 1024 * 1024
    with pytest.raises(Refused) as refused:
        inspect(bomb, SheetLimits(inflated_mb=16))
    assert refused.value.reason_zh == texts.SHEET_INFLATES.format(limit=16)
    before = resource.getrusage(resource.RUSAGE_SELF)
    table = read_guarded("项目.xlsx", bomb, SheetLimits(inflated_mb=16))
    after = resource.getrusage(resource.RUSAGE_SELF)
    assert table.rows == () and table.rejected == texts.SHEET_INFLATES.format(limit=16)
    # The bot's process only waited: no parsing, no inflating here.
    assert (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime) < 0.5


def test_a_bomb_with_a_lying_directory_is_refused_by_its_inflated_size() -> None:
    honest = workbook(worksheet(empty_rows(1_000_000)))
    liar = lie_about_sizes(honest, 1000)
    with zipfile.ZipFile(io.BytesIO(liar)) as archive:
        assert sum(m.file_size for m in archive.infolist()) == 5000  # looks harmless
    table = read_guarded("项目.xlsx", liar, SheetLimits(inflated_mb=16))
    assert table.rows == () and table.rejected in (
        texts.SHEET_INFLATES.format(limit=16),
        texts.SHEET_UNREADABLE,
    )


def test_countless_empty_rows_and_a_cell_a_million_rows_down_are_refused() -> None:
    many = workbook(worksheet(empty_rows(25_000)))
    assert read_guarded("a.xlsx", many).rejected == texts.SHEET_TOO_MANY_ROWS.format(limit=20_000)
    far = worksheet(
        b'<row r="1"><c r="A1" t="inlineStr"><is><t>x</t></is></c></row>'
        b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>y</t></is></c></row>',
        dimension="A1:XFD1048576",
    )
    assert read_guarded("b.xlsx", workbook(far)).rejected == texts.SHEET_TOO_MANY_ROWS.format(
        limit=20_000
    )


def test_the_worker_has_a_cpu_ceiling() -> None:
    # Within every size limit, but a lot of cells for openpyxl to parse.
    row = b"<row>" + b"<c><v>123456.5</v></c>" * 26 + b"</row>"
    data = workbook(worksheet(row * 19_000, "A1:Z19000"))
    before = resource.getrusage(resource.RUSAGE_SELF)
    table = read_guarded("c.xlsx", data, SheetLimits(cpu_seconds=1))
    after = resource.getrusage(resource.RUSAGE_SELF)
    assert table.rows == () and table.rejected == texts.SHEET_TOO_COSTLY
    # The worker spent its second and was ended; the bot's process only waited.
    assert (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime) < 0.5


def test_a_bomb_sent_to_the_chat_is_refused_with_the_reason(
    database: Database, tmp_path: Path
) -> None:
    service = make_service(database, tmp_path / "files")
    chat = "contact"
    service.handle("test", chat, Start())
    service.handle("test", chat, TextIn("总览"))
    service.handle("test", chat, TextIn(PROJECTS_SECTION))
    service.handle("test", chat, TextIn("表格导入"))
    bomb = workbook(worksheet(empty_rows(2_000_000)))  # about 90 MB inflated
    turn = service.receive_file("test", chat, bomb, "项目.xlsx")
    said = "\n".join(reply_text(r) for r in turn.replies)
    assert texts.SHEET_INFLATES.format(limit=64) in said
    assert turn.outcome is not None and not turn.outcome.changes


def test_a_zip_of_many_parts_is_refused_by_its_directory() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", _WORKBOOK)
        for i in range(600):
            archive.writestr(f"xl/media/{i}.xml", "<x/>")
    table = read_guarded("d.xlsx", out.getvalue())
    assert table.rejected == texts.SHEET_TOO_MANY_PARTS.format(count=601)
