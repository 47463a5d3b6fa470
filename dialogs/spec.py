"""The vocabulary the form is declared in: fields, repeatable groups, sections, checks.

`dialogs/form.py` uses it to declare the whole filing once; the engine, storage, summaries
and (later) the PDF and review screens all read the same declaration.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from functools import cached_property
from typing import Protocol, TypeVar

from dialogs.cycle import Cycle, Grade
from dialogs.model import Key, Value
from dialogs.parsing import Option

T = TypeVar("T")


class Kind(StrEnum):
    TEXT = "text"
    AMOUNT = "amount"  # 万元, Decimal with two places
    COUNT = "count"  # whole number >= 0
    YEAR = "year"
    DATE = "date"
    YESNO = "yesno"
    MOBILE = "mobile"
    LANDLINE = "landline"
    EMAIL = "email"
    CREDIT_CODE = "credit_code"
    CHOICE = "choice"
    FILE = "file"


class Reading(Protocol):
    """What the form's own functions (conditions, rules, checks, totals, indicators) are
    given: one filing read through this form. `dialogs.view.View` is the one there is; the
    spec names only what those functions read, so it needs nothing of the view."""

    @property
    def spec(self) -> FormSpec: ...
    @property
    def cycle(self) -> Cycle: ...
    @property
    def year(self) -> int: ...
    @property
    def grade(self) -> Grade | None: ...
    @property
    def business_years(self) -> tuple[int, ...]: ...
    def get(self, field_id: str, record: str = "", year: int = 0) -> Value | None: ...
    def num(self, field_id: str, record: str = "", year: int = 0) -> Decimal: ...
    def answered(self, key: Key) -> bool: ...
    def filled(self, key: Key) -> bool: ...
    def records(self, group: str) -> tuple[str, ...]: ...
    def record_keys(self, group: GroupSpec, record: str) -> list[Key]: ...
    def label(self, key: Key) -> str: ...
    def display(self, key: Key) -> str: ...
    def describe_record(self, group: GroupSpec, record: str) -> str: ...
    def memo(self, key: Hashable, compute: Callable[[], T]) -> T: ...


Condition = Callable[[Reading], bool]
# A rule on a single answer, given the rest of the filing; returns a Chinese reason or None.
FieldRule = Callable[[Reading, Key, Value], str | None]


@dataclass(frozen=True, slots=True)
class FieldSpec:
    id: str
    label: str
    kind: Kind
    unit: str = ""
    required: bool = True
    options: tuple[Option, ...] = ()
    help: str = ""
    example: str = ""
    allow_negative: bool = False
    applies: Condition | None = None
    # Expand into one answer per record of this group (e.g. one contract file per project).
    for_records: str = ""
    # Overrides `required` per expanded key (e.g. only the ten largest projects need a file).
    required_when: Callable[[Reading, Key], bool] | None = None
    rules: tuple[FieldRule, ...] = ()
    max_len: int = 200
    # Lower and upper bound for YEAR answers, relative to the inspection year.
    year_range: tuple[int, int] = (-60, 0)
    # The years a DATE answer may fall in (1 January of the first to 31 December of the
    # last), relative to the inspection year: 9999-12-31 or 1900-01-01 is a typing slip.
    date_range: tuple[int, int] = (-30, 10)
    # A DATE that may be "长期" (valid without end), stored as that word.
    open_ended: bool = False


@dataclass(frozen=True, slots=True)
class GroupSpec:
    """Records added one by one (certificate holders, projects, innovation items)."""

    id: str
    noun: str  # "项目", used in "第3个项目"
    measure: str  # "个", "位", "项"
    fields: tuple[FieldSpec, ...]
    min_records: int = 1
    applies: Condition | None = None
    describe: Callable[[Reading, str], str] | None = None
    # Computed values of one record, shown after it is saved (e.g. a project's contract amount).
    totals: Callable[[Reading, str], list[tuple[str, str]]] | None = None


@dataclass(frozen=True, slots=True)
class Problem:
    """A failed consistency check; `keys` are the answers that take part in it."""

    message: str
    keys: tuple[Key, ...]


@dataclass(frozen=True, slots=True)
class Check:
    fields: frozenset[str]
    run: Callable[[Reading], Iterator[Problem]]
    # Whether an answer that breaks the check is refused when typed; otherwise the problem
    # is only reported in the summary (e.g. a project whose amounts are all zero).
    at_answer: bool = True


@dataclass(frozen=True, slots=True)
class IndicatorSpec:
    """A grade's reference indicator: falling short is a warning, never a block."""

    id: str
    label: str
    unit: str
    thresholds: dict[Grade, int | None] | dict[Grade, Decimal | None]
    measure: Callable[[Reading], Decimal | int]


Item = FieldSpec | GroupSpec


@dataclass(frozen=True, slots=True)
class SectionSpec:
    id: str
    number: str
    title: str
    items: tuple[Item, ...]
    intro: str = ""
    # Scalar fields are asked once per year of this list (year-major), e.g. business figures.
    years: Callable[[Reading], Sequence[int]] | None = None
    checks: tuple[Check, ...] = ()
    totals: Callable[[Reading], list[tuple[str, str]]] | None = None
    indicators: tuple[str, ...] = ()

    @property
    def heading(self) -> str:
        return f"{self.number} {self.title}" if self.number else self.title

    def groups(self) -> Iterator[GroupSpec]:
        return (item for item in self.items if isinstance(item, GroupSpec))


@dataclass(frozen=True)
class FormSpec:
    cycle: Cycle
    sections: tuple[SectionSpec, ...]
    indicators: tuple[IndicatorSpec, ...] = ()
    _fields: dict[str, FieldSpec] = field(default_factory=dict, repr=False)
    _owner: dict[str, SectionSpec] = field(default_factory=dict, repr=False)
    _group_of: dict[str, GroupSpec] = field(default_factory=dict, repr=False)
    _groups: dict[str, GroupSpec] = field(default_factory=dict, repr=False)
    # Derived per filing shape by dialogs.view; a cache, so equality and repr ignore it.
    structure_cache: dict[object, object] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for section in self.sections:
            for item in section.items:
                specs = item.fields if isinstance(item, GroupSpec) else (item,)
                for spec in specs:
                    if spec.id in self._fields:
                        raise ValueError(f"duplicate field id {spec.id}")
                    self._fields[spec.id] = spec
                    self._owner[spec.id] = section
                    if isinstance(item, GroupSpec):
                        self._group_of[spec.id] = item
                if isinstance(item, GroupSpec):
                    self._owner[item.id] = section
                    self._groups[item.id] = item

    def field(self, field_id: str) -> FieldSpec:
        return self._fields[field_id]

    def section(self, section_id: str) -> SectionSpec:
        for section in self.sections:
            if section.id == section_id:
                return section
        raise KeyError(section_id)

    def section_of(self, field_id: str) -> SectionSpec:
        return self._owner[field_id]

    def owner_of(self, field_id: str) -> SectionSpec | None:
        """The section a field belongs to; None for the workflow's own answers."""
        return self._owner.get(field_id)

    @cached_property
    def dependent_sections(self) -> frozenset[str]:
        """Sections with a question whose requiredness depends on other answers
        (`required_when`): what a view knows of them is never reused for a changed filing."""
        return frozenset(
            self._owner[f.id].id for f in self._fields.values() if f.required_when is not None
        )

    def group_of(self, field_id: str) -> GroupSpec | None:
        return self._group_of.get(field_id)

    def group(self, group_id: str) -> GroupSpec:
        return self._groups[group_id]

    def indicator(self, indicator_id: str) -> IndicatorSpec:
        for indicator in self.indicators:
            if indicator.id == indicator_id:
                return indicator
        raise KeyError(indicator_id)

    def all_fields(self) -> Iterator[FieldSpec]:
        return iter(self._fields.values())
