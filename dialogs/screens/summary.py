"""A section's summary (`Mode.SUMMARY`) and picking one of its answers to change
(`Mode.PICK_FIELD`)."""

from __future__ import annotations

from dialogs import project_import, texts
from dialogs.commands import Command
from dialogs.model import Key
from dialogs.replies import Button, Choice
from dialogs.screens.base import Outcome, Screen, Turn
from dialogs.screens.choices import pick, split_verb
from dialogs.spec import SectionSpec
from dialogs.state import ConvState, Mode
from dialogs.summary import key_line, summary_text


def summary(turn: Turn, section_id: str) -> Outcome:
    section = turn.form.section(section_id)
    text = summary_text(turn.view, section)
    buttons = [Button(texts.BTN_CONFIRM, "确认")]
    if not turn.view.read_only(section):
        buttons.append(Button(texts.BTN_EDIT, "修改"))
    for group in section.groups():
        if turn.view.applies(group):
            buttons.append(
                Button(texts.BTN_ADD.format(measure="一" + group.measure, noun=group.noun), "添加")
            )
            if turn.view.records(group.id):
                buttons.append(Button(texts.BTN_EDIT_RECORD.format(noun=group.noun), "编辑"))
                buttons.append(Button(texts.BTN_DELETE_RECORD.format(noun=group.noun), "删除"))
            if group.id == project_import.GROUP:
                buttons.append(Button(texts.BTN_IMPORT, "表格导入"))
    buttons.append(Button(texts.BTN_OVERVIEW, "总览"))
    return turn.done(
        ConvState().at(Mode.SUMMARY, section_id), Choice(turn.lead(text), tuple(buttons))
    )


def on_summary(turn: Turn, state: ConvState, raw: str, command: Command | None) -> Outcome:
    section = turn.form.section(state.section)
    verb, number = split_verb(raw)
    group = next((g for g in section.groups() if turn.view.applies(g)), None)
    if (
        verb in ("确认", "下一步", "下一部分", "确定", "没问题", "ok")
        or command is Command.CONTINUE
    ):
        return turn.next_section(section.id)
    if verb == "修改":
        if number is not None:
            return edit_scalar(turn, section, number)
        return pick_field(turn, section.id)
    if group is not None and verb == "添加":
        key = Key(group.fields[0].id, turn.view.new_record_id(group))
        return turn.show(ConvState().asking(key, section.id))
    if group is not None and verb in ("编辑", "删除"):
        action = "edit" if verb == "编辑" else "delete"
        ids = turn.view.records(group.id)
        if number is not None and 1 <= number <= len(ids):
            record = ids[number - 1]
            mode = Mode.RECORD if action == "edit" else Mode.CONFIRM_DELETE
            return turn.show(ConvState().at(mode, section.id, record=record))
        return turn.show(ConvState().at(Mode.PICK_RECORD, section.id, action=action))
    if verb == "总览":
        return turn.show(ConvState().at(Mode.OVERVIEW, ""))
    turn.refuse(texts.NOT_AN_OPTION)
    return summary(turn, section.id)


def scalar_keys(turn: Turn, section: SectionSpec) -> list[Key]:
    return [k for k in turn.view.steps(section) if turn.form.group_of(k.field) is None]


def pick_field(turn: Turn, section_id: str) -> Outcome:
    section = turn.form.section(section_id)
    keys = scalar_keys(turn, section)
    group = next((g for g in section.groups() if turn.view.applies(g)), None)
    if not keys and group is not None:
        return turn.show(ConvState().at(Mode.PICK_RECORD, section_id, action="edit"))
    buttons = [Button(key_line(turn.view, k), str(i)) for i, k in enumerate(keys, 1)]
    buttons.append(Button(texts.BTN_BACK_TO_SUMMARY, "返回"))
    state = ConvState().at(Mode.PICK_FIELD, section_id)
    return turn.done(state, Choice(turn.lead(texts.PICK_FIELD), tuple(buttons)))


def on_pick_field(turn: Turn, state: ConvState, raw: str, command: Command | None) -> Outcome:
    section = turn.form.section(state.section)
    index = pick(raw, len(scalar_keys(turn, section)), {})
    if index is None:
        turn.refuse(texts.NOT_AN_OPTION)
        return pick_field(turn, state.section)
    return edit_scalar(turn, section, index)


def edit_scalar(turn: Turn, section: SectionSpec, number: int) -> Outcome:
    keys = scalar_keys(turn, section)
    if not 1 <= number <= len(keys):
        turn.refuse(texts.NOT_AN_OPTION)
        return pick_field(turn, section.id)
    key = keys[number - 1]
    return turn.show(ConvState().asking(key, section.id, editing=True, back_to="summary"))


SUMMARY = Screen(
    Mode.SUMMARY, show=lambda turn, state: summary(turn, state.section), handle=on_summary
)
PICK_FIELD = Screen(
    Mode.PICK_FIELD, show=lambda turn, state: pick_field(turn, state.section), handle=on_pick_field
)
