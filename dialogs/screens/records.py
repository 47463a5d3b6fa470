"""Record loops: after a record (`Mode.AFTER_RECORD`: add another or finish), picking a record
(`Mode.PICK_RECORD`), one record's answers (`Mode.RECORD`) and deleting one
(`Mode.CONFIRM_DELETE`)."""

from __future__ import annotations

from dialogs import bulk, project_import, texts
from dialogs.commands import Command
from dialogs.model import DeleteRecord, Key
from dialogs.replies import Button, Choice
from dialogs.screens.base import Outcome, Screen, Turn
from dialogs.screens.choices import pick
from dialogs.spec import SectionSpec
from dialogs.state import ConvState, Mode
from dialogs.summary import key_line, record_lines


def _summary(turn: Turn, section_id: str) -> Outcome:
    return turn.show(ConvState().at(Mode.SUMMARY, section_id))


def after_record(turn: Turn, section_id: str, record: str) -> Outcome:
    section = turn.form.section(section_id)
    group = next(section.groups())
    lines = [texts.RECORD_SAVED.format(record=turn.view.describe_record(group, record))]
    lines.extend(record_lines(turn.view, section, record))
    lines.append(texts.ASK_MORE.format(noun=group.noun))
    buttons: tuple[Button, ...] = (
        Button(texts.BTN_ADD_MORE.format(measure="一" + group.measure, noun=group.noun), "1"),
        Button(texts.BTN_DONE_ADDING, "2"),
    )
    if group.id == project_import.GROUP:
        buttons += (Button(texts.BTN_IMPORT, "表格导入"),)
    return turn.done(
        ConvState().at(Mode.AFTER_RECORD, section_id, record=record),
        Choice(turn.lead("\n".join(lines)), buttons),
    )


def on_after_record(turn: Turn, state: ConvState, raw: str, command: Command | None) -> Outcome:
    section = turn.form.section(state.section)
    group = next(section.groups())
    if bulk.is_bulk(raw) and bulk.several(raw):
        # The next record (or several) pasted right away: as at its first question.
        key = Key(group.fields[0].id, turn.view.new_record_id(group))
        return turn.screens[Mode.ASK].handle(turn, ConvState().asking(key, section.id), raw, None)
    choice = pick(
        raw,
        2,
        {
            "继续添加": 1,
            "添加": 1,
            "继续": 1,
            "添加完毕": 2,
            "完毕": 2,
            "完成": 2,
            "没有了": 2,
            "否": 2,
            "是": 1,
        },
    )
    if choice == 1:
        key = Key(group.fields[0].id, turn.view.new_record_id(group))
        return turn.show(ConvState().asking(key, section.id))
    if choice == 2:
        return walk_after_group(turn, section)
    turn.refuse(texts.NOT_AN_OPTION)
    return after_record(turn, state.section, state.record)


def walk_after_group(turn: Turn, section: SectionSpec) -> Outcome:
    """Finishing adding records moves on to the section's remaining questions."""
    pending = turn.view.pending(section)
    if isinstance(pending, Key):
        return turn.show(ConvState().asking(pending, section.id))
    return _summary(turn, section.id)


def pick_record(turn: Turn, section_id: str, action: str) -> Outcome:
    section = turn.form.section(section_id)
    group = next(section.groups())
    ids = turn.view.records(group.id)
    if not ids:
        turn.note(texts.NO_RECORDS.format(noun=group.noun))
        return _summary(turn, section_id)
    template = texts.PICK_RECORD_EDIT if action == "edit" else texts.PICK_RECORD_DELETE
    text = template.format(measure=group.measure, noun=group.noun)
    buttons = [
        Button(turn.view.describe_record(group, rid), str(i)) for i, rid in enumerate(ids, 1)
    ]
    buttons.append(Button(texts.BTN_BACK_TO_SUMMARY, "返回"))
    state = ConvState().at(Mode.PICK_RECORD, section_id, action=action)
    return turn.done(state, Choice(turn.lead(text), tuple(buttons)))


def on_pick_record(turn: Turn, state: ConvState, raw: str, command: Command | None) -> Outcome:
    section = turn.form.section(state.section)
    group = next(section.groups())
    ids = turn.view.records(group.id)
    index = pick(raw, len(ids), {})
    if index is None:
        turn.refuse(texts.NOT_AN_OPTION)
        return pick_record(turn, state.section, state.action)
    record = ids[index - 1]
    if state.action == "delete":
        return confirm_delete(turn, state.section, record)
    return record_view(turn, state.section, record)


def record_view(turn: Turn, section_id: str, record: str) -> Outcome:
    section = turn.form.section(section_id)
    group = next(section.groups())
    if record not in turn.view.records(group.id):
        turn.note(texts.RECORD_GONE)
        return _summary(turn, section_id)
    keys = turn.view.record_keys(group, record)
    lines = [turn.view.describe_record(group, record)]
    lines.extend(record_lines(turn.view, section, record))
    lines.append(texts.RECORD_VIEW)
    buttons = [Button(key_line(turn.view, k), str(i)) for i, k in enumerate(keys, 1)]
    buttons.append(Button(texts.BTN_BACK_TO_SUMMARY, "返回"))
    state = ConvState().at(Mode.RECORD, section_id, record=record)
    return turn.done(state, Choice(turn.lead("\n".join(lines)), tuple(buttons)))


def on_record(turn: Turn, state: ConvState, raw: str, command: Command | None) -> Outcome:
    section = turn.form.section(state.section)
    group = next(section.groups())
    keys = turn.view.record_keys(group, state.record)
    index = pick(raw, len(keys), {})
    if index is None:
        turn.refuse(texts.NOT_AN_OPTION)
        return record_view(turn, state.section, state.record)
    key = keys[index - 1]
    return turn.show(ConvState().asking(key, section.id, editing=True, back_to="record"))


def confirm_delete(turn: Turn, section_id: str, record: str) -> Outcome:
    group = next(turn.form.section(section_id).groups())
    text = texts.CONFIRM_DELETE.format(record=turn.view.describe_record(group, record))
    buttons = (Button(texts.BTN_DELETE_YES, "1"), Button(texts.BTN_DELETE_NO, "2"))
    state = ConvState().at(Mode.CONFIRM_DELETE, section_id, record=record)
    return turn.done(state, Choice(turn.lead(text), buttons))


def on_confirm_delete(turn: Turn, state: ConvState, raw: str, command: Command | None) -> Outcome:
    group = next(turn.form.section(state.section).groups())
    choice = pick(
        raw, 2, {"确定删除": 1, "确定": 1, "删除": 1, "是": 1, "不删除": 2, "否": 2, "不": 2}
    )
    if choice == 1 and state.record in turn.view.records(group.id):
        described = turn.view.describe_record(group, state.record)
        turn.change(DeleteRecord(group.id, state.record))
        turn.note(texts.DELETED.format(record=described))
    elif choice is None:
        turn.refuse(texts.NOT_AN_OPTION)
        return confirm_delete(turn, state.section, state.record)
    return _summary(turn, state.section)


AFTER_RECORD = Screen(
    Mode.AFTER_RECORD,
    show=lambda turn, state: after_record(turn, state.section, state.record),
    handle=on_after_record,
)
PICK_RECORD = Screen(
    Mode.PICK_RECORD,
    show=lambda turn, state: pick_record(turn, state.section, state.action),
    handle=on_pick_record,
)
RECORD = Screen(
    Mode.RECORD,
    show=lambda turn, state: record_view(turn, state.section, state.record),
    handle=on_record,
)
CONFIRM_DELETE = Screen(
    Mode.CONFIRM_DELETE,
    show=lambda turn, state: confirm_delete(turn, state.section, state.record),
    handle=on_confirm_delete,
)
