"""Projects from a spreadsheet: every row parsed exactly like a typed answer, a per-row report,
and the changes that import the clean rows.

Imported projects are the records whose id starts with `IMPORTED` ("imp1", "imp2", ...). A
new upload replaces that set and nothing else: projects typed in the chat are never touched.
Rows are matched to the previous import by project name and client, so a project that is
still in the sheet keeps its record, and with it the contract file already attached to it.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType

from dialogs import texts, totals
from dialogs.answers import Invalid, parse_answer
from dialogs.model import (
    AddRecord,
    Answer,
    Change,
    DeleteRecord,
    Filing,
    Key,
    SetAnswer,
    Value,
    apply_changes,
)
from dialogs.parsing import normalize
from dialogs.replies import TableRow
from dialogs.spec import FieldSpec, FormSpec, GroupSpec, Kind
from dialogs.state import ConvState, Mode
from dialogs.view import SKIPPED, View

IMPORTED = "imp"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
GROUP = totals.PROJECTS
HAS_PROJECTS = "projects.has_projects"
# A row whose project name starts with this is the template's example: never imported.
EXAMPLE_MARK = "示例"
MAX_ROWS = 5000
# Problems listed in the chat; a longer report also comes as a file.
REPORT_LIMIT = 20
REPORT_NAME = "项目导入检查报告.csv"

_RECORD_NUMBER = re.compile(r"(\d+)$")
_PARENTHESES = re.compile(r"\(.*?\)")
_PROBE = "row"  # the record id a row is parsed under


@dataclass(frozen=True, slots=True)
class RowProblem:
    row: int  # the spreadsheet's row number
    column: str
    reason: str
    example: str


@dataclass(frozen=True, slots=True)
class ParsedRow:
    row: int
    values: tuple[tuple[str, Value], ...]  # (field id, value) in the form's order

    def get(self, field_id: str) -> Value | None:
        return next((v for f, v in self.values if f == field_id), None)


@dataclass(frozen=True, slots=True)
class Parsed:
    rows: tuple[ParsedRow, ...]  # the clean rows, in the sheet's order
    problems: tuple[RowProblem, ...]
    bad_rows: int  # rows with at least one problem
    fatal: str = ""  # the sheet as a whole is unusable (columns missing, no rows)

    @property
    def clean(self) -> bool:
        return not self.fatal and not self.problems


@dataclass(frozen=True, slots=True)
class Plan:
    changes: tuple[Change, ...]
    added: tuple[str, ...]  # project names
    updated: tuple[str, ...]
    removed: tuple[str, ...]
    unchanged: int
    replaces: int  # projects of the previous import


# --- the columns ---------------------------------------------------------------------------


def group(form: FormSpec) -> GroupSpec:
    return form.group(GROUP)


def header_of(spec: FieldSpec) -> str:
    """The template's column header: the field's label, with its unit or format."""
    hint = {Kind.YESNO: "是/否", Kind.DATE: "年-月-日"}.get(spec.kind, spec.unit)
    return f"{spec.label}（{hint}）" if hint else spec.label


def _header_key(text: str) -> str:
    # Units in parentheses, spaces and required-markers do not matter: "软件开发费(万元)*".
    text = _PARENTHESES.sub("", normalize(text))
    return "".join(ch for ch in text if not ch.isspace() and ch not in "*:")


def _columns(header: Sequence[str], fields: Sequence[FieldSpec]) -> dict[str, int]:
    wanted = {_header_key(f.label): f.id for f in fields}
    wanted.update({f.id: f.id for f in fields})
    found: dict[str, int] = {}
    for index, cell in enumerate(header):
        field_id = wanted.get(_header_key(cell)) or wanted.get(cell.strip())
        if field_id is not None and field_id not in found:
            found[field_id] = index
    return found


# --- parsing -------------------------------------------------------------------------------


def parse_table(form: FormSpec, rows: Sequence[TableRow]) -> Parsed:
    """Every data row parsed with the typed answers' parsers, rules and checks."""
    fields = group(form).fields
    if not rows:
        return Parsed((), (), 0, texts.IMPORT_EMPTY)
    index = _columns(rows[0].cells, fields)
    missing = [header_of(f) for f in fields if f.id not in index]
    if missing:
        return Parsed((), (), 0, texts.IMPORT_MISSING_COLUMNS.format(columns="、".join(missing)))
    name_column = index[fields[0].id]
    body = [
        r
        for r in rows[1:]
        if any(c.strip() for c in r.cells) and not _cell(r, name_column).startswith(EXAMPLE_MARK)
    ]
    if not body:
        return Parsed((), (), 0, texts.IMPORT_NO_ROWS)
    if len(body) > MAX_ROWS:
        return Parsed((), (), 0, texts.IMPORT_TOO_MANY.format(limit=MAX_ROWS, count=len(body)))
    base = _probe_filing(form)
    view = View(form, base)
    parsed: list[ParsedRow] = []
    problems: list[RowProblem] = []
    bad = 0
    for row in body:
        values, found = _parse_row(form, view, fields, index, row)
        if found:
            bad += 1
            problems.extend(found)
        else:
            parsed.append(ParsedRow(row.number, values))
    return Parsed(tuple(parsed), tuple(problems), bad)


def _cell(row: TableRow, column: int) -> str:
    return row.cells[column].strip() if column < len(row.cells) else ""


def _probe_filing(form: FormSpec) -> Filing:
    answers = {Key(HAS_PROJECTS): Answer(True)}
    return Filing(
        0,
        form.cycle.year,
        answers=MappingProxyType(answers),
        records=MappingProxyType({GROUP: (_PROBE,)}),
    )


def _parse_row(
    form: FormSpec,
    view: View,
    fields: Sequence[FieldSpec],
    index: dict[str, int],
    row: TableRow,
) -> tuple[tuple[tuple[str, Value], ...], list[RowProblem]]:
    values: list[tuple[str, Value]] = []
    problems: list[RowProblem] = []
    for spec in fields:
        raw = _cell(row, index[spec.id])
        key = Key(spec.id, _PROBE)
        if not raw:
            if view.required(spec, key):
                problems.append(
                    RowProblem(row.number, header_of(spec), texts.IMPORT_BLANK, _example(spec))
                )
            else:
                values.append((spec.id, SKIPPED))
            continue
        # The probe view holds no other answer of the row, so a cross-field check cannot
        # fire here; the row's checks run below, once every value is known.
        result = parse_answer(view, spec, key, raw)
        if isinstance(result, Invalid):
            problems.append(RowProblem(row.number, header_of(spec), result.reason, result.example))
        else:
            values.append((spec.id, result))
    if not problems:
        problems.extend(_check_row(form, view, row.number, values))
    return tuple(values), problems


def _check_row(
    form: FormSpec, view: View, number: int, values: Sequence[tuple[str, Value]]
) -> list[RowProblem]:
    """The section's consistency checks that refuse a typed answer, on the whole row."""
    section = form.section_of(GROUP)
    checks = [c for c in section.checks if c.at_answer]
    if not checks:
        return []
    filing = apply_changes(view.filing, [SetAnswer(Key(f, _PROBE), v) for f, v in values])
    trial = View(form, filing)
    found: list[RowProblem] = []
    for check in checks:
        for problem in check.run(trial):
            if not any(k.record == _PROBE for k in problem.keys):
                continue
            last = form.field(problem.keys[-1].field)
            # A check's message names the record before its last "："; here the row does.
            reason = problem.message.rsplit("：", 1)[-1]
            found.append(RowProblem(number, header_of(last), reason, _example(last)))
    return found


def _example(spec: FieldSpec) -> str:
    if spec.kind is Kind.YESNO:
        return "是 或 否"
    return spec.example or "0"


# --- planning the changes ------------------------------------------------------------------


def imported_records(view: View) -> tuple[str, ...]:
    return tuple(r for r in view.records(GROUP) if r.startswith(IMPORTED))


def _match_key(name: Value | None, client: Value | None) -> tuple[str, str]:
    return (normalize(str(name or "")).casefold(), normalize(str(client or "")).casefold())


def _same(a: Value | None, b: Value | None) -> bool:
    return type(a) is type(b) and a == b


def plan_import(view: View, rows: Sequence[ParsedRow]) -> Plan:
    """The changes that make the imported set exactly these rows."""
    fields = group(view.spec).fields
    name_id, client_id = fields[0].id, fields[1].id
    old = imported_records(view)
    waiting: dict[tuple[str, str], list[str]] = {}
    for rid in old:
        key = _match_key(view.get(name_id, rid), view.get(client_id, rid))
        waiting.setdefault(key, []).append(rid)
    changes: list[Change] = []
    current = view.get(HAS_PROJECTS)
    if current is not True:
        changes.append(SetAnswer(Key(HAS_PROJECTS), True, current))
    numbers = [int(m.group(1)) for r in view.records(GROUP) if (m := _RECORD_NUMBER.search(r))]
    next_number = max(numbers, default=0) + 1
    added: list[str] = []
    updated: list[str] = []
    unchanged = 0
    additions: list[Change] = []
    for row in rows:
        name = str(row.get(name_id))
        matches = waiting.get(_match_key(row.get(name_id), row.get(client_id)))
        if matches:
            rid = matches.pop(0)
            edits = [
                SetAnswer(Key(f, rid), v, view.get(f, rid))
                for f, v in row.values
                if not _same(view.get(f, rid), v)
            ]
            if edits:
                updated.append(name)
                additions.extend(edits)
            else:
                unchanged += 1
            continue
        rid = f"{IMPORTED}{next_number}"
        next_number += 1
        additions.append(AddRecord(GROUP, rid))
        additions.extend(SetAnswer(Key(f, rid), v, None) for f, v in row.values)
        added.append(name)
    removed = [rid for ids in waiting.values() for rid in ids]
    removed.sort(key=old.index)
    changes.extend(DeleteRecord(GROUP, rid) for rid in removed)
    changes.extend(additions)
    return Plan(
        tuple(changes),
        tuple(added),
        tuple(updated),
        tuple(str(view.get(name_id, rid)) for rid in removed),
        unchanged,
        len(old),
    )


# --- what the contact reads ----------------------------------------------------------------


def problem_line(problem: RowProblem) -> str:
    return texts.IMPORT_PROBLEM.format(
        row=problem.row, column=problem.column, reason=problem.reason, example=problem.example
    )


def report_lines(parsed: Parsed, limit: int = REPORT_LIMIT) -> list[str]:
    lines = [
        texts.IMPORT_REPORT_HEAD.format(
            rows=len(parsed.rows) + parsed.bad_rows,
            good=len(parsed.rows),
            bad=parsed.bad_rows,
            problems=len(parsed.problems),
        )
    ]
    lines.extend(problem_line(p) for p in parsed.problems[:limit])
    if len(parsed.problems) > limit:
        lines.append(
            texts.IMPORT_REPORT_MORE.format(count=len(parsed.problems) - limit, file=REPORT_NAME)
        )
    return lines


def report_csv(parsed: Parsed) -> bytes:
    """The whole report as a spreadsheet-friendly CSV (UTF-8 with BOM, so Excel reads it)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(texts.IMPORT_REPORT_COLUMNS)
    for p in parsed.problems:
        writer.writerow((p.row, p.column, p.reason, p.example))
    return out.getvalue().encode("utf-8-sig")


def _names(names: Sequence[str], limit: int = 5) -> str:
    shown = "、".join(names[:limit])
    return shown + (texts.MORE.format(count=len(names)) if len(names) > limit else "")


def difference_lines(view: View, plan: Plan) -> list[str]:
    """What replacing the previous import changes: projects and the totals."""
    lines = [
        texts.IMPORT_DIFF_HEAD.format(
            old=plan.replaces,
            added=len(plan.added),
            updated=len(plan.updated),
            removed=len(plan.removed),
            unchanged=plan.unchanged,
        )
    ]
    if plan.added:
        lines.append(texts.IMPORT_DIFF_ADDED.format(names=_names(plan.added)))
    if plan.updated:
        lines.append(texts.IMPORT_DIFF_UPDATED.format(names=_names(plan.updated)))
    if plan.removed:
        lines.append(texts.IMPORT_DIFF_REMOVED.format(names=_names(plan.removed)))
    after = View(view.spec, apply_changes(view.filing, plan.changes))
    lines.extend(_total_lines(view, after))
    return lines


def _total_lines(before: View, after: View) -> list[str]:
    old, new = totals.column_totals(before), totals.column_totals(after)
    count_old, count_new = len(totals.project_records(before)), len(totals.project_records(after))
    return [
        texts.IMPORT_DIFF_COUNT.format(old=count_old, new=count_new),
        texts.IMPORT_DIFF_TOTAL.format(
            label="合同金额合计",
            old=_money(old["contract_amount"]),
            new=_money(new["contract_amount"]),
        ),
        texts.IMPORT_DIFF_TOTAL.format(
            label="软件和信息技术服务费合计",
            old=_money(old["service_total"]),
            new=_money(new["service_total"]),
        ),
    ]


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def table_to_state(name: str, rows: Sequence[TableRow]) -> dict[str, object]:
    return {"name": name, "rows": [[r.number, list(r.cells)] for r in rows]}


def table_from_state(data: dict[str, object] | None) -> tuple[TableRow, ...]:
    if not data:
        return ()
    raw = data.get("rows")
    if not isinstance(raw, list):
        return ()
    return tuple(TableRow(int(number), tuple(str(c) for c in cells)) for number, cells in raw)


def waits_for_table(state: ConvState) -> bool:
    """Whether an uploaded spreadsheet is the answer the conversation waits for."""
    return state.mode in (Mode.IMPORT, Mode.IMPORT_CHOICE)
