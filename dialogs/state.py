"""The conversation state: where a chat is in the form. Stored as JSON beside the answers."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from enum import StrEnum
from typing import Any

from dialogs.model import Key


class Mode(StrEnum):
    WELCOME = "welcome"  # nothing asked yet
    ASK = "ask"  # asking the answer at (field, record, year)
    SUMMARY = "summary"  # a section's summary, with edit actions
    AFTER_RECORD = "after_record"  # a record was completed: add another or finish
    PICK_FIELD = "pick_field"  # choosing an answer of the section to change
    PICK_RECORD = "pick_record"  # choosing a record to edit or delete
    RECORD = "record"  # one record's answers, choosing one to change
    CONFIRM_DELETE = "confirm_delete"
    OVERVIEW = "overview"
    PAUSED = "paused"
    SUBMIT = "submit"  # the pre-submit check, waiting for confirmation
    IMPORT = "import"  # waiting for the filled project spreadsheet
    IMPORT_CHOICE = "import_choice"  # an uploaded spreadsheet's report, waiting for a choice
    CARRY = "carry"  # offering last year's values for a section
    CARRY_RECORD = "carry_record"  # offering one of last year's records (certificate holders)
    CONFIRM_AMOUNT = "confirm_amount"  # a doubtful amount: which of its two readings is meant


@dataclass(frozen=True, slots=True)
class ConvState:
    mode: Mode = Mode.WELCOME
    section: str = ""
    field: str = ""
    record: str = ""
    year: int = 0
    # Asking from a summary or record view: the answer returns there instead of walking on.
    editing: bool = False
    back_to: str = ""  # "summary" | "record"
    action: str = ""  # PICK_RECORD: "edit" | "delete"
    # PAUSED: the state to resume (without its own `paused` nesting).
    resume: dict[str, Any] | None = None
    # ASK: the revision of the answer when the question was shown (0: unanswered then). An
    # answer typed against an older revision would silently undo another contact's edit.
    seen: int = 0
    # IMPORT_CHOICE: the uploaded spreadsheet (name, rows as [number, cells]) until the
    # contact decides; nothing of it is in the filing before that.
    table: dict[str, Any] | None = None
    # CONFIRM_AMOUNT: the doubtful amounts still to confirm (the first is on screen), each
    # {"field", "record", "year", "wan", "yuan", "reason"}; nothing of them is stored before.
    doubts: list[dict[str, Any]] | None = None

    @property
    def key(self) -> Key:
        return Key(self.field, self.record, self.year)

    def to_dict(self) -> dict[str, Any]:
        # Not dataclasses.asdict: it deep-copies `table` (a whole uploaded spreadsheet) on
        # every message, and the result is only turned into JSON.
        data = {name: getattr(self, name) for name in _FIELD_NAMES}
        return {k: v for k, v in data.items() if v not in ("", 0, False, None)} | {
            "mode": self.mode.value
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ConvState:
        if not data:
            return cls()
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        try:
            values["mode"] = Mode(values.get("mode", Mode.WELCOME))
        except ValueError:
            values["mode"] = Mode.WELCOME
        return cls(**values)

    def asking(
        self,
        key: Key,
        section: str,
        *,
        editing: bool = False,
        back_to: str = "",
        seen: int = 0,
    ) -> ConvState:
        return replace(
            self,
            mode=Mode.ASK,
            section=section,
            field=key.field,
            record=key.record,
            year=key.year,
            editing=editing,
            back_to=back_to,
            action="",
            resume=None,
            seen=seen,
        )

    def at(self, mode: Mode, section: str, *, record: str = "", action: str = "") -> ConvState:
        return ConvState(mode=mode, section=section, record=record, action=action)


_FIELD_NAMES = tuple(f.name for f in fields(ConvState))
