"""The question screen (`Mode.ASK`): one answer at (field, record, year), typed or uploaded."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from dialogs import bulk, last_year, project_import, texts, texts_input
from dialogs.answers import Invalid, parse_answer
from dialogs.commands import Command
from dialogs.magnitude import Doubt, doubtful_amount
from dialogs.model import AddRecord, Change, Key, SetAnswer
from dialogs.replies import Button, Choice, FileIn, FileRequest, Reply, Text
from dialogs.screens import carry, spreadsheet
from dialogs.screens.base import Outcome, Screen, Turn
from dialogs.spec import FieldSpec, Kind, SectionSpec
from dialogs.state import ConvState, Mode
from dialogs.view import SKIPPED, file_size

CARRY = carry.CARRY


def ask(
    turn: Turn,
    key: Key,
    section: SectionSpec,
    *,
    state: ConvState | None = None,
    editing: bool = False,
) -> Outcome:
    spec = turn.form.field(key.field)
    keeps = state is not None and (state.editing or state.back_to == CARRY)
    back_to = state.back_to if state is not None and keeps else ""
    editing = editing or bool(state is not None and state.editing)
    new_state = asking(turn, key, section.id, editing=editing, back_to=back_to)
    return turn.done(new_state, question(turn, key, spec, section, carry=back_to == CARRY))


def asking(turn: Turn, key: Key, section_id: str, *, editing: bool, back_to: str) -> ConvState:
    current = turn.filing.answers.get(key)
    seen = current.revision if current is not None else 0
    return ConvState().asking(key, section_id, editing=editing, back_to=back_to, seen=seen)


def changed_meanwhile(turn: Turn, state: ConvState, key: Key) -> bool:
    """Another contact answered or changed this since it was shown here."""
    current = turn.filing.answers.get(key)
    return (current.revision if current is not None else 0) != state.seen


def question(
    turn: Turn, key: Key, spec: FieldSpec, section: SectionSpec, *, carry: bool = False
) -> Reply:
    lines = [progress_line(turn, key, section)]
    unit = f"（{spec.unit}）" if spec.unit else ""
    label = turn.view.label(key)
    if spec.kind is Kind.FILE:
        lines.append(texts.ASK_FILE.format(label=label))
    elif spec.kind in (Kind.CHOICE, Kind.YESNO):
        lines.append(texts.ASK_CHOICE.format(label=label))
    else:
        lines.append(texts.ASK.format(label=label, unit=unit))
    if spec.help:
        lines.append(spec.help)
    # Asked again after a refused answer: the refusal said what is wrong, with an example.
    hint = "" if turn.again else paste_hint(turn, key, spec, section)
    if hint:
        lines.append(hint)
    if not turn.view.required(spec, key) and "跳过" not in (spec.help or ""):
        lines.append(texts.OPTIONAL_HINT)  # once: a help that says it already is enough
    buttons: list[Button] = []
    if spec.kind is Kind.CHOICE:
        buttons.extend(Button(o.label, str(i)) for i, o in enumerate(spec.options, 1))
    elif spec.kind is Kind.YESNO:
        buttons.extend((Button("是", "是"), Button("否", "否")))
    elif spec.example and spec.kind is not Kind.FILE and not turn.again:
        lines.append(texts.EXAMPLE.format(example=spec.example))
    if turn.view.answered(key):
        lines.append(texts.CURRENT_VALUE.format(value=turn.view.display(key)))
        buttons.append(Button(texts.BTN_KEEP, "保留"))
        if spec.kind is Kind.FILE and turn.view.filled(key) and not turn.view.required(spec, key):
            buttons.append(Button(texts.BTN_REMOVE_FILE, "移除"))
    else:
        carried = last_year.default(turn.view, key, records=carry)
        if carried is not None:
            shown = turn.view.format_value(spec, carried)
            lines.append(texts.CARRY_DEFAULT.format(value=shown))
            buttons.append(Button(texts.BTN_CARRY_KEEP, "保留"))
        if not turn.view.required(spec, key):
            buttons.append(Button(texts.BTN_SKIP, "跳过"))
    if spreadsheet.offers_import(turn, key):
        buttons.append(Button(texts.BTN_IMPORT, "表格导入"))
    text = turn.lead("\n".join(lines))
    if spec.kind is Kind.FILE:
        return FileRequest(text, str(key), label, tuple(buttons))
    if not buttons:
        return Text(text)
    return Choice(text, tuple(buttons), free_text=spec.kind not in (Kind.CHOICE, Kind.YESNO))


def paste_hint(turn: Turn, key: Key, spec: FieldSpec, section: SectionSpec) -> str:
    """A few words saying that the whole record (or several of the section's answers) can be
    given in one message; none where there is only one question to answer."""
    if spec.kind is Kind.FILE:
        return ""
    group = turn.form.group_of(key.field)
    if group is not None:
        keys = bulk.record_keys(turn.view, group, key.record)
        hint = texts_input.PASTE_HINT_RECORD
    else:
        keys = bulk.section_keys(turn.view, section)
        hint = texts_input.PASTE_HINT_SECTION
    typed = [k for k in keys if turn.form.field(k.field).kind is not Kind.FILE]
    return hint if len(typed) >= 2 else ""


def progress_line(turn: Turn, key: Key, section: SectionSpec) -> str:
    percent = turn.view.progress()
    group = turn.form.group_of(key.field)
    if group is not None:
        keys = [Key(f.id, key.record) for f in group.fields if turn.view.applies(f)]
        record = turn.view.describe_record(group, key.record).split("：")[0]
        return texts.PROGRESS_RECORD.format(
            section=section.heading,
            record=record,
            step=keys.index(key) + 1 if key in keys else 1,
            steps=len(keys),
            percent=percent,
        )
    steps = [k for k in turn.view.steps(section) if turn.form.group_of(k.field) is None]
    return texts.PROGRESS.format(
        section=section.heading,
        step=steps.index(key) + 1 if key in steps else 1,
        steps=max(len(steps), 1),
        percent=percent,
    )


def answer(turn: Turn, state: ConvState, raw: str, command: Command | None) -> Outcome:
    key = state.key
    spec = turn.form.field(key.field)
    section = turn.form.section_of(key.field)
    label = turn.view.label(key)
    current = turn.filing.answers.get(key)
    if read_only(turn, key):
        return advance(turn, state, key)
    if command is Command.KEEP:
        carried = last_year.default(turn.view, key, records=state.back_to == CARRY)
        if current is None and carried is not None:
            store(turn, key, carried)
            turn.note(texts.CARRIED.format(label=label, value=turn.view.display(key)))
            return advance(turn, state, key)
        if current is None:
            turn.refuse(texts.NOTHING_TO_KEEP.format(label=label))
            return ask(turn, key, section, state=state)
        turn.note(texts.KEPT.format(label=label))
        return advance(turn, state, key)
    if command is Command.SKIP:
        if current is not None:
            turn.note(texts.KEPT.format(label=label))
            return advance(turn, state, key)
        if turn.view.required(spec, key):
            turn.refuse(texts.REQUIRED_NO_SKIP.format(label=label))
            return ask(turn, key, section, state=state)
        store(turn, key, SKIPPED)
        turn.note(texts.SKIPPED.format(label=label))
        return advance(turn, state, key)
    if spec.kind is Kind.FILE:
        if command is Command.REMOVE and current is not None:
            return remove_file(turn, state, key, spec)
        turn.refuse(texts.NEED_FILE)
        return ask(turn, key, section, state=state)
    if bulk.is_bulk(raw):
        pasted = paste(turn, state, key, raw)
        if pasted is not None:
            return pasted
    else:
        named = bulk.labelled_line(turn.view, keys_here(turn, key), key, raw)
        if named is not None and named[0] == key:
            raw = named[1]  # "2025年营业收入 3856200" at that question: the value
        elif named is not None:
            pasted = paste(turn, state, key, raw, named=named)
            if pasted is not None:
                return pasted
    result = parse_answer(turn.view, spec, key, raw)
    if isinstance(result, Invalid) and command is Command.IMPORT:
        # "表格导入" typed outside the project section, and no answer here: say where.
        turn.refuse(texts.IMPORT_ELSEWHERE.format(section=spreadsheet.import_section(turn).heading))
        return ask(turn, key, section, state=state)
    if isinstance(result, Invalid):
        turn.refuse(texts.ERROR.format(reason=result.reason, example=result.example))
        return ask(turn, key, section, state=state)
    if changed_meanwhile(turn, state, key):
        turn.note(texts.CHANGED_MEANWHILE.format(label=label, value=turn.view.display(key)))
        return ask(turn, key, section, state=state)
    if isinstance(result, Decimal):
        doubt = doubtful_amount(turn.view, key, result, raw)
        if doubt is not None:
            return confirm_amounts(turn, state, [doubt])
    store(turn, key, result)
    template = texts.CHANGED if state.editing else texts.SAVED
    turn.note(template.format(label=label, value=turn.view.display(key)))
    return advance(turn, state, key)


def store(turn: Turn, key: Key, value: object) -> None:
    group = turn.form.group_of(key.field)
    changes: list[Change] = []
    if group is not None and key.record not in turn.view.records(group.id):
        changes.append(AddRecord(group.id, key.record))
    changes.append(SetAnswer(key, value, turn.filing.get(key)))  # type: ignore[arg-type]
    turn.change(*changes)


def receive_file(turn: Turn, state: ConvState, event: FileIn) -> Outcome:
    spec = turn.form.field(state.field) if state.mode is Mode.ASK and state.field else None
    if spec is None or spec.kind is not Kind.FILE:
        turn.note(texts.FILE_NOT_EXPECTED)
        return turn.resume(state)
    key = state.key
    if read_only(turn, key):
        return advance(turn, state, key)
    if event.ref is None:
        turn.refuse(texts.FILE_REJECTED.format(reason=event.rejected))
        return ask(turn, key, turn.form.section_of(key.field), state=state)
    if changed_meanwhile(turn, state, key):
        label = turn.view.label(key)
        turn.note(texts.CHANGED_MEANWHILE.format(label=label, value=turn.view.display(key)))
        return ask(turn, key, turn.form.section_of(key.field), state=state)
    store(turn, key, event.ref)
    turn.note(
        texts.FILE_SAVED.format(
            name=event.ref.name, size=file_size(event.ref.size), label=turn.view.label(key)
        )
    )
    return advance(turn, state, key)


def remove_file(turn: Turn, state: ConvState, key: Key, spec: FieldSpec) -> Outcome:
    """An optional file can be taken out again; a required one only replaced."""
    label = turn.view.label(key)
    if turn.view.required(spec, key):
        turn.refuse(texts.FILE_REQUIRED.format(label=label))
        return ask(turn, key, turn.form.section_of(key.field), state=state)
    store(turn, key, SKIPPED)
    turn.note(texts.FILE_REMOVED.format(label=label))
    return advance(turn, state, key)


def read_only(turn: Turn, key: Key) -> bool:
    """Roster-imported answers are the association's: shown, never overwritten."""
    if not turn.view.imported(key):
        return False
    turn.note(
        texts.READ_ONLY.format(label=turn.view.label(key), help_line=turn.form.cycle.help_line)
    )
    return True


def advance(turn: Turn, state: ConvState, key: Key) -> Outcome:
    section = turn.form.section_of(key.field)
    group = turn.form.group_of(key.field)
    if state.back_to == CARRY and group is not None:
        for k in turn.view.record_keys(group, key.record):
            if not turn.view.answered(k):
                return carry.ask_carried(turn, k, section)
        return carry.carry_next(turn, section.id, last_year.last_year_record(key.record))
    if state.editing:
        if state.back_to == "submit":  # a deep link from the rejection: straight to the check
            return turn.show(ConvState().at(Mode.SUBMIT, ""))
        if state.back_to == "record" and key.record in turn.view.records_of_field(key.field):
            return turn.show(ConvState().at(Mode.RECORD, section.id, record=key.record))
        return turn.show(ConvState().at(Mode.SUMMARY, section.id))
    group = turn.form.group_of(key.field)
    if group is not None:
        for k in turn.view.record_keys(group, key.record):
            if not turn.view.answered(k):
                return ask(turn, k, section)
        return turn.show(ConvState().at(Mode.AFTER_RECORD, section.id, record=key.record))
    return turn.walk(section.id)


# --- several answers in one message ---------------------------------------------------------


def keys_here(turn: Turn, key: Key) -> list[Key]:
    """The questions a message at `key` may answer: its record's, or its section's."""
    group = turn.form.group_of(key.field)
    if group is not None:
        return bulk.record_keys(turn.view, group, key.record)
    return bulk.section_keys(turn.view, turn.form.section_of(key.field))


def paste(
    turn: Turn, state: ConvState, key: Key, raw: str, *, named: tuple[Key, str] | None = None
) -> Outcome | None:
    """A pasted row (or rows) or labelled lines at a question of a record or a section: every
    recognised answer stored at once, one summary, then what is still missing asked one by
    one. None when the message names no question here (it is then a single answer).
    `named`: the one line was found to name another question of the record or section, with
    this value (`bulk.labelled_line`)."""
    section = turn.form.section_of(key.field)
    group = turn.form.group_of(key.field)
    keys = keys_here(turn, key)
    if group is not None:
        new = key.record not in turn.view.records(group.id)
        if new and not state.editing and bulk.data_rows(turn.view, keys, raw) > 1:
            return paste_rows(turn, state, key, raw)
    if named is None and not bulk.several(raw):
        return None
    keys = [k for k in keys if not turn.view.imported(k)]
    if len(keys) < 2:
        return None
    if named is not None:
        result = bulk.parse_given(turn.view, keys, {named[0]: named[1]})
    else:
        result = bulk.parse_message(turn.view, keys, raw)
    if not result.values and not result.problems:
        return None
    doubted = {doubt.key for doubt in result.doubts}
    kept = replace(result, values=tuple((k, v) for k, v in result.values if k not in doubted))
    turn.change(*kept.changes(turn.view))
    if named is not None:  # said like a single answer: no summary of the rest
        lines = [
            texts.SAVED.format(label=turn.view.label(k), value=turn.view.display(k))
            for k, _value in kept.values
        ]
        lines += [f"✗ {problem.line}" for problem in kept.problems]
    else:
        lines = kept.lines(turn.view)
    lines += [
        texts_input.DOUBT_PENDING.format(label=turn.view.label(d.key), value=d.wan_label)
        for d in result.doubts
    ]
    turn.note("\n".join(lines))
    if result.doubts:
        return confirm_amounts(turn, state, list(result.doubts))
    if result.problems and not state.editing:
        first = result.problems[0].key
        return ask(turn, first, section, state=state)
    return advance(turn, state, key)


def paste_rows(turn: Turn, state: ConvState, key: Key, raw: str) -> Outcome:
    """Several rows pasted at once: one record each, with the spreadsheet import's report."""
    group = turn.form.group_of(key.field)
    assert group is not None
    section = turn.form.section_of(key.field)
    parsed = bulk.parse_rows(turn.view, group, raw)
    turn.change(*bulk.rows_changes(turn.view, group, parsed))
    turn.note("\n".join(project_import.report_lines(parsed)))
    records = turn.view.records(group.id)
    if not parsed.rows:
        turn.note(texts_input.BULK_NOTHING_FOUND)
        return ask(turn, key, section, state=state)
    return turn.show(ConvState().at(Mode.AFTER_RECORD, section.id, record=records[-1]))


# --- doubtful amounts: asked, not stored ----------------------------------------------------

_AS_WAN = "按万元"
_AS_YUAN = "按元"


def confirm_amounts(turn: Turn, state: ConvState, doubts: list[Doubt]) -> Outcome:
    """Asks which reading of each doubtful amount is meant; nothing is stored before."""
    items = [
        {
            "field": d.key.field,
            "record": d.key.record,
            "year": d.key.year,
            "wan": str(d.as_wan),
            "yuan": str(d.as_yuan),
            "reason": d.reason,
        }
        for d in doubts
    ]
    first = doubts[0].key
    asking_state = ConvState().asking(
        first, turn.form.section_of(first.field).id, editing=state.editing, back_to=state.back_to
    )
    return show_doubt(turn, replace(asking_state, mode=Mode.CONFIRM_AMOUNT, doubts=items))


def _doubt(item: dict[str, Any]) -> Doubt:
    key = Key(str(item["field"]), str(item["record"]), int(item["year"]))
    return Doubt(key, str(item["reason"]), Decimal(item["wan"]), Decimal(item["yuan"]))


def show_doubt(turn: Turn, state: ConvState) -> Outcome:
    if not state.doubts:
        return turn.resume(replace(state, mode=Mode.ASK, doubts=None))
    doubt = _doubt(state.doubts[0])
    lines = [doubt.question(turn.view)]
    if len(state.doubts) > 1:
        lines.append(texts_input.DOUBT_MORE.format(count=len(state.doubts) - 1))
    lines.append(texts_input.DOUBT_RETYPE)
    buttons = (Button(doubt.wan_label, _AS_WAN), Button(doubt.yuan_label, _AS_YUAN))
    return turn.done(state, Choice(turn.lead("\n".join(lines)), buttons, free_text=True))


def on_doubt(turn: Turn, state: ConvState, raw: str, command: Command | None) -> Outcome:
    """The reading chosen (stored, and listed again by the pre-submit check), or the amount
    typed again (a new answer to the question, doubted again if it is doubtful)."""
    if not state.doubts:
        return turn.resume(replace(state, mode=Mode.ASK, doubts=None))
    doubt = _doubt(state.doubts[0])
    rest = state.doubts[1:]
    asking_state = replace(state, mode=Mode.ASK, doubts=None)
    choice = raw.strip()
    if choice not in (_AS_WAN, _AS_YUAN):
        return answer(turn, replace(asking_state, seen=_revision(turn, doubt.key)), raw, command)
    value = doubt.as_wan if choice == _AS_WAN else doubt.as_yuan
    store(turn, doubt.key, value)
    label = turn.view.label(doubt.key)
    turn.note(
        texts_input.DOUBT_CHOSEN.format(
            choice=choice, label=label, value=turn.view.display(doubt.key)
        )
    )
    if rest:
        return show_doubt(turn, replace(state, doubts=rest))
    return advance(turn, asking_state, doubt.key)


def _revision(turn: Turn, key: Key) -> int:
    current = turn.filing.answers.get(key)
    return current.revision if current is not None else 0


def _show(turn: Turn, state: ConvState) -> Outcome:
    return ask(turn, state.key, turn.form.section_of(state.field), state=state)


SCREEN = Screen(Mode.ASK, show=_show, handle=answer, receive_file=receive_file)
CONFIRM_AMOUNT = Screen(Mode.CONFIRM_AMOUNT, show=show_doubt, handle=on_doubt)
