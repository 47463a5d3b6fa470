"""The engine's registry of screens: every mode of a conversation has its screen, shown again
from a stored state exactly as the engine shows it on resuming."""

from __future__ import annotations

from datetime import UTC, datetime

from dialogs.cycle import Cycle
from dialogs.engine import SCREENS, step
from dialogs.form import build_form
from dialogs.model import Filing
from dialogs.replies import Start, TextIn, reply_text
from dialogs.screens.base import Turn
from dialogs.state import ConvState, Mode

NOW = datetime(2025, 12, 1, 2, tzinfo=UTC)


def test_every_mode_but_welcome_and_paused_has_one_screen() -> None:
    assert set(SCREENS) == set(Mode) - {Mode.WELCOME, Mode.PAUSED}
    assert all(mode is screen.mode for mode, screen in SCREENS.items())


def test_a_screen_shown_from_its_state_is_what_the_engine_showed() -> None:
    """Each prompt of a short walk (question, summary, overview, submit check) is shown again
    by its screen from the state the engine stored, with the same text and options."""
    form = build_form(Cycle.for_year(2025))
    filing, state = Filing(1, 2025), ConvState()
    seen = set()
    for event in (Start(), TextIn("总览"), TextIn("提交"), TextIn("总览"), TextIn("修改")):
        outcome = step(form, filing, state, event, NOW)
        state = outcome.state
        again = Turn(form, filing, NOW, SCREENS).show(state)
        assert again.state == state
        # What the engine showed may start with notes (the welcome); the screen's own text ends it.
        assert reply_text(outcome.replies[-1]).endswith(reply_text(again.replies[-1]))
        shown, before = again.replies[-1], outcome.replies[-1]
        assert getattr(shown, "options", ()) == getattr(before, "options", ())
        seen.add(state.mode)
    assert {Mode.ASK, Mode.OVERVIEW, Mode.SUBMIT, Mode.SUMMARY} <= seen
