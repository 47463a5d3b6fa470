"""The overview (`Mode.OVERVIEW`): every section as done / incomplete / not started."""

from __future__ import annotations

import re

from dialogs import texts
from dialogs.commands import Command
from dialogs.model import Key
from dialogs.parsing import normalize
from dialogs.replies import Button, Choice
from dialogs.screens.base import Outcome, Screen, Turn
from dialogs.screens.choices import pick, split_verb
from dialogs.spec import FormSpec, GroupSpec, SectionSpec
from dialogs.state import ConvState, Mode
from dialogs.summary import overview_text
from dialogs.view import Status


def overview(turn: Turn) -> Outcome:
    text, entries = overview_text(turn.view)
    filing = turn.filing
    if filing.status == "rejected":
        to_fix = [
            turn.form.section(s).heading for s in filing.review_sections if _has(turn.form, s)
        ]
        turn.note(texts.REJECTED_NOTE.format(version=filing.version, reason=filing.review_note))
        if to_fix:
            turn.note(texts.REJECTED_SECTIONS.format(sections="、".join(to_fix)))
        shown = [s for s in turn.form.sections if turn.view.applies_section(s)]
        entries = [
            texts.OVERVIEW_TO_FIX.format(section=section.heading)
            if section.id in filing.review_sections
            else entry
            for section, entry in zip(shown, entries, strict=True)
        ]
    buttons = fix_links(turn) if filing.status == "rejected" else []
    submit = Button(texts.BTN_SUBMIT, "提交")
    complete = all(
        turn.view.section_state(s).status is Status.DONE
        for s in turn.form.sections
        if turn.view.applies_section(s)
    )
    if complete:
        buttons.insert(0, submit)  # the next step, on the first page of any keyboard
    # "前往 N", not a bare N: a bare number picks an option by its place on the keyboard.
    buttons += [Button(label, f"前往 {i}") for i, label in enumerate(entries, 1)]
    buttons.append(Button(texts.BTN_CONTINUE, "继续"))
    if not complete:
        buttons.append(submit)
    return turn.done(ConvState().at(Mode.OVERVIEW, ""), Choice(turn.lead(text), tuple(buttons)))


def on_overview(turn: Turn, state: ConvState, raw: str, command: Command | None) -> Outcome:
    verb, number = split_verb(raw)
    if verb in ("提交", "提交审核"):
        return turn.show(ConvState().at(Mode.SUBMIT, ""))
    if verb == "前往" and number is not None:
        raw = str(number)
    sections = [s for s in turn.form.sections if turn.view.applies_section(s)]
    index = pick(raw, len(sections), {s.title: i for i, s in enumerate(sections, 1)})
    if index is None:
        turn.refuse(texts.NOT_AN_OPTION)
        return overview(turn)
    section = sections[index - 1]
    if turn.view.section_state(section).status is Status.DONE:
        return turn.show(ConvState().at(Mode.SUMMARY, section.id))
    return turn.walk(section.id)


# --- the rejection's deep links -----------------------------------------------------------------

FIX = "改正"  # a deep link's verb: "改正 <field> <record or -> <year>" or "改正 <section>"


def fix_links(turn: Turn) -> list[Button]:
    """For each section the reviewer named: a button straight to the answer the reason
    names ("项目1的软件开发费…": that record's 软件开发费), else to the record it names,
    else to the section's summary."""
    filing = turn.filing
    reason = normalize(filing.review_note)
    buttons = []
    for section_id in filing.review_sections:
        if not _has(turn.form, section_id):
            continue
        section = turn.form.section(section_id)
        key = _named_key(turn, section, reason)
        if key is not None:
            label = turn.view.label(key)
            group = turn.form.group_of(key.field)
            if group is not None:
                record = turn.view.describe_record(group, key.record)
                label = texts.CHANGE_RECORD_LABEL.format(record=record, label=label)
            value = f"{FIX} {key.field} {key.record or '-'} {key.year}"
            buttons.append(Button(texts.BTN_FIX_FIELD.format(label=label), value))
        else:
            value = f"{FIX} {section.id}"
            buttons.append(Button(texts.BTN_FIX_SECTION.format(section=section.heading), value))
    return buttons


def _named_key(turn: Turn, section: SectionSpec, reason: str) -> Key | None:
    """The answer of `section` the reason names: a field label it contains (the longest),
    in the record it numbers ("项目1", "第 1 个项目") when the field belongs to a record."""
    named: list[tuple[int, Key]] = []
    for group in section.groups():
        record = _named_record(turn, group, reason)
        if record is None:
            continue
        for spec in group.fields:
            if spec.label in reason and turn.view.applies(spec):
                named.append((len(spec.label), Key(spec.id, record)))
    for entry in turn.view.layout(section):
        if isinstance(entry, Key) and turn.form.group_of(entry.field) is None:
            spec = turn.form.field(entry.field)
            label = turn.view.label(entry)
            if label in reason or (spec.label in reason and not entry.year):
                named.append((len(label), entry))
    return max(named, key=lambda pair: pair[0])[1] if named else None


def _named_record(turn: Turn, group: GroupSpec, reason: str) -> str | None:
    pattern = rf"{group.noun}\s*(\d+)|第\s*(\d+)\s*{group.measure}?\s*{group.noun}"
    found = re.search(pattern, reason)
    if found is None:
        return None
    index = int(found.group(1) or found.group(2))
    records = turn.view.records(group.id)
    return records[index - 1] if 1 <= index <= len(records) else None


def follow_link(turn: Turn, raw: str) -> Outcome | None:
    """A deep link pressed (from the rejection, or typed): the answer asked for a change,
    and after it the pre-submit check; or the section's summary."""
    parts = normalize(raw).split()
    if len(parts) < 2 or parts[0] != FIX or turn.filing.status not in ("draft", "rejected"):
        return None
    if len(parts) == 2 and _has(turn.form, parts[1]):
        return turn.show(ConvState().at(Mode.SUMMARY, parts[1]))
    if len(parts) != 4 or not parts[3].isdigit():
        return None
    try:
        section = turn.form.section_of(parts[1])
    except (KeyError, ValueError):
        return None
    key = Key(parts[1], "" if parts[2] == "-" else parts[2], int(parts[3]))
    group = turn.form.group_of(key.field)
    if group is not None and key.record not in turn.view.records(group.id):
        return None
    state = ConvState().asking(key, section.id, editing=True, back_to="submit")
    return turn.show(state)


def _has(form: FormSpec, section_id: str) -> bool:
    return any(s.id == section_id for s in form.sections)


SCREEN = Screen(Mode.OVERVIEW, show=lambda turn, state: overview(turn), handle=on_overview)
