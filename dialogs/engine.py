"""The dialog engine: one pure function that walks the form.

    step(form, filing, state, event, now) -> Outcome(state, replies, changes)

No I/O, no clock of its own: the caller loads the filing and the conversation state, calls
`step`, commits the changes together with the new state, and only then sends the replies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from dialogs import last_year, project_import, submission, texts
from dialogs.answers import Invalid, parse_answer
from dialogs.commands import Command, command_of
from dialogs.effects import (
    Effect,
    SendDeclaration,
    SendProjectTemplate,
    StampedFormReceived,
    SubmitFiling,
)
from dialogs.model import (
    AddRecord,
    Change,
    ClearAnswer,
    DeleteRecord,
    Filing,
    Key,
    SetAnswer,
    Source,
    apply_changes,
)
from dialogs.replies import (
    Button,
    Choice,
    Document,
    Event,
    FileIn,
    FileRequest,
    Reply,
    Start,
    TableIn,
    TableRow,
    Text,
    TextIn,
)
from dialogs.spec import FieldSpec, FormSpec, GroupSpec, Kind, SectionSpec
from dialogs.state import ConvState, Mode
from dialogs.summary import key_line, overview_text, record_lines, summary_text
from dialogs.view import SKIPPED, Status, View, file_size
from dialogs.workdays import SHANGHAI, add_working_days, working_date


@dataclass(frozen=True, slots=True)
class Outcome:
    state: ConvState
    replies: tuple[Reply, ...]
    changes: tuple[Change, ...] = ()
    effects: tuple[Effect, ...] = ()
    # The filing after the changes (`view.filing`) and what the step worked out about it:
    # pass it back with that filing to the next step, which then works out less again.
    view: View | None = None


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
    return _Turn(form, filing, now, view).handle(state, event)


class _Turn:
    """One event's worth of work; collects changes and the text that precedes the prompt."""

    def __init__(
        self, form: FormSpec, filing: Filing, now: datetime, view: View | None = None
    ) -> None:
        self.form = form
        self.filing = filing
        self.view = view if view is not None and view.filing is filing else View(form, filing)
        self.now = now
        self.changes: list[Change] = []
        self.effects: list[Effect] = []
        self.notes: list[str] = []

    # --- plumbing ------------------------------------------------------------------------------

    def change(self, *changes: Change) -> None:
        self.changes.extend(changes)
        self.filing = apply_changes(self.filing, changes)
        answered = [c.key.field for c in changes if isinstance(c, SetAnswer | ClearAnswer)]
        self.view = View(self.form, self.filing, previous=self.view, changed=answered)

    def done(self, state: ConvState, *replies: Reply) -> Outcome:
        return Outcome(
            state, tuple(replies), tuple(self.changes), tuple(self.effects), view=self.view
        )

    def note(self, text: str) -> None:
        self.notes.append(text)

    def lead(self, text: str) -> str:
        parts = [*self.notes, text]
        self.notes.clear()
        return "\n\n".join(p for p in parts if p)

    def section_index(self, section_id: str) -> int:
        for i, section in enumerate(self.form.sections):
            if section.id == section_id:
                return i
        return 0

    # --- entry -----------------------------------------------------------------------------------

    def handle(self, state: ConvState, event: Event) -> Outcome:
        if self.filing.status in LOCKED:
            return self.locked(state, event)
        if isinstance(event, Start):
            return self.start(state)
        if isinstance(event, FileIn):
            return self.file(state, event)
        if isinstance(event, TableIn):
            return self.table_in(state, event)
        return self.text(state, event)

    def start(self, state: ConvState) -> Outcome:
        if self.filing.status == "rejected":
            return self.overview()
        if state.mode is Mode.WELCOME:
            self.note(texts.WELCOME.format(year=self.form.cycle.year))
            return self.first_pending()
        self.note(texts.WELCOME_BACK)
        return self.resume(state)

    def text(self, state: ConvState, event: TextIn) -> Outcome:
        command = command_of(event.text)
        if state.mode is Mode.WELCOME:
            return self.start(state)
        if state.mode is Mode.PAUSED:
            if command in (Command.CONTINUE, Command.BACK):
                return self.resume(state)
            if command is Command.OVERVIEW:
                return self.overview()
            if command is Command.HELP:
                return self.done(state, Text(self.help_text(None)))
            return self.done(state, Text(texts.STILL_PAUSED))
        match command:
            case Command.HELP:
                return self.help(state)
            case Command.PAUSE:
                return self.pause(state)
            case Command.CANCEL:
                return self.cancel(state)
            case Command.OVERVIEW:
                return self.overview()
            case Command.SUBMIT:
                return self.submit_check()
            case Command.EDIT if state.mode is not Mode.SUMMARY:
                return self.summary(state.section or self.form.sections[0].id)
            case Command.BACK:
                return self.back(state)
            case Command.CONTINUE if state.mode is Mode.OVERVIEW:
                return self.first_pending()
            case Command.CONTINUE if state.mode is not Mode.SUMMARY:
                return self.resume(state)
            case Command.IMPORT if self.import_allowed(state):
                return self.import_offer()
        raw = self.resolve_number(state, event.text)
        command = command_of(raw) if raw != event.text else command
        if command is Command.IMPORT and raw != event.text and self.import_allowed(state):
            return self.import_offer()  # the import button, picked by its number
        handler = {
            Mode.ASK: self.answer,
            Mode.SUMMARY: self.on_summary,
            Mode.AFTER_RECORD: self.on_after_record,
            Mode.PICK_FIELD: self.on_pick_field,
            Mode.PICK_RECORD: self.on_pick_record,
            Mode.RECORD: self.on_record,
            Mode.CONFIRM_DELETE: self.on_confirm_delete,
            Mode.OVERVIEW: self.on_overview,
            Mode.SUBMIT: self.on_submit,
            Mode.IMPORT: self.on_import,
            Mode.IMPORT_CHOICE: self.on_import_choice,
            Mode.CARRY: self.on_carry,
            Mode.CARRY_RECORD: self.on_carry_record,
        }[state.mode]
        return handler(state, raw, command)

    def resolve_number(self, state: ConvState, raw: str) -> str:
        """A bare number picks that option of the prompt on screen, exactly as pressing the
        button would; free-text questions keep numbers as answers."""
        if state.mode is Mode.ASK and (
            not state.field or self.form.field(state.field).kind not in (Kind.CHOICE, Kind.YESNO)
        ):
            return raw
        verb, number = _verb(raw)
        if verb or number is None:
            return raw
        shown = _Turn(self.form, self.filing, self.now).resume(state).replies
        options = shown[-1].options if shown and isinstance(shown[-1], Choice | FileRequest) else ()
        return _option_value(raw, options)

    # --- walking ------------------------------------------------------------------------------

    def walk(self, section_id: str, *, offer: bool = True) -> Outcome:
        """Asks the next pending thing, starting at this section; a finished section shows
        its summary; a finished filing shows the overview. A section not started yet that
        last year's filing can fill is offered that first (unless `offer` is off)."""
        section = self.form.section(section_id)
        if not self.view.applies_section(section):
            return self.next_section(section_id)
        if offer and last_year.offer_due(self.view, section):
            return self.carry_offer(section)
        pending = self.view.pending(section)
        if pending is None:
            return self.summary(section.id)
        if section.intro and not self.view.started(section):
            self.note(texts.SECTION_INTRO.format(section=section.heading, intro=section.intro))
        if isinstance(pending, GroupSpec):
            return self.ask(Key(pending.fields[0].id, self.view.new_record_id(pending)), section)
        return self.ask(pending, section)

    def next_section(self, after: str) -> Outcome:
        sections = self.form.sections
        start = self.section_index(after) + 1
        for section in (*sections[start:], *sections[:start]):
            if self.view.applies_section(section) and self.view.pending(section) is not None:
                return self.walk(section.id)
        self.note(texts.ALL_DONE)
        return self.overview()

    def first_pending(self) -> Outcome:
        return self.next_section(self.form.sections[-1].id)

    def resume(self, state: ConvState) -> Outcome:
        if state.mode is Mode.PAUSED:
            state = ConvState.from_dict(state.resume)
        if state.mode is Mode.ASK and state.field:
            return self.ask(state.key, self.form.section_of(state.field), state=state)
        if state.mode not in (Mode.ASK, Mode.WELCOME, Mode.PAUSED) and (
            state.section or state.mode in (Mode.OVERVIEW, Mode.SUBMIT)
        ):
            return self.redisplay(state)
        return self.walk(state.section or self.form.sections[0].id)

    def redisplay(self, state: ConvState) -> Outcome:
        match state.mode:
            case Mode.AFTER_RECORD:
                return self.after_record(state.section, state.record)
            case Mode.PICK_FIELD:
                return self.pick_field(state.section)
            case Mode.RECORD:
                return self.record_view(state.section, state.record)
            case Mode.PICK_RECORD:
                return self.pick_record(state.section, state.action)
            case Mode.CONFIRM_DELETE:
                return self.confirm_delete(state.section, state.record)
            case Mode.OVERVIEW:
                return self.overview()
            case Mode.SUBMIT:
                return self.submit_check()
            case Mode.IMPORT:
                return self.import_request(again=True)
            case Mode.IMPORT_CHOICE:
                return self.import_review(state)
            case Mode.CARRY:
                return self.walk(state.section)
            case Mode.CARRY_RECORD:
                return self.carry_record(state.section, state.record)
        return self.summary(state.section)

    # --- asking -------------------------------------------------------------------------------

    def ask(
        self,
        key: Key,
        section: SectionSpec,
        *,
        state: ConvState | None = None,
        editing: bool = False,
    ) -> Outcome:
        spec = self.form.field(key.field)
        keeps = state is not None and (state.editing or state.back_to == CARRY)
        back_to = state.back_to if state is not None and keeps else ""
        editing = editing or bool(state is not None and state.editing)
        new_state = self.asking(key, section.id, editing=editing, back_to=back_to)
        return self.done(new_state, self.question(key, spec, section, carry=back_to == CARRY))

    def asking(self, key: Key, section_id: str, *, editing: bool, back_to: str) -> ConvState:
        current = self.filing.answers.get(key)
        seen = current.revision if current is not None else 0
        return ConvState().asking(key, section_id, editing=editing, back_to=back_to, seen=seen)

    def changed_meanwhile(self, state: ConvState, key: Key) -> bool:
        """Another contact answered or changed this since it was shown here."""
        current = self.filing.answers.get(key)
        return (current.revision if current is not None else 0) != state.seen

    def question(
        self, key: Key, spec: FieldSpec, section: SectionSpec, *, carry: bool = False
    ) -> Reply:
        lines = [self.progress_line(key, section)]
        unit = f"（{spec.unit}）" if spec.unit else ""
        label = self.view.label(key)
        if spec.kind is Kind.FILE:
            lines.append(texts.ASK_FILE.format(label=label))
        elif spec.kind in (Kind.CHOICE, Kind.YESNO):
            lines.append(texts.ASK_CHOICE.format(label=label))
        else:
            lines.append(texts.ASK.format(label=label, unit=unit))
        if spec.help:
            lines.append(spec.help)
        if not self.view.required(spec, key):
            lines.append(texts.OPTIONAL_HINT)
        buttons: list[Button] = []
        if spec.kind is Kind.CHOICE:
            buttons.extend(Button(o.label, str(i)) for i, o in enumerate(spec.options, 1))
        elif spec.kind is Kind.YESNO:
            buttons.extend((Button("是", "是"), Button("否", "否")))
        elif spec.example and spec.kind is not Kind.FILE:
            lines.append(texts.EXAMPLE.format(example=spec.example))
        if self.view.answered(key):
            lines.append(texts.CURRENT_VALUE.format(value=self.view.display(key)))
            buttons.append(Button(texts.BTN_KEEP, "保留"))
            if (
                spec.kind is Kind.FILE
                and self.view.filled(key)
                and not self.view.required(spec, key)
            ):
                buttons.append(Button(texts.BTN_REMOVE_FILE, "移除"))
        else:
            carried = last_year.default(self.view, key, records=carry)
            if carried is not None:
                shown = self.view.format_value(spec, carried)
                lines.append(texts.CARRY_DEFAULT.format(value=shown))
                buttons.append(Button(texts.BTN_CARRY_KEEP, "保留"))
            if not self.view.required(spec, key):
                buttons.append(Button(texts.BTN_SKIP, "跳过"))
        if self.offers_import(key):
            buttons.append(Button(texts.BTN_IMPORT, "表格导入"))
        text = self.lead("\n".join(lines))
        if spec.kind is Kind.FILE:
            return FileRequest(text, str(key), label, tuple(buttons))
        if not buttons:
            return Text(text)
        return Choice(text, tuple(buttons), free_text=spec.kind not in (Kind.CHOICE, Kind.YESNO))

    def progress_line(self, key: Key, section: SectionSpec) -> str:
        percent = self.view.progress()
        group = self.form.group_of(key.field)
        if group is not None:
            keys = [Key(f.id, key.record) for f in group.fields if self.view.applies(f)]
            record = self.view.describe_record(group, key.record).split("：")[0]
            return texts.PROGRESS_RECORD.format(
                section=section.heading,
                record=record,
                step=keys.index(key) + 1 if key in keys else 1,
                steps=len(keys),
                percent=percent,
            )
        steps = [k for k in self.view.steps(section) if self.form.group_of(k.field) is None]
        return texts.PROGRESS.format(
            section=section.heading,
            step=steps.index(key) + 1 if key in steps else 1,
            steps=max(len(steps), 1),
            percent=percent,
        )

    def answer(self, state: ConvState, raw: str, command: Command | None) -> Outcome:
        key = state.key
        spec = self.form.field(key.field)
        section = self.form.section_of(key.field)
        label = self.view.label(key)
        current = self.filing.answers.get(key)
        if self.read_only(key):
            return self.advance(state, key)
        if command is Command.KEEP:
            carried = last_year.default(self.view, key, records=state.back_to == CARRY)
            if current is None and carried is not None:
                self.store(key, carried)
                self.note(texts.CARRIED.format(label=label, value=self.view.display(key)))
                return self.advance(state, key)
            if current is None:
                self.note(texts.NOTHING_TO_KEEP.format(label=label))
                return self.ask(key, section, state=state)
            self.note(texts.KEPT.format(label=label))
            return self.advance(state, key)
        if command is Command.SKIP:
            if current is not None:
                self.note(texts.KEPT.format(label=label))
                return self.advance(state, key)
            if self.view.required(spec, key):
                self.note(texts.REQUIRED_NO_SKIP.format(label=label))
                return self.ask(key, section, state=state)
            self.store(key, SKIPPED)
            self.note(texts.SKIPPED.format(label=label))
            return self.advance(state, key)
        if spec.kind is Kind.FILE:
            if command is Command.REMOVE and current is not None:
                return self.remove_file(state, key, spec)
            self.note(texts.NEED_FILE)
            return self.ask(key, section, state=state)
        result = parse_answer(self.view, spec, key, raw)
        if isinstance(result, Invalid) and command is Command.IMPORT:
            # "表格导入" typed outside the project section, and no answer here: say where.
            self.note(texts.IMPORT_ELSEWHERE.format(section=self.import_section().heading))
            return self.ask(key, section, state=state)
        if isinstance(result, Invalid):
            self.note(texts.ERROR.format(reason=result.reason, example=result.example))
            return self.ask(key, section, state=state)
        if self.changed_meanwhile(state, key):
            self.note(texts.CHANGED_MEANWHILE.format(label=label, value=self.view.display(key)))
            return self.ask(key, section, state=state)
        self.store(key, result)
        template = texts.CHANGED if state.editing else texts.SAVED
        self.note(template.format(label=label, value=self.view.display(key)))
        return self.advance(state, key)

    def store(self, key: Key, value: object) -> None:
        group = self.form.group_of(key.field)
        changes: list[Change] = []
        if group is not None and key.record not in self.view.records(group.id):
            changes.append(AddRecord(group.id, key.record))
        changes.append(SetAnswer(key, value, self.filing.get(key)))  # type: ignore[arg-type]
        self.change(*changes)

    def file(self, state: ConvState, event: FileIn) -> Outcome:
        if state.mode is Mode.PAUSED:
            return self.done(state, Text(texts.FILE_NOT_EXPECTED + texts.STILL_PAUSED))
        if state.mode in (Mode.IMPORT, Mode.IMPORT_CHOICE):
            self.note(texts.IMPORT_NEED_XLSX)
            return self.resume(state)
        spec = self.form.field(state.field) if state.mode is Mode.ASK and state.field else None
        if spec is None or spec.kind is not Kind.FILE:
            self.note(texts.FILE_NOT_EXPECTED)
            return self.resume(state)
        key = state.key
        if self.read_only(key):
            return self.advance(state, key)
        if event.ref is None:
            self.note(texts.FILE_REJECTED.format(reason=event.rejected))
            return self.ask(key, self.form.section_of(key.field), state=state)
        if self.changed_meanwhile(state, key):
            label = self.view.label(key)
            self.note(texts.CHANGED_MEANWHILE.format(label=label, value=self.view.display(key)))
            return self.ask(key, self.form.section_of(key.field), state=state)
        self.store(key, event.ref)
        self.note(
            texts.FILE_SAVED.format(
                name=event.ref.name, size=file_size(event.ref.size), label=self.view.label(key)
            )
        )
        return self.advance(state, key)

    def remove_file(self, state: ConvState, key: Key, spec: FieldSpec) -> Outcome:
        """An optional file can be taken out again; a required one only replaced."""
        label = self.view.label(key)
        if self.view.required(spec, key):
            self.note(texts.FILE_REQUIRED.format(label=label))
            return self.ask(key, self.form.section_of(key.field), state=state)
        self.store(key, SKIPPED)
        self.note(texts.FILE_REMOVED.format(label=label))
        return self.advance(state, key)

    def read_only(self, key: Key) -> bool:
        """Roster-imported answers are the association's: shown, never overwritten."""
        current = self.filing.answers.get(key)
        if current is None or current.source is not Source.ROSTER:
            return False
        self.note(
            texts.READ_ONLY.format(label=self.view.label(key), help_line=self.form.cycle.help_line)
        )
        return True

    def advance(self, state: ConvState, key: Key) -> Outcome:
        section = self.form.section_of(key.field)
        group = self.form.group_of(key.field)
        if state.back_to == CARRY and group is not None:
            for k in self.view.record_keys(group, key.record):
                if not self.view.answered(k):
                    return self.ask_carried(k, section)
            return self.carry_next(section.id, last_year.last_year_record(key.record))
        if state.editing:
            if state.back_to == "record" and key.record in self.view.records_of_field(key.field):
                return self.record_view(section.id, key.record)
            return self.summary(section.id)
        group = self.form.group_of(key.field)
        if group is not None:
            for k in self.view.record_keys(group, key.record):
                if not self.view.answered(k):
                    return self.ask(k, section)
            return self.after_record(section.id, key.record)
        return self.walk(section.id)

    # --- records ------------------------------------------------------------------------------

    def after_record(self, section_id: str, record: str) -> Outcome:
        section = self.form.section(section_id)
        group = next(section.groups())
        lines = [texts.RECORD_SAVED.format(record=self.view.describe_record(group, record))]
        lines.extend(record_lines(self.view, section, record))
        lines.append(texts.ASK_MORE.format(noun=group.noun))
        buttons: tuple[Button, ...] = (
            Button(texts.BTN_ADD_MORE.format(measure="一" + group.measure, noun=group.noun), "1"),
            Button(texts.BTN_DONE_ADDING, "2"),
        )
        if group.id == project_import.GROUP:
            buttons += (Button(texts.BTN_IMPORT, "表格导入"),)
        return self.done(
            ConvState().at(Mode.AFTER_RECORD, section_id, record=record),
            Choice(self.lead("\n".join(lines)), buttons),
        )

    def on_after_record(self, state: ConvState, raw: str, command: Command | None) -> Outcome:
        section = self.form.section(state.section)
        group = next(section.groups())
        choice = _pick(
            raw,
            2,
            {
                "继续添加": 1,
                "添加": 1,
                "继续": 1,
                "添加完毕": 2,
                "完毕": 2,
                "完成": 2,
                "没有了": 2,
                "否": 2,
                "是": 1,
            },
        )
        if choice == 1:
            return self.ask(Key(group.fields[0].id, self.view.new_record_id(group)), section)
        if choice == 2:
            return self.walk_after_group(section)
        self.note(texts.NOT_AN_OPTION)
        return self.after_record(state.section, state.record)

    def walk_after_group(self, section: SectionSpec) -> Outcome:
        """Finishing adding records moves on to the section's remaining questions."""
        pending = self.view.pending(section)
        if isinstance(pending, Key):
            return self.ask(pending, section)
        return self.summary(section.id)

    def pick_record(self, section_id: str, action: str) -> Outcome:
        section = self.form.section(section_id)
        group = next(section.groups())
        ids = self.view.records(group.id)
        if not ids:
            self.note(texts.NO_RECORDS.format(noun=group.noun))
            return self.summary(section_id)
        template = texts.PICK_RECORD_EDIT if action == "edit" else texts.PICK_RECORD_DELETE
        text = template.format(measure=group.measure, noun=group.noun)
        buttons = [
            Button(self.view.describe_record(group, rid), str(i)) for i, rid in enumerate(ids, 1)
        ]
        buttons.append(Button(texts.BTN_BACK_TO_SUMMARY, "返回"))
        state = ConvState().at(Mode.PICK_RECORD, section_id, action=action)
        return self.done(state, Choice(self.lead(text), tuple(buttons)))

    def on_pick_record(self, state: ConvState, raw: str, command: Command | None) -> Outcome:
        section = self.form.section(state.section)
        group = next(section.groups())
        ids = self.view.records(group.id)
        index = _pick(raw, len(ids), {})
        if index is None:
            self.note(texts.NOT_AN_OPTION)
            return self.pick_record(state.section, state.action)
        record = ids[index - 1]
        if state.action == "delete":
            return self.confirm_delete(state.section, record)
        return self.record_view(state.section, record)

    def record_view(self, section_id: str, record: str) -> Outcome:
        section = self.form.section(section_id)
        group = next(section.groups())
        if record not in self.view.records(group.id):
            self.note(texts.RECORD_GONE)
            return self.summary(section_id)
        keys = self.view.record_keys(group, record)
        lines = [self.view.describe_record(group, record)]
        lines.extend(record_lines(self.view, section, record))
        lines.append(texts.RECORD_VIEW)
        buttons = [Button(key_line(self.view, k), str(i)) for i, k in enumerate(keys, 1)]
        buttons.append(Button(texts.BTN_BACK_TO_SUMMARY, "返回"))
        state = ConvState().at(Mode.RECORD, section_id, record=record)
        return self.done(state, Choice(self.lead("\n".join(lines)), tuple(buttons)))

    def on_record(self, state: ConvState, raw: str, command: Command | None) -> Outcome:
        section = self.form.section(state.section)
        group = next(section.groups())
        keys = self.view.record_keys(group, state.record)
        index = _pick(raw, len(keys), {})
        if index is None:
            self.note(texts.NOT_AN_OPTION)
            return self.record_view(state.section, state.record)
        key = keys[index - 1]
        return self.done(
            self.asking(key, section.id, editing=True, back_to="record"),
            self.question(key, self.form.field(key.field), section),
        )

    def confirm_delete(self, section_id: str, record: str) -> Outcome:
        group = next(self.form.section(section_id).groups())
        text = texts.CONFIRM_DELETE.format(record=self.view.describe_record(group, record))
        buttons = (Button(texts.BTN_DELETE_YES, "1"), Button(texts.BTN_DELETE_NO, "2"))
        state = ConvState().at(Mode.CONFIRM_DELETE, section_id, record=record)
        return self.done(state, Choice(self.lead(text), buttons))

    def on_confirm_delete(self, state: ConvState, raw: str, command: Command | None) -> Outcome:
        group = next(self.form.section(state.section).groups())
        choice = _pick(
            raw, 2, {"确定删除": 1, "确定": 1, "删除": 1, "是": 1, "不删除": 2, "否": 2, "不": 2}
        )
        if choice == 1 and state.record in self.view.records(group.id):
            described = self.view.describe_record(group, state.record)
            self.change(DeleteRecord(group.id, state.record))
            self.note(texts.DELETED.format(record=described))
        elif choice is None:
            self.note(texts.NOT_AN_OPTION)
            return self.confirm_delete(state.section, state.record)
        return self.summary(state.section)

    # --- summaries --------------------------------------------------------------------------------

    def summary(self, section_id: str) -> Outcome:
        section = self.form.section(section_id)
        text = summary_text(self.view, section)
        buttons = [Button(texts.BTN_CONFIRM, "确认"), Button(texts.BTN_EDIT, "修改")]
        for group in section.groups():
            if self.view.applies(group):
                buttons.append(
                    Button(
                        texts.BTN_ADD.format(measure="一" + group.measure, noun=group.noun), "添加"
                    )
                )
                if self.view.records(group.id):
                    buttons.append(Button(texts.BTN_EDIT_RECORD.format(noun=group.noun), "编辑"))
                    buttons.append(Button(texts.BTN_DELETE_RECORD.format(noun=group.noun), "删除"))
                if group.id == project_import.GROUP:
                    buttons.append(Button(texts.BTN_IMPORT, "表格导入"))
        buttons.append(Button(texts.BTN_OVERVIEW, "总览"))
        return self.done(
            ConvState().at(Mode.SUMMARY, section_id), Choice(self.lead(text), tuple(buttons))
        )

    def on_summary(self, state: ConvState, raw: str, command: Command | None) -> Outcome:
        section = self.form.section(state.section)
        verb, number = _verb(raw)
        group = next((g for g in section.groups() if self.view.applies(g)), None)
        if (
            verb in ("确认", "下一步", "下一部分", "确定", "没问题", "ok")
            or command is Command.CONTINUE
        ):
            return self.next_section(section.id)
        if verb == "修改":
            if number is not None:
                return self.edit_scalar(section, number)
            return self.pick_field(section.id)
        if group is not None and verb == "添加":
            return self.ask(Key(group.fields[0].id, self.view.new_record_id(group)), section)
        if group is not None and verb in ("编辑", "删除"):
            action = "edit" if verb == "编辑" else "delete"
            ids = self.view.records(group.id)
            if number is not None and 1 <= number <= len(ids):
                record = ids[number - 1]
                return (
                    self.record_view(section.id, record)
                    if action == "edit"
                    else self.confirm_delete(section.id, record)
                )
            return self.pick_record(section.id, action)
        if verb == "总览":
            return self.overview()
        self.note(texts.NOT_AN_OPTION)
        return self.summary(section.id)

    def scalar_keys(self, section: SectionSpec) -> list[Key]:
        return [k for k in self.view.steps(section) if self.form.group_of(k.field) is None]

    def pick_field(self, section_id: str) -> Outcome:
        section = self.form.section(section_id)
        keys = self.scalar_keys(section)
        group = next((g for g in section.groups() if self.view.applies(g)), None)
        if not keys and group is not None:
            return self.pick_record(section_id, "edit")
        buttons = [Button(key_line(self.view, k), str(i)) for i, k in enumerate(keys, 1)]
        buttons.append(Button(texts.BTN_BACK_TO_SUMMARY, "返回"))
        state = ConvState().at(Mode.PICK_FIELD, section_id)
        return self.done(state, Choice(self.lead(texts.PICK_FIELD), tuple(buttons)))

    def on_pick_field(self, state: ConvState, raw: str, command: Command | None) -> Outcome:
        section = self.form.section(state.section)
        index = _pick(raw, len(self.scalar_keys(section)), {})
        if index is None:
            self.note(texts.NOT_AN_OPTION)
            return self.pick_field(state.section)
        return self.edit_scalar(section, index)

    def edit_scalar(self, section: SectionSpec, number: int) -> Outcome:
        keys = self.scalar_keys(section)
        if not 1 <= number <= len(keys):
            self.note(texts.NOT_AN_OPTION)
            return self.pick_field(section.id)
        key = keys[number - 1]
        return self.done(
            self.asking(key, section.id, editing=True, back_to="summary"),
            self.question(key, self.form.field(key.field), section),
        )

    def overview(self) -> Outcome:
        text, entries = overview_text(self.view)
        filing = self.filing
        if filing.status == "rejected":
            to_fix = [
                self.form.section(s).heading for s in filing.review_sections if _has(self.form, s)
            ]
            self.note(texts.REJECTED_NOTE.format(version=filing.version, reason=filing.review_note))
            if to_fix:
                self.note(texts.REJECTED_SECTIONS.format(sections="、".join(to_fix)))
            shown = [s for s in self.form.sections if self.view.applies_section(s)]
            entries = [
                texts.OVERVIEW_TO_FIX.format(section=section.heading)
                if section.id in filing.review_sections
                else entry
                for section, entry in zip(shown, entries, strict=True)
            ]
        buttons = [Button(label, str(i)) for i, label in enumerate(entries, 1)]
        buttons.append(Button(texts.BTN_CONTINUE, "继续"))
        buttons.append(Button(texts.BTN_SUBMIT, "提交"))
        return self.done(ConvState().at(Mode.OVERVIEW, ""), Choice(self.lead(text), tuple(buttons)))

    def on_overview(self, state: ConvState, raw: str, command: Command | None) -> Outcome:
        if _verb(raw)[0] in ("提交", "提交审核"):
            return self.submit_check()
        sections = [s for s in self.form.sections if self.view.applies_section(s)]
        index = _pick(raw, len(sections), {s.title: i for i, s in enumerate(sections, 1)})
        if index is None:
            self.note(texts.NOT_AN_OPTION)
            return self.overview()
        section = sections[index - 1]
        if self.view.section_state(section).status is Status.DONE:
            return self.summary(section.id)
        return self.walk(section.id)

    # --- submission and the states after it ---------------------------------------------------

    def submit_check(self) -> Outcome:
        check = submission.submit_check(self.view)
        buttons = [
            Button(texts.BTN_GOTO.format(section=section.heading), f"前往 {index}")
            for index, section in check.to_fix
        ]
        if check.ready and not self.filing.trial:
            buttons.insert(0, Button(texts.BTN_CONFIRM_SUBMIT, "确认提交"))
        if self.filing.trial:
            self.note(texts.TRIAL_NO_SUBMIT)
        buttons.append(Button(texts.BTN_BACK_TO_OVERVIEW, "总览"))
        return self.done(
            ConvState().at(Mode.SUBMIT, ""), Choice(self.lead(check.text), tuple(buttons))
        )

    def on_submit(self, state: ConvState, raw: str, command: Command | None) -> Outcome:
        verb, number = _verb(raw)
        if verb == "前往" and number is not None:
            return self.on_overview(state, str(number), None)
        if verb in ("确认提交", "确认", "提交", "确定"):
            check = submission.submit_check(self.view)
            if not check.ready or self.filing.trial:
                if not check.ready:
                    self.note(texts.CHECK_NOT_READY)
                return self.submit_check()
            version = self.filing.version + 1
            self.effects.append(SubmitFiling(version))
            calendar = self.form.cycle.calendar
            expected = add_working_days(self.local_today(), 1, calendar)
            text = texts.SUBMITTED.format(
                version=version, expected=working_date(expected, calendar)
            )
            return self.done(ConvState(), Text(self.lead(text)))
        self.note(texts.NOT_AN_OPTION)
        return self.submit_check()

    def local_today(self) -> date:
        return self.now.astimezone(SHANGHAI).date()

    def locked(self, state: ConvState, event: Event) -> Outcome:
        """After submission the filing is the reviewers': contacts see where it stands."""
        filing = self.filing
        if filing.status == "submitted":
            submitted = (filing.submitted_at or self.now).astimezone(SHANGHAI).date()
            calendar = self.form.cycle.calendar
            expected = working_date(add_working_days(submitted, 1, calendar), calendar)
            text = texts.LOCKED_SUBMITTED.format(version=filing.version, expected=expected)
            progress = texts.OVERVIEW_HEAD.format(percent=self.view.progress())
            return self.done(state, Text(f"{text}\n\n{progress}"))
        if filing.status == "approved":
            key = Key(STAMPED_FORM)
            if isinstance(event, FileIn) and event.ref is not None:
                self.change(SetAnswer(key, event.ref, self.filing.get(key)))
                self.effects.append(StampedFormReceived(event.ref))
                text = texts.STAMPED_RECEIVED.format(
                    name=event.ref.name, size=file_size(event.ref.size)
                )
                return self.done(ConvState(), Text(text))
            if isinstance(event, FileIn):
                self.note(texts.FILE_REJECTED.format(reason=event.rejected))
            elif isinstance(event, TextIn):
                chosen = _option_value(event.text, APPROVED_OPTIONS)
                if _verb(chosen)[0] in _DECLARATION_WORDS:
                    self.effects.append(SendDeclaration())
                    self.note(texts.DECLARATION_SENT)
            self.note(texts.LOCKED_APPROVED)
            request = FileRequest(
                self.lead(texts.STAMP_REQUEST), STAMPED_FORM, "盖章版申报表", APPROVED_OPTIONS
            )
            return self.done(state, request)
        text = texts.LOCKED_COMPLETE.format(
            version=filing.version, help_line=self.form.cycle.help_line
        )
        return self.done(state, Text(text))

    # --- projects from a spreadsheet -----------------------------------------------------------

    def import_section(self) -> SectionSpec:
        return self.form.section_of(project_import.GROUP)

    def import_allowed(self, state: ConvState) -> bool:
        return bool(state.section) and state.section == self.import_section().id

    def offers_import(self, key: Key) -> bool:
        """The first question of a new project also offers the spreadsheet."""
        group = self.form.group_of(key.field)
        return (
            group is not None
            and group.id == project_import.GROUP
            and key.field == group.fields[0].id
            and key.record not in self.view.records(group.id)
        )

    def import_offer(self) -> Outcome:
        self.effects.append(SendProjectTemplate())
        return self.import_request()

    def import_request(self, *, again: bool = False) -> Outcome:
        section = self.import_section()
        text = texts.IMPORT_WAITING if again else texts.IMPORT_REQUEST
        options = (
            Button(texts.BTN_TEMPLATE_AGAIN, "模板"),
            Button(texts.BTN_IMPORT_BACK, "返回"),
        )
        request = FileRequest(
            self.lead(text.format(year=self.form.cycle.year)),
            IMPORT_SLOT,
            texts.IMPORT_SLOT_LABEL,
            options,
            (project_import.XLSX_TYPE,),
        )
        return self.done(ConvState().at(Mode.IMPORT, section.id), request)

    def on_import(self, state: ConvState, raw: str, command: Command | None) -> Outcome:
        if command in (Command.BACK, Command.CANCEL):  # its button, picked by number
            return self.cancel(state)
        self.note(texts.IMPORT_WAITING)
        return self.import_request(again=True)

    def table_in(self, state: ConvState, event: TableIn) -> Outcome:
        if state.mode not in (Mode.IMPORT, Mode.IMPORT_CHOICE):
            self.note(texts.FILE_NOT_EXPECTED)
            return self.resume(state)
        if event.rejected:
            self.note(texts.IMPORT_UNREADABLE.format(reason=event.rejected))
            return self.import_request(again=True)
        parsed = project_import.parse_table(self.form, event.rows)
        if parsed.fatal:
            self.note(texts.IMPORT_UNREADABLE.format(reason=parsed.fatal))
            return self.import_request(again=True)
        plan = project_import.plan_import(self.view, parsed.rows)
        if parsed.clean and not plan.replaces:
            return self.import_rows(plan, parsed)
        return self.import_choice(event.name, event.rows, parsed, plan)

    def import_choice(
        self,
        name: str,
        rows: Sequence[TableRow],
        parsed: project_import.Parsed,
        plan: project_import.Plan,
    ) -> Outcome:
        """The report of an uploaded sheet; nothing is imported until the contact chooses."""
        lines: list[str] = []
        buttons: list[Button] = []
        replies: list[Reply] = []
        good = len(parsed.rows)
        if parsed.clean:
            lines.append(texts.IMPORT_CLEAN_FILE.format(rows=good))
            lines.extend(project_import.difference_lines(self.view, plan))
            lines.append(texts.IMPORT_CONFIRM_REPLACE)
            buttons.append(Button(texts.BTN_IMPORT_CONFIRM, "确认替换"))
        else:
            lines.extend(project_import.report_lines(parsed))
            if len(parsed.problems) > project_import.REPORT_LIMIT:
                replies.append(
                    Document(
                        project_import.REPORT_NAME,
                        project_import.report_csv(parsed),
                        texts.IMPORT_REPORT_CAPTION,
                        "text/csv",
                    )
                )
            if good and plan.replaces:
                lines.extend(project_import.difference_lines(self.view, plan))
            lines.append(texts.IMPORT_NOTHING_YET)
            if good:
                lines.append(texts.IMPORT_CHOOSE.format(good=good))
                buttons.append(Button(texts.BTN_IMPORT_CLEAN.format(good=good), "导入无误行"))
            else:
                lines.append(texts.IMPORT_CHOOSE_NONE)
            buttons.append(Button(texts.BTN_IMPORT_REUPLOAD, "重新上传"))
        buttons.append(Button(texts.BTN_IMPORT_CANCEL, "取消"))
        state = ConvState(
            mode=Mode.IMPORT_CHOICE,
            section=self.import_section().id,
            table=project_import.table_to_state(name, rows),
        )
        choice = Choice(self.lead("\n".join(lines)), tuple(buttons))
        return self.done(state, *replies, choice)

    def import_review(self, state: ConvState) -> Outcome:
        rows = project_import.table_from_state(state.table)
        parsed = project_import.parse_table(self.form, rows)
        if parsed.fatal:
            return self.import_request(again=True)
        plan = project_import.plan_import(self.view, parsed.rows)
        name = str((state.table or {}).get("name", ""))
        return self.import_choice(name, rows, parsed, plan)

    def on_import_choice(self, state: ConvState, raw: str, command: Command | None) -> Outcome:
        if command in (Command.BACK, Command.CANCEL):  # its button, picked by number
            return self.cancel(state)
        verb, _number = _verb(raw)
        if verb in ("导入无误行", "只导入无误行", "只导入无误的行", "确认替换", "替换", "确认"):
            parsed = project_import.parse_table(
                self.form, project_import.table_from_state(state.table)
            )
            if parsed.rows and (parsed.clean or verb != "确认"):
                # Planned again against the filing as it is now, not as it was shown.
                return self.import_rows(project_import.plan_import(self.view, parsed.rows), parsed)
        elif verb in ("重新上传", "修改后重新上传", "上传"):
            return self.import_request(again=True)
        self.note(texts.NOT_AN_OPTION)
        return self.import_review(state)

    def import_rows(self, plan: project_import.Plan, parsed: project_import.Parsed) -> Outcome:
        self.change(*plan.changes)
        self.note(
            texts.IMPORT_DONE.format(
                count=len(parsed.rows),
                added=len(plan.added),
                updated=len(plan.updated),
                removed=len(plan.removed),
            )
        )
        missing = self.missing_record_files(project_import.GROUP)
        if missing:
            section = self.form.section_of(missing[0].field)
            self.note(texts.IMPORT_DONE_FILES.format(count=len(missing), section=section.heading))
        return self.walk(self.import_section().id)

    def missing_record_files(self, group_id: str) -> list[Key]:
        """Required files of the group's records not uploaded yet (e.g. project contracts)."""
        missing: list[Key] = []
        for spec in self.form.all_fields():
            if spec.for_records != group_id or not self.view.applies(spec):
                continue
            for key in self.view.field_keys(spec):
                if self.view.required(spec, key) and not self.view.filled(key):
                    missing.append(key)
        return missing

    # --- last year's values -----------------------------------------------------------------

    def carry_offer(self, section: SectionSpec) -> Outcome:
        text = self.lead(last_year.offer_text(self.view, section))
        buttons = (Button(texts.BTN_CARRY_ALL, "1"), Button(texts.BTN_CARRY_EACH, "2"))
        return self.done(ConvState().at(Mode.CARRY, section.id), Choice(text, buttons))

    def on_carry(self, state: ConvState, raw: str, command: Command | None) -> Outcome:
        section = self.form.section(state.section)
        if not last_year.offer_due(self.view, section):
            # Another contact of the enterprise started the section meanwhile.
            return self.walk(section.id, offer=False)
        words = {"沿用": 1, "沿用去年": 1, "沿用去年的": 1, "全部沿用": 1, "是": 1}
        words |= {"逐项": 2, "逐项确认": 2, "逐项确认或修改": 2, "逐个确认": 2, "否": 2}
        choice = _pick(raw, 2, words)
        group = next((g for g in section.groups() if self.view.applies(g)), None)
        if choice == 1:
            changes = last_year.section_changes(self.view, section)
            self.change(*changes)
            counted = AddRecord if group is not None else SetAnswer
            count = sum(1 for c in changes if isinstance(c, counted))
            self.note(texts.CARRY_SAVED.format(section=section.heading, count=count))
            return self.walk(section.id, offer=False)
        if choice == 2 and group is not None:
            first = last_year.next_record(self.view, group)
            if first is not None:
                return self.carry_record(section.id, first)
        if choice == 2:
            pending = self.view.pending(section)
            if isinstance(pending, Key):
                return self.ask(pending, section)
            return self.walk(section.id, offer=False)
        self.note(texts.NOT_AN_OPTION)
        return self.carry_offer(section)

    def carry_record(self, section_id: str, previous_record: str) -> Outcome:
        section = self.form.section(section_id)
        group = next(section.groups())
        ids = last_year.records(self.view, group)
        if previous_record not in ids:
            return self.carry_next(section_id, previous_record)
        text = texts.CARRY_RECORD.format(
            index=ids.index(previous_record) + 1,
            count=len(ids),
            lines=last_year.describe(self.view, group, previous_record),
        )
        buttons = (
            Button(texts.BTN_CARRY_RECORD_KEEP, "1"),
            Button(texts.BTN_CARRY_RECORD_EDIT, "2"),
            Button(texts.BTN_CARRY_RECORD_DROP, "3"),
        )
        state = ConvState().at(Mode.CARRY_RECORD, section_id, record=previous_record)
        return self.done(state, Choice(self.lead(text), buttons))

    def on_carry_record(self, state: ConvState, raw: str, command: Command | None) -> Outcome:
        section = self.form.section(state.section)
        group = next(section.groups())
        previous_record = state.record
        rid = last_year.record_id(previous_record)
        words = {"沿用": 1, "保留": 1, "是": 1, "不再沿用": 3, "不沿用": 3, "删除": 3, "否": 3}
        choice = _pick(raw, 3, words)
        if choice is None:
            self.note(texts.NOT_AN_OPTION)
            return self.carry_record(section.id, previous_record)
        described = last_year.describe(self.view, group, previous_record)
        if rid in self.view.records(group.id):
            return self.carry_next(section.id, previous_record)
        if choice == 1:
            self.change(*last_year.record_changes(self.view, group, previous_record))
            self.note(texts.CARRY_RECORD_SAVED.format(record=described))
            incomplete = [k for k in self.view.record_keys(group, rid) if not self.view.answered(k)]
            if incomplete:
                return self.ask_carried(incomplete[0], section)
            return self.carry_next(section.id, previous_record)
        if choice == 2:
            return self.ask_carried(Key(group.fields[0].id, rid), section)
        self.note(texts.CARRY_RECORD_DROPPED.format(record=described))
        return self.carry_next(section.id, previous_record)

    def ask_carried(self, key: Key, section: SectionSpec) -> Outcome:
        """A question of one of last year's records, its value offered as the default."""
        state = self.asking(key, section.id, editing=False, back_to=CARRY)
        return self.done(state, self.question(key, self.form.field(key.field), section, carry=True))

    def carry_next(self, section_id: str, after: str) -> Outcome:
        group = next(self.form.section(section_id).groups())
        following = last_year.next_record(self.view, group, after)
        if following is not None:
            return self.carry_record(section_id, following)
        return self.walk(section_id, offer=False)

    # --- global commands ------------------------------------------------------------------------

    def help_text(self, state: ConvState | None) -> str:
        lines = []
        if state is not None and state.mode is Mode.ASK and state.field:
            spec = self.form.field(state.field)
            if spec.help:
                lines.append(
                    texts.HELP_FIELD.format(label=self.view.label(state.key), help=spec.help)
                )
        lines.append(texts.HELP_COMMANDS.format(help_line=self.form.cycle.help_line))
        return "\n\n".join(lines)

    def help(self, state: ConvState) -> Outcome:
        self.note(self.help_text(state))
        return self.resume(state)

    def pause(self, state: ConvState) -> Outcome:
        where = self.where(state)
        paused = ConvState(mode=Mode.PAUSED, section=state.section, resume=state.to_dict())
        return self.done(paused, Text(texts.PAUSED.format(where=where)))

    def where(self, state: ConvState) -> str:
        if state.mode is Mode.ASK and state.field:
            return self.view.label(state.key)
        if state.section:
            return self.form.section(state.section).heading
        return "总览"

    def cancel(self, state: ConvState) -> Outcome:
        if state.mode in (Mode.IMPORT, Mode.IMPORT_CHOICE):
            self.note(texts.IMPORT_CANCELLED)
            return self.walk(state.section)
        if state.mode is Mode.ASK and state.editing:
            self.note(texts.CANCELLED_EDIT)
            if state.back_to == "record":
                return self.record_view(state.section, state.record)
            return self.summary(state.section)
        if state.mode in (Mode.PICK_FIELD, Mode.PICK_RECORD, Mode.RECORD, Mode.CONFIRM_DELETE):
            return self.summary(state.section)
        return self.pause(state)

    def back(self, state: ConvState) -> Outcome:
        match state.mode:
            case Mode.ASK if state.editing:
                return self.cancel(state)
            case Mode.ASK:
                return self.back_from(state.key, self.form.section(state.section))
            case Mode.SUMMARY:
                section = self.form.section(state.section)
                steps = self.view.steps(section)
                if steps:
                    return self.ask(steps[-1], section)
                return self.previous_summary(section)
            case Mode.AFTER_RECORD:
                section = self.form.section(state.section)
                group = next(section.groups())
                keys = self.view.record_keys(group, state.record)
                return self.ask(keys[-1], section) if keys else self.summary(section.id)
            case Mode.PICK_FIELD | Mode.PICK_RECORD | Mode.RECORD | Mode.CONFIRM_DELETE:
                return self.summary(state.section)
            case Mode.IMPORT | Mode.IMPORT_CHOICE:
                return self.cancel(state)
            case Mode.CARRY | Mode.CARRY_RECORD:
                return self.previous_summary(self.form.section(state.section))
        return self.resume(state)

    def back_from(self, key: Key, section: SectionSpec) -> Outcome:
        steps = self.view.steps(section)
        if key in steps:
            index = steps.index(key)
            if index > 0:
                return self.ask(steps[index - 1], section)
            return self.previous_summary(section)
        # The first question of a record not yet created: back to what came before it.
        group = self.form.group_of(key.field)
        if group is not None and self.view.records(group.id):
            return self.after_record(section.id, self.view.records(group.id)[-1])
        earlier = [
            k
            for k in steps
            if self.form.group_of(k.field) is None
            and _position(section, k) < _position(section, key)
        ]
        if earlier:
            return self.ask(earlier[-1], section)
        return self.previous_summary(section)

    def previous_summary(self, section: SectionSpec) -> Outcome:
        index = self.section_index(section.id)
        for earlier in reversed(self.form.sections[:index]):
            if self.view.applies_section(earlier):
                return self.summary(earlier.id)
        self.note(texts.FIRST_STEP)
        first = self.view.steps(section)
        return self.ask(first[0], section) if first else self.summary(section.id)


def _position(section: SectionSpec, key: Key) -> int:
    for i, item in enumerate(section.items):
        ids = [f.id for f in item.fields] if isinstance(item, GroupSpec) else [item.id]
        if key.field in ids:
            return i
    return len(section.items)


_DIGITS = frozenset("0123456789")
CARRY = last_year.WALKING
IMPORT_SLOT = "import.projects"
# After submission contacts cannot edit; the reviewers decide what happens next.
LOCKED = frozenset({"submitted", "approved", "complete"})
STAMPED_FORM = "workflow.stamped_form"
_DECLARATION_WORDS = frozenset({"申报表", "获取申报表", "下载申报表", "/declaration"})
APPROVED_OPTIONS = (Button(texts.BTN_DECLARATION, "申报表"),)


def _option_value(raw: str, options: Sequence[Button]) -> str:
    """A bare number picks that option, as pressing it would; anything else stays as typed."""
    verb, number = _verb(raw)
    if verb or number is None or not 1 <= number <= len(options):
        return raw
    return options[number - 1].value


def _has(form: FormSpec, section_id: str) -> bool:
    return any(s.id == section_id for s in form.sections)


def _verb(raw: str) -> tuple[str, int | None]:
    """Splits "编辑 3" / "修改3" / "3" into a verb and a number."""
    from dialogs.parsing import normalize

    text = normalize(raw).strip().lower()
    # Only ASCII digits count: NFKC leaves circled and other exotic digits as they are.
    digits = "".join(ch for ch in text if ch in _DIGITS)
    verb = "".join(ch for ch in text if ch not in _DIGITS and not ch.isspace()).strip("第条个项.。")
    number = int(digits) if digits and len(digits) < 5 else None
    return verb, number


def _pick(raw: str, count: int, words: dict[str, int]) -> int | None:
    """An option number 1..count, typed or pressed, or one of the option words."""
    verb, number = _verb(raw)
    if number is not None and not verb:
        return number if 1 <= number <= count else None
    if verb in words:
        return words[verb]
    for word, index in words.items():
        if len(verb) >= 2 and (verb in word or word in verb):
            return index
    return None
