"""The whole scripted filing through ChatService and real storage, one transaction per step,
on a fresh migrated SQLite file and on a fresh PostgreSQL database."""

from __future__ import annotations

import os
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from bench.report import Figure, Target, judged, median, percentile
from bot.service import ChatService, Turn
from dialogs.replies import Start, TextIn, reply_text
from storage.db import Database
from storage.migrate import upgrade
from tests.fakes import make_service
from tests.filing_script import Bad, Step, Upload, filing_script

TARGET_SQLITE_SECONDS = Target(2.0, at_least=False)
# Same variable as the test suite: a database we may connect to in order to CREATE/DROP others.
PG_URL_ENV = "NIANJIAN_TEST_PG_URL"
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
CHANNEL, CHAT = "bench", "alice"


class Unavailable(Exception):
    """The backend cannot be reached; the benchmark reports it as skipped."""


@dataclass(frozen=True, slots=True)
class FilingRun:
    seconds: float  # the sum of the steps' times: migration and set-up excluded
    step_ms: tuple[float, ...]  # sorted
    problems: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BackendResult:
    backend: str
    runs: tuple[FilingRun, ...] = ()
    skipped: str = ""

    @property
    def median_run(self) -> FilingRun:
        return sorted(self.runs, key=lambda r: r.seconds)[(len(self.runs) - 1) // 2]

    def figures(self, target: Target | None) -> list[Figure]:
        name = self.backend
        if self.skipped:
            return [Figure(f"{name} filing total (s)", "skipped", "", "SKIP")]
        best = min(r.seconds for r in self.runs)
        middle = median([r.seconds for r in self.runs])
        ms = self.median_run.step_ms
        totals = (
            [
                judged(f"{name} filing total, best (s)", best, ".2f", target),
                judged(f"{name} filing total, median (s)", middle, ".2f", target),
            ]
            if target is not None
            else [Figure(f"{name} filing total, best / median (s)", f"{best:.2f} / {middle:.2f}")]
        )
        spread = " / ".join(f"{percentile(ms, p):.1f}" for p in (50, 95, 99))
        return [
            *totals,
            Figure(f"{name} per step p50 / p95 / p99 (ms)", spread),
            Figure(f"{name} runs x steps", f"{len(self.runs)} x {len(ms)}"),
        ]


def send(service: ChatService, item: Step | Start) -> Turn:
    if isinstance(item, Start):
        return service.handle(CHANNEL, CHAT, item)
    if isinstance(item, Upload):
        return service.receive_file(CHANNEL, CHAT, item.data, item.name)
    return service.handle(CHANNEL, CHAT, TextIn(item.text if isinstance(item, Bad) else item))


def check(i: int, item: Step | Start, turn: Turn) -> str | None:
    """What `tests.fakes.play` asserts, as a report line instead of an exception."""
    refused = reply_text(turn.replies[0]).startswith("✗")
    changed = turn.outcome is not None and bool(turn.outcome.changes)
    if refused != isinstance(item, Bad) or (refused and changed):
        return f"storage step {i}: {item!r} refused={refused}"
    return None


def play_filing(url: str, files_dir: Path) -> FilingRun:
    upgrade(url)
    db = Database.from_url(url)
    try:
        service = make_service(db, files_dir, trial=(CHANNEL,))
        times: list[float] = []
        problems: list[str] = []
        for i, item in enumerate([Start(), *filing_script()]):
            started = time.perf_counter()
            turn = send(service, item)
            times.append(time.perf_counter() - started)
            if (problem := check(i, item, turn)) is not None:
                problems.append(problem)
    finally:
        db.dispose()
    return FilingRun(sum(times), tuple(sorted(t * 1000 for t in times)), tuple(problems))


@contextmanager
def sqlite_database(work: Path) -> Iterator[str]:
    yield f"sqlite:///{work / 'nianjian.sqlite3'}"


def pg_admin_url() -> str:
    url = os.environ.get(PG_URL_ENV, DEFAULT_PG_URL)
    scheme, sep, rest = url.partition("://")
    return f"postgresql://{rest}" if sep and scheme.startswith("postgres") else url


@contextmanager
def pg_database(_work: Path) -> Iterator[str]:
    """A throw-away database, dropped (even with connections left open) afterwards."""
    admin_url = pg_admin_url()
    name = f"nj_bench_{secrets.token_hex(6)}"
    try:
        with psycopg.connect(admin_url, connect_timeout=5, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.OperationalError as error:
        raise Unavailable(f"PostgreSQL unreachable at {admin_url}: {error}") from error
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin_url, connect_timeout=5, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


DatabaseFactory = Callable[[Path], AbstractContextManager[str]]


def run_backend(backend: str, database: DatabaseFactory, runs: int = 3) -> BackendResult:
    done: list[FilingRun] = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="nj_bench_") as work:
            try:
                with database(Path(work)) as url:
                    done.append(play_filing(url, Path(work) / "files"))
            except Unavailable as unavailable:
                return BackendResult(backend, skipped=str(unavailable))
    return BackendResult(backend, tuple(done))


def run(runs: int = 3) -> tuple[BackendResult, BackendResult]:
    sqlite = run_backend("sqlite", sqlite_database, runs)
    return sqlite, run_backend("postgresql", pg_database, runs)
