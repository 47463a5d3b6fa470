"""The overview (`Mode.OVERVIEW`): every section as done / incomplete / not started."""

from __future__ import annotations

from dialogs import texts
from dialogs.commands import Command
from dialogs.replies import Button, Choice
from dialogs.screens.base import Outcome, Screen, Turn
from dialogs.screens.choices import pick, split_verb
from dialogs.spec import FormSpec
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
    buttons = [Button(label, str(i)) for i, label in enumerate(entries, 1)]
    buttons.append(Button(texts.BTN_CONTINUE, "继续"))
    buttons.append(Button(texts.BTN_SUBMIT, "提交"))
    return turn.done(ConvState().at(Mode.OVERVIEW, ""), Choice(turn.lead(text), tuple(buttons)))


def on_overview(turn: Turn, state: ConvState, raw: str, command: Command | None) -> Outcome:
    if split_verb(raw)[0] in ("提交", "提交审核"):
        return turn.show(ConvState().at(Mode.SUBMIT, ""))
    sections = [s for s in turn.form.sections if turn.view.applies_section(s)]
    index = pick(raw, len(sections), {s.title: i for i, s in enumerate(sections, 1)})
    if index is None:
        turn.note(texts.NOT_AN_OPTION)
        return overview(turn)
    section = sections[index - 1]
    if turn.view.section_state(section).status is Status.DONE:
        return turn.show(ConvState().at(Mode.SUMMARY, section.id))
    return turn.walk(section.id)


def _has(form: FormSpec, section_id: str) -> bool:
    return any(s.id == section_id for s in form.sections)


SCREEN = Screen(Mode.OVERVIEW, show=lambda turn, state: overview(turn), handle=on_overview)
