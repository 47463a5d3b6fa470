"""Repositories: translate between `dialogs.model` values and rows.

They take a `Session` and never commit: the caller owns the unit of work (`Database.session()`),
so a batch of changes is written completely or, when any of it is refused, not at all.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from sqlalchemy import (
    CursorResult,
    Executable,
    Table,
    delete,
    func,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from dialogs.model import (
    AddRecord,
    Answer,
    Change,
    ClearAnswer,
    DeleteRecord,
    FileRef,
    Filing,
    Key,
    SetAnswer,
    Source,
    Value,
    decode_value,
    encode_value,
)
from storage.models import (
    AnswerRow,
    AttachmentRow,
    Base,
    ConversationRow,
    FilingRow,
    RecordRow,
)

# SQLite stores NUMERIC as a double, exact to 15 significant digits: with two decimals that is
# below 10^13 (万元), far beyond any real enterprise, and exact on both backends.
MAX_NUMBER = Decimal(10) ** 13
_CENT = Decimal("0.01")
FIELD_MAX = 80
RECORD_MAX = 40


class StaleAnswer(Exception):
    """The stored value is not the one the user saw: someone else changed it meanwhile."""

    def __init__(self, key: Key, current: Value | None) -> None:
        super().__init__(f"{key}: stored value changed to {current!r}")
        self.key = key
        self.current = current


class ReadOnlyAnswer(Exception):
    """The answer was imported from the association's roster; contacts cannot change it."""

    def __init__(self, key: Key) -> None:
        super().__init__(f"{key}: imported from the roster, read-only")
        self.key = key


class FilingNotFound(LookupError):
    def __init__(self, filing_id: int) -> None:
        super().__init__(f"no filing {filing_id}")
        self.filing_id = filing_id


class UnstorableValue(ValueError):
    """A value the schema cannot hold exactly on every backend (a bug upstream, not user input)."""


def table_of(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


_ANSWERS = table_of(AnswerRow)
_RECORDS = table_of(RecordRow)
_CONVERSATIONS = table_of(ConversationRow)
_ATTACHMENTS = table_of(AttachmentRow)

_Insert = postgresql.Insert | sqlite.Insert


def upsert_into(session: Session, table: Table) -> _Insert:
    """INSERT with ON CONFLICT support; both supported backends speak it."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"unsupported database dialect {dialect!r}")


def _rowcount(session: Session, statement: Executable) -> int:
    # Without preserve_rowcount, drivers need not report it for INSERT (psycopg says -1).
    result = session.execute(statement, execution_options={"preserve_rowcount": True})
    assert isinstance(result, CursorResult)
    return result.rowcount


# --- filings --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Stored:
    value: Value
    source: Source
    revision: int


@dataclass(frozen=True, slots=True)
class _Put:
    key: Key
    value: Value
    expected_revision: int | None  # None: no row expected
    revision: int


@dataclass(frozen=True, slots=True)
class _Remove:
    key: Key
    expected_revision: int


_Op = _Put | _Remove | AddRecord | DeleteRecord


def _same(a: Value | None, b: Value | None) -> bool:
    # Strict about type: True == 1 and 1 == Decimal(1) in Python, but not the same answer.
    return type(a) is type(b) and a == b


def check_storable(key: Key, value: Value) -> None:
    if len(key.field) > FIELD_MAX or len(key.record) > RECORD_MAX:
        raise UnstorableValue(f"{key}: field or record id too long")
    if isinstance(value, bool):
        return
    if isinstance(value, int | Decimal):
        number = Decimal(value)
        if not number.is_finite() or abs(number) >= MAX_NUMBER:
            raise UnstorableValue(f"{key}: {value!r} out of range")
        if number != number.quantize(_CENT):
            raise UnstorableValue(f"{key}: {value!r} has more than two decimals")
    elif isinstance(value, str) and "\x00" in value:
        raise UnstorableValue(f"{key}: NUL character in text")  # PostgreSQL refuses it


def _plan(changes: Iterable[Change], stored: dict[Key, _Stored]) -> list[_Op]:
    """Checks the whole batch against the stored answers before anything is written."""
    state = dict(stored)
    ops: list[_Op] = []
    for change in changes:
        match change:
            case SetAnswer(key=key, value=value, previous=previous):
                check_storable(key, value)
                old = state.get(key)
                _check_writable(key, old, previous)
                revision = (old.revision if old else 0) + 1
                ops.append(_Put(key, value, old.revision if old else None, revision))
                state[key] = _Stored(value, Source.USER, revision)
            case ClearAnswer(key=key, previous=previous):
                old = state.get(key)
                _check_writable(key, old, previous)
                if old is not None:
                    ops.append(_Remove(key, old.revision))
                    del state[key]
            case DeleteRecord(record=record):
                _check_record(change)
                ops.append(change)
                for key in [k for k in state if k.record == record]:
                    del state[key]
            case AddRecord():
                _check_record(change)
                ops.append(change)
    return ops


def _check_record(change: AddRecord | DeleteRecord) -> None:
    # "" is the record of every top-level answer: deleting it would wipe them all.
    if not change.record or len(change.record) > RECORD_MAX or len(change.group) > RECORD_MAX:
        raise UnstorableValue(f"{change}: empty or too long group or record id")


def _check_writable(key: Key, old: _Stored | None, previous: Value | None) -> None:
    if old is not None and old.source is Source.ROSTER:
        raise ReadOnlyAnswer(key)
    current = None if old is None else old.value
    if not _same(previous, current):
        raise StaleAnswer(key, current)


_STORED_COLUMNS = (
    AnswerRow.field,
    AnswerRow.record,
    AnswerRow.year,
    AnswerRow.vtype,
    AnswerRow.value_num,
    AnswerRow.value_text,
    AnswerRow.source,
    AnswerRow.revision,
)


def _stored_answers(rows: Iterable[Sequence[Any]]) -> dict[Key, _Stored]:
    stored: dict[Key, _Stored] = {}
    for field, record, year, vtype, num, text, source, revision in rows:
        if field is not None:  # load's outer join yields one empty row for no answers
            value = decode_value(vtype, num, text)
            stored[Key(field, record, year)] = _Stored(value, Source(source), revision)
    return stored


class FilingRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def create(self, year: int, now: datetime) -> int:
        row = FilingRow(year=year, status="draft", created_at=now, updated_at=now)
        self._session.add(row)
        self._session.flush()
        return row.id

    def load(self, filing_id: int) -> Filing:
        rows = self._session.execute(
            select(FilingRow.year, FilingRow.status, *_STORED_COLUMNS)
            .select_from(FilingRow)
            .outerjoin(AnswerRow, AnswerRow.filing_id == FilingRow.id)
            .where(FilingRow.id == filing_id)
        ).all()
        if not rows:
            raise FilingNotFound(filing_id)
        answers = {
            key: Answer(stored.value, stored.source, stored.revision)
            for key, stored in _stored_answers(row[2:] for row in rows).items()
        }
        records: dict[str, list[str]] = {}
        for group, record in self._session.execute(
            select(RecordRow.grp, RecordRow.record)
            .where(RecordRow.filing_id == filing_id)
            .order_by(RecordRow.grp, RecordRow.position, RecordRow.record)
        ):
            records.setdefault(group, []).append(record)
        return Filing(
            id=filing_id,
            year=rows[0][0],
            status=rows[0][1],
            answers=MappingProxyType(answers),
            records=MappingProxyType({g: tuple(ids) for g, ids in records.items()}),
        )

    def apply(
        self, filing_id: int, changes: Sequence[Change], *, actor: str, now: datetime
    ) -> None:
        """Persists one step's changes.

        Raises StaleAnswer or ReadOnlyAnswer before writing anything when the batch conflicts
        with what is stored. A conflicting concurrent commit that lands between the check and
        the write is caught by the revision check and also raises StaleAnswer; the caller's
        transaction must then roll back (Database.session() does).
        """
        if not changes:
            return
        keys = {c.key for c in changes if isinstance(c, SetAnswer | ClearAnswer)}
        ops = _plan(changes, self._lock_and_read(filing_id, keys))
        groups = {op.group for op in ops if isinstance(op, AddRecord)}
        positions = self._next_positions(filing_id, groups)
        for op in ops:
            match op:
                case _Put():
                    self._put(filing_id, op, actor, now)
                case _Remove():
                    self._remove(filing_id, op)
                case AddRecord(group=group, record=record):
                    if self._add_record(filing_id, group, record, positions[group], now):
                        positions[group] += 1
                case DeleteRecord(group=group, record=record):
                    self._delete_record(filing_id, group, record)
        self._touch(filing_id, now)

    def stored_values(
        self, filing_id: int, keys: Collection[Key]
    ) -> dict[Key, tuple[Value, Source]]:
        """The stored value and source of each of these answers that exists."""
        if not keys:
            return {}
        rows = self._session.execute(
            select(*_STORED_COLUMNS).where(
                AnswerRow.filing_id == filing_id,
                tuple_(AnswerRow.field, AnswerRow.record, AnswerRow.year).in_(
                    [(k.field, k.record, k.year) for k in keys]
                ),
            )
        )
        return {key: (s.value, s.source) for key, s in _stored_answers(rows).items()}

    def enterprise_of(self, filing_id: int) -> int | None:
        """The enterprise the filing belongs to (None for a trial filing of the terminal)."""
        return self._session.scalar(
            select(FilingRow.enterprise_id).where(FilingRow.id == filing_id)
        )

    def set_status(self, filing_id: int, status: str, now: datetime) -> None:
        self._touch(filing_id, now, status=status)

    def import_answer(
        self, filing_id: int, key: Key, value: Value, now: datetime, *, actor: str = "roster"
    ) -> None:
        """Writes an answer from the association's roster; it overrides what the user typed."""
        check_storable(key, value)
        vtype, num, text = encode_value(value)
        insert = upsert_into(self._session, _ANSWERS)
        statement = insert.values(
            filing_id=filing_id,
            field=key.field,
            record=key.record,
            year=key.year,
            vtype=vtype.value,
            value_num=num,
            value_text=text,
            source=Source.ROSTER.value,
            revision=1,
            updated_at=now,
            updated_by=actor,
        ).on_conflict_do_update(
            index_elements=["filing_id", "field", "record", "year"],
            set_={
                "vtype": insert.excluded.vtype,
                "value_num": insert.excluded.value_num,
                "value_text": insert.excluded.value_text,
                "source": insert.excluded.source,
                "revision": _ANSWERS.c.revision + 1,
                "updated_at": insert.excluded.updated_at,
                "updated_by": insert.excluded.updated_by,
            },
        )
        self._touch(filing_id, now)  # first: a missing filing is FilingNotFound, not an FK error
        self._session.execute(statement)

    # --- internals ---

    def _lock_and_read(self, filing_id: int, keys: Collection[Key]) -> dict[Key, _Stored]:
        """The stored answers for `keys`, read after taking the filing's row lock.

        On PostgreSQL the lock queues concurrent steps on one filing, and reading afterwards
        (a new snapshot under READ COMMITTED) sees what the previous step committed. SQLite
        ignores FOR UPDATE; there the revision check in `_put`/`_remove` catches the race.
        """
        locked = self._session.scalar(
            select(FilingRow.id).where(FilingRow.id == filing_id).with_for_update()
        )
        if locked is None:
            raise FilingNotFound(filing_id)
        if not keys:
            return {}
        rows = self._session.execute(
            select(*_STORED_COLUMNS).where(
                AnswerRow.filing_id == filing_id,
                tuple_(AnswerRow.field, AnswerRow.record, AnswerRow.year).in_(
                    [(k.field, k.record, k.year) for k in keys]
                ),
            )
        )
        return _stored_answers(rows)

    def _current(self, filing_id: int, key: Key) -> Value | None:
        rows = self._session.execute(
            select(*_STORED_COLUMNS).where(*self._key_clause(filing_id, key))
        )
        stored = _stored_answers(rows).get(key)
        return None if stored is None else stored.value

    def _put(self, filing_id: int, op: _Put, actor: str, now: datetime) -> None:
        vtype, num, text = encode_value(op.value)
        values = {
            "vtype": vtype.value,
            "value_num": num,
            "value_text": text,
            "source": Source.USER.value,
            "revision": op.revision,
            "updated_at": now,
            "updated_by": actor,
        }
        key = op.key
        if op.expected_revision is None:
            statement: Executable = (
                upsert_into(self._session, _ANSWERS)
                .values(filing_id=filing_id, field=key.field, record=key.record, year=key.year)
                .values(values)
                .on_conflict_do_nothing(index_elements=["filing_id", "field", "record", "year"])
            )
        else:
            statement = (
                update(_ANSWERS)
                .where(*self._key_clause(filing_id, key))
                .where(_ANSWERS.c.revision == op.expected_revision)
                .values(values)
            )
        if _rowcount(self._session, statement) != 1:
            raise StaleAnswer(key, self._current(filing_id, key))

    def _remove(self, filing_id: int, op: _Remove) -> None:
        statement = (
            delete(_ANSWERS)
            .where(*self._key_clause(filing_id, op.key))
            .where(_ANSWERS.c.revision == op.expected_revision)
        )
        if _rowcount(self._session, statement) != 1:
            raise StaleAnswer(op.key, self._current(filing_id, op.key))

    @staticmethod
    def _key_clause(filing_id: int, key: Key) -> tuple[Any, ...]:
        c = _ANSWERS.c
        return (
            c.filing_id == filing_id,
            c.field == key.field,
            c.record == key.record,
            c.year == key.year,
        )

    def _next_positions(self, filing_id: int, groups: Collection[str]) -> dict[str, int]:
        if not groups:
            return {}
        positions = dict.fromkeys(groups, 0)
        rows = self._session.execute(
            select(RecordRow.grp, func.max(RecordRow.position))
            .where(RecordRow.filing_id == filing_id, RecordRow.grp.in_(groups))
            .group_by(RecordRow.grp)
        )
        for group, highest in rows:
            positions[group] = highest + 1
        return positions

    def _add_record(
        self, filing_id: int, group: str, record: str, position: int, now: datetime
    ) -> bool:
        statement = (
            upsert_into(self._session, _RECORDS)
            .values(filing_id=filing_id, grp=group, record=record, position=position)
            .values(created_at=now)
            .on_conflict_do_nothing(index_elements=["filing_id", "grp", "record"])
        )
        return _rowcount(self._session, statement) == 1

    def _delete_record(self, filing_id: int, group: str, record: str) -> None:
        self._session.execute(
            delete(_RECORDS).where(
                _RECORDS.c.filing_id == filing_id,
                _RECORDS.c.grp == group,
                _RECORDS.c.record == record,
            )
        )
        # Answers are keyed by record id alone, like apply_changes does in memory.
        self._session.execute(
            delete(_ANSWERS).where(_ANSWERS.c.filing_id == filing_id, _ANSWERS.c.record == record)
        )

    def _touch(self, filing_id: int, now: datetime, **values: Any) -> None:
        statement = (
            update(FilingRow)
            .where(FilingRow.id == filing_id)
            .values(updated_at=now, **values)
            .execution_options(synchronize_session=False)
        )
        if _rowcount(self._session, statement) != 1:
            raise FilingNotFound(filing_id)


# --- conversations --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredConversation:
    channel: str
    chat_id: str
    filing_id: int | None
    state: dict[str, Any]
    updated_at: datetime


class ConversationRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, channel: str, chat_id: str) -> StoredConversation | None:
        row = self._session.execute(
            select(
                ConversationRow.filing_id, ConversationRow.state, ConversationRow.updated_at
            ).where(ConversationRow.channel == channel, ConversationRow.chat_id == chat_id)
        ).one_or_none()
        if row is None:
            return None
        filing_id, state, updated_at = row
        return StoredConversation(channel, chat_id, filing_id, json.loads(state), updated_at)

    def put(
        self,
        channel: str,
        chat_id: str,
        filing_id: int | None,
        state: dict[str, Any],
        now: datetime,
    ) -> None:
        insert = upsert_into(self._session, _CONVERSATIONS)
        statement = insert.values(
            channel=channel,
            chat_id=chat_id,
            filing_id=filing_id,
            state=json.dumps(state, ensure_ascii=False),
            updated_at=now,
        ).on_conflict_do_update(
            index_elements=["channel", "chat_id"],
            set_={
                "filing_id": insert.excluded.filing_id,
                "state": insert.excluded.state,
                "updated_at": insert.excluded.updated_at,
            },
        )
        self._session.execute(statement)


# --- attachments ----------------------------------------------------------------------------


class AttachmentRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def record(self, ref: FileRef, now: datetime) -> None:
        """Remembers a stored file; recording the same content again is a no-op."""
        statement = (
            upsert_into(self._session, _ATTACHMENTS)
            .values(sha256=ref.sha256, size=ref.size, content_type=ref.content_type)
            .values(created_at=now)
            .on_conflict_do_nothing(index_elements=["sha256"])
        )
        self._session.execute(statement)

    def exists(self, sha256: str) -> bool:
        found = self._session.scalar(
            select(AttachmentRow.sha256).where(AttachmentRow.sha256 == sha256)
        )
        return found is not None
