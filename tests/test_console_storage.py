"""The console's storage on SQLite and PostgreSQL: sign-in links used once, sessions that
expire and end, and filings loaded in batches exactly as one by one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from storage.console import ConsoleAuth, token_hash
from storage.db import Database
from storage.models import ConsoleLinkRow, ConsoleSessionRow
from storage.repository import FilingRepository
from tests.fakes import fill_like_the_script

NOW = datetime(2025, 12, 1, 2, tzinfo=UTC)


def test_links_and_sessions(database: Database) -> None:
    with database.session() as session:
        auth = ConsoleAuth(session)
        link = auth.issue_link("telegram", "777", NOW, timedelta(minutes=10))
        late = auth.issue_link("telegram", "777", NOW, timedelta(minutes=10))
        stored = session.scalars(select(ConsoleLinkRow.token_hash)).all()
        assert link not in stored and token_hash(link) in stored
    with database.session() as session:
        auth = ConsoleAuth(session)
        assert auth.use_link(link, NOW + timedelta(minutes=9)) == ("telegram", "777")
        assert auth.use_link(link, NOW + timedelta(minutes=9)) == "used"
        assert auth.use_link(late, NOW + timedelta(minutes=10)) == "expired"
        assert auth.use_link("forged", NOW) == "unknown"
        cookie, signed = auth.open_session("telegram", "777", NOW, timedelta(hours=12))
        other, _ = auth.open_session("telegram", "777", NOW, timedelta(hours=12))
        assert signed.reviewer == "telegram:777" and len(signed.csrf) >= 40
        assert session.scalars(select(ConsoleSessionRow.token_hash)).all().count(cookie) == 0
    with database.session() as session:
        auth = ConsoleAuth(session)
        assert auth.session(cookie, NOW + timedelta(hours=11)) == signed
        assert auth.session(cookie, NOW + timedelta(hours=12)) is None  # expired
        assert auth.end(cookie, NOW)
        assert auth.session(cookie, NOW) is None and not auth.end(cookie, NOW)
        assert auth.end_all_of("telegram", "777", NOW) == 1  # the other one
        assert auth.session(other, NOW) is None


def test_filings_load_in_batches_as_one_by_one(database: Database) -> None:
    with database.session() as session:
        filings = FilingRepository(session)
        ids = [filings.create(2025, NOW) for _ in range(3)]
    fill_like_the_script(database, ids[0], NOW)
    fill_like_the_script(database, ids[2], NOW, leave=lambda key: key.field.startswith("project"))
    with database.session() as session:
        filings = FilingRepository(session)
        batch = filings.load_many([*ids, ids[0], 999_999])
        assert sorted(batch) == ids
        for filing_id in ids:
            one = filings.load(filing_id)
            assert batch[filing_id].answers == one.answers
            assert batch[filing_id].records == one.records
            assert batch[filing_id].year == one.year
        assert filings.load_many([]) == {}
