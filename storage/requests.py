"""Requests awaiting a reviewer: binding a chat to an enterprise, registering a new one.

Like every repository they take a `Session` and never commit, and return plain dataclasses.
Deciding a request is a single UPDATE whose WHERE clause re-checks the guard, so of two
concurrent attempts exactly one matches a row.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from storage.models import RequestRow
from storage.repository import _rowcount, table_of
from storage.statuses import APPROVED, PENDING, REJECTED

_REQUESTS = table_of(RequestRow)

REQUEST_KINDS = ("binding", "registration")


@dataclass(frozen=True, slots=True)
class Request:
    id: int
    kind: str
    channel: str
    chat_id: str
    enterprise_id: int | None
    payload: dict[str, Any]
    status: str
    created_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    reason: str | None


_REQUEST_COLUMNS = (
    RequestRow.id,
    RequestRow.kind,
    RequestRow.channel,
    RequestRow.chat_id,
    RequestRow.enterprise_id,
    RequestRow.payload,
    RequestRow.status,
    RequestRow.created_at,
    RequestRow.decided_at,
    RequestRow.decided_by,
    RequestRow.reason,
)


def _request(row: Sequence[Any]) -> Request:
    values = list(row)
    values[5] = json.loads(values[5])
    return Request(*values)


class RequestRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def open(
        self,
        kind: str,
        channel: str,
        chat_id: str,
        payload: Mapping[str, Any],
        now: datetime,
        *,
        enterprise_id: int | None = None,
    ) -> int:
        if kind not in REQUEST_KINDS:
            raise ValueError(f"unknown request kind {kind!r}")
        statement = (
            _REQUESTS.insert()
            .values(
                kind=kind,
                channel=channel,
                chat_id=chat_id,
                enterprise_id=enterprise_id,
                payload=json.dumps(dict(payload), ensure_ascii=False, sort_keys=True),
                status=PENDING,
                created_at=now,
            )
            .returning(_REQUESTS.c.id)
        )
        return int(self._session.execute(statement).scalar_one())

    def get(self, request_id: int) -> Request | None:
        row = self._session.execute(
            select(*_REQUEST_COLUMNS).where(RequestRow.id == request_id)
        ).one_or_none()
        return None if row is None else _request(row)

    def pending(self, kind: str | None = None) -> list[Request]:
        """Requests awaiting a decision, oldest first."""
        where = [RequestRow.status == PENDING]
        if kind is not None:
            where.append(RequestRow.kind == kind)
        return self._list(*where)

    def pending_for(self, channel: str, chat_id: str) -> list[Request]:
        """The chat's requests awaiting a decision, oldest first."""
        return self._list(
            RequestRow.status == PENDING,
            RequestRow.channel == channel,
            RequestRow.chat_id == chat_id,
        )

    def decide(
        self, request_id: int, status: str, by: str, now: datetime, reason: str | None = None
    ) -> bool:
        """Approves or rejects a pending request; False when it is not pending (any more),
        e.g. when another reviewer decided first."""
        if status not in (APPROVED, REJECTED):
            raise ValueError(f"a request is approved or rejected, not {status!r}")
        statement = (
            update(_REQUESTS)
            .where(_REQUESTS.c.id == request_id, _REQUESTS.c.status == PENDING)
            .values(status=status, decided_at=now, decided_by=by, reason=reason)
        )
        return _rowcount(self._session, statement) == 1

    def _list(self, *where: ColumnElement[bool]) -> list[Request]:
        rows = self._session.execute(
            select(*_REQUEST_COLUMNS).where(*where).order_by(RequestRow.created_at, RequestRow.id)
        )
        return [_request(row) for row in rows]
