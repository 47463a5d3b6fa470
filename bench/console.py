"""The reviewers' web console under a season's load: 2,000 enterprises on PostgreSQL in every
status (not bound, not started, drafts at various stages, submitted, rejected, approved,
complete), the filings complete with the scripted filing's answers and its 15 files, decisions
spread over 30 days. The console runs on the product's web server in this process (an event
loop of its own thread), a signed-in client asks for the dashboard, the queue and a filing
page with 15 attachments over HTTP, one request at a time; p95 of each is reported, and the
dashboard's first render (its per-filing facts not yet known in the process) on its own.

    PYTHONPATH=. python -m bench.console [--pg URL] [--enterprises 2000] [--rounds 40]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

import httpx
import psycopg
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from stdnum.cn import uscc

from bench.report import Figure, Target, judged, percentile, table
from bot.app import App, bootstrap
from bot.console_web import Console, add_console, console_started
from bot.settings import Settings
from bot.web import WebServer
from bot.workflow import load_filing
from dialogs.cycle import Grade
from dialogs.model import AddRecord, Change, FileRef, SetAnswer
from dialogs.roster import RosterEntry
from storage.console import ConsoleAuth
from storage.enterprises import EnterpriseRepository
from storage.members import MemberRepository
from storage.migrate import upgrade
from storage.repository import AttachmentRepository, FilingRepository
from storage.workflow import WorkflowRepository, snapshot_of
from tests.fakes import completed_filing
from tests.filing_script import Upload, filing_script

TARGET_MS = Target(300.0, at_least=False)
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
NOW = datetime(2025, 12, 15, 2, tzinfo=UTC)
REVIEWER = ("telegram", "777")
# Share of each status among the enterprises (sums to 20).
MIX = (
    ("unbound", 3),
    ("not_started", 3),
    ("draft", 4),
    ("submitted", 3),
    ("rejected", 2),
    ("approved", 3),
    ("complete", 2),
)
GRADES = (Grade("甲"), Grade("乙"), Grade("丙"), Grade("丁"))


@dataclass
class Result:
    enterprises: int
    seconds_seeding: float = 0.0
    warm_seconds: float = 0.0
    timings: dict[str, list[float]] = field(default_factory=dict)
    skipped: str = ""

    def figures(self) -> list[Figure]:
        if self.skipped:
            return [Figure("console pages", "—", "", "SKIP")]
        out = [
            Figure(
                f"console: seeding {self.enterprises:,} enterprises on PostgreSQL",
                f"{self.seconds_seeding:.0f} s",
            ),
            Figure(
                "console: dashboard facts of every filing at start (background)",
                f"{self.warm_seconds:.1f} s",
            ),
        ]
        for page, values in self.timings.items():
            p95 = percentile(sorted(values), 95)
            out.append(
                judged(f"console: {page} p95 ({len(values)} requests)", p95, ".0f", TARGET_MS)
            )
        return out


def _code(n: int) -> str:
    base = f"91650100{n:08d}X"
    return base + uscc.calc_check_digit(base)


def _scripted_changes(app: App) -> tuple[list[Change], list[Change]]:
    """The scripted filing's answers beyond the roster's (with its files stored): all of them,
    and about half (a draft in progress)."""
    _form, scripted = completed_filing()
    for step in filing_script():
        if isinstance(step, Upload):
            app.service.files.put(step.data, step.name)
    adds: list[Change] = [AddRecord(g, r) for g, ids in scripted.records.items() for r in ids]
    sets: list[Change] = [
        SetAnswer(key, answer.value, None)
        for key, answer in scripted.answers.items()
        if not key.field.startswith("enterprise.")
    ]
    return [*adds, *sets], [*adds, *sets[: len(sets) // 2]]


def bench_name(n: int) -> str:
    return f"新疆测试{n:04d}信息技术有限公司"


def seed(app: App, count: int, name: Callable[[int], str] = bench_name) -> None:
    """Enterprises through the roster import; two template filings (complete, half done)
    written through the repository, then copied row by row in SQL to every filing that
    needs them (writing 2,000 filings answer by answer would take minutes)."""
    year = app.form.cycle.year
    full, half = _scripted_changes(app)
    refs = [c.value for c in full if isinstance(c, SetAnswer) and isinstance(c.value, FileRef)]
    kinds = [kind for kind, share in MIX for _ in range(share)]
    with app.db.session() as session:
        for ref in refs:
            AttachmentRepository(session).record(ref, NOW)
    templates: dict[str, int] = {}
    snapshot: dict[str, object] = {}
    for n in range(count):
        kind = kinds[n % len(kinds)]
        # Decisions spread over the last 30 days, submissions a day or two before them.
        decided = NOW - timedelta(days=n % 30, hours=n % 7)
        submitted = decided - timedelta(hours=20 + n % 40)
        entry = RosterEntry(n + 2, name(n), _code(n), GRADES[n % 4], f"XJ-{n:05d}", 2025)
        with app.db.session() as session:
            enterprises = EnterpriseRepository(session)
            enterprise_id, _ = enterprises.upsert_from_roster(
                entry, year, submitted - timedelta(days=30)
            )
            filing_id = enterprises.filing_for(enterprise_id, year, submitted)
            if kind == "unbound":
                continue
            by = f"telegram:{100000 + n}"
            MemberRepository(session).bind(
                "telegram",
                by.split(":")[1],
                enterprise_id,
                "invite",
                submitted - timedelta(days=20),
            )
            if kind == "not_started":
                continue
            part = "half" if kind == "draft" else "full"
            if part not in templates:
                changes = half if kind == "draft" else full
                FilingRepository(session).apply(filing_id, changes, actor="bench", now=submitted)
                templates[part] = filing_id
                if part == "full":
                    snapshot = snapshot_of(load_filing(session, filing_id))
            else:
                _copy(session, templates[part], filing_id)
            if kind == "draft":
                continue
            workflow = WorkflowRepository(session)
            workflow.submit(filing_id, snapshot, by, "telegram", submitted)
            reviewer = "telegram:777"
            if kind == "rejected":
                workflow.transition(
                    filing_id,
                    "rejected",
                    reviewer,
                    "telegram",
                    decided,
                    reason="项目金额不符",
                    sections=["projects"],
                )
            elif kind in ("approved", "complete"):
                workflow.transition(filing_id, "approved", reviewer, "telegram", decided)
                if kind == "complete":
                    workflow.transition(
                        filing_id, "complete", by, "telegram", decided + timedelta(days=2)
                    )


def _copy(session: Session, source: int, target: int) -> None:
    """The template filing's typed answers and records, as another filing's."""
    session.execute(
        text(
            "INSERT INTO records (filing_id, grp, record, position, created_at) "
            "SELECT :target, grp, record, position, created_at FROM records "
            "WHERE filing_id = :source"
        ),
        {"source": source, "target": target},
    )
    session.execute(
        text(
            "INSERT INTO answers (filing_id, field, record, year, vtype, value_num, value_text,"
            " source, revision, updated_at, updated_by) "
            "SELECT :target, field, record, year, vtype, value_num, value_text, source,"
            " revision, updated_at, updated_by FROM answers "
            "WHERE filing_id = :source AND source = 'user'"
        ),
        {"source": source, "target": target},
    )
    session.execute(
        text("UPDATE filings SET revision = revision + 1 WHERE id = :target"), {"target": target}
    )


class Served:
    """The console on the product's web server, on an event loop of its own thread."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.web = WebServer("127.0.0.1", 0, 30 * 1024 * 1024)

    def __enter__(self) -> str:
        self.thread.start()
        self.console = add_console(self.app, self.web, [])

        async def start() -> int:
            return await self.web.start()

        port = asyncio.run_coroutine_threadsafe(start(), self.loop).result(30)
        console_started(self.console, port)
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *_exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.web.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)


def _sign_in(app: App, origin: str) -> dict[str, str]:
    with app.db.session() as session:
        token = ConsoleAuth(session).issue_link(*REVIEWER, NOW, timedelta(minutes=10))
    answer = httpx.post(f"{origin}/console/login/{token}", follow_redirects=False)
    cookie = answer.headers["set-cookie"].split(";", 1)[0]
    return {"Cookie": cookie}


def _timed(client: httpx.Client, url: str, headers: dict[str, str]) -> float:
    started = time.perf_counter()
    answer = client.get(url, headers=headers)
    elapsed = (time.perf_counter() - started) * 1000
    if answer.status_code != 200:
        raise RuntimeError(f"{url}: HTTP {answer.status_code}")
    return elapsed


def measure(app: App, rounds: int, result: Result) -> None:
    with app.db.session() as session:
        item = WorkflowRepository(session).queue()[0]
        opened_files = len(
            [
                a
                for a in load_filing(session, item.filing_id).answers.values()
                if isinstance(a.value, FileRef)
            ]
        )
    # What a start costs once: every filing's progress and indicator verdicts, worked out in
    # the background by console_started (here in the foreground, to time it).
    started = time.perf_counter()
    Console(app).warm()
    result.warm_seconds = time.perf_counter() - started
    with Served(app) as origin, httpx.Client(timeout=60) as client:
        headers = _sign_in(app, origin)
        time.sleep(0.5)
        while any(t.name == "console-warm" for t in threading.enumerate()):
            time.sleep(0.1)
        pages = {
            "dashboard": f"{origin}/console/",
            "queue (first page of 50, waiting longest first)": f"{origin}/console/queue",
            f"filing page, {opened_files} attachments": f"{origin}/console/filing/{item.filing_id}",
        }
        for url in pages.values():
            _timed(client, url, headers)  # warm: templates compiled, connections pooled
        for label, url in pages.items():
            result.timings[label] = [_timed(client, url, headers) for _ in range(rounds)]


def run(
    pg_url: str = DEFAULT_PG, enterprises: int = 2000, rounds: int = 40, keep: bool = False
) -> Result:
    result = Result(enterprises)
    admin = pg_url.replace("postgresql+psycopg://", "postgresql://")
    try:
        connection = psycopg.connect(admin, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        result.skipped = str(error)
        return result
    name = f"{make_url(admin).database}_console_bench"
    with connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
        fresh = not (keep and exists)
        if fresh:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    try:
        with TemporaryDirectory() as files:
            upgrade(url)
            settings = Settings(
                database_url=url,
                attachments_dir=Path(files),
                reviewers="telegram:777",
                trial_channels="console",
                telegram_bot_username="nianjian_bench_bot",
            )
            app = bootstrap(settings, _Clock())
            try:
                started = time.perf_counter()
                if fresh:
                    seed(app, enterprises)
                    with app.db.session() as session:
                        # What autovacuum does after a bulk load: statistics for the planner.
                        session.execute(text("ANALYZE"))
                result.seconds_seeding = time.perf_counter() - started
                measure(app, rounds, result)
            finally:
                app.db.dispose()
    finally:
        if not keep:
            with psycopg.connect(admin, autocommit=True) as connection:
                connection.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
    return result


class _Clock:
    def now(self) -> datetime:
        return NOW


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default=os.environ.get("NIANJIAN_TEST_PG_URL", DEFAULT_PG))
    parser.add_argument("--enterprises", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument(
        "--keep", action="store_true", help="keep the seeded database and reuse it next time"
    )
    args = parser.parse_args(argv)
    result = run(args.pg, args.enterprises, args.rounds, args.keep)
    print(table(result.figures()))
    if result.skipped:
        print(f"skipped: {result.skipped}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
