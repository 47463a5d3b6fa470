"""A read-only view of one filing through the form spec: which answers apply, which are
missing, what each section's state is. Everything the engine, summaries and checks ask of a
filing goes through here, so "applies" and "required" are decided in one place.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from enum import StrEnum
from functools import cached_property
from typing import TypeVar, cast

from dialogs.cycle import Grade
from dialogs.model import Answer, FileRef, Filing, Key, Source, Value
from dialogs.parsing import strip_invisible
from dialogs.spec import FieldSpec, FormSpec, GroupSpec, Kind, Problem, SectionSpec

# An optional answer the contact chose to leave empty; stored so it is not asked again.
SKIPPED = ""
FIRST_YEAR = "enterprise.first_year"

T = TypeVar("T")
# missing keys, answered, required, and `progress`'s answered and counted
_Counts = tuple[list["Key"], int, int, int, int]
_Structure = tuple[tuple[Key, ...], tuple[tuple[FieldSpec, tuple[Key, ...]], ...]]
_STRUCTURE_CACHE_SIZE = 4096
_ZERO = Decimal(0)
_RECORD_NUMBER = re.compile(r"(\d+)$")


class Status(StrEnum):
    DONE = "done"
    INCOMPLETE = "incomplete"
    NOT_STARTED = "not_started"


@dataclass(frozen=True, slots=True)
class SectionState:
    section: SectionSpec
    status: Status
    missing: tuple[str, ...]  # labels of what is still missing
    problems: tuple[Problem, ...]
    answered: int
    required: int


class View:
    def __init__(
        self,
        spec: FormSpec,
        filing: Filing,
        *,
        previous: View | None = None,
        changed: Iterable[str] = (),
    ) -> None:
        """`previous`: the view of the filing before `changed` fields were answered or
        cleared (records added or removed show in the sections' structure); what it worked
        out for sections none of that touched is reused (see `_inherited`)."""
        self.spec = spec
        self.filing = filing
        self.cycle = spec.cycle
        self.year = spec.cycle.year
        self._memo: dict[Hashable, object] = {}
        self._signatures: dict[str, Hashable] = {}
        self._before: tuple[dict[Hashable, object], dict[str, Hashable], frozenset[str]] | None
        self._before = None
        if previous is not None:
            owners = (spec.owner_of(field) for field in changed)
            touched = frozenset(owner.id for owner in owners if owner is not None)
            self._before = (previous._memo, previous._signatures, touched)

    # --- values ----------------------------------------------------------------------------

    def get(self, field_id: str, record: str = "", year: int = 0) -> Value | None:
        # A plain tuple hashes and compares equal to the Key named tuple, and is cheaper to
        # build; totals call this thousands of times per step.
        answer = self.filing.answers.get(cast(Key, (field_id, record, year)))
        return None if answer is None else answer.value

    def num(self, field_id: str, record: str = "", year: int = 0) -> Decimal:
        value = self.get(field_id, record, year)
        if type(value) is Decimal:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            return _ZERO
        return Decimal(value)

    def answered(self, key: Key) -> bool:
        return self.filing.has(key)

    def imported(self, key: Key) -> bool:
        """Imported by the association (the roster, or last year's approved filing): shown to
        the contact, never changed by them."""
        answer = self.filing.answers.get(key)
        return answer is not None and answer.source is Source.ROSTER

    def read_only(self, section: SectionSpec) -> bool:
        """Every question of the section was imported; it has no records to add."""
        layout = self.layout(section)
        return bool(layout) and all(
            isinstance(entry, Key) and self.imported(entry) for entry in layout
        )

    def filled(self, key: Key) -> bool:
        """Answered with a real value, not left empty."""
        value = self.filing.get(key)
        return value is not None and value != SKIPPED

    @cached_property
    def first_year(self) -> int | None:
        value = self.get(FIRST_YEAR)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @cached_property
    def is_new(self) -> bool:
        """First certified in the inspection year: registers and reports all three years."""
        return self.first_year == self.year

    @cached_property
    def grade(self) -> Grade | None:
        value = self.get("enterprise.grade")
        try:
            return Grade(value) if isinstance(value, str) else None
        except ValueError:
            return None

    @cached_property
    def business_years(self) -> tuple[int, ...]:
        return self.cycle.window if self.is_new else (self.year,)

    def records(self, group: str) -> tuple[str, ...]:
        return self.filing.record_ids(group)

    def record_index(self, group: str, record: str) -> int:
        """1-based position of a record as the contact sees it; a new record comes last."""
        ids = self.records(group)
        return ids.index(record) + 1 if record in ids else len(ids) + 1

    def new_record_id(self, group: GroupSpec) -> str:
        numbers = [
            int(m.group(1)) for r in self.records(group.id) if (m := _RECORD_NUMBER.search(r))
        ]
        return f"{group.id[:3]}{max(numbers, default=0) + 1}"

    # --- applicability and expansion -----------------------------------------------------

    def applies(self, item: FieldSpec | GroupSpec) -> bool:
        return item.applies is None or item.applies(self)

    def applies_section(self, section: SectionSpec) -> bool:
        return any(self.applies(item) for item in section.items)

    def records_of_field(self, field_id: str) -> tuple[str, ...]:
        group = self.spec.group_of(field_id)
        return self.records(group.id) if group is not None else ()

    def required(self, spec: FieldSpec, key: Key) -> bool:
        if spec.required_when is not None:
            return spec.required_when(self, key)
        return spec.required

    def field_keys(
        self, spec: FieldSpec, record: str = "", years: tuple[int, ...] = ()
    ) -> list[Key]:
        if spec.for_records:
            return [Key(spec.id, rid) for rid in self.records(spec.for_records)]
        if years:
            return [Key(spec.id, record, y) for y in years]
        return [Key(spec.id, record)]

    def section_years(self, section: SectionSpec) -> tuple[int, ...]:
        return tuple(section.years(self)) if section.years is not None else ()

    def record_keys(self, group: GroupSpec, record: str) -> list[Key]:
        return [Key(f.id, record) for f in group.fields if self.applies(f)]

    def layout(self, section: SectionSpec) -> list[Key | GroupSpec]:
        """The section's applicable questions in asking order, with each group in its place.
        Scalar fields of a per-year section are asked year-major, like the paper form."""
        out: list[Key | GroupSpec] = []
        years = self.section_years(section)
        scalars: list[FieldSpec] = []

        def flush() -> None:
            if years:
                for y in years:
                    out.extend(Key(f.id, "", y) for f in scalars)
            else:
                for f in scalars:
                    out.extend(self.field_keys(f))
            scalars.clear()

        for item in section.items:
            if isinstance(item, GroupSpec):
                flush()
                if self.applies(item):
                    out.append(item)
            elif self.applies(item):
                scalars.append(item)
        flush()
        return out

    def steps(self, section: SectionSpec) -> list[Key]:
        """Every question of the section in the order it is asked (records included)."""
        return list(self._structure(section)[0])

    def _field_keys(self, section: SectionSpec) -> tuple[tuple[FieldSpec, tuple[Key, ...]], ...]:
        """The section's answer keys grouped by field (the same keys as `steps`)."""
        return self._structure(section)[1]

    def _signature(self, section: SectionSpec) -> Hashable:
        """What the section's keys depend on: which items apply, the years, the records."""
        found = self._signatures.get(section.id)
        if found is None:
            found = self._signatures[section.id] = (
                section.id,
                tuple(self.applies(item) for item in section.items),
                self.section_years(section),
                tuple(self.filing.records.items()),
            )
        return found

    def _structure(self, section: SectionSpec) -> _Structure:
        # The keys of a section depend only on which items apply, the years and the records,
        # so they are shared by every snapshot of the same shape (the engine makes a new view
        # after every change, and recomputing the keys dominated its time).
        signature = self._signature(section)
        cache = self.spec.structure_cache
        found = cache.get(signature)
        if found is None:
            if len(cache) > _STRUCTURE_CACHE_SIZE:
                cache.clear()
            found = cache[signature] = self._build_structure(section)
        return cast(_Structure, found)

    def _build_structure(self, section: SectionSpec) -> _Structure:
        steps: list[Key] = []
        by_field: list[tuple[FieldSpec, tuple[Key, ...]]] = []
        for entry in self.layout(section):
            if isinstance(entry, GroupSpec):
                ids = self.records(entry.id)
                for rid in ids:
                    steps.extend(self.record_keys(entry, rid))
                for f in entry.fields:
                    if self.applies(f):
                        by_field.append((f, tuple(Key(f.id, rid) for rid in ids)))
            else:
                steps.append(entry)
                by_field.append((self.spec.field(entry.field), (entry,)))
        return tuple(steps), tuple(by_field)

    def incomplete_record(self, group: GroupSpec) -> tuple[str, Key] | None:
        for rid in self.records(group.id):
            for key in self.record_keys(group, rid):
                # Optional answers count too: an unasked one is not a skipped one.
                if not self.answered(key):
                    return rid, key
        return None

    def pending(self, section: SectionSpec) -> Key | GroupSpec | None:
        """The next thing to ask in this section: an unanswered key, or a group that needs a
        new record; None when the section has nothing left to ask."""
        for entry in self.layout(section):
            if isinstance(entry, GroupSpec):
                started = self.incomplete_record(entry)
                if started is not None:
                    return started[1]
                if len(self.records(entry.id)) < entry.min_records:
                    return entry
            elif not self.answered(entry):
                return entry
        return None

    # --- labels and display ----------------------------------------------------------------

    def label(self, key: Key) -> str:
        spec = self.spec.field(key.field)
        if spec.for_records:
            title = self.describe_record(self.spec.group(spec.for_records), key.record)
            return f"{spec.label}（{title}）"
        if key.year:
            return f"{key.year}年{spec.label}"
        return spec.label

    def describe_record(self, group: GroupSpec, record: str) -> str:
        index = self.record_index(group.id, record)
        if group.describe is not None:
            return f"第{index}{group.measure}{group.noun}：{group.describe(self, record)}"
        title = self.get(group.fields[0].id, record)
        shown = str(title) if title not in (None, SKIPPED) else "（未填写）"
        return f"第{index}{group.measure}{group.noun}：{shown}"

    def display(self, key: Key) -> str:
        value = self.filing.get(key)
        return self.format_value(self.spec.field(key.field), value)

    def format_value(self, spec: FieldSpec, value: Value | None) -> str:
        if value is None:
            return "（未填写）"
        if value == SKIPPED:
            return "（未填，已跳过）"
        if isinstance(value, bool):
            return "是" if value else "否"
        if isinstance(value, FileRef):
            # Names stored before uploads were cleaned may still hold bidi overrides.
            return f"{strip_invisible(value.name)}（{file_size(value.size)}）"
        if isinstance(value, Decimal):
            return f"{value:,.2f} {spec.unit}".strip()
        if isinstance(value, date):
            return value.isoformat()
        if spec.kind is Kind.CHOICE:
            for option in spec.options:
                if option.value == value:
                    return option.label
        if isinstance(value, int):
            return f"{value} {spec.unit}".strip()
        return str(value)

    # --- section state -----------------------------------------------------------------------

    def problems(self, section: SectionSpec) -> list[Problem]:
        return [p for check in section.checks for p in check.run(self)]

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        """Caches a derived value for the life of this view (one filing snapshot)."""
        try:
            return cast(T, self._memo[key])
        except KeyError:
            value = self._memo[key] = compute()
            return value

    def _inherited(self, key: Hashable, section: SectionSpec) -> object | None:
        """The previous view's value for `key` of this section, when nothing it depends on
        changed: no answer of the section changed, its structure (items that apply, years,
        records) is the same, and no question of it is required depending on other answers."""
        if self._before is None:
            return None
        memo, signatures, touched = self._before
        value = memo.get(key)
        if value is None or section.id in touched or section.id in self.spec.dependent_sections:
            return None
        before = signatures.get(section.id)
        return value if before is not None and before == self._signature(section) else None

    def _missing_keys(self, section: SectionSpec) -> _Counts:
        """Required keys without a real value, the counts of answered and required keys, and
        the answered and counted keys of `progress`, in one pass. (Shared with later views of
        the filing: never modify the list.)"""

        def compute() -> _Counts:
            inherited = self._inherited(("missing", section.id), section)
            if inherited is not None:
                return cast(_Counts, inherited)
            missing: list[Key] = []
            answered = required = done = counted = 0
            get = self.filing.answers.get
            # The hottest loop of the engine (progress is shown with every question):
            # requiredness is decided once per field unless it depends on the key.
            for spec, keys in self._field_keys(section):
                fixed = spec.required if spec.required_when is None else None
                # Questions that exist because of a record count in `progress` once
                # answered, whether required now or not (see there).
                per_record = bool(spec.for_records) or self.spec.group_of(spec.id) is not None
                for key in keys:
                    answer = get(key)
                    if answer is not None:
                        answered += 1
                        if per_record and answer.value != SKIPPED:
                            done, counted = done + 1, counted + 1
                    if not (fixed if fixed is not None else self.required(spec, key)):
                        continue
                    required += 1
                    if answer is None or answer.value == SKIPPED:
                        missing.append(key)
                        if not per_record or answer is not None:
                            counted += 1  # emptied although required: missing
                    elif not per_record:
                        done, counted = done + 1, counted + 1
            for group in section.groups():
                if self.applies(group):
                    short = max(group.min_records - len(self.records(group.id)), 0)
                    required += short * len(group.fields)
                    counted += short * len(group.fields)
            return missing, answered, required, done, counted

        return self.memo(("missing", section.id), compute)

    def started(self, section: SectionSpec) -> bool:
        """Whether anything of the section has been answered or added yet."""
        return self._missing_keys(section)[1] > 0 or any(
            self.records(g.id) for g in section.groups()
        )

    def section_state(self, section: SectionSpec) -> SectionState:
        return self.memo(("state", section.id), lambda: self._section_state(section))

    def _section_state(self, section: SectionSpec) -> SectionState:
        keys, answered, required, _done, _counted = self._missing_keys(section)
        missing = [self.label(key) for key in keys]
        for group in section.groups():
            if self.applies(group) and len(self.records(group.id)) < group.min_records:
                missing.append(f"至少{group.min_records}{group.measure}{group.noun}")
        problems = tuple(self.problems(section))
        if not missing and not problems:
            status = Status.DONE
        elif answered == 0 and not any(self.records(g.id) for g in section.groups()):
            status = Status.NOT_STARTED
        else:
            status = Status.INCOMPLETE
        return SectionState(section, status, tuple(missing), problems, answered, required)

    def progress(self) -> int:
        """Overall completion in percent: what is answered against what is required.

        Questions that exist because of a record (its own questions, and those asked per
        record elsewhere, such as a project's contract file) count once answered: adding a
        record, or another project taking a contract file's place among the ten largest,
        never lowers the figure. A group still short of its minimum of records counts the
        missing records' questions. 100 % only when nothing is missing."""
        done, total = self._counted()
        if self.first_year is None and self.spec.owner_of(FIRST_YEAR) is not None:
            # Until the first certified year is known, count the three years a newly
            # certified enterprise reports: answering it then never lowers the figure.
            total = max(total, self._assumed_new()._counted()[1])
        if not total or done >= total:
            return 100 if self._complete() else 99
        percent = round(100 * done / total)
        return 100 if percent >= 100 and self._complete() else min(percent, 99)

    def _counted(self) -> tuple[int, int]:
        done = total = 0
        for section in self.spec.sections:
            section_done, section_total = self._progress(section)
            done += section_done
            total += section_total
        return done, total

    def _assumed_new(self) -> View:
        """This filing as it would be if the enterprise was first certified this year."""
        answers = {**self.filing.answers, Key(FIRST_YEAR): Answer(self.year)}
        return View(self.spec, replace(self.filing, answers=answers))

    def _complete(self) -> bool:
        return all(
            not self._missing_keys(section)[0]
            and all(
                len(self.records(g.id)) >= g.min_records
                for g in section.groups()
                if self.applies(g)
            )
            for section in self.spec.sections
        )

    def _progress(self, section: SectionSpec) -> tuple[int, int]:
        """(answered, counted) questions of the section for `progress`."""

        def compute() -> tuple[int, int]:
            inherited = self._inherited(("progress", section.id), section)
            if inherited is not None:
                return cast(tuple[int, int], inherited)
            done = total = 0
            get = self.filing.answers.get
            for spec, keys in self._field_keys(section):
                per_record = bool(spec.for_records) or self.spec.group_of(spec.id) is not None
                fixed = spec.required if spec.required_when is None else None
                for key in keys:
                    answer = get(key)
                    filled = answer is not None and answer.value != SKIPPED
                    if per_record:
                        # Counted once answered, whether required now or not.
                        if filled:
                            done, total = done + 1, total + 1
                        elif answer is not None and self.required(spec, key):
                            total += 1  # emptied although required: missing
                        continue
                    if fixed if fixed is not None else self.required(spec, key):
                        total += 1
                        done += filled
            # A group behind an unanswered yes/no question ("是否有已完成的项目") is counted as
            # if it applied: answering 是 must not lower the figure (否 raises it).
            gated = any(
                isinstance(item, FieldSpec)
                and item.kind is Kind.YESNO
                and self.applies(item)
                and get(Key(item.id)) is None
                for item in section.items
            )
            for group in section.groups():
                if self.applies(group) or gated:
                    short = max(group.min_records - len(self.records(group.id)), 0)
                    total += short * len(group.fields)
            return (1, 1) if total == 0 else (done, total)

        return self.memo(("progress", section.id), compute)

    def iter_states(self) -> Iterator[SectionState]:
        return (self.section_state(s) for s in self.spec.sections)


def file_size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / 1024 / 1024:.1f} MB"
    return f"{max(size, 1) / 1024:.0f} KB"
