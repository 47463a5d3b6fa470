"""Several dispatchers on one PostgreSQL database: two OS processes dispatch 2,000 due
reminders at the same moment (rows claimed with SELECT ... FOR UPDATE SKIP LOCKED); each
reminder is recorded once and queued once. Plus the claim itself, on both backends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from storage.db import Database
from storage.migrate import upgrade
from storage.models import OutboxRow, ReminderRow
from storage.reminders import PENDING, SENT, NewReminder, ReminderRepository
from tests.reminder_fixtures import seed

COUNT = 2000
ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.postgres
def test_two_dispatcher_processes_send_each_reminder_once(pg_url: str) -> None:
    upgrade(pg_url)
    db = Database.from_url(pg_url)
    # Results day of the shipped schedule, an hour after the 09:00 announcement.
    now = datetime(2026, 3, 15, 2, tzinfo=UTC)
    try:
        chats = seed(db, COUNT, now=now - timedelta(days=30), status="complete")
        start = time.time() + 4.0  # both processes are up and connected by then
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        command = [sys.executable, "-m", "tests.reminder_fixtures", pg_url, now.isoformat()]
        workers = [
            subprocess.Popen(
                [*command, str(start)], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
            )
            for _ in range(2)
        ]
        reports = []
        for worker in workers:
            out, _ = worker.communicate(timeout=240)
            assert worker.returncode == 0
            reports.append(json.loads(out.strip().splitlines()[-1]))
        with db.session() as session:
            per_chat = Counter(
                session.scalars(select(OutboxRow.chat_id).where(OutboxRow.channel == "telegram"))
            )
            statuses = Counter(session.scalars(select(ReminderRow.status)))
            by_worker = Counter(session.scalars(select(ReminderRow.note)))
    finally:
        db.dispose()
    # Each of the 2,000 contacts got exactly one message; each reminder was sent once.
    assert sorted(per_chat) == sorted(chats)
    assert set(per_chat.values()) == {1}
    assert statuses == {SENT: COUNT}
    assert sum(r["sent"] for r in reports) == COUNT
    assert sum(r["messages"] for r in reports) == COUNT
    # Both processes took part (the split is whatever SKIP LOCKED gave each).
    assert {r["worker"] for r in reports} == set(by_worker)
    assert all(r["sent"] > 0 for r in reports), reports


def test_claims_skip_rows_another_transaction_holds(database: Database) -> None:
    now = datetime(2026, 3, 15, 1, tzinfo=UTC)
    items = [NewReminder(i, "results", "2025", now) for i in range(1, 11)]
    with database.session() as session:
        repo = ReminderRepository(session)
        assert repo.record(2025, items, now) == 10
        assert repo.record(2025, items, now) == 0  # the unique key: recorded once, ever
    if database.dialect == "postgresql":
        with database.session() as first, database.session() as second:
            mine = ReminderRepository(first).claim(now, 4)
            theirs = ReminderRepository(second).claim(now, 100)
            assert len(mine) == 4 and len(theirs) == 6
            assert not {r.id for r in mine} & {r.id for r in theirs}
    with database.session() as session:
        repo = ReminderRepository(session)
        claimed = repo.claim(now, 100)
        assert [r.enterprise_id for r in claimed] == list(range(1, 11))
        assert repo.finish(claimed[0].id, SENT, now, [{"channel": "tg", "chat_id": "1"}])
        # A second finish of the same row fails: the caller rolls back its messages.
        assert not repo.finish(claimed[0].id, SENT, now)
        assert repo.claim(now - timedelta(seconds=1), 100) == []  # not due yet
    with database.session() as session:
        pending = session.scalar(
            select(func.count()).select_from(ReminderRow).where(ReminderRow.status == PENDING)
        )
        (sent,) = ReminderRepository(session).of_enterprise(2025, 1)
    assert pending == 9
    assert sent.recipients == ({"channel": "tg", "chat_id": "1"},) and sent.sent_at == now
