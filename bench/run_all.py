"""`make bench`: every benchmark, one table, each figure next to its target.

Benchmarks report, tests assert: the exit status is 0 whatever the figures are.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from bench import console, engine, messages, pdf, project_import, reminders, storage, telegram
from bench.report import Figure, table


def engine_figures(quick: bool, problems: list[str]) -> list[Figure]:
    result = engine.run(min_seconds=0.5 if quick else 3.0, min_rounds=1 if quick else 3)
    problems.extend(result.problems)
    return result.figures()


def storage_figures(quick: bool, problems: list[str]) -> list[Figure]:
    figures: list[Figure] = []
    for result in storage.run(runs=1 if quick else 3):
        target = storage.TARGET_SQLITE_SECONDS if result.backend == "sqlite" else None
        figures.extend(result.figures(target))
        if result.skipped:
            problems.append(f"{result.backend} figure skipped: {result.skipped}")
        for run in result.runs:
            problems.extend(run.problems)
    return figures


def telegram_figures(quick: bool, problems: list[str]) -> list[Figure]:
    result = telegram.run(quick=quick)
    problems.extend(result.notes())
    return result.figures()


def pdf_figures(quick: bool, problems: list[str]) -> list[Figure]:
    result = pdf.run(rounds=1 if quick else pdf.ROUNDS)
    problems.extend(result.problems)
    return result.figures()


def project_import_figures(quick: bool, problems: list[str]) -> list[Figure]:
    result = project_import.run(rounds=1 if quick else project_import.ROUNDS)
    problems.extend(result.problems)
    return result.figures()


def reminders_figures(quick: bool, problems: list[str]) -> list[Figure]:
    result = reminders.run(quick=quick)
    problems.extend(result.problems)
    return result.figures()


def console_figures(quick: bool, problems: list[str]) -> list[Figure]:
    pg = os.environ.get("NIANJIAN_TEST_PG_URL", console.DEFAULT_PG)
    result = console.run(pg, enterprises=200 if quick else 2000, rounds=10 if quick else 40)
    if result.skipped:
        problems.append(f"console figures skipped: {result.skipped}")
    return result.figures()


def messages_figures(quick: bool, problems: list[str]) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="nj_bench_") as work:
        result = messages.run(Path(work))
    problems.extend(result.problems)
    return result.figures()


def guarded(
    name: str, bench: Callable[[bool, list[str]], list[Figure]], quick: bool, notes: list[str]
) -> list[Figure]:
    """A benchmark that breaks becomes an ERROR row; the others still run."""
    try:
        return bench(quick, notes)
    except Exception as error:
        notes.append(f"{name} failed:\n{traceback.format_exc()}")
        return [Figure(name, type(error).__name__, "", "ERROR")]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run_all", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (fewer rounds)")
    args = parser.parse_args(argv)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, load average {load}"
        " (figures are only comparable on a quiet machine)"
    )
    notes: list[str] = []
    figures = [
        *guarded("engine", engine_figures, args.quick, notes),
        *guarded("storage", storage_figures, args.quick, notes),
        *guarded("telegram", telegram_figures, args.quick, notes),
        *guarded("pdf", pdf_figures, args.quick, notes),
        *guarded("reminders", reminders_figures, args.quick, notes),
        *guarded("project import", project_import_figures, args.quick, notes),
        *guarded("console", console_figures, args.quick, notes),
        *guarded("messages", messages_figures, args.quick, notes),
    ]
    print(table(figures))
    for note in notes:
        print(f"note: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
