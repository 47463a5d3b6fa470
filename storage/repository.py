"""Repositories: translate between `dialogs.model` values and rows.

They take a `Session` and never commit: the caller owns the unit of work (`Database.session()`),
so a batch of changes is written completely or, when any of it is refused, not at all.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from sqlalchemy import (
    CursorResult,
    Executable,
    Table,
    bindparam,
    delete,
    func,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ClauseElement

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
from storage.prepared import Prepared

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


_FILINGS = table_of(FilingRow)
_ANSWERS = table_of(AnswerRow)
_RECORDS = table_of(RecordRow)
_CONVERSATIONS = table_of(ConversationRow)
_ATTACHMENTS = table_of(AttachmentRow)

_Insert = postgresql.Insert | sqlite.Insert


def upsert_into(session: Session, table: Table) -> _Insert:
    """INSERT with ON CONFLICT support; both supported backends speak it."""
    return insert_for(session.get_bind().dialect.name, table)


def insert_for(dialect: str, table: Table) -> _Insert:
    """The dialect's own INSERT, which has ON CONFLICT."""
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

_ANSWER_KEYS = ["filing_id", "field", "record", "year"]
_ANSWER_VALUES = ("vtype", "value_num", "value_text", "source", "revision", "updated_at")


def _answer_key_clause() -> tuple[Any, ...]:
    c = _ANSWERS.c
    return (
        c.filing_id == bindparam("filing_id"),
        c.field == bindparam("field"),
        c.record == bindparam("record"),
        c.year == bindparam("year"),
    )


# The statements of a typed answer (storage/prepared.py tells why they are prepared).
_LOCK_REVISION = Prepared(
    select(_FILINGS.c.revision).where(_FILINGS.c.id == bindparam("id")).with_for_update()
)
_TOUCH = Prepared(
    update(_FILINGS)
    .where(_FILINGS.c.id == bindparam("id"))
    .values(updated_at=bindparam("now"), revision=_FILINGS.c.revision + 1)
    .returning(_FILINGS.c.revision)
)
_INSERT_ANSWER = Prepared(
    lambda dialect: (
        insert_for(dialect, _ANSWERS)
        .values({name: bindparam(name) for name in (*_ANSWER_KEYS, *_ANSWER_VALUES, "updated_by")})
        .on_conflict_do_nothing(index_elements=_ANSWER_KEYS)
    )
)
_UPDATE_ANSWER = Prepared(
    update(_ANSWERS)
    .where(*_answer_key_clause(), _ANSWERS.c.revision == bindparam("expected"))
    .values({name: bindparam(name) for name in (*_ANSWER_VALUES, "updated_by")})
)
_LAST_POSITION = Prepared(
    select(func.max(_RECORDS.c.position)).where(
        _RECORDS.c.filing_id == bindparam("filing_id"), _RECORDS.c.grp == bindparam("grp")
    )
)
_ADD_RECORD = Prepared(
    lambda dialect: (
        insert_for(dialect, _RECORDS)
        .values(
            filing_id=bindparam("filing_id"),
            grp=bindparam("grp"),
            record=bindparam("record"),
            position=bindparam("position"),
            created_at=bindparam("now"),
        )
        .on_conflict_do_nothing(index_elements=["filing_id", "grp", "record"])
    )
)
_DELETE_ANSWER = Prepared(
    delete(_ANSWERS).where(*_answer_key_clause(), _ANSWERS.c.revision == bindparam("expected"))
)


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

    def load_many(self, filing_ids: Sequence[int]) -> dict[int, Filing]:
        """Several filings in three statements, not three per filing (the web console's
        dashboard works out every filing's progress after a restart)."""
        ids = list(dict.fromkeys(filing_ids))
        if not ids:
            return {}
        heads = dict(
            self._session.execute(
                select(FilingRow.id, FilingRow.year).where(FilingRow.id.in_(ids))
            ).all()
        )
        rows: dict[int, list[Sequence[Any]]] = {i: [] for i in heads}
        for row in self._session.execute(
            select(AnswerRow.filing_id, *_STORED_COLUMNS).where(AnswerRow.filing_id.in_(ids))
        ):
            rows[row[0]].append(row[1:])
        records: dict[int, dict[str, list[str]]] = {i: {} for i in heads}
        for filing_id, group, record in self._session.execute(
            select(RecordRow.filing_id, RecordRow.grp, RecordRow.record)
            .where(RecordRow.filing_id.in_(ids))
            .order_by(RecordRow.filing_id, RecordRow.grp, RecordRow.position, RecordRow.record)
        ):
            records[filing_id].setdefault(group, []).append(record)
        loaded = {}
        for filing_id, year in heads.items():
            answers = {
                key: Answer(stored.value, stored.source, stored.revision)
                for key, stored in _stored_answers(rows[filing_id]).items()
            }
            loaded[filing_id] = Filing(
                id=filing_id,
                year=year,
                answers=MappingProxyType(answers),
                records=MappingProxyType({g: tuple(r) for g, r in records[filing_id].items()}),
            )
        return loaded

    def lock_revision(self, filing_id: int) -> int:
        """The filing's change counter, read under its row lock (PostgreSQL; SQLite holds
        the database's write lock from a message's first write on)."""
        row = _LOCK_REVISION.one(self._session, id=filing_id)
        if row is None:
            raise FilingNotFound(filing_id)
        return int(row[0])

    def apply(
        self,
        filing_id: int,
        changes: Sequence[Change],
        *,
        actor: str,
        now: datetime,
        current: Mapping[Key, Answer] | None = None,
    ) -> int:
        """Persists one step's changes; returns the filing's new revision (0: no changes).

        Raises StaleAnswer or ReadOnlyAnswer before writing anything when the batch conflicts
        with what is stored. A conflicting concurrent commit that lands between the check and
        the write is caught by the revision check and also raises StaleAnswer; the caller's
        transaction must then roll back (Database.session() does). `current`: the filing's
        answers as the caller knows them to be stored at the revision it read under
        `lock_revision` in this transaction; they are not read again.
        """
        if not changes:
            return 0
        keys = {c.key for c in changes if isinstance(c, SetAnswer | ClearAnswer)}
        if current is None:
            stored = self._lock_and_read(filing_id, keys)
        else:
            stored = {
                k: _Stored(a.value, a.source, a.revision)
                for k in keys
                if (a := current.get(k)) is not None
            }
        ops = _plan(changes, stored)
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
        return self._touch(filing_id, now)

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
        statement = (
            update(_FILINGS)
            .where(_FILINGS.c.id == filing_id)
            .values(updated_at=now, status=status, revision=_FILINGS.c.revision + 1)
        )
        if _rowcount(self._session, statement) != 1:
            raise FilingNotFound(filing_id)

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
        where = {"filing_id": filing_id, "field": key.field, "record": key.record, "year": key.year}
        if op.expected_revision is None:
            written = _INSERT_ANSWER.count(self._session, **where, **values)
        else:
            written = _UPDATE_ANSWER.count(
                self._session, **where, **values, expected=op.expected_revision
            )
        if written != 1:
            raise StaleAnswer(key, self._current(filing_id, key))

    def _remove(self, filing_id: int, op: _Remove) -> None:
        key = op.key
        removed = _DELETE_ANSWER.count(
            self._session,
            filing_id=filing_id,
            field=key.field,
            record=key.record,
            year=key.year,
            expected=op.expected_revision,
        )
        if removed != 1:
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
        positions = {}
        for group in groups:
            row = _LAST_POSITION.one(self._session, filing_id=filing_id, grp=group)
            positions[group] = 0 if row is None or row[0] is None else int(row[0]) + 1
        return positions

    def _add_record(
        self, filing_id: int, group: str, record: str, position: int, now: datetime
    ) -> bool:
        added = _ADD_RECORD.count(
            self._session,
            filing_id=filing_id,
            grp=group,
            record=record,
            position=position,
            now=now,
        )
        return added == 1

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

    def _touch(self, filing_id: int, now: datetime) -> int:
        """Marks the filing changed; returns its new revision."""
        row = _TOUCH.one(self._session, id=filing_id, now=now)
        if row is None:
            raise FilingNotFound(filing_id)
        return int(row[0])


# --- conversations --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredConversation:
    channel: str
    chat_id: str
    filing_id: int | None
    state: dict[str, Any]


_C = _CONVERSATIONS.c
_GET_CONVERSATION = Prepared(
    select(_C.filing_id, _C.state).where(
        _C.channel == bindparam("channel"), _C.chat_id == bindparam("chat_id")
    )
)


def _put_conversation(dialect: str) -> ClauseElement:
    insert = insert_for(dialect, _CONVERSATIONS)
    columns = ("channel", "chat_id", "filing_id", "state")
    return insert.values(
        {**{name: bindparam(name) for name in columns}, "updated_at": bindparam("now")}
    ).on_conflict_do_update(
        index_elements=["channel", "chat_id"],
        set_={
            "filing_id": insert.excluded.filing_id,
            "state": insert.excluded.state,
            "updated_at": insert.excluded.updated_at,
        },
    )


_PUT_CONVERSATION = Prepared(_put_conversation)


class ConversationRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, channel: str, chat_id: str) -> StoredConversation | None:
        row = _GET_CONVERSATION.one(self._session, channel=channel, chat_id=chat_id)
        if row is None:
            return None
        filing_id, state = row
        return StoredConversation(channel, chat_id, filing_id, json.loads(state))

    def put(
        self,
        channel: str,
        chat_id: str,
        filing_id: int | None,
        state: dict[str, Any],
        now: datetime,
    ) -> None:
        _PUT_CONVERSATION.count(
            self._session,
            channel=channel,
            chat_id=chat_id,
            filing_id=filing_id,
            state=json.dumps(state, ensure_ascii=False),
            now=now,
        )


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


def _fit(what: str, value: str, limit: int) -> str:
    # PostgreSQL refuses an over-long VARCHAR and SQLite stores it: refuse on both.
    if len(value) > limit:
        raise UnstorableValue(f"{what}: longer than {limit} characters")
    return value


def _normalize_code(text: str) -> str:
    """Credit codes and invite codes as typed: full-width forms, spaces, lower case."""
    folded = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in folded if not ch.isspace() and ch != "-").upper()
