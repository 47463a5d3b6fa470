"""After submission the filing is the reviewers': contacts see where it stands, and once it
is approved they get the declaration form and send back the stamped one."""

from __future__ import annotations

from dialogs import texts
from dialogs.effects import SendDeclaration, StampedFormReceived
from dialogs.model import Key, SetAnswer
from dialogs.replies import Button, Event, FileIn, FileRequest, Text, TextIn
from dialogs.screens.base import Outcome, Turn
from dialogs.screens.choices import option_value, split_verb
from dialogs.state import ConvState
from dialogs.view import file_size
from dialogs.workdays import SHANGHAI, add_working_days, working_date

# After submission contacts cannot edit; the reviewers decide what happens next.
LOCKED = frozenset({"submitted", "approved", "complete"})
STAMPED_FORM = "workflow.stamped_form"
_DECLARATION_WORDS = frozenset({"申报表", "获取申报表", "下载申报表", "/declaration"})
APPROVED_OPTIONS = (Button(texts.BTN_DECLARATION, "申报表"),)


def locked(turn: Turn, state: ConvState, event: Event) -> Outcome:
    """Any event while the filing's status is one of `LOCKED`."""
    filing = turn.filing
    if filing.status == "submitted":
        submitted = (filing.submitted_at or turn.now).astimezone(SHANGHAI).date()
        calendar = turn.form.cycle.calendar
        expected = working_date(add_working_days(submitted, 1, calendar), calendar)
        text = texts.LOCKED_SUBMITTED.format(version=filing.version, expected=expected)
        progress = texts.OVERVIEW_HEAD.format(percent=turn.view.progress())
        return turn.done(state, Text(f"{text}\n\n{progress}"))
    if filing.status == "approved":
        key = Key(STAMPED_FORM)
        if isinstance(event, FileIn) and event.ref is not None:
            turn.change(SetAnswer(key, event.ref, turn.filing.get(key)))
            turn.effects.append(StampedFormReceived(event.ref))
            text = texts.STAMPED_RECEIVED.format(
                name=event.ref.name, size=file_size(event.ref.size)
            )
            return turn.done(ConvState(), Text(text))
        if isinstance(event, FileIn):
            turn.note(texts.FILE_REJECTED.format(reason=event.rejected))
        elif isinstance(event, TextIn):
            chosen = option_value(event.text, APPROVED_OPTIONS)
            if split_verb(chosen)[0] in _DECLARATION_WORDS:
                turn.effects.append(SendDeclaration())
                turn.note(texts.DECLARATION_SENT)
        turn.note(texts.LOCKED_APPROVED)
        request = FileRequest(
            turn.lead(texts.STAMP_REQUEST), STAMPED_FORM, "盖章版申报表", APPROVED_OPTIONS
        )
        return turn.done(state, request)
    text = texts.LOCKED_COMPLETE.format(version=filing.version, help_line=turn.form.cycle.help_line)
    return turn.done(state, Text(text))
