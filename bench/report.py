"""What every benchmark reports: figures next to their targets, and the numbers behind them."""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Target:
    """A bound a figure should meet; `at_least` for rates, otherwise an upper bound."""

    bound: float
    at_least: bool

    def met(self, value: float) -> bool:
        return value >= self.bound if self.at_least else value <= self.bound

    def describe(self, fmt: str) -> str:
        return f"{'>=' if self.at_least else '<='} {self.bound:{fmt}}"


@dataclass(frozen=True, slots=True)
class Figure:
    label: str
    measured: str
    target: str = ""
    verdict: str = ""  # "PASS" / "MISS" / "SKIP" / "ERROR", empty for information only


def judged(label: str, value: float, fmt: str, target: Target) -> Figure:
    verdict = "PASS" if target.met(value) else "MISS"
    return Figure(label, f"{value:{fmt}}", target.describe(fmt), verdict)


def table(figures: Sequence[Figure]) -> str:
    header = Figure("benchmark", "measured", "target", "")
    rows = [header, *figures]
    widths = [max(len(getattr(r, name)) for r in rows) for name in ("label", "measured", "target")]
    lines = []
    for row in rows:
        cells = (row.label, row.measured, row.target)
        line = "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))
        lines.append(f"{line}  {row.verdict}".rstrip())
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def percentile(ordered: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted, non-empty sequence."""
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


@contextmanager
def one_core() -> Iterator[bool]:
    """Pins this process to CPU 0 for the block (where the OS allows) and restores it after;
    yields whether pinning worked."""
    try:
        previous = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {0})
    except (AttributeError, OSError):
        yield False
        return
    try:
        yield True
    finally:
        os.sched_setaffinity(0, previous)
