"""A spreadsheet ZIP bomb like the one in issue 16 (about 1.5 MB of XLSX inflating to half a
gigabyte of empty rows), once with an honest ZIP directory and once with one that declares
tiny sizes: how long until it is refused (`bot.sheet_guard.read_guarded`), the CPU the bot's
own process spends on it, and how long the event loop (where other chats are served) stalls
meanwhile, measured by a task that wakes every 5 ms."""

from __future__ import annotations

import argparse
import asyncio
import io
import resource
import struct
import sys
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass

from bench.report import Figure, Target, judged, table
from bot.sheet_guard import read_guarded

ROW = b'<row spans="1:20" ht="15" customHeight="1"/>'
INFLATED_MB = 500
TICK = 0.005
REFUSED_WITHIN = Target(3.0, at_least=False)
# The issue measured other chats waiting up to 11.7 s; a loaded 2-core machine stalls a loop
# by tens of milliseconds with nothing to do (the "idle" round shows how much).
STALL_AT_MOST = Target(100.0, at_least=False)
OWN_CPU_AT_MOST = Target(0.2, at_least=False)


def bomb(inflated_mb: int = INFLATED_MB) -> bytes:
    out = io.BytesIO()
    block = ROW * (1024 * 1024 // len(ROW))
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(b"<worksheet><sheetData>")
            for _ in range(inflated_mb):
                sheet.write(block)
            sheet.write(b"</sheetData></worksheet>")
    return out.getvalue()


def lying(data: bytes) -> bytes:
    """Every declared uncompressed size set to 1,000 bytes (central directory)."""
    raw = bytearray(data)
    position = 0
    while (position := raw.find(b"PK\x01\x02", position)) != -1:
        struct.pack_into("<I", raw, position + 24, 1000)
        position += 4
    return bytes(raw)


@dataclass(frozen=True, slots=True)
class Round:
    seconds: float
    own_cpu: float
    stall_ms: float
    rejected: str


async def _measured(data: bytes | None) -> Round:
    stalls: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        loop = asyncio.get_running_loop()
        while not done.is_set():
            before = loop.time()
            await asyncio.sleep(TICK)
            stalls.append(loop.time() - before - TICK)

    task = asyncio.create_task(ticker())
    usage = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    if data is None:  # the idle round: the same wait, nothing read
        await asyncio.sleep(1.5)
        rejected = ""
    else:
        rejected = (await asyncio.to_thread(read_guarded, "bomb.xlsx", data)).rejected
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    done.set()
    await task
    own = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    return Round(seconds, own, 1000 * max(stalls, default=0.0), rejected)


def run(inflated_mb: int = INFLATED_MB) -> tuple[int, list[tuple[str, Round]]]:
    honest = bomb(inflated_mb)
    rounds = [
        ("idle", asyncio.run(_measured(None))),
        ("honest directory", asyncio.run(_measured(honest))),
        ("lying directory", asyncio.run(_measured(lying(honest)))),
    ]
    return len(honest), rounds


def figures(size: int, rounds: list[tuple[str, Round]]) -> list[Figure]:
    found = [Figure("XLSX bomb size (MB)", f"{size / 1024 / 1024:.2f}")]
    for name, r in rounds:
        if name == "idle":
            found.append(Figure("idle: event loop stall (ms)", f"{r.stall_ms:.1f}"))
            continue
        found.append(judged(f"{name}: refused after (s)", r.seconds, ".2f", REFUSED_WITHIN))
        found.append(judged(f"{name}: bot process CPU (s)", r.own_cpu, ".3f", OWN_CPU_AT_MOST))
        found.append(judged(f"{name}: event loop stall (ms)", r.stall_ms, ".1f", STALL_AT_MOST))
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sheet_bomb", description=__doc__)
    parser.add_argument("--inflated-mb", type=int, default=INFLATED_MB)
    args = parser.parse_args(argv)
    size, rounds = run(args.inflated_mb)
    print(table(figures(size, rounds)))
    for name, r in rounds[1:]:
        print(f"{name}: {r.rejected}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
