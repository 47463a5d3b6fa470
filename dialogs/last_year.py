"""Last year's values: what a new filing may start from when the enterprise filed the
previous cycle.

Only what usually stays the same from one year to the next is offered: the contact person,
personnel and certificate holders (a certificate past its validity is not). Projects and
business figures are a year's own and never carried; the enterprise section comes from the
roster. Nothing is saved until the contact confirms it, in bulk after seeing the list or
value by value ("保留" keeps last year's value).

Carried holders get record ids of their own (`CARRIED` + last year's id), so a holder typed
by hand can never be mistaken for one of last year's.
"""

from __future__ import annotations

from datetime import date

from dialogs import catalog, texts
from dialogs.model import AddRecord, Change, Filing, Key, SetAnswer, Value
from dialogs.spec import FieldSpec, FormSpec, GroupSpec, Kind, SectionSpec
from dialogs.state import ConvState, Mode
from dialogs.view import SKIPPED, View

CARRIED_SECTIONS = frozenset({"contact", "personnel", "holders"})
CARRIED = "ly"
# ConvState.back_to while the contact walks through last year's records one by one.
WALKING = "carry"


def previous(view: View) -> Filing | None:
    return view.filing.previous


def carried(section: SectionSpec) -> bool:
    return section.id in CARRIED_SECTIONS


def last_year_record(record: str) -> str:
    return record.removeprefix(CARRIED)


def record_id(previous_record: str) -> str:
    return f"{CARRIED}{previous_record}"


def _usable(spec: FieldSpec, value: Value) -> bool:
    if spec.kind is Kind.FILE:
        return False
    if spec.kind is Kind.CHOICE and value != SKIPPED:
        # The catalog may have changed since: an option no longer offered is asked again.
        return any(o.value == value for o in spec.options)
    return True


def default(view: View, key: Key, *, records: bool = False) -> Value | None:
    """Last year's value for this unanswered question, if it is offered. Values of records
    only while the contact walks through last year's records (`records`)."""
    last = previous(view)
    if last is None or key.year or not carried(view.spec.section_of(key.field)):
        return None
    spec = view.spec.field(key.field)
    group = view.spec.group_of(key.field)
    if group is None:
        value = last.get(Key(key.field))
    elif records and key.record.startswith(CARRIED):
        value = last.get(Key(key.field, last_year_record(key.record)))
    else:
        return None
    return value if value is not None and _usable(spec, value) else None


def _valid_until_ok(view: View, last: Filing, record: str) -> bool:
    until = last.get(Key("holder.valid_until", record))
    return not isinstance(until, date) or until >= date(view.year, 12, 31)


def _known_certificate(last: Filing, record: str) -> bool:
    cert = last.get(Key("holder.certificate", record))
    return isinstance(cert, str) and cert in catalog.BY_ID


def records(view: View, group: GroupSpec) -> tuple[str, ...]:
    """Last year's records of the group still worth offering (certificates still valid at
    the end of this inspection year), as last year's ids."""
    last = previous(view)
    if last is None or not carried(view.spec.section_of(group.id)):
        return ()
    return tuple(
        rid
        for rid in last.record_ids(group.id)
        if _valid_until_ok(view, last, rid) and _known_certificate(last, rid)
    )


def dropped(view: View, group: GroupSpec) -> int:
    last = previous(view)
    if last is None:
        return 0
    return len(last.record_ids(group.id)) - len(records(view, group))


def _group(view: View, section: SectionSpec) -> GroupSpec | None:
    return next((g for g in section.groups() if view.applies(g)), None)


def _scalar_keys(view: View, section: SectionSpec) -> list[Key]:
    return [
        k
        for k in view.steps(section)
        if view.spec.group_of(k.field) is None and not view.answered(k)
    ]


def offer_due(view: View, section: SectionSpec) -> bool:
    """A carried section not started yet, with something of last year's to offer."""
    if previous(view) is None or not carried(section) or view.started(section):
        return False
    group = _group(view, section)
    if group is not None:
        return bool(records(view, group))
    return any(default(view, k) is not None for k in _scalar_keys(view, section))


def offer_lines(view: View, section: SectionSpec) -> list[str]:
    group = _group(view, section)
    if group is not None:
        return [
            f"  {i}. {describe(view, group, rid)}" for i, rid in enumerate(records(view, group), 1)
        ]
    lines = []
    for key in _scalar_keys(view, section):
        value = default(view, key)
        if value is not None:
            spec = view.spec.field(key.field)
            lines.append(f"  • {view.label(key)}：{view.format_value(spec, value)}")
    return lines


def describe(view: View, group: GroupSpec, previous_record: str) -> str:
    """One of last year's records on one line: its answers in the form's order."""
    last = previous(view)
    assert last is not None
    parts = []
    for spec in group.fields:
        value = last.get(Key(spec.id, previous_record))
        if value is not None and value != SKIPPED:
            parts.append(f"{spec.label} {view.format_value(spec, value)}")
    return "，".join(parts)


def section_changes(view: View, section: SectionSpec) -> list[Change]:
    """Everything of last year's the offer showed, saved as the contact's answers."""
    group = _group(view, section)
    if group is None:
        changes: list[Change] = []
        for key in _scalar_keys(view, section):
            value = default(view, key)
            if value is not None:
                changes.append(SetAnswer(key, value, None))
        return changes
    changes = []
    for rid in records(view, group):
        changes.extend(record_changes(view, group, rid))
    return changes


def record_changes(view: View, group: GroupSpec, previous_record: str) -> list[Change]:
    rid = record_id(previous_record)
    if rid in view.records(group.id):
        return []
    changes: list[Change] = [AddRecord(group.id, rid)]
    for spec in group.fields:
        value = default(view, Key(spec.id, rid), records=True)
        if value is not None:
            changes.append(SetAnswer(Key(spec.id, rid), value, None))
    return changes


def next_record(view: View, group: GroupSpec, after: str = "") -> str | None:
    """Last year's record to offer after `after` (a last-year id), skipping carried ones."""
    ids = records(view, group)
    start = ids.index(after) + 1 if after in ids else 0
    for rid in ids[start:]:
        if record_id(rid) not in view.records(group.id):
            return rid
    return None


def offer_text(view: View, section: SectionSpec) -> str:
    last = previous(view)
    assert last is not None
    shown = offer_lines(view, section)
    group = _group(view, section)
    if group is None:
        lines = "\n".join(shown)
        return texts.CARRY_OFFER.format(year=last.year, section=section.heading, lines=lines)
    gone = dropped(view, group)
    if gone:
        shown.append(texts.CARRY_EXPIRED.format(count=gone))
    return texts.CARRY_OFFER_HOLDERS.format(
        year=last.year, count=len(records(view, group)), lines="\n".join(shown)
    )


def needs_previous(form: FormSpec, filing: Filing, state: ConvState) -> bool:
    """Whether this step may offer last year's values, so the edge loads them only then:
    a draft with a carried section still open, or a walk through last year's records."""
    if filing.status not in ("draft", "rejected"):
        return False
    if state.mode in (Mode.CARRY, Mode.CARRY_RECORD) or state.back_to == WALKING:
        return True
    for section in form.sections:
        if not carried(section):
            continue
        for item in section.items:
            if isinstance(item, GroupSpec):
                if not filing.record_ids(item.id):
                    return True
            elif Key(item.id) not in filing.answers:
                return True
    return False
