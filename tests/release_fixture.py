"""A database as the previous release left it: its rows as JSON (tests/data/), loaded into a
database migrated to that release's head (or an older revision: columns it does not have yet
are left out), so the upgrade test starts from what real installations hold.

Regenerate (only when a release is cut, with that release's code):
`python -m tests.release_fixture tests/data/release-0.1.0.json`
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, MetaData, Numeric, insert, select, text

from storage.db import Database

# The release whose database the fixture holds, and its migration head.
PREVIOUS_RELEASE = "0.1.0"
PREVIOUS_RELEASE_HEAD = "0006"
FIXTURE = Path(__file__).parent / "data" / f"release-{PREVIOUS_RELEASE}.json"
SKIP = {"alembic_version"}

Rows = dict[str, list[dict[str, Any]]]


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        # SQLite hands back naive UTC times (the reflected type is not UTCDateTime).
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    return value


def dump(db: Database) -> Rows:
    """Every row of every table, in primary-key order, JSON-ready."""
    meta = MetaData()
    meta.reflect(db.engine)
    out: Rows = {}
    with db.session() as session:
        for table in meta.sorted_tables:
            if table.name in SKIP:
                continue
            rows = session.execute(select(table).order_by(*table.primary_key.columns)).mappings()
            out[table.name] = [{k: _encode(v) for k, v in row.items()} for row in rows]
    return out


def _time_decoder(dialect: str) -> Callable[[str], datetime]:
    def decode(value: str) -> datetime:
        moment = datetime.fromisoformat(value)
        return moment.astimezone(UTC).replace(tzinfo=None) if dialect == "sqlite" else moment

    return decode


def load(db: Database, rows: Rows) -> None:
    """Inserts the rows into the tables and columns this database has (its revision's)."""
    meta = MetaData()
    meta.reflect(db.engine)
    with db.session() as session:
        for table in meta.sorted_tables:
            items = rows.get(table.name)
            if not items:
                continue
            decoders: dict[str, Callable[[Any], Any]] = {}
            for column in table.columns:
                if isinstance(column.type, DateTime):
                    decoders[column.name] = _time_decoder(db.dialect)
                elif isinstance(column.type, Numeric):
                    decoders[column.name] = Decimal
            values = [
                {
                    k: (decoders[k](v) if v is not None and k in decoders else v)
                    for k, v in item.items()
                    if k in table.columns
                }
                for item in items
            ]
            session.execute(insert(table), values)
            if db.dialect == "postgresql" and "id" in table.columns:
                # Explicit ids leave the sequence behind; the next insert would collide.
                session.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                        f"(SELECT max(id) FROM {table.name}))"
                    )
                )


def _build(url: str, files: Path) -> Rows:
    from bot.admin import import_roster, issue_invite
    from bot.app import bootstrap
    from bot.settings import Settings
    from dialogs.replies import Start, TextIn
    from storage.migrate import upgrade
    from tests import filing_script as script
    from tests.fakes import ENTERPRISE_A, FrozenClock, fill_like_the_script, play, write_roster

    upgrade(url, PREVIOUS_RELEASE_HEAD)
    settings = Settings(
        database_url=url, attachments_dir=files, reviewers="tg:wang", trial_channels="test"
    )
    app = bootstrap(settings, FrozenClock())
    import_roster(app, write_roster(files.parent / "roster.xlsx", [ENTERPRISE_A]))
    invite, _ = issue_invite(app, "91110108551385082Q")
    turn = app.service.handle("tg", "alice", Start(invite[0].split("：")[1][:8]), queue=True)
    assert turn.filing_id is not None
    fill_like_the_script(app.db, turn.filing_id, app.service.clock.now())
    for words in ("提交", "确认提交"):
        app.service.handle("tg", "alice", TextIn(words), queue=True)
    app.service.handle("test", "bob", Start())
    for step in script.filing_script():
        play(app.service, "bob", step)
    rows = dump(app.db)
    app.db.dispose()
    return rows


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as scratch:
        built = _build(f"sqlite:///{scratch}/release.db", Path(scratch) / "files")
    Path(sys.argv[1]).write_text(
        json.dumps(built, ensure_ascii=False, indent=0, sort_keys=True) + "\n", encoding="utf-8"
    )
