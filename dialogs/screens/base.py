"""What every screen shares: the per-event context (`Turn`), the screen interface and the
walk through the form that all of them end in.

A screen (one module under `dialogs/screens/`) owns one or a few modes of `ConvState`: how it
is shown for a state (`show`) and what it does with what the user sends while it is on screen
(`handle`, and `receive_file` / `receive_table` for uploads). Screens never import each other
to move on: they ask the turn to show the state they lead to (`turn.show(state)`), and the
engine's registry finds the screen of that state's mode.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from dialogs import last_year, texts
from dialogs.commands import Command
from dialogs.effects import Effect
from dialogs.model import Change, ClearAnswer, Filing, Key, SetAnswer, apply_changes
from dialogs.replies import Choice, FileIn, Reply, TableIn
from dialogs.spec import FormSpec, GroupSpec
from dialogs.state import ConvState, Mode
from dialogs.view import View


@dataclass(frozen=True, slots=True)
class Outcome:
    state: ConvState
    replies: tuple[Reply, ...]
    changes: tuple[Change, ...] = ()
    effects: tuple[Effect, ...] = ()
    # The filing after the changes (`view.filing`) and what the step worked out about it:
    # pass it back with that filing to the next step, which then works out less again.
    view: View | None = None


def file_not_expected(turn: Turn, state: ConvState, event: FileIn | TableIn) -> Outcome:
    turn.note(texts.FILE_NOT_EXPECTED)
    return turn.resume(state)


@dataclass(frozen=True, slots=True)
class Screen:
    """One kind of screen: how it shows itself for a state, and what it does with input."""

    mode: Mode
    show: Callable[[Turn, ConvState], Outcome]
    # Text typed or a button pressed, after the commands that work everywhere: the raw text
    # (a bare number already resolved to the option it picks) and the command it spells.
    handle: Callable[[Turn, ConvState, str, Command | None], Outcome]
    receive_file: Callable[[Turn, ConvState, FileIn], Outcome] = file_not_expected
    receive_table: Callable[[Turn, ConvState, TableIn], Outcome] = file_not_expected


class Turn:
    """One event's worth of work; collects changes and the text that precedes the prompt."""

    def __init__(
        self,
        form: FormSpec,
        filing: Filing,
        now: datetime,
        screens: Mapping[Mode, Screen],
        view: View | None = None,
    ) -> None:
        self.form = form
        self.filing = filing
        self.view = view if view is not None and view.filing is filing else View(form, filing)
        self.now = now
        self.screens = screens
        self.changes: list[Change] = []
        self.effects: list[Effect] = []
        self.notes: list[str] = []
        # What the person sent could not be taken: the screen is shown again (see `refuse`).
        self.again = False

    # --- plumbing ------------------------------------------------------------------------------

    def change(self, *changes: Change) -> None:
        self.changes.extend(changes)
        self.filing = apply_changes(self.filing, changes)
        answered = [c.key.field for c in changes if isinstance(c, SetAnswer | ClearAnswer)]
        self.view = View(self.form, self.filing, previous=self.view, changed=answered)

    def done(self, state: ConvState, *replies: Reply) -> Outcome:
        if self.again:
            replies = tuple(replace(r, again=True) if isinstance(r, Choice) else r for r in replies)
        return Outcome(
            state, tuple(replies), tuple(self.changes), tuple(self.effects), view=self.view
        )

    def note(self, text: str) -> None:
        self.notes.append(text)

    def refuse(self, text: str) -> None:
        """Says why what was sent could not be taken; the question that follows is the same
        one again, so a channel that lists options as text does not list them a second time
        (`Choice.again`)."""
        self.notes.append(text)
        self.again = True

    def lead(self, text: str) -> str:
        parts = [*self.notes, text]
        self.notes.clear()
        return "\n\n".join(p for p in parts if p)

    def section_index(self, section_id: str) -> int:
        for i, section in enumerate(self.form.sections):
            if section.id == section_id:
                return i
        return 0

    def show(self, state: ConvState) -> Outcome:
        """The screen of `state`, shown as that state describes it."""
        return self.screens[state.mode].show(self, state)

    # --- walking ------------------------------------------------------------------------------

    def walk(self, section_id: str, *, offer: bool = True) -> Outcome:
        """Asks the next pending thing, starting at this section; a finished section shows
        its summary; a finished filing shows the overview. A section not started yet that
        last year's filing can fill is offered that first (unless `offer` is off)."""
        section = self.form.section(section_id)
        if not self.view.applies_section(section):
            return self.next_section(section_id)
        if offer and last_year.offer_due(self.view, section):
            return self.show(ConvState().at(Mode.CARRY, section.id))
        pending = self.view.pending(section)
        if pending is None:
            return self.show(ConvState().at(Mode.SUMMARY, section.id))
        if section.intro and not self.view.started(section):
            self.note(texts.SECTION_INTRO.format(section=section.heading, intro=section.intro))
        if isinstance(pending, GroupSpec):
            key = Key(pending.fields[0].id, self.view.new_record_id(pending))
            return self.show(ConvState().asking(key, section.id))
        return self.show(ConvState().asking(pending, section.id))

    def next_section(self, after: str) -> Outcome:
        sections = self.form.sections
        start = self.section_index(after) + 1
        for section in (*sections[start:], *sections[:start]):
            if self.view.applies_section(section) and self.view.pending(section) is not None:
                return self.walk(section.id)
        self.note(texts.ALL_DONE)
        return self.show(ConvState().at(Mode.OVERVIEW, ""))

    def first_pending(self) -> Outcome:
        return self.next_section(self.form.sections[-1].id)

    def resume(self, state: ConvState) -> Outcome:
        if state.mode is Mode.PAUSED:
            state = ConvState.from_dict(state.resume)
        if state.mode is Mode.ASK and state.field:
            return self.show(state)
        if state.mode not in (Mode.ASK, Mode.WELCOME, Mode.PAUSED) and (
            state.section or state.mode in (Mode.OVERVIEW, Mode.SUBMIT)
        ):
            return self.redisplay(state)
        return self.walk(state.section or self.form.sections[0].id)

    def redisplay(self, state: ConvState) -> Outcome:
        if state.mode is Mode.CARRY:
            return self.walk(state.section)  # offered again only while it is still due
        return self.show(state)
