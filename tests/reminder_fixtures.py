"""Many enterprises at once for the reminder tests and benchmark: bulk rows as the workflow
would have left them (a filing submitted, approved, completed), a bound chat each, and a
dispatcher process (`python -m tests.reminder_fixtures URL NOW START`) that waits for a
common start time, so several run their dispatch truly at once."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import insert

from storage.db import Database
from storage.models import EnterpriseRow, FilingRow, MemberRow, TransitionRow

_MOVES = {
    "submitted": ("submitted",),
    "approved": ("submitted", "approved"),
    "complete": ("submitted", "approved", "complete"),
}


def seed(
    db: Database,
    count: int,
    *,
    now: datetime,
    status: str = "complete",
    channel: str = "telegram",
    first_chat: int = 1_000_000,
    year: int = 2025,
) -> list[str]:
    """`count` active enterprises, each with a filing of `year` in `status` (its transitions
    an hour apart, ending at `now`) and one bound chat; returns the chat ids."""
    chats = [str(first_chat + i) for i in range(count)]
    with db.session() as session:
        ids = list(
            session.scalars(
                insert(EnterpriseRow).returning(EnterpriseRow.id, sort_by_parameter_order=True),
                [
                    {
                        "credit_code": f"BULK{first_chat + n:014d}",
                        "name": f"测试信息技术有限公司{first_chat + n}",
                        "grade": "丙",
                        "cert_number": f"XJSI-{n}",
                        "first_year": 2019,
                        "status": "active",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for n in range(count)
                ],
            )
        )
        filings = list(
            session.scalars(
                insert(FilingRow).returning(FilingRow.id, sort_by_parameter_order=True),
                [
                    {
                        "year": year,
                        "status": status,
                        "created_at": now,
                        "updated_at": now,
                        "enterprise_id": i,
                        "version": 0 if status == "draft" else 1,
                    }
                    for i in ids
                ],
            )
        )
        moves = _MOVES.get(status, ())
        if moves:
            session.execute(
                insert(TransitionRow),
                [
                    {
                        "filing_id": f,
                        "version": 1,
                        "from_status": "draft" if n == 0 else moves[n - 1],
                        "to_status": move,
                        "actor": "test",
                        "channel": "test",
                        "at": now - timedelta(hours=len(moves) - 1 - n),
                    }
                    for f in filings
                    for n, move in enumerate(moves)
                ],
            )
        session.execute(
            insert(MemberRow),
            [
                {
                    "channel": channel,
                    "chat_id": chat,
                    "enterprise_id": i,
                    "full_name": "联系人",
                    "mobile": "13800138000",
                    "via": "invite",
                    "bound_at": now,
                }
                for i, chat in zip(ids, chats, strict=True)
            ],
        )
    return chats


def worker(argv: Sequence[str]) -> int:
    """A dispatcher process: bootstraps the app as `nianjian run` does (the shipped schedule,
    the clock frozen at NOW), waits for the common START (a time.time() value), dispatches
    once, prints its report as JSON. Arguments: DATABASE_URL NOW START."""
    from bot.app import bootstrap
    from bot.settings import Settings
    from tests.fakes import FrozenClock

    url, now, start = argv[0], datetime.fromisoformat(argv[1]), float(argv[2])
    app = bootstrap(Settings(database_url=url), FrozenClock(now))
    runner = app.reminder_runner()
    runner.batch = 50
    time.sleep(max(0.0, start - time.time()))
    report = runner.dispatch()
    app.db.dispose()
    print(json.dumps({"sent": report.sent, "messages": report.messages, "worker": runner.worker}))
    return 0


if __name__ == "__main__":
    sys.exit(worker(sys.argv[1:]))
