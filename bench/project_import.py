"""Importing a 1,000-row project spreadsheet: the generated template filled with 1,000 valid
projects (numbers, dates and the text people type: full-width digits, 元 amounts, Chinese
dates), sent to `ChatService.receive_file` on a fresh SQLite database while the chat waits
for it. That is the real path: content detection, reading the XLSX, parsing every row with
the typed answers' parsers, the engine's plan and the commit of every answer. The phases of
the pure part are timed on their own too."""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from openpyxl import load_workbook

from bench.report import Figure, Target, judged, table
from bot.project_sheet import SHEET_TITLE, read_sheet, template
from dialogs import project_import, totals
from dialogs.cycle import Cycle
from dialogs.form import build_form
from dialogs.model import Filing
from dialogs.replies import Start, TextIn, reply_text
from dialogs.spec import FormSpec
from dialogs.view import View
from storage.db import Database
from storage.migrate import upgrade
from storage.repository import FilingRepository
from tests.fakes import make_service

TARGET_SECONDS = Target(3.0, at_least=False)
ROWS = 1000
ROUNDS = 3
YEAR = 2025
CHANNEL, CHAT = "bench", "importer"
PROJECTS_ENTRY = "6"  # the overview's entry of section 3


def project_row(i: int) -> list[object]:
    """Project i: valid, in the mix of cell types and typed text a real sheet has."""
    fee = "１２.５" if i % 7 == 0 else (f"{i * 10000}元" if i % 5 == 0 else round(1 + i * 0.37, 2))
    accepted: object = date(YEAR, 1 + i % 12, 1 + i % 28)
    if i % 9 == 0:
        accepted = f"{YEAR}年{1 + i % 12}月{1 + i % 28}日"
    return [
        f"第{i}号系统集成项目",
        f"建设单位{i % 37}",
        date(YEAR - 1, 1, 1) + timedelta(days=i % 300),
        accepted,
        "是" if i % 50 == 0 else "否",
        fee,
        i % 13,
        12.5,
        "3",
        0,
        0,
        0,
        100 + i % 17,
        5.25,
        0,
    ]


def spreadsheet(form: FormSpec, rows: int = ROWS) -> bytes:
    book = load_workbook(io.BytesIO(template(form)))
    sheet = book[SHEET_TITLE]
    for i in range(1, rows + 1):
        sheet.append(project_row(i))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@dataclass(frozen=True, slots=True)
class ImportResult:
    rows: int
    seconds: tuple[float, ...]  # through the service, every round
    read: float
    parse: float
    plan: float
    size: int
    problems: tuple[str, ...]

    def figures(self) -> list[Figure]:
        label = f"project import, {self.rows} rows"
        return [
            judged(
                f"{label}, service on SQLite, best of {len(self.seconds)} (s)",
                min(self.seconds),
                ".2f",
                TARGET_SECONDS,
            ),
            Figure(f"{label}, worst round (s)", f"{max(self.seconds):.2f}"),
            Figure(f"{label}: read XLSX / parse / plan (s)", self.phases()),
            Figure(f"{label}, sheet size (KB)", f"{self.size / 1024:.0f}"),
        ]

    def phases(self) -> str:
        return f"{self.read:.2f} / {self.parse:.2f} / {self.plan:.2f}"


def _phases(form: FormSpec, data: bytes) -> tuple[float, float, float, list[str]]:
    started = time.perf_counter()
    table_in = read_sheet("projects.xlsx", data)
    read = time.perf_counter()
    parsed = project_import.parse_table(form, table_in.rows)
    parse = time.perf_counter()
    project_import.plan_import(View(form, Filing(1, YEAR)), parsed.rows)
    plan = time.perf_counter()
    problems = [] if parsed.clean else [f"the bench sheet is not clean: {parsed.problems[:3]}"]
    return read - started, parse - read, plan - parse, problems


def _service_round(form: FormSpec, data: bytes, rows: int) -> tuple[float, list[str]]:
    with tempfile.TemporaryDirectory(prefix="nj-bench-import-") as root:
        url = f"sqlite:///{Path(root) / 'nianjian.sqlite3'}"
        upgrade(url)
        db = Database.from_url(url)
        try:
            service = make_service(db, Path(root) / "files", YEAR, trial=(CHANNEL,))
            service.handle(CHANNEL, CHAT, Start())
            for text in ("总览", PROJECTS_ENTRY, "表格导入"):
                service.handle(CHANNEL, CHAT, TextIn(text))
            started = time.perf_counter()
            turn = service.receive_file(CHANNEL, CHAT, data, "projects.xlsx")
            seconds = time.perf_counter() - started
            problems = []
            shown = reply_text(turn.replies[0]) if turn.replies else ""
            if f"已从表格导入 {rows} 个项目" not in shown:
                problems.append(f"the import was not acknowledged: {shown[:200]}")
            assert turn.filing_id is not None
            with db.session() as session:
                stored = FilingRepository(session).load(turn.filing_id)
            if len(stored.record_ids(totals.PROJECTS)) != rows:
                problems.append("not every project was stored")
        finally:
            db.dispose()
    return seconds, problems


def run(rows: int = ROWS, rounds: int = ROUNDS) -> ImportResult:
    form = build_form(Cycle.for_year(YEAR))
    data = spreadsheet(form, rows)
    read, parse, plan, problems = _phases(form, data)
    seconds = []
    for _ in range(rounds):
        elapsed, found = _service_round(form, data, rows)
        seconds.append(elapsed)
        problems.extend(found)
    return ImportResult(rows, tuple(seconds), read, parse, plan, len(data), tuple(problems))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.project_import", description=__doc__)
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args(argv)
    result = run(args.rows, args.rounds)
    print(table(result.figures()))
    for problem in result.problems:
        print(f"note: {problem}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
