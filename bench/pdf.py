"""The declaration form PDF of a large filing: the scripted filing of tests/filing_script.py
plus 188 more projects (200 in all), built in memory and rendered by
`bot.declaration.declaration_pdf` three times; the best time and the size are reported."""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from bench.report import Figure, Target, judged, table
from bot.declaration import declaration_pdf, register_font
from dialogs import totals
from dialogs.model import AddRecord, Change, FileRef, Filing, Key, SetAnswer, apply_changes
from dialogs.spec import FormSpec
from dialogs.view import View
from tests.fakes import completed_filing

TARGET_SECONDS = Target(1.0, at_least=False)
TARGET_MEGABYTES = Target(2.0, at_least=False)
PROJECTS = 200
ROUNDS = 3
GROUP = totals.PROJECTS
GENERATED_AT = datetime(2026, 1, 5, 2, tzinfo=UTC)
_PAGE = re.compile(rb"/Type\s*/Page\b")


def large_filing(projects: int = PROJECTS) -> tuple[FormSpec, Filing]:
    """The scripted filing with its 12 projects repeated (renamed) until there are `projects`."""
    form, filing = completed_filing()
    originals = filing.record_ids(GROUP)
    changes: list[Change] = []
    for n in range(len(originals) + 1, projects + 1):
        template, record = originals[(n - 1) % len(originals)], f"bench{n}"
        changes.append(AddRecord(GROUP, record))
        for key, answer in filing.answers.items():
            if key.record != template:
                continue
            value = answer.value
            if key.field == "project.name":
                value = f"{value}（第{n}期）"
            elif isinstance(value, FileRef):
                value = replace(value, name=f"合同{n}.pdf")
            changes.append(SetAnswer(Key(key.field, record, key.year), value))
    return form, apply_changes(filing, changes)


@dataclass(frozen=True, slots=True)
class PdfResult:
    projects: int
    seconds: tuple[float, ...]  # every round, in order
    size: int
    pages: int
    embedded_font: bool
    problems: tuple[str, ...]

    def figures(self) -> list[Figure]:
        megabytes = self.size / (1024 * 1024)
        label = f"PDF, {self.projects} projects"
        return [
            judged(
                f"{label}, best of {len(self.seconds)} (s)",
                min(self.seconds),
                ".2f",
                TARGET_SECONDS,
            ),
            Figure(f"{label}, first round (s)", f"{self.seconds[0]:.2f}"),
            judged(f"{label}, size (MB)", megabytes, ".2f", TARGET_MEGABYTES),
            Figure(f"{label}, pages", str(self.pages)),
        ]


def run(projects: int = PROJECTS, rounds: int = ROUNDS) -> PdfResult:
    form, filing = large_filing(projects)
    fonts = register_font()
    problems = []
    if not fonts.embedded:
        problems.append("no CJK TrueType font found: the PDF uses STSong-Light, not embedded")
    found = len(filing.record_ids(GROUP))
    if found != projects:
        problems.append(f"the filing has {found} projects, not {projects}")
    seconds = []
    pdf = b""
    for _ in range(rounds):
        started = time.perf_counter()
        # A fresh View each round: a view memoises its derived values.
        pdf = declaration_pdf(View(form, filing), version=1, fonts=fonts, generated_at=GENERATED_AT)
        seconds.append(time.perf_counter() - started)
    if not pdf.startswith(b"%PDF-"):
        problems.append("the output is not a PDF")
    pages = len(_PAGE.findall(pdf))
    return PdfResult(projects, tuple(seconds), len(pdf), pages, fonts.embedded, tuple(problems))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pdf", description=__doc__)
    parser.add_argument("--projects", type=int, default=PROJECTS, help="projects (200)")
    args = parser.parse_args(argv)
    result = run(args.projects)
    print(table(result.figures()))
    for problem in result.problems:
        print(f"note: {problem}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
