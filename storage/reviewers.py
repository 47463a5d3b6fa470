"""Reviewers: those named in the settings plus those added in chat."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from storage.models import ReviewerRow
from storage.prepared import Prepared
from storage.repository import _rowcount, table_of, upsert_into

_REVIEWERS = table_of(ReviewerRow)


_IS_REVIEWER = Prepared(
    select(ReviewerRow.chat_id).where(
        ReviewerRow.channel == bindparam("channel"), ReviewerRow.chat_id == bindparam("chat_id")
    )
)


class ReviewerRepository:
    """Reviewers named in the settings (`configured`) plus those added at run time."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, channel: str, chat_id: str, added_by: str, now: datetime) -> bool:
        """False when the chat was already a stored reviewer."""
        statement = (
            upsert_into(self._session, _REVIEWERS)
            .values(channel=channel, chat_id=chat_id, added_by=added_by, added_at=now)
            .on_conflict_do_nothing(index_elements=["channel", "chat_id"])
        )
        return _rowcount(self._session, statement) == 1

    def remove(self, channel: str, chat_id: str) -> bool:
        """Removes a stored reviewer; configured reviewers stay reviewers regardless."""
        statement = _REVIEWERS.delete().where(
            _REVIEWERS.c.channel == channel, _REVIEWERS.c.chat_id == chat_id
        )
        return _rowcount(self._session, statement) == 1

    def is_reviewer(
        self, channel: str, chat_id: str, configured: Collection[tuple[str, str]]
    ) -> bool:
        if (channel, chat_id) in configured:
            return True
        return _IS_REVIEWER.one(self._session, channel=channel, chat_id=chat_id) is not None

    def all(self, configured: Collection[tuple[str, str]]) -> list[tuple[str, str]]:
        stored = self._session.execute(select(ReviewerRow.channel, ReviewerRow.chat_id))
        return sorted({(c, i) for c, i in configured} | {(c, i) for c, i in stored})
