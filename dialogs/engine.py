"""The dialog engine: one pure function that walks the form.

    step(form, filing, state, event, now) -> Outcome(state, replies, changes)

No I/O, no clock of its own: the caller loads the filing and the conversation state, calls
`step`, commits the changes together with the new state, and only then sends the replies.

The engine is a small core over screens (`dialogs/screens/`, one module per kind of screen):
it dispatches an event to the screen of the conversation's mode and keeps only what all
screens share: the commands that work everywhere (帮助, 暂停, 继续, 返回, 总览, 取消, 提交,
修改) and a bare number picking an option of the prompt on screen.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from dialogs import texts
from dialogs.commands import Command, command_of
from dialogs.model import Filing, Key
from dialogs.replies import Choice, Event, FileIn, FileRequest, Start, TableIn, Text, TextIn
from dialogs.screens import (
    carry,
    locked,
    overview,
    question,
    records,
    spreadsheet,
    submit,
    summary,
)
from dialogs.screens.base import Outcome, Screen, Turn, file_not_expected
from dialogs.screens.choices import option_value, split_verb
from dialogs.spec import FormSpec, GroupSpec, Kind, SectionSpec
from dialogs.state import ConvState, Mode
from dialogs.summary import key_line
from dialogs.view import View

__all__ = ["SCREENS", "Outcome", "step"]

# Every mode but WELCOME and PAUSED (which the core handles) has its screen: a new screen is
# a new module under dialogs/screens/ and one line here.
SCREENS: Mapping[Mode, Screen] = {
    screen.mode: screen
    for screen in (
        question.SCREEN,
        question.CONFIRM_AMOUNT,
        records.AFTER_RECORD,
        records.PICK_RECORD,
        records.RECORD,
        records.CONFIRM_DELETE,
        summary.SUMMARY,
        summary.PICK_FIELD,
        overview.SCREEN,
        submit.SCREEN,
        spreadsheet.WAITING,
        spreadsheet.REPORT,
        carry.OFFER,
        carry.RECORD,
    )
}


def step(
    form: FormSpec,
    filing: Filing,
    state: ConvState,
    event: Event,
    now: datetime,
    *,
    view: View | None = None,
) -> Outcome:
    """One event. `view`: the previous outcome's view, if `filing` is its filing."""
    return handle(Turn(form, filing, now, SCREENS, view), state, event)


def handle(turn: Turn, state: ConvState, event: Event) -> Outcome:
    if turn.filing.status in locked.LOCKED:
        return locked.locked(turn, state, event)
    if isinstance(event, Start):
        return start(turn, state)
    if isinstance(event, FileIn):
        return file(turn, state, event)
    if isinstance(event, TableIn):
        screen = turn.screens.get(state.mode)
        if screen is None:
            return file_not_expected(turn, state, event)
        return screen.receive_table(turn, state, event)
    return text(turn, state, event)


def start(turn: Turn, state: ConvState) -> Outcome:
    if turn.filing.status == "rejected":
        return turn.show(ConvState().at(Mode.OVERVIEW, ""))
    if state.mode is Mode.WELCOME:
        turn.note(texts.WELCOME.format(year=turn.form.cycle.year))
        for lines in roster_sections(turn):
            turn.note("\n".join(lines))
        return turn.first_pending()
    turn.note(texts.WELCOME_BACK)
    return turn.resume(state)


def roster_sections(turn: Turn) -> list[list[str]]:
    """The sections the association's roster filled, shown once at the start: the contact
    sees what was imported (read-only) instead of the walk silently passing it by."""
    shown = []
    for section in turn.form.sections:
        keys = [
            key
            for key in turn.view.layout(section)
            if isinstance(key, Key) and turn.view.imported(key)
        ]
        if keys:
            head = texts.ROSTER_SECTION.format(
                section=section.heading, help_line=turn.form.cycle.help_line
            )
            shown.append([head, *(key_line(turn.view, key) for key in keys)])
    return shown


def text(turn: Turn, state: ConvState, event: TextIn) -> Outcome:
    command = command_of(event.text)
    if state.mode is Mode.WELCOME:
        return start(turn, state)
    if state.mode is Mode.PAUSED:
        if command in (Command.CONTINUE, Command.BACK):
            return turn.resume(state)
        if command is Command.OVERVIEW:
            return turn.show(ConvState().at(Mode.OVERVIEW, ""))
        if command is Command.HELP:
            return turn.done(state, Text(help_text(turn, None)))
        return turn.done(state, Text(texts.STILL_PAUSED))
    match command:
        case Command.HELP:
            return give_help(turn, state)
        case Command.PAUSE:
            return pause(turn, state)
        case Command.CANCEL:
            return cancel(turn, state)
        case Command.OVERVIEW:
            return turn.show(ConvState().at(Mode.OVERVIEW, ""))
        case Command.SUBMIT:
            return turn.show(ConvState().at(Mode.SUBMIT, ""))
        case Command.EDIT if state.mode is not Mode.SUMMARY:
            return _summary(turn, state.section or turn.form.sections[0].id)
        case Command.BACK:
            return back(turn, state)
        case Command.CONTINUE if state.mode is Mode.OVERVIEW:
            return turn.first_pending()
        case Command.CONTINUE if state.mode is not Mode.SUMMARY:
            return turn.resume(state)
        case Command.IMPORT if spreadsheet.import_allowed(turn, state):
            return spreadsheet.import_offer(turn)
    raw = resolve_number(turn, state, event.text)
    linked = overview.follow_link(turn, raw)  # the rejection's deep link, pressed or typed
    if linked is not None:
        return linked
    command = command_of(raw) if raw != event.text else command
    if command is Command.IMPORT and raw != event.text and spreadsheet.import_allowed(turn, state):
        return spreadsheet.import_offer(turn)  # the import button, picked by its number
    return turn.screens[state.mode].handle(turn, state, raw, command)


def resolve_number(turn: Turn, state: ConvState, raw: str) -> str:
    """A bare number picks that option of the prompt on screen, exactly as pressing the
    button would; free-text questions keep numbers as answers."""
    if state.mode is Mode.ASK and (
        not state.field or turn.form.field(state.field).kind not in (Kind.CHOICE, Kind.YESNO)
    ):
        return raw
    verb, number = split_verb(raw)
    if verb or number is None:
        return raw
    shown = Turn(turn.form, turn.filing, turn.now, turn.screens).resume(state).replies
    options = shown[-1].options if shown and isinstance(shown[-1], Choice | FileRequest) else ()
    return option_value(raw, options)


def file(turn: Turn, state: ConvState, event: FileIn) -> Outcome:
    if state.mode is Mode.PAUSED:
        return turn.done(state, Text(texts.FILE_NOT_EXPECTED + texts.STILL_PAUSED))
    screen = turn.screens.get(state.mode)
    if screen is None:
        return file_not_expected(turn, state, event)
    return screen.receive_file(turn, state, event)


# --- the commands that work everywhere ----------------------------------------------------------


def help_text(turn: Turn, state: ConvState | None) -> str:
    lines = []
    if state is not None and state.mode is Mode.ASK and state.field:
        spec = turn.form.field(state.field)
        if spec.help:
            lines.append(texts.HELP_FIELD.format(label=turn.view.label(state.key), help=spec.help))
    lines.append(texts.HELP_COMMANDS.format(help_line=turn.form.cycle.help_line))
    return "\n\n".join(lines)


def give_help(turn: Turn, state: ConvState) -> Outcome:
    turn.note(help_text(turn, state))
    return turn.resume(state)


def pause(turn: Turn, state: ConvState) -> Outcome:
    paused = ConvState(mode=Mode.PAUSED, section=state.section, resume=state.to_dict())
    return turn.done(paused, Text(texts.PAUSED.format(where=where(turn, state))))


def where(turn: Turn, state: ConvState) -> str:
    if state.mode is Mode.ASK and state.field:
        return turn.view.label(state.key)
    if state.section:
        return turn.form.section(state.section).heading
    return "总览"


def cancel(turn: Turn, state: ConvState) -> Outcome:
    if state.mode in (Mode.IMPORT, Mode.IMPORT_CHOICE):
        return spreadsheet.cancel(turn, state)
    if state.mode is Mode.ASK and state.editing:
        turn.note(texts.CANCELLED_EDIT)
        if state.back_to == "record":
            return turn.show(ConvState().at(Mode.RECORD, state.section, record=state.record))
        return _summary(turn, state.section)
    if state.mode in (Mode.PICK_FIELD, Mode.PICK_RECORD, Mode.RECORD, Mode.CONFIRM_DELETE):
        return _summary(turn, state.section)
    return pause(turn, state)


def back(turn: Turn, state: ConvState) -> Outcome:
    match state.mode:
        case Mode.ASK if state.editing:
            return cancel(turn, state)
        case Mode.ASK:
            return back_from(turn, state.key, turn.form.section(state.section))
        case Mode.SUMMARY:
            section = turn.form.section(state.section)
            steps = turn.view.steps(section)
            if steps:
                return _ask(turn, steps[-1], section)
            return previous_summary(turn, section)
        case Mode.AFTER_RECORD:
            section = turn.form.section(state.section)
            group = next(section.groups())
            keys = turn.view.record_keys(group, state.record)
            return _ask(turn, keys[-1], section) if keys else _summary(turn, section.id)
        case Mode.PICK_FIELD | Mode.PICK_RECORD | Mode.RECORD | Mode.CONFIRM_DELETE:
            return _summary(turn, state.section)
        case Mode.IMPORT | Mode.IMPORT_CHOICE:
            return cancel(turn, state)
        case Mode.CARRY | Mode.CARRY_RECORD:
            return previous_summary(turn, turn.form.section(state.section))
    return turn.resume(state)


def back_from(turn: Turn, key: Key, section: SectionSpec) -> Outcome:
    steps = turn.view.steps(section)
    if key in steps:
        index = steps.index(key)
        if index > 0:
            return _ask(turn, steps[index - 1], section)
        return previous_summary(turn, section)
    # The first question of a record not yet created: back to what came before it.
    group = turn.form.group_of(key.field)
    if group is not None and turn.view.records(group.id):
        record = turn.view.records(group.id)[-1]
        return turn.show(ConvState().at(Mode.AFTER_RECORD, section.id, record=record))
    earlier = [
        k
        for k in steps
        if turn.form.group_of(k.field) is None and _position(section, k) < _position(section, key)
    ]
    if earlier:
        return _ask(turn, earlier[-1], section)
    return previous_summary(turn, section)


def previous_summary(turn: Turn, section: SectionSpec) -> Outcome:
    index = turn.section_index(section.id)
    for earlier in reversed(turn.form.sections[:index]):
        if turn.view.applies_section(earlier):
            return _summary(turn, earlier.id)
    turn.note(texts.FIRST_STEP)
    first = turn.view.steps(section)
    return _ask(turn, first[0], section) if first else _summary(turn, section.id)


def _ask(turn: Turn, key: Key, section: SectionSpec) -> Outcome:
    return turn.show(ConvState().asking(key, section.id))


def _summary(turn: Turn, section_id: str) -> Outcome:
    return turn.show(ConvState().at(Mode.SUMMARY, section_id))


def _position(section: SectionSpec, key: Key) -> int:
    for i, item in enumerate(section.items):
        ids = [f.id for f in item.fields] if isinstance(item, GroupSpec) else [item.id]
        if key.field in ids:
            return i
    return len(section.items)
