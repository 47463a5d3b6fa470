"""Last year's values: the offer for a whole section (`Mode.CARRY`) and the record-by-record
carry of certificate holders (`Mode.CARRY_RECORD`)."""

from __future__ import annotations

from dialogs import last_year, texts
from dialogs.commands import Command
from dialogs.model import AddRecord, Key, SetAnswer
from dialogs.replies import Button, Choice
from dialogs.screens.base import Outcome, Screen, Turn
from dialogs.screens.choices import pick
from dialogs.spec import SectionSpec
from dialogs.state import ConvState, Mode

# `ConvState.back_to` of a question asked while carrying last year's records.
CARRY = last_year.WALKING


def carry_offer(turn: Turn, section: SectionSpec) -> Outcome:
    text = turn.lead(last_year.offer_text(turn.view, section))
    buttons = (Button(texts.BTN_CARRY_ALL, "1"), Button(texts.BTN_CARRY_EACH, "2"))
    return turn.done(ConvState().at(Mode.CARRY, section.id), Choice(text, buttons))


def on_carry(turn: Turn, state: ConvState, raw: str, command: Command | None) -> Outcome:
    section = turn.form.section(state.section)
    if not last_year.offer_due(turn.view, section):
        # Another contact of the enterprise started the section meanwhile.
        return turn.walk(section.id, offer=False)
    words = {"沿用": 1, "沿用去年": 1, "沿用去年的": 1, "全部沿用": 1, "是": 1}
    words |= {"逐项": 2, "逐项确认": 2, "逐项确认或修改": 2, "逐个确认": 2, "否": 2}
    choice = pick(raw, 2, words)
    group = next((g for g in section.groups() if turn.view.applies(g)), None)
    if choice == 1:
        changes = last_year.section_changes(turn.view, section)
        turn.change(*changes)
        counted = AddRecord if group is not None else SetAnswer
        count = sum(1 for c in changes if isinstance(c, counted))
        turn.note(texts.CARRY_SAVED.format(section=section.heading, count=count))
        return turn.walk(section.id, offer=False)
    if choice == 2 and group is not None:
        first = last_year.next_record(turn.view, group)
        if first is not None:
            return carry_record(turn, section.id, first)
    if choice == 2:
        pending = turn.view.pending(section)
        if isinstance(pending, Key):
            return turn.show(ConvState().asking(pending, section.id))
        return turn.walk(section.id, offer=False)
    turn.refuse(texts.NOT_AN_OPTION)
    return carry_offer(turn, section)


def carry_record(turn: Turn, section_id: str, previous_record: str) -> Outcome:
    section = turn.form.section(section_id)
    group = next(section.groups())
    ids = last_year.records(turn.view, group)
    if previous_record not in ids:
        return carry_next(turn, section_id, previous_record)
    text = texts.CARRY_RECORD.format(
        index=ids.index(previous_record) + 1,
        count=len(ids),
        lines=last_year.describe(turn.view, group, previous_record),
    )
    buttons = (
        Button(texts.BTN_CARRY_RECORD_KEEP, "1"),
        Button(texts.BTN_CARRY_RECORD_EDIT, "2"),
        Button(texts.BTN_CARRY_RECORD_DROP, "3"),
    )
    state = ConvState().at(Mode.CARRY_RECORD, section_id, record=previous_record)
    return turn.done(state, Choice(turn.lead(text), buttons))


def on_carry_record(turn: Turn, state: ConvState, raw: str, command: Command | None) -> Outcome:
    section = turn.form.section(state.section)
    group = next(section.groups())
    previous_record = state.record
    rid = last_year.record_id(previous_record)
    words = {"沿用": 1, "保留": 1, "是": 1, "不再沿用": 3, "不沿用": 3, "删除": 3, "否": 3}
    choice = pick(raw, 3, words)
    if choice is None:
        turn.refuse(texts.NOT_AN_OPTION)
        return carry_record(turn, section.id, previous_record)
    described = last_year.describe(turn.view, group, previous_record)
    if rid in turn.view.records(group.id):
        return carry_next(turn, section.id, previous_record)
    if choice == 1:
        turn.change(*last_year.record_changes(turn.view, group, previous_record))
        turn.note(texts.CARRY_RECORD_SAVED.format(record=described))
        incomplete = [k for k in turn.view.record_keys(group, rid) if not turn.view.answered(k)]
        if incomplete:
            return ask_carried(turn, incomplete[0], section)
        return carry_next(turn, section.id, previous_record)
    if choice == 2:
        return ask_carried(turn, Key(group.fields[0].id, rid), section)
    turn.note(texts.CARRY_RECORD_DROPPED.format(record=described))
    return carry_next(turn, section.id, previous_record)


def ask_carried(turn: Turn, key: Key, section: SectionSpec) -> Outcome:
    """A question of one of last year's records, its value offered as the default."""
    return turn.show(ConvState().asking(key, section.id, back_to=CARRY))


def carry_next(turn: Turn, section_id: str, after: str) -> Outcome:
    group = next(turn.form.section(section_id).groups())
    following = last_year.next_record(turn.view, group, after)
    if following is not None:
        return carry_record(turn, section_id, following)
    return turn.walk(section_id, offer=False)


OFFER = Screen(
    Mode.CARRY,
    show=lambda turn, state: carry_offer(turn, turn.form.section(state.section)),
    handle=on_carry,
)
RECORD = Screen(
    Mode.CARRY_RECORD,
    show=lambda turn, state: carry_record(turn, state.section, state.record),
    handle=on_carry_record,
)
