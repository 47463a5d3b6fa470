"""The filing as plain values: answers keyed by field id, repeatable records, and changes.

The engine never mutates a filing; it returns a list of `Change` values that storage
persists in one transaction and that `apply_changes` replays in memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import NamedTuple


class Key(NamedTuple):
    """Where an answer lives: a field id, plus the record it belongs to and the year it is for.

    A named tuple, not a dataclass: keys are hashed and compared on every lookup, and the
    tuple's C implementation is several times faster at both."""

    field: str
    record: str = ""
    year: int = 0

    def __str__(self) -> str:
        out = self.field
        if self.record:
            out += f"#{self.record}"
        if self.year:
            out += f"@{self.year}"
        return out


@dataclass(frozen=True, slots=True)
class FileRef:
    """A stored attachment: content-addressed by sha256."""

    sha256: str
    name: str
    size: int
    content_type: str


Value = Decimal | int | bool | date | str | FileRef


class Source(StrEnum):
    USER = "user"
    ROSTER = "roster"  # imported by the association; read-only for the contact


@dataclass(frozen=True, slots=True)
class Answer:
    value: Value
    source: Source = Source.USER
    revision: int = 1


_EMPTY_ANSWERS: Mapping[Key, Answer] = MappingProxyType({})
_EMPTY_RECORDS: Mapping[str, tuple[str, ...]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Filing:
    """One enterprise's filing for one inspection year, as last committed."""

    id: int
    year: int
    status: str = "draft"
    answers: Mapping[Key, Answer] = field(default_factory=lambda: _EMPTY_ANSWERS)
    records: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: _EMPTY_RECORDS)
    # The review workflow, as storage knows it: the last submitted version, when it was
    # submitted, and the reviewer's reason and sections when it was rejected.
    version: int = 0
    submitted_at: datetime | None = None
    review_note: str = ""
    review_sections: tuple[str, ...] = ()
    # A trial filing (the terminal chat, not bound to an enterprise) can be filled and
    # checked, never submitted: it would reach the reviewers without an enterprise.
    trial: bool = False
    # The enterprise's filing of the previous cycle as it was filed (its last submitted
    # version), when there is one: the engine offers its reusable answers. Loaded by the
    # edge; never written back.
    previous: Filing | None = None

    def get(self, key: Key) -> Value | None:
        answer = self.answers.get(key)
        return None if answer is None else answer.value

    def has(self, key: Key) -> bool:
        return key in self.answers

    def record_ids(self, group: str) -> tuple[str, ...]:
        return self.records.get(group, ())


# --- changes -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetAnswer:
    key: Key
    value: Value
    # The value the user saw when answering; storage refuses the change when the stored
    # value differs (another contact changed it meanwhile).
    previous: Value | None = None


@dataclass(frozen=True, slots=True)
class ClearAnswer:
    key: Key
    previous: Value | None = None


@dataclass(frozen=True, slots=True)
class AddRecord:
    group: str
    record: str


@dataclass(frozen=True, slots=True)
class DeleteRecord:
    """Removes the record and every answer that belongs to it."""

    group: str
    record: str


Change = SetAnswer | ClearAnswer | AddRecord | DeleteRecord


def apply_changes(filing: Filing, changes: Iterable[Change]) -> Filing:
    answers = dict(filing.answers)
    records = {g: list(ids) for g, ids in filing.records.items()}
    for change in changes:
        match change:
            case SetAnswer(key=key, value=value):
                old = answers.get(key)
                answers[key] = Answer(value, Source.USER, (old.revision + 1) if old else 1)
            case ClearAnswer(key=key):
                answers.pop(key, None)
            case AddRecord(group=group, record=record):
                ids = records.setdefault(group, [])
                if record not in ids:
                    ids.append(record)
            case DeleteRecord(group=group, record=record):
                if record in records.get(group, []):
                    records[group].remove(record)
                for key in [k for k in answers if k.record == record]:
                    del answers[key]
    return replace(
        filing,
        answers=MappingProxyType(answers),
        records=MappingProxyType({g: tuple(ids) for g, ids in records.items()}),
    )


# --- codec: values <-> (numeric column, text column, type tag) ------------------------------


class VType(StrEnum):
    DECIMAL = "decimal"
    INT = "int"
    BOOL = "bool"
    DATE = "date"
    STR = "str"
    FILE = "file"


def encode_value(value: Value) -> tuple[VType, Decimal | None, str | None]:
    """Splits a value into the columns storage keeps: money and counts stay numeric."""
    if isinstance(value, bool):
        return VType.BOOL, None, "1" if value else "0"
    if isinstance(value, int):
        return VType.INT, Decimal(value), None
    if isinstance(value, Decimal):
        return VType.DECIMAL, value, None
    if isinstance(value, date):
        return VType.DATE, None, value.isoformat()
    if isinstance(value, FileRef):
        payload = {
            "sha256": value.sha256,
            "name": value.name,
            "size": value.size,
            "content_type": value.content_type,
        }
        return VType.FILE, None, json.dumps(payload, ensure_ascii=False, sort_keys=True)
    return VType.STR, None, value


def decode_value(vtype: str, num: Decimal | None, text: str | None) -> Value:
    kind = VType(vtype)
    if kind is VType.BOOL:
        return text == "1"
    if kind is VType.INT:
        assert num is not None
        return int(num)
    if kind is VType.DECIMAL:
        assert num is not None
        return Decimal(num).quantize(Decimal("0.01"))
    if kind is VType.DATE:
        assert text is not None
        return date.fromisoformat(text)
    if kind is VType.FILE:
        assert text is not None
        raw = json.loads(text)
        return FileRef(raw["sha256"], raw["name"], int(raw["size"]), raw["content_type"])
    assert text is not None
    return text
