"""The pre-submit check (`Mode.SUBMIT`), waiting for the contact to confirm."""

from __future__ import annotations

from datetime import date

from dialogs import submission, texts
from dialogs.commands import Command
from dialogs.effects import SubmitFiling
from dialogs.replies import Button, Choice, Text
from dialogs.screens import overview
from dialogs.screens.base import Outcome, Screen, Turn
from dialogs.screens.choices import split_verb
from dialogs.state import ConvState, Mode
from dialogs.workdays import SHANGHAI, add_working_days, working_date


def submit_check(turn: Turn) -> Outcome:
    check = submission.submit_check(turn.view)
    buttons = [
        Button(texts.BTN_GOTO.format(section=section.heading), f"前往 {index}")
        for index, section in check.to_fix
    ]
    if check.ready and not turn.filing.trial:
        buttons.insert(0, Button(texts.BTN_CONFIRM_SUBMIT, "确认提交"))
    if turn.filing.trial:
        turn.note(texts.TRIAL_NO_SUBMIT)
    buttons.append(Button(texts.BTN_BACK_TO_OVERVIEW, "总览"))
    return turn.done(ConvState().at(Mode.SUBMIT, ""), Choice(turn.lead(check.text), tuple(buttons)))


def on_submit(turn: Turn, state: ConvState, raw: str, command: Command | None) -> Outcome:
    verb, number = split_verb(raw)
    if verb == "前往" and number is not None:
        return overview.on_overview(turn, state, str(number), None)
    if verb in ("确认提交", "确认", "提交", "确定"):
        check = submission.submit_check(turn.view)
        if not check.ready or turn.filing.trial:
            if not check.ready:
                turn.note(texts.CHECK_NOT_READY)
            return submit_check(turn)
        version = turn.filing.version + 1
        turn.effects.append(SubmitFiling(version))
        calendar = turn.form.cycle.calendar
        expected = add_working_days(local_today(turn), 1, calendar)
        text = texts.SUBMITTED.format(version=version, expected=working_date(expected, calendar))
        return turn.done(ConvState(), Text(turn.lead(text)))
    turn.refuse(texts.NOT_AN_OPTION)
    return submit_check(turn)


def local_today(turn: Turn) -> date:
    return turn.now.astimezone(SHANGHAI).date()


SCREEN = Screen(Mode.SUBMIT, show=lambda turn, state: submit_check(turn), handle=on_submit)
