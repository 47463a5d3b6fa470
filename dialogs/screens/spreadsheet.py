"""Projects from a spreadsheet: waiting for the filled template (`Mode.IMPORT`) and an
uploaded sheet's report with its choices (`Mode.IMPORT_CHOICE`)."""

from __future__ import annotations

from collections.abc import Sequence

from dialogs import project_import, texts
from dialogs.commands import Command
from dialogs.effects import SendProjectTemplate
from dialogs.model import Key
from dialogs.replies import Button, Choice, Document, FileIn, FileRequest, Reply, TableIn, TableRow
from dialogs.screens.base import Outcome, Screen, Turn
from dialogs.screens.choices import split_verb
from dialogs.spec import SectionSpec
from dialogs.state import ConvState, Mode

IMPORT_SLOT = "import.projects"


def import_section(turn: Turn) -> SectionSpec:
    return turn.form.section_of(project_import.GROUP)


def import_allowed(turn: Turn, state: ConvState) -> bool:
    return bool(state.section) and state.section == import_section(turn).id


def offers_import(turn: Turn, key: Key) -> bool:
    """The first question of a new project also offers the spreadsheet."""
    group = turn.form.group_of(key.field)
    return (
        group is not None
        and group.id == project_import.GROUP
        and key.field == group.fields[0].id
        and key.record not in turn.view.records(group.id)
    )


def import_offer(turn: Turn) -> Outcome:
    turn.effects.append(SendProjectTemplate())
    return import_request(turn)


def import_request(turn: Turn, *, again: bool = False) -> Outcome:
    section = import_section(turn)
    text = texts.IMPORT_WAITING if again else texts.IMPORT_REQUEST
    options = (
        Button(texts.BTN_TEMPLATE_AGAIN, "模板"),
        Button(texts.BTN_IMPORT_BACK, "返回"),
    )
    request = FileRequest(
        turn.lead(text.format(year=turn.form.cycle.year)),
        IMPORT_SLOT,
        texts.IMPORT_SLOT_LABEL,
        options,
        (project_import.XLSX_TYPE,),
    )
    return turn.done(ConvState().at(Mode.IMPORT, section.id), request)


def cancel(turn: Turn, state: ConvState) -> Outcome:
    """取消 or 返回 while the import is on screen: back to the section, nothing imported."""
    turn.note(texts.IMPORT_CANCELLED)
    return turn.walk(state.section)


def on_import(turn: Turn, state: ConvState, raw: str, command: Command | None) -> Outcome:
    if command in (Command.BACK, Command.CANCEL):  # its button, picked by number
        return cancel(turn, state)
    turn.note(texts.IMPORT_WAITING)
    return import_request(turn, again=True)


def need_xlsx(turn: Turn, state: ConvState, event: FileIn) -> Outcome:
    turn.note(texts.IMPORT_NEED_XLSX)
    return turn.resume(state)


def table_in(turn: Turn, state: ConvState, event: TableIn) -> Outcome:
    if event.rejected:
        turn.note(texts.IMPORT_UNREADABLE.format(reason=event.rejected))
        return import_request(turn, again=True)
    parsed = project_import.parse_table(turn.form, event.rows)
    if parsed.fatal:
        turn.note(texts.IMPORT_UNREADABLE.format(reason=parsed.fatal))
        return import_request(turn, again=True)
    plan = project_import.plan_import(turn.view, parsed.rows)
    if parsed.clean and not plan.replaces:
        return import_rows(turn, plan, parsed)
    return import_choice(turn, event.name, event.rows, parsed, plan)


def import_choice(
    turn: Turn,
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
        lines.extend(project_import.difference_lines(turn.view, plan))
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
            lines.extend(project_import.difference_lines(turn.view, plan))
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
        section=import_section(turn).id,
        table=project_import.table_to_state(name, rows),
    )
    choice = Choice(turn.lead("\n".join(lines)), tuple(buttons))
    return turn.done(state, *replies, choice)


def import_review(turn: Turn, state: ConvState) -> Outcome:
    rows = project_import.table_from_state(state.table)
    parsed = project_import.parse_table(turn.form, rows)
    if parsed.fatal:
        return import_request(turn, again=True)
    plan = project_import.plan_import(turn.view, parsed.rows)
    name = str((state.table or {}).get("name", ""))
    return import_choice(turn, name, rows, parsed, plan)


def on_import_choice(turn: Turn, state: ConvState, raw: str, command: Command | None) -> Outcome:
    if command in (Command.BACK, Command.CANCEL):  # its button, picked by number
        return cancel(turn, state)
    verb, _number = split_verb(raw)
    if verb in ("导入无误行", "只导入无误行", "只导入无误的行", "确认替换", "替换", "确认"):
        parsed = project_import.parse_table(turn.form, project_import.table_from_state(state.table))
        if parsed.rows and (parsed.clean or verb != "确认"):
            # Planned again against the filing as it is now, not as it was shown.
            return import_rows(turn, project_import.plan_import(turn.view, parsed.rows), parsed)
    elif verb in ("重新上传", "修改后重新上传", "上传"):
        return import_request(turn, again=True)
    turn.refuse(texts.NOT_AN_OPTION)
    return import_review(turn, state)


def import_rows(turn: Turn, plan: project_import.Plan, parsed: project_import.Parsed) -> Outcome:
    turn.change(*plan.changes)
    turn.note(
        texts.IMPORT_DONE.format(
            count=len(parsed.rows),
            added=len(plan.added),
            updated=len(plan.updated),
            removed=len(plan.removed),
        )
    )
    missing = missing_record_files(turn, project_import.GROUP)
    if missing:
        section = turn.form.section_of(missing[0].field)
        turn.note(texts.IMPORT_DONE_FILES.format(count=len(missing), section=section.heading))
    return turn.walk(import_section(turn).id)


def missing_record_files(turn: Turn, group_id: str) -> list[Key]:
    """Required files of the group's records not uploaded yet (e.g. project contracts)."""
    missing: list[Key] = []
    for spec in turn.form.all_fields():
        if spec.for_records != group_id or not turn.view.applies(spec):
            continue
        for key in turn.view.field_keys(spec):
            if turn.view.required(spec, key) and not turn.view.filled(key):
                missing.append(key)
    return missing


WAITING = Screen(
    Mode.IMPORT,
    show=lambda turn, state: import_request(turn, again=True),
    handle=on_import,
    receive_file=need_xlsx,
    receive_table=table_in,
)
REPORT = Screen(
    Mode.IMPORT_CHOICE,
    show=import_review,
    handle=on_import_choice,
    receive_file=need_xlsx,
    receive_table=table_in,
)
