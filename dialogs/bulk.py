"""Several answers in one message: a row pasted from Excel, or labelled lines.

A contact can give a whole project, certificate holder, innovation item or a section's
scalar answers at once:

- a row copied from Excel (cells separated by tabs), in the order of the project template's
  columns (the group's fields in form order), or under its header row;
- labelled lines, one answer each: "软件开发费 120.5", "软件开发费：120.5万",
  "2025年营业收入=4567.89".

Every value goes through the same parser, rules and checks as a single typed answer
(`dialogs.answers.parse_answer`), in form order, so that a check between two answers of the
message (验收日期 before 合同签订日期) fires as it would when typed one by one. The result holds
the parsed values, the per-field problems, the required questions still unanswered (to be
asked one by one) and the summary line "已识别 15 项，2 项需要补充". Several pasted rows become
several records, with the per-row report of the spreadsheet import.

Pure: the engine decides when a message is taken this way and asks for confirmation.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from dialogs import project_import, texts, texts_input
from dialogs.answers import Invalid, parse_answer
from dialogs.magnitude import Doubt, doubtful_amount
from dialogs.model import AddRecord, Change, Key, SetAnswer, Value, apply_changes
from dialogs.parsing import normalize, strip_invisible
from dialogs.project_import import Parsed, ParsedRow, RowProblem
from dialogs.replies import TableRow
from dialogs.spec import FieldSpec, GroupSpec, Kind, SectionSpec
from dialogs.view import SKIPPED, View

# "（万元）", "(年-月-日)", "[必填]" after a label: what the template's headers carry.
_BRACKETS = re.compile(r"[(（\[【][^)）\]】]*[)）\]】]")
# Between a label and its value; never "-", which may be a value's sign.
_SEPARATORS = " \t:：=＝,，、"
# An optional question left empty in a row or a line: "跳过", or the dash of an empty cell.
_SKIP_WORDS = frozenset({"跳过", "略", "-", "—", "——", "/", "／"})
_AMONG = "其中"  # "其中：系统集成收入" is also typed without its "其中："
# Questions whose label a figure may follow without a space: "营业收入3856200".
_FIGURES = frozenset({Kind.AMOUNT, Kind.COUNT, Kind.YEAR})


@dataclass(frozen=True, slots=True)
class BulkProblem:
    """A value given for a question that its parser, rules or checks refused."""

    key: Key
    label: str
    reason: str
    example: str

    @property
    def line(self) -> str:
        return texts_input.BULK_PROBLEM.format(
            label=self.label, reason=self.reason, example=self.example
        )


@dataclass(frozen=True, slots=True)
class Bulk:
    """What one message answered for one record or one section's questions."""

    values: tuple[tuple[Key, Value], ...]  # accepted, in form order
    problems: tuple[BulkProblem, ...]  # given but refused: asked again
    missing: tuple[Key, ...]  # required, neither given nor answered before: asked one by one
    unknown: tuple[str, ...] = ()  # lines that named no question here
    doubts: tuple[Doubt, ...] = ()  # accepted amounts whose magnitude is to be confirmed

    @property
    def found(self) -> int:
        return len(self.values)

    @property
    def to_complete(self) -> int:
        return len(self.problems) + len(self.missing)

    @property
    def summary(self) -> str:
        """ "已识别 15 项，2 项需要补充" """
        if not self.to_complete:
            return texts_input.BULK_SUMMARY_COMPLETE.format(found=self.found)
        return texts_input.BULK_SUMMARY.format(found=self.found, missing=self.to_complete)

    def lines(self, view: View) -> list[str]:
        """The confirmation: the summary, every value as it will be stored, what is wrong,
        what is missing and what was not understood."""
        out = [self.summary]
        out += [f"✓ {view.label(key)}：{_shown(view, key, value)}" for key, value in self.values]
        out += [f"✗ {problem.line}" for problem in self.problems]
        out += [
            f"… {texts_input.BULK_MISSING.format(label=view.label(key))}" for key in self.missing
        ]
        out += [f"? {line}" for line in self.unknown]
        return out

    def changes(self, view: View) -> list[Change]:
        """The accepted values as changes (the record added first when it is new)."""
        changes: list[Change] = []
        for key, value in self.values:
            group = view.spec.group_of(key.field)
            new = AddRecord(group.id, key.record) if group is not None else None
            fresh = new is not None and key.record not in view.records(new.group)
            if new is not None and fresh and new not in changes:
                changes.append(new)
            changes.append(SetAnswer(key, value, view.filing.get(key)))
        return changes


# --- what a message is --------------------------------------------------------------------------


def is_bulk(text: str) -> bool:
    """Whether a message carries several answers: cells separated by tabs, or two lines or
    more. (A single answer is one line; free text asked for is never multi-line here.)"""
    lines = [line for line in text.splitlines() if line.strip()]
    return "\t" in text or len(lines) >= 2


def several(text: str) -> bool:
    """Two answers at least: two non-empty lines, or a row of two non-empty cells."""
    lines = [line for line in text.splitlines() if line.strip()]
    cells = [cell for cell in (lines[-1].split("\t") if lines else ()) if cell.strip()]
    return len(lines) >= 2 or len(cells) >= 2


def labelled_line(
    view: View, keys: Sequence[Key], current: Key, text: str
) -> tuple[Key, str] | None:
    """One line that names its question ("2025年营业收入 3856200", "合同金额：120万"): that
    question and its value as typed; None for anything else. The label must be followed by a
    separator or a figure, so that an answer which merely begins with a label's words ("类型安全
    的…" as a title) stays an answer. The question on screen may be named by its short label
    even where that is ambiguous in the section ("营业收入" at the 2025 question)."""
    if is_bulk(text):
        return None
    index = _label_index(view, keys)
    index += [(variant, current) for variant in _variants(view, current, unique_plain=True)]
    index.sort(key=lambda pair: -len(pair[0]))

    def joined(key: Key) -> bool:  # "营业收入3856200": a figure may follow a figure's label
        return view.spec.field(key.field).kind in _FIGURES

    return _split_label(text, index, joined=joined)


# --- the questions a message may answer ---------------------------------------------------------


def record_keys(view: View, group: GroupSpec, record: str) -> list[Key]:
    """The questions of one record, in form order (the project template's column order)."""
    return [Key(spec.id, record) for spec in group.fields if view.applies(spec)]


def section_keys(view: View, section: SectionSpec) -> list[Key]:
    """The section's scalar questions in asking order (year-major for per-year sections)."""
    return [entry for entry in view.layout(section) if isinstance(entry, Key)]


# --- parsing --------------------------------------------------------------------------------------


def parse_message(view: View, keys: Sequence[Key], text: str) -> Bulk:
    """One record or one section answered in one message: a pasted row (with or without
    the header row above it) or labelled lines."""
    lines = [line for line in text.splitlines() if line.strip()]
    if any("\t" in line for line in lines) and not _label_columns(view, keys, lines):
        rows = [line.split("\t") for line in lines]
        header = _header_columns(view, keys, rows[0]) if len(rows) > 1 else None
        cells = rows[-1]
        if header:
            given = {keys[k]: cells[c] for k, c in header.items() if c < len(cells)}
        else:
            given = dict(zip(keys, cells, strict=False))
        return _parse(view, keys, given, ())
    given, unknown = _labelled(view, keys, lines)
    return _parse(view, keys, given, tuple(unknown))


def parse_given(view: View, keys: Sequence[Key], given: dict[Key, str]) -> Bulk:
    """Values already matched to their questions (`labelled_line`), parsed and checked like
    those of a message."""
    return _parse(view, keys, given, ())


def data_rows(view: View, keys: Sequence[Key], text: str) -> int:
    """How many records a message pastes: its tab-separated lines, less a header row. Two or
    more go to `parse_rows`, one to `parse_message`."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not any("\t" in line for line in lines) or _label_columns(view, keys, lines):
        return 1 if lines else 0
    header = _header_columns(view, keys, lines[0].split("\t"))
    return len(lines) - (1 if header is not None else 0)


def _label_columns(view: View, keys: Sequence[Key], lines: Sequence[str]) -> bool:
    """Two columns copied from a sheet, labels and values ("软件开发费<TAB>120.5"): labelled
    lines, not a row."""
    if any(len([c for c in line.split("\t") if c.strip()]) > 2 for line in lines):
        return False
    index = _label_index(view, keys)
    labelled = sum(1 for line in lines if _split_label(line, index) is not None)
    return labelled * 2 > len(lines)


def parse_rows(view: View, group: GroupSpec, text: str) -> Parsed:
    """Several records pasted at once (rows from Excel, the header row optional): every row
    parsed like a typed record, with the spreadsheet import's per-row report
    (`project_import.report_lines`). Rows are numbered as the lines of the message."""
    lines = [line for line in text.splitlines() if line.strip()]
    fields = [spec for spec in group.fields if view.applies(spec)]
    rows = [TableRow(number, tuple(line.split("\t"))) for number, line in enumerate(lines, 1)]
    keys = [Key(spec.id, _PROBE) for spec in fields]
    header = _header_columns(view, keys, list(rows[0].cells)) if rows else None
    if header is None:
        synthetic = tuple(project_import.header_of(spec) for spec in fields)
        rows = [TableRow(0, synthetic), *rows]
    if group.id == project_import.GROUP:
        # The spreadsheet import's own reading, checks and report, row for row.
        return project_import.parse_table(view.spec, rows)
    return _parse_rows(view, group, fields, rows)


def rows_changes(view: View, group: GroupSpec, parsed: Parsed) -> list[Change]:
    """The clean rows of `parse_rows` as new records after the existing ones."""
    changes: list[Change] = []
    filing = view.filing
    for row in parsed.rows:
        record = View(view.spec, filing).new_record_id(group)
        added: list[Change] = [AddRecord(group.id, record)]
        added += [SetAnswer(Key(field_id, record), value) for field_id, value in row.values]
        filing = apply_changes(filing, added)
        changes += added
    return changes


_PROBE = "row"  # the record id rows are parsed under


def _parse(
    view: View, keys: Sequence[Key], given: dict[Key, str], unknown: tuple[str, ...]
) -> Bulk:
    """Each given text through `parse_answer` in form order, every accepted value in place
    for the checks of the next ones."""
    values: list[tuple[Key, Value]] = []
    problems: list[BulkProblem] = []
    doubts: list[Doubt] = []
    trial = view
    for key in keys:
        raw = given.get(key, "")
        if not strip_invisible(raw).strip():
            continue
        spec = view.spec.field(key.field)
        if spec.kind is Kind.FILE:
            continue  # files are sent, never typed
        if normalize(raw) in _SKIP_WORDS and not view.required(spec, key):
            values.append((key, SKIPPED))
            continue
        result = parse_answer(trial, spec, key, raw)
        if isinstance(result, Invalid):
            problems.append(BulkProblem(key, view.label(key), result.reason, result.example))
            continue
        values.append((key, result))
        if isinstance(result, Decimal):
            doubt = doubtful_amount(trial, key, result, raw)
            if doubt is not None:
                doubts.append(doubt)
        trial = View(view.spec, apply_changes(trial.filing, _set(trial, key, result)))
    given_keys = {key for key, _ in values} | {problem.key for problem in problems}
    missing = tuple(
        key
        for key in keys
        if key not in given_keys
        and not view.answered(key)
        and view.spec.field(key.field).kind is not Kind.FILE
        and view.required(view.spec.field(key.field), key)
    )
    return Bulk(tuple(values), tuple(problems), missing, unknown, tuple(doubts))


def _set(view: View, key: Key, value: Value) -> list[Change]:
    group = view.spec.group_of(key.field)
    changes: list[Change] = []
    if group is not None and key.record not in view.records(group.id):
        changes.append(AddRecord(group.id, key.record))
    changes.append(SetAnswer(key, value))
    return changes


def _parse_rows(
    view: View, group: GroupSpec, fields: Sequence[FieldSpec], rows: Sequence[TableRow]
) -> Parsed:
    """Like the project import, for the other groups: a row with any problem is reported
    (row, column, reason, example) and left out."""
    header = rows[0]
    keys = [Key(spec.id, _PROBE) for spec in fields]
    columns = _header_columns(view, keys, list(header.cells)) or {}
    parsed: list[ParsedRow] = []
    problems: list[RowProblem] = []
    bad = 0
    base = View(view.spec, apply_changes(view.filing, [AddRecord(group.id, _PROBE)]))
    for row in rows[1:]:
        given = {keys[k]: row.cells[c] for k, c in columns.items() if c < len(row.cells)}
        bulk = _parse(base, keys, given, ())
        found = [
            RowProblem(row.number, _column(view, p.key), p.reason, p.example) for p in bulk.problems
        ]
        found += [
            RowProblem(row.number, _column(view, key), texts.IMPORT_BLANK, _example(view, key))
            for key in bulk.missing
        ]
        if found:
            bad += 1
            problems += found
            continue
        values = dict(bulk.values)
        parsed.append(
            ParsedRow(
                row.number,
                tuple((key.field, values.get(key, SKIPPED)) for key in keys if key in values)
                + tuple((key.field, SKIPPED) for key in keys if key not in values),
            )
        )
    return Parsed(tuple(parsed), tuple(problems), bad)


def _column(view: View, key: Key) -> str:
    return project_import.header_of(view.spec.field(key.field))


def _example(view: View, key: Key) -> str:
    spec = view.spec.field(key.field)
    return "是 或 否" if spec.kind is Kind.YESNO else spec.example or "0"


# --- labels ---------------------------------------------------------------------------------------


def _label_key(text: str) -> str:
    """The comparison form of a label: width, case, spaces and bracketed units do not matter."""
    return "".join(_BRACKETS.sub("", normalize(text).casefold()).split())


def _variants(view: View, key: Key, unique_plain: bool) -> Iterable[str]:
    """The names a question may be given by: its full label ("2025年营业收入"), its field
    label when that is unambiguous here ("营业收入"), without "其中：", and its field id."""
    spec = view.spec.field(key.field)
    names = [view.label(key), key.field]
    if unique_plain:
        names.append(spec.label)
    for name in list(names):
        plain = normalize(name)
        if plain.startswith(_AMONG):
            names.append(plain[len(_AMONG) :].lstrip(":："))
    return {_label_key(name) for name in names if _label_key(name)}


def _label_index(view: View, keys: Sequence[Key]) -> list[tuple[str, Key]]:
    counts: dict[str, int] = {}
    for key in keys:
        counts[key.field] = counts.get(key.field, 0) + 1
    index = [
        (variant, key)
        for key in keys
        for variant in _variants(view, key, unique_plain=counts[key.field] == 1)
    ]
    return sorted(index, key=lambda pair: -len(pair[0]))  # the longest name wins


def _header_columns(view: View, keys: Sequence[Key], cells: Sequence[str]) -> dict[int, int] | None:
    """For a header row: key position -> column; None when the row is not a header (fewer
    than half of its non-empty cells name a question)."""
    index = _label_index(view, keys)
    found: dict[int, int] = {}
    named = 0
    for column, cell in enumerate(cells):
        cell_key = _label_key(cell.strip().rstrip("*"))
        if not cell_key:
            continue
        named += 1
        for variant, key in index:
            if cell_key == variant:
                position = keys.index(key)
                found.setdefault(position, column)
                break
    return found if named and len(found) * 2 >= named else None


def _labelled(
    view: View, keys: Sequence[Key], lines: Sequence[str]
) -> tuple[dict[Key, str], list[str]]:
    """Labelled lines: "label value", "label：value", "label（万元）= value"."""
    index = _label_index(view, keys)
    given: dict[Key, str] = {}
    unknown: list[str] = []
    for number, line in enumerate(lines, 1):
        found = _split_label(line, index)
        if found is None:
            unknown.append(texts_input.BULK_UNKNOWN_LABEL.format(line=number, label=_quoted(line)))
            continue
        key, value = found
        given.setdefault(key, value)
    return given, unknown


def _split_label(
    line: str,
    index: Sequence[tuple[str, Key]],
    *,
    joined: Callable[[Key], bool] | None = None,
) -> tuple[Key, str] | None:
    """The question a line starts with, and the rest of the line as typed. With `joined`:
    only where a separator or a bracketed unit follows the label, or a figure does and
    `joined` allows it for that question."""
    line = strip_invisible(line)
    # Each character folded on its own, so that every folded one knows where it was typed.
    compact = [
        (folded, position)
        for position, char in enumerate(line)
        for folded in _fold(char)
        if not folded.isspace()
    ]
    text = "".join(f for f, _ in compact)
    for variant, key in index:
        if not text.startswith(variant):
            continue
        # Where the label ends in the line as typed: after its last character.
        end = compact[len(variant) - 1][1] + 1
        rest = line[end:]
        while _opens_bracket(rest):  # the unit or format after a label: "（万元）"
            shorter = _BRACKETS.sub("", rest.lstrip(), count=1)
            if shorter == rest.lstrip():
                break  # an unclosed bracket: part of the value
            rest = shorter
        value = rest.lstrip(_SEPARATORS).strip()
        if joined is not None and rest == line[end:] and not _set_apart(rest, joined(key)):
            continue
        if value:
            return key, value
    return None


def _set_apart(rest: str, figure: bool) -> bool:
    """What follows a label starts with a separator, or (`figure`) with a digit."""
    if rest[:1] in _SEPARATORS:
        return True
    return figure and unicodedata.normalize("NFKC", rest[:1]).isdigit()


def _fold(char: str) -> str:
    return unicodedata.normalize("NFKC", char).casefold() if char.isprintable() else ""


def _opens_bracket(text: str) -> bool:
    return text.lstrip()[:1] in ("(", "（", "[", "【")


def _quoted(line: str, limit: int = 12) -> str:
    line = line.strip()
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _shown(view: View, key: Key, value: Value) -> str:
    return view.format_value(view.spec.field(key.field), value)
