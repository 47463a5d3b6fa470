"""A filing's way through review: its status, the versions frozen at submission (as
snapshots) and every transition (who, when, why).

Like every repository they take a `Session` and never commit, and return plain dataclasses.
Moving a filing between statuses is a single UPDATE whose WHERE clause re-checks the guard, so
of two concurrent attempts exactly one matches a row.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from dialogs.model import Answer, Filing, Key, decode_value, encode_value
from storage.models import EnterpriseRow, FilingRow, FilingVersionRow, TransitionRow
from storage.repository import FilingNotFound, _rowcount, table_of
from storage.statuses import SUBMITTED

_FILINGS = table_of(FilingRow)
_VERSIONS = table_of(FilingVersionRow)
_TRANSITIONS = table_of(TransitionRow)


class StatusConflict(Exception):
    """The filing is not in a status the change may start from (or changed meanwhile)."""

    def __init__(self, filing_id: int, status: str) -> None:
        super().__init__(f"filing {filing_id} is {status}")
        self.filing_id = filing_id
        self.status = status


@dataclass(frozen=True, slots=True)
class Transition:
    id: int
    filing_id: int
    version: int
    from_status: str
    to_status: str
    actor: str
    channel: str
    reason: str | None
    sections: tuple[str, ...] | None
    at: datetime


@dataclass(frozen=True, slots=True)
class QueueItem:
    filing_id: int
    year: int
    status: str
    version: int
    # Filings from before accounts existed have no enterprise: None and "" then.
    enterprise_id: int | None
    enterprise_name: str
    credit_code: str
    grade: str
    submitted_at: datetime  # the last move into "submitted" (else the last change)


class WorkflowRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def status(self, filing_id: int) -> tuple[str, int]:
        """(status, number of the last submitted version; 0 = never submitted)."""
        row = self._session.execute(
            select(FilingRow.status, FilingRow.version).where(FilingRow.id == filing_id)
        ).one_or_none()
        if row is None:
            raise FilingNotFound(filing_id)
        return row[0], row[1]

    def submit(
        self,
        filing_id: int,
        snapshot: Mapping[str, Any],
        by: str,
        channel: str,
        now: datetime,
        *,
        expect_from: Collection[str] | None = None,
    ) -> int:
        """Freezes `snapshot` (see `snapshot_of`) as the next version, moves the filing to
        "submitted" and records the transition; returns the new version number.

        Raises StatusConflict when the filing's status is not in `expect_from` (if given), or
        when a concurrent submission or transition got there first."""
        current, version = self._lock(filing_id)
        if expect_from is not None and current not in expect_from:
            raise StatusConflict(filing_id, current)
        new_version = version + 1
        moved = (
            update(_FILINGS)
            .where(
                _FILINGS.c.id == filing_id,
                _FILINGS.c.status == current,
                _FILINGS.c.version == version,
            )
            .values(
                status=SUBMITTED,
                version=new_version,
                updated_at=now,
                revision=_FILINGS.c.revision + 1,
            )
        )
        if _rowcount(self._session, moved) != 1:
            raise StatusConflict(filing_id, self.status(filing_id)[0])
        self._session.execute(
            _VERSIONS.insert().values(
                filing_id=filing_id,
                version=new_version,
                snapshot=json.dumps(dict(snapshot), ensure_ascii=False, sort_keys=True),
                submitted_at=now,
                submitted_by=by,
            )
        )
        self._record(
            filing_id, new_version, (current, SUBMITTED), actor=by, channel=channel, at=now
        )
        return new_version

    def transition(
        self,
        filing_id: int,
        to_status: str,
        actor: str,
        channel: str,
        now: datetime,
        *,
        reason: str | None = None,
        sections: Sequence[str] | None = None,
        expect_from: Collection[str] | None = None,
    ) -> bool:
        """Moves the filing to `to_status` and records who, when, why and which sections.

        False (and nothing written) when its status is not in `expect_from`, or when it
        changed between reading and writing (another reviewer decided first)."""
        current, version = self._lock(filing_id)
        if expect_from is not None and current not in expect_from:
            return False
        moved = (
            update(_FILINGS)
            .where(
                _FILINGS.c.id == filing_id,
                _FILINGS.c.status == current,
                _FILINGS.c.version == version,
            )
            .values(status=to_status, updated_at=now, revision=_FILINGS.c.revision + 1)
        )
        if _rowcount(self._session, moved) != 1:
            return False
        self._record(
            filing_id,
            version,
            (current, to_status),
            actor=actor,
            channel=channel,
            at=now,
            reason=reason,
            sections=sections,
        )
        return True

    def history(self, filing_id: int) -> list[Transition]:
        rows = self._session.execute(
            select(
                TransitionRow.id,
                TransitionRow.filing_id,
                TransitionRow.version,
                TransitionRow.from_status,
                TransitionRow.to_status,
                TransitionRow.actor,
                TransitionRow.channel,
                TransitionRow.reason,
                TransitionRow.sections,
                TransitionRow.at,
            )
            .where(TransitionRow.filing_id == filing_id)
            .order_by(TransitionRow.at, TransitionRow.id)
        )
        history = []
        for row in rows:
            values = list(row)
            values[8] = None if row.sections is None else tuple(json.loads(row.sections))
            history.append(Transition(*values))
        return history

    def version_snapshot(self, filing_id: int, version: int) -> dict[str, Any] | None:
        raw = self._session.scalar(
            select(FilingVersionRow.snapshot).where(
                FilingVersionRow.filing_id == filing_id, FilingVersionRow.version == version
            )
        )
        if raw is None:
            return None
        data: dict[str, Any] = json.loads(raw)
        return data

    def queue(self, statuses: Collection[str] = (SUBMITTED,)) -> list[QueueItem]:
        """Filings in `statuses`, the longest waiting first."""
        last_submitted = (
            select(TransitionRow.filing_id, func.max(TransitionRow.at).label("at"))
            .where(TransitionRow.to_status == SUBMITTED)
            .group_by(TransitionRow.filing_id)
            .subquery()
        )
        submitted_at = func.coalesce(last_submitted.c.at, FilingRow.updated_at)
        rows = self._session.execute(
            select(
                FilingRow.id,
                FilingRow.year,
                FilingRow.status,
                FilingRow.version,
                FilingRow.enterprise_id,
                EnterpriseRow.name,
                EnterpriseRow.credit_code,
                EnterpriseRow.grade,
                last_submitted.c.at,
                FilingRow.updated_at,
            )
            .select_from(FilingRow)
            .outerjoin(EnterpriseRow, EnterpriseRow.id == FilingRow.enterprise_id)
            .outerjoin(last_submitted, last_submitted.c.filing_id == FilingRow.id)
            .where(FilingRow.status.in_(list(statuses)))
            .order_by(submitted_at, FilingRow.id)
        )
        return [
            QueueItem(
                filing_id=row[0],
                year=row[1],
                status=row[2],
                version=row[3],
                enterprise_id=row[4],
                enterprise_name=row[5] or "",
                credit_code=row[6] or "",
                grade=row[7] or "",
                submitted_at=row[8] if row[8] is not None else row[9],
            )
            for row in rows
        ]

    # --- internals ---

    def _lock(self, filing_id: int) -> tuple[str, int]:
        """The filing's status and version, read under its row lock: on PostgreSQL concurrent
        changes of one filing queue here. SQLite ignores FOR UPDATE; there the guarded UPDATE
        after it catches the race."""
        row = self._session.execute(
            select(FilingRow.status, FilingRow.version)
            .where(FilingRow.id == filing_id)
            .with_for_update()
        ).one_or_none()
        if row is None:
            raise FilingNotFound(filing_id)
        return row[0], row[1]

    def _record(
        self,
        filing_id: int,
        version: int,
        move: tuple[str, str],
        *,
        actor: str,
        channel: str,
        at: datetime,
        reason: str | None = None,
        sections: Iterable[str] | None = None,
    ) -> None:
        self._session.execute(
            _TRANSITIONS.insert().values(
                filing_id=filing_id,
                version=version,
                from_status=move[0],
                to_status=move[1],
                actor=actor,
                channel=channel,
                reason=reason,
                sections=None if sections is None else json.dumps(list(sections)),
                at=at,
            )
        )


# --- snapshots ------------------------------------------------------------------------------

SNAPSHOT_FORMAT = 1


def snapshot_of(filing: Filing) -> dict[str, Any]:
    """The filing's answers and records as JSON-ready data, exact for every value type:
    numbers travel as strings so a Decimal comes back as the same Decimal."""
    answers = []
    for key in sorted(filing.answers):
        vtype, num, text = encode_value(filing.answers[key].value)
        answers.append(
            [key.field, key.record, key.year, vtype.value, None if num is None else str(num), text]
        )
    records = {group: list(ids) for group, ids in sorted(filing.records.items())}
    return {"format": SNAPSHOT_FORMAT, "answers": answers, "records": records}


def filing_from_snapshot(
    data: Mapping[str, Any], filing_id: int, year: int, *, status: str = SUBMITTED
) -> Filing:
    """The filing as it was submitted. Answer sources and revisions are not part of a
    snapshot: every answer comes back as revision 1 from the user."""
    if data.get("format") != SNAPSHOT_FORMAT:
        raise ValueError(f"unknown snapshot format {data.get('format')!r}")
    answers: dict[Key, Answer] = {}
    for field, record, answer_year, vtype, num, text in data["answers"]:
        number = None if num is None else Decimal(num)
        answers[Key(field, record, answer_year)] = Answer(decode_value(vtype, number, text))
    records = {group: tuple(ids) for group, ids in data["records"].items()}
    return Filing(
        id=filing_id,
        year=year,
        status=status,
        answers=MappingProxyType(answers),
        records=MappingProxyType(records),
    )
