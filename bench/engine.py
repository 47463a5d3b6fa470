"""The pure engine alone: the whole scripted filing replayed through `step` + `apply_changes`
in memory, round after round, on one core. No database, no files, no channel."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass

from bench.report import Figure, Target, judged, one_core, percentile
from dialogs.cycle import Cycle
from dialogs.engine import step
from dialogs.form import build_form
from dialogs.model import FileRef, Filing, apply_changes
from dialogs.replies import Event, FileIn, Start, TextIn, reply_text
from dialogs.spec import FormSpec
from dialogs.state import ConvState
from storage.files import detect_content_type
from tests.fakes import FrozenClock
from tests.filing_script import Bad, Step, Upload, filing_script

TARGET_STEPS_PER_SECOND = Target(5_000, at_least=True)
YEAR = 2025


@dataclass(frozen=True, slots=True)
class Scripted:
    event: Event
    must_refuse: bool


@dataclass(frozen=True, slots=True)
class EngineResult:
    rounds: int
    events: int
    cpu_seconds: float
    wall_seconds: float
    step_us: tuple[float, ...]  # every timed step, sorted
    pinned: bool
    problems: tuple[str, ...]

    @property
    def cpu_rate(self) -> float:
        return self.events / self.cpu_seconds

    @property
    def wall_rate(self) -> float:
        return self.events / self.wall_seconds

    def figures(self) -> list[Figure]:
        core = "1 core" if self.pinned else "unpinned"
        p50, p99 = percentile(self.step_us, 50), percentile(self.step_us, 99)
        return [
            judged(f"engine steps/s (CPU, {core})", self.cpu_rate, ",.0f", TARGET_STEPS_PER_SECOND),
            Figure("engine steps/s (wall)", f"{self.wall_rate:,.0f}"),
            Figure("engine per step p50 / p99 (us)", f"{p50:.0f} / {p99:.0f}"),
            Figure("engine rounds x events", f"{self.rounds} x {self.events // self.rounds}"),
        ]


def to_event(item: Step) -> Scripted:
    """A script step as the event a channel would hand the engine (uploads already stored)."""
    if isinstance(item, Upload):
        content_type = detect_content_type(item.data)
        if content_type is None:
            raise ValueError(f"the script uploads {item.name!r}, which is no accepted type")
        sha256 = hashlib.sha256(item.data).hexdigest()
        return Scripted(FileIn(FileRef(sha256, item.name, len(item.data), content_type)), False)
    if isinstance(item, Bad):
        return Scripted(TextIn(item.text), must_refuse=True)
    return Scripted(TextIn(item), must_refuse=False)


def scripted_events() -> list[Scripted]:
    return [Scripted(Start(), False), *(to_event(s) for s in filing_script())]


def verify(form: FormSpec, events: Sequence[Scripted]) -> tuple[str, ...]:
    """One untimed round that checks every step is accepted or refused as scripted, so the
    figures are for a filing that really goes through (and the caches are warm)."""
    now = FrozenClock().now()
    filing, state = Filing(id=1, year=form.cycle.year), ConvState()
    problems = []
    for i, scripted in enumerate(events):
        outcome = step(form, filing, state, scripted.event, now)
        refused = reply_text(outcome.replies[0]).startswith("✗")
        if refused != scripted.must_refuse:
            problems.append(f"engine step {i}: {scripted.event!r} refused={refused}")
        filing, state = apply_changes(filing, outcome.changes), outcome.state
    return tuple(problems)


def timed_round(form: FormSpec, events: Sequence[Scripted], out_ns: list[int]) -> None:
    now = FrozenClock().now()
    clock = time.perf_counter_ns
    filing, state = Filing(id=1, year=form.cycle.year), ConvState()
    for scripted in events:
        started = clock()
        outcome = step(form, filing, state, scripted.event, now)
        filing = apply_changes(filing, outcome.changes)
        out_ns.append(clock() - started)
        state = outcome.state


def run(min_seconds: float = 3.0, min_rounds: int = 3) -> EngineResult:
    form = build_form(Cycle.for_year(YEAR))
    events = scripted_events()
    problems = verify(form, events)
    timings: list[int] = []
    rounds = 0
    with one_core() as pinned:
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        while rounds < min_rounds or time.perf_counter() - wall_start < min_seconds:
            timed_round(form, events, timings)
            rounds += 1
        cpu, wall = time.process_time() - cpu_start, time.perf_counter() - wall_start
    return EngineResult(
        rounds=rounds,
        events=len(timings),
        cpu_seconds=cpu,
        wall_seconds=wall,
        step_us=tuple(sorted(ns / 1000 for ns in timings)),
        pinned=pinned,
        problems=problems,
    )
