"""Reading an uploaded spreadsheet safely: an XLSX is a ZIP, and a small one can inflate to
gigabytes (a 1.45 MB file of empty rows took openpyxl two minutes of CPU), or declare a sheet
of a million rows by a single cell at the end.

So, before openpyxl sees it: the ZIP directory's declared sizes and entry count, then the
members inflated with a counter (declared sizes can lie), counting the worksheets' rows and
their highest row number on the way. And all of it, openpyxl included, in a separate process
(`python -m bot.sheet_guard`) with a CPU-time and memory ceiling and a wall-clock limit: the
bot's own process only waits on a pipe (no GIL held), so other chats are never delayed, and
whatever the file does ends with that process. Starting it costs about a third of a second,
once per uploaded spreadsheet.
"""

from __future__ import annotations

import io
import json
import logging
import re
import resource
import struct
import subprocess
import sys
import zipfile
from dataclasses import asdict, dataclass

from bot.project_sheet import read_sheet
from dialogs import texts
from dialogs.replies import TableIn, TableRow

log = logging.getLogger(__name__)

_MB = 1024 * 1024
_CHUNK = _MB
_WORKSHEET = re.compile(r"^xl/worksheets/[^/]+\.xml$")
_ROW_NUMBER = re.compile(rb"<(?:\w+:)?row\b[^>]*?\sr=\"(\d{1,9})\"")
_ROW_OPEN = re.compile(rb"<(?:\w+:)?row\b")
_CARRY = 256  # a row tag cut by a chunk boundary is seen whole in the next round


@dataclass(frozen=True, slots=True)
class SheetLimits:
    inflated_mb: int = 64  # all members together, declared and actually inflated
    members: int = 500
    rows: int = 20_000  # row elements and row numbers of any worksheet (the import takes 5,000)
    cpu_seconds: int = 20
    memory_mb: int = 1024
    wall_seconds: float = 60.0


class Refused(Exception):
    def __init__(self, reason_zh: str) -> None:
        super().__init__(reason_zh)
        self.reason_zh = reason_zh


def inspect(data: bytes, limits: SheetLimits) -> None:
    """Raises Refused when the workbook is larger than allowed, by its ZIP directory first,
    then by inflating it (never more than the limit)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as error:
        raise Refused(texts.SHEET_UNREADABLE) from error
    with archive:
        members = archive.infolist()
        if len(members) > limits.members:
            raise Refused(texts.SHEET_TOO_MANY_PARTS.format(count=len(members)))
        budget = limits.inflated_mb * _MB
        if sum(m.file_size for m in members) > budget:
            raise Refused(texts.SHEET_INFLATES.format(limit=limits.inflated_mb))
        for member in members:
            budget -= _inflate(archive, member, budget, limits)


_END_OF_DIRECTORY = b"PK\x05\x06"
_ZIP64_ENTRIES = 0xFFFF


def declared(data: bytes, limits: SheetLimits) -> None:
    """The cheap part, in the bot's process: the ZIP directory's entry count (read from its
    end record, so a directory of a million entries is never parsed here) and declared sizes.
    Raises Refused; passes what it cannot judge on to the worker."""
    end = data.rfind(_END_OF_DIRECTORY, max(0, len(data) - 65_557))
    if end < 0 or end + 22 > len(data):
        return
    (entries,) = struct.unpack_from("<H", data, end + 10)
    if entries == _ZIP64_ENTRIES:
        return  # a ZIP64 directory: the worker looks
    if entries > limits.members:
        raise Refused(texts.SHEET_TOO_MANY_PARTS.format(count=entries))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            size = sum(m.file_size for m in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError):
        return  # damaged: the worker says so in its own words
    if size > limits.inflated_mb * _MB:
        raise Refused(texts.SHEET_INFLATES.format(limit=limits.inflated_mb))


def _inflate(
    archive: zipfile.ZipFile, member: zipfile.ZipInfo, budget: int, limits: SheetLimits
) -> int:
    """Inflates one member within the budget left; returns its size. Counts the rows of a
    worksheet as it goes."""
    sheet = bool(_WORKSHEET.match(member.filename))
    size, rows, tail = 0, 0, b""
    try:
        with archive.open(member) as stream:
            while chunk := stream.read(_CHUNK):
                size += len(chunk)
                if size > budget:
                    raise Refused(texts.SHEET_INFLATES.format(limit=limits.inflated_mb))
                if not sheet:
                    continue
                window = tail + chunk
                # Tags wholly inside the carried tail were counted in the last round.
                rows += sum(1 for m in _ROW_OPEN.finditer(window) if m.end() > len(tail))
                numbers = [int(n) for n in _ROW_NUMBER.findall(window)]
                if rows > limits.rows or (numbers and max(numbers) > limits.rows):
                    raise Refused(texts.SHEET_TOO_MANY_ROWS.format(limit=limits.rows))
                tail = window[-_CARRY:]
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError) as error:
        raise Refused(texts.SHEET_UNREADABLE) from error
    return size


def main() -> None:
    """The worker process (`python -m bot.sheet_guard LIMITS_JSON NAME`): the
    ceilings first, then the checks, then openpyxl; the workbook on stdin, the rows as JSON
    on stdout (JSON, not pickle: the parent trusts nothing a hostile file might influence)."""
    limits, name = SheetLimits(**json.loads(sys.argv[1])), sys.argv[2]
    cpu, memory = limits.cpu_seconds, limits.memory_mb * _MB
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    data = sys.stdin.buffer.read()
    try:
        inspect(data, limits)
        table = read_sheet(name, data)
    except Refused as refused:
        table = TableIn(name, (), rejected=refused.reason_zh)
    except MemoryError:
        table = TableIn(name, (), rejected=texts.SHEET_TOO_COSTLY)
    rows = [[row.number, list(row.cells)] for row in table.rows]
    json.dump({"rows": rows, "rejected": table.rejected}, sys.stdout, ensure_ascii=False)


def read_guarded(name: str, data: bytes, limits: SheetLimits | None = None) -> TableIn:
    """The spreadsheet's rows (bot.project_sheet.read_sheet), read in a worker process within
    the limits; a refusal (with its Chinese reason) when it exceeds them. Blocking, without
    holding the GIL: call it in a thread."""
    limits = limits or SheetLimits()
    try:
        declared(data, limits)
    except Refused as refused:
        return TableIn(name, (), rejected=refused.reason_zh)
    command = [sys.executable, "-m", "bot.sheet_guard"]
    command += [json.dumps(asdict(limits)), name]
    try:
        done = subprocess.run(
            command, input=data, capture_output=True, timeout=limits.wall_seconds, check=False
        )
    except subprocess.TimeoutExpired:  # run() has killed it
        return TableIn(name, (), rejected=texts.SHEET_TOO_COSTLY)
    if done.returncode != 0:  # ended by its CPU or memory ceiling
        log.warning("spreadsheet worker ended with %s", done.returncode)
        return TableIn(name, (), rejected=texts.SHEET_TOO_COSTLY)
    result = json.loads(done.stdout)
    rows = tuple(TableRow(int(n), tuple(str(c) for c in cells)) for n, cells in result["rows"])
    return TableIn(name, rows, rejected=str(result["rejected"] or ""))


if __name__ == "__main__":
    main()
