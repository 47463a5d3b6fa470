"""The form as a reviewer reads it, from the spec alone: a document of every section, question,
option, rule and computed total, and a graph of the dialog's sections and transitions.

Rules, checks and computed totals are functions in the spec, not text. To describe them
truthfully the preview runs them on a synthetic filing (`_Probe`): a check's example message is
what the check says when one of its answers is pushed out of line; a total's "依据" are the
answers whose change changes it; a condition is the yes/no answer that switches it. So the
document cannot drift from what the bot does.

Pure: values in, text out. `bot/preview.py` writes the files and runs Graphviz.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from types import MappingProxyType

from dialogs import catalog, texts
from dialogs import texts_preview as t
from dialogs.answers import Invalid, parse_answer
from dialogs.cycle import Grade
from dialogs.model import Answer, FileRef, Filing, Key, Value
from dialogs.parsing import (
    EXAMPLE_CREDIT_CODE,
    EXAMPLE_EMAIL,
    EXAMPLE_LANDLINE,
    EXAMPLE_MOBILE,
    ParseError,
    parse_date,
)
from dialogs.replies import ACCEPTED_TYPES
from dialogs.spec import FieldSpec, FormSpec, GroupSpec, Kind, Problem, SectionSpec
from dialogs.texts_review import STATUS
from dialogs.view import SKIPPED, View

# --- the document model (rendered as Markdown and as HTML) -------------------------------------


@dataclass(frozen=True, slots=True)
class Heading:
    level: int
    text: str
    anchor: str = ""


@dataclass(frozen=True, slots=True)
class Para:
    text: str  # `code` spans allowed


@dataclass(frozen=True, slots=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Grid:
    head: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class Figure:
    src: str
    caption: str


Block = Heading | Para | Bullets | Grid | Figure


# --- probing the spec ---------------------------------------------------------------------------

_PROBE_RECORDS = 2
_FILE = FileRef("0" * 64, "示例.pdf", 1024, "application/pdf")


class _Probe:
    """A complete synthetic filing: a new enterprise (all three years), every yes/no "是",
    two records per group, amounts halving down each list so that parts stay below their
    totals (every check passes), distinct names and choices per record."""

    def __init__(self, form: FormSpec, records: dict[str, int] | None = None) -> None:
        self.form = form
        self.year = form.cycle.year
        self.position: dict[str, tuple[int, int]] = {}
        for section in form.sections:
            scalars = [i for i in section.items if isinstance(i, FieldSpec)]
            for index, spec in enumerate(scalars):
                self.position[spec.id] = (index, len(scalars))
            for group in section.groups():
                for index, spec in enumerate(group.fields):
                    self.position[spec.id] = (index, len(group.fields))
        counts = records or {}
        ids = {
            g.id: tuple(f"{g.id[:3]}{n}" for n in range(1, counts.get(g.id, _PROBE_RECORDS) + 1))
            for s in form.sections
            for g in s.groups()
        }
        filing = Filing(0, self.year, records=MappingProxyType(ids))
        # Twice: the yes/no answers and the first year decide which questions apply.
        for _ in range(2):
            view = View(form, filing)
            answers = dict(filing.answers)
            for section in form.sections:
                for key in view.steps(section):
                    answers[key] = Answer(self.value(key, ids))
            filing = replace(filing, answers=MappingProxyType(answers))
        self.filing = filing

    def value(self, key: Key, ids: dict[str, tuple[str, ...]]) -> Value:
        spec = self.form.field(key.field)
        index, size = self.position.get(spec.id, (0, 1))
        number = _record_number(self.form, key, ids)
        match spec.kind:
            case Kind.AMOUNT:
                return Decimal(1 << (size - index)).quantize(Decimal("0.01"))
            case Kind.COUNT:
                return 1 << (size - index)
            case Kind.YEAR:
                return self.year
            case Kind.DATE:
                try:
                    return parse_date(spec.example)
                except ParseError:
                    return date(self.year, 6, 30)
            case Kind.YESNO:
                return True
            case Kind.CHOICE:
                return spec.options[(number - 1) % len(spec.options)].value
            case Kind.MOBILE:
                return EXAMPLE_MOBILE
            case Kind.LANDLINE:
                return EXAMPLE_LANDLINE
            case Kind.EMAIL:
                return EXAMPLE_EMAIL
            case Kind.CREDIT_CODE:
                return EXAMPLE_CREDIT_CODE
            case Kind.FILE:
                return _FILE
        return f"{spec.example or spec.label}{number or ''}"

    def view(self, filing: Filing | None = None) -> View:
        return View(self.form, filing or self.filing)

    def with_value(self, key: Key, value: Value) -> Filing:
        answers = dict(self.filing.answers)
        answers[key] = Answer(value)
        return replace(self.filing, answers=MappingProxyType(answers))

    def with_values(self, values: dict[Key, Value]) -> Filing:
        answers = dict(self.filing.answers)
        answers.update({k: Answer(v) for k, v in values.items()})
        return replace(self.filing, answers=MappingProxyType(answers))

    def variants(self, key: Key) -> Iterator[Value]:
        """Other values of an answer, to see what depends on it."""
        value = self.filing.get(key)
        spec = self.form.field(key.field)
        if isinstance(value, bool):
            yield not value
        elif isinstance(value, Decimal):
            yield value + 10000
            yield Decimal("0.00")
        elif isinstance(value, int) and spec.kind is Kind.YEAR:
            yield value - 3
        elif isinstance(value, int):
            yield value + 10000
            yield 0
        elif isinstance(value, date):
            yield date(self.year, 12, 31)
            yield date(self.year - 2, 1, 1)
        elif isinstance(value, str):
            if spec.kind is Kind.CHOICE:
                yield next(o.value for o in spec.options if o.value != value)
            first = self._first_record(key)
            if first != key:  # the same as the first record's (a duplicate, the same person)
                yield self.filing.get(first) or value
            elif spec.kind is not Kind.CHOICE:
                yield value + "乙"
            yield SKIPPED

    def _first_record(self, key: Key) -> Key:
        group = self.form.group_of(key.field)
        ids = self.filing.record_ids(group.id) if group is not None else ()
        return key._replace(record=ids[0]) if ids else key

    def dependencies(self, measure: Callable[[View], object]) -> list[str]:
        """Field ids whose answers change what `measure` gives, in form order."""
        return self.dependencies_each(lambda view: (measure(view),))[0]

    def dependencies_each(self, measure: Callable[[View], Sequence[object]]) -> list[list[str]]:
        """`dependencies` of each of several values computed together (one run per variant)."""
        base = measure(self.view())
        found: list[set[str]] = [set() for _ in base]
        for key in self.filing.answers:
            for value in self.variants(key):
                values = measure(self.view(self.with_value(key, value)))
                for index, before in enumerate(base):
                    after = values[index] if index < len(values) else None
                    if after != before:
                        found[index].add(key.field)
        order = _form_order(self.form)
        return [sorted(fields, key=order) for fields in found]

    def switches(self, test: Callable[[View], object]) -> list[tuple[str, Value]]:
        """Scalar yes/no and year answers that change `test`, with the value at which `test`
        gives what it gives for the probe."""
        base = test(self.view())
        found = []
        for key, answer in self.filing.answers.items():
            spec = self.form.field(key.field)
            if key.record or key.year or spec.kind not in (Kind.YESNO, Kind.YEAR):
                continue
            for value in self.variants(key):
                if test(self.view(self.with_value(key, value))) != base:
                    found.append((key.field, answer.value))
                    break
        return found


def _record_number(form: FormSpec, key: Key, ids: dict[str, tuple[str, ...]]) -> int:
    group = form.group_of(key.field)
    if group is None:
        return 0
    records = ids.get(group.id, ())
    return records.index(key.record) + 1 if key.record in records else 0


# --- describing fields, checks and totals ------------------------------------------------------


def _shown(view: View, spec: FieldSpec, value: Value) -> str:
    if isinstance(value, bool):
        return t.VALUE_YES if value else t.VALUE_NO
    return view.format_value(spec, value)


def _condition(probe: _Probe, test: Callable[[View], object]) -> str:
    switches = probe.switches(test)
    if not switches:
        return t.CONDITION_UNKNOWN
    view = probe.view()
    return "、".join(
        t.CONDITION.format(
            label=probe.form.field(fid).label, value=_shown(view, probe.form.field(fid), value)
        )
        for fid, value in switches
    )


def _labels(form: FormSpec, field_ids: Iterable[str]) -> str:
    return "、".join(f"{form.field(f).label}（`{f}`）" for f in field_ids)


def _rule_examples(probe: _Probe, spec: FieldSpec) -> list[str]:
    if not spec.rules:
        return []
    y = probe.year
    candidates: list[Value] = []
    if spec.kind is Kind.DATE:
        candidates = [date(y - 1, 12, 31), date(y + 1, 1, 1)]
    elif spec.kind is Kind.AMOUNT:
        candidates = [Decimal("-1.00"), Decimal("1000000.00")]
    elif spec.kind in (Kind.COUNT, Kind.YEAR):
        candidates = [0, y - 100, y + 1]
    view = probe.view()
    keys = [k for k in probe.filing.answers if k.field == spec.id][:1] or [Key(spec.id)]
    messages: list[str] = []
    for rule in spec.rules:
        for value in candidates:
            message = rule(view, keys[0], value)
            if message and message not in messages:
                messages.append(message)
                break
    return messages


def _required_when(probe_form: FormSpec, spec: FieldSpec) -> str:
    if spec.required_when is None or not spec.for_records:
        return ""
    group = probe_form.group(spec.for_records)
    count = probe_form.cycle.project_files_required + 2
    probe = _Probe(probe_form, {group.id: count})
    view = probe.view()
    required = sum(1 for key in view.field_keys(spec) if view.required(spec, key))
    return t.REQUIRED_WHEN.format(count=count, noun=group.noun, required=required)


def _check_examples(probe: _Probe, section: SectionSpec) -> list[str]:
    lines = []
    for check in section.checks:
        when = t.CHECK_AT_ANSWER if check.at_answer else t.CHECK_SUMMARY
        fields = _labels(probe.form, sorted(check.fields, key=_form_order(probe.form)))
        example = _check_example(probe, check.run)
        line = t.CHECK_LINE if example else t.CHECK_NO_EXAMPLE
        lines.append(line.format(fields=fields, when=when, example=example))
    return lines


def _form_order(form: FormSpec) -> Callable[[str], int]:
    order = {s.id: i for i, s in enumerate(form.all_fields())}
    return lambda fid: order.get(fid, len(order))


def _check_example(probe: _Probe, run: Callable[[View], Iterator[Problem]]) -> str:
    """What the check says when one answer (or a whole record) is pushed out of line."""

    def messages(filing: Filing) -> list[str]:
        return [p.message for p in run(probe.view(filing))]

    baseline = set(messages(probe.filing))
    keys = list(probe.filing.answers)
    attempts: list[Filing] = []
    for key in keys:
        attempts.extend(probe.with_value(key, v) for v in probe.variants(key))
    # All-zero amounts (a project whose fees are all 0) and copied records (duplicates).
    zero: dict[Key, Value] = {
        k: Decimal("0.00") for k in keys if isinstance(probe.filing.get(k), Decimal)
    }
    attempts.append(probe.with_values(zero))
    copies: dict[Key, Value] = {}
    for key in keys:
        if key.record:
            first = probe._first_record(key)
            value = probe.filing.get(first)
            if value is not None:
                copies[key] = value
    attempts.append(probe.with_values(copies))
    for filing in attempts:
        for message in messages(filing):
            if message not in baseline:
                return message
    return ""


def _first_record_totals(
    probe: _Probe, compute: Callable[[View, str], list[tuple[str, str]]], group: GroupSpec
) -> Callable[[View], list[tuple[str, str]]]:
    rid = probe.filing.record_ids(group.id)[0]
    return lambda view: compute(view, rid)


def _totals_lines(probe: _Probe, compute: Callable[[View], list[tuple[str, str]]]) -> list[str]:
    """Each computed line with the answers it is computed from."""
    labels = [label for label, _value in compute(probe.view())]

    def measure(view: View) -> list[object]:
        shown = dict(compute(view))
        return [shown.get(label) for label in labels]

    lines = []
    for label, deps in zip(labels, probe.dependencies_each(measure), strict=True):
        line = t.TOTAL_LINE if deps else t.TOTAL_NO_DEPS
        lines.append(line.format(label=label, deps=_labels(probe.form, deps)))
    return lines


# --- the document --------------------------------------------------------------------------------


def form_document(form: FormSpec, figure: str | None = None) -> list[Block]:
    """Every section, question, option, rule, check, computed total and indicator, the input
    rules and the dialog's transitions. `figure` is the rendered graph's file, if any."""
    probe = _Probe(form)
    cycle = form.cycle
    window = "、".join(str(y) for y in cycle.window)
    blocks: list[Block] = [
        Heading(1, t.TITLE.format(year=cycle.year)),
        Para(t.INTRO),
        Heading(2, t.CYCLE_HEAD),
        Bullets(
            tuple(
                line.format(
                    year=cycle.year,
                    window=window,
                    results=cycle.results_date.isoformat(),
                    renewal=cycle.renewal_deadline.isoformat(),
                    help_line=cycle.help_line,
                    files=cycle.project_files_required,
                )
                for line in t.CYCLE_LINES
            )
        ),
        Heading(2, t.CONTENTS),
        Bullets(tuple(f"{s.heading}（`{s.id}`）" for s in form.sections)),
    ]
    for section in form.sections:
        blocks.extend(_section_blocks(probe, section))
    blocks.extend(_indicator_blocks(probe))
    blocks.extend(_kind_blocks(probe))
    blocks.extend(_flow_blocks(form, figure))
    return blocks


def _section_blocks(probe: _Probe, section: SectionSpec) -> list[Block]:
    blocks: list[Block] = [Heading(2, section.heading, section.id)]
    notes = [t.SECTION_ID.format(id=section.id)]
    if section.intro:
        notes.append(section.intro)
    if section.years is not None:
        notes.append(_years_note(probe, section))
    blocks.append(Bullets(tuple(notes)))
    scalars = [i for i in section.items if isinstance(i, FieldSpec)]
    if scalars:
        blocks.append(_field_grid(probe, scalars))
    for group in section.groups():
        blocks.append(Heading(3, t.GROUP_HEAD.format(noun=group.noun, id=group.id)))
        lines = [t.GROUP_LINE.format(measure=group.measure, noun=group.noun, min=group.min_records)]
        if group.applies is not None:
            lines.append(t.APPLIES.format(condition=_condition(probe, group.applies)))
        record_totals: list[str] = []
        if group.totals is not None:
            record_totals = _totals_lines(probe, _first_record_totals(probe, group.totals, group))
        if record_totals:
            lines.append(t.GROUP_TOTALS.format(items="；".join(record_totals)))
        blocks.append(Bullets(tuple(lines)))
        blocks.append(_field_grid(probe, group.fields))
    for spec in (*scalars, *(f for g in section.groups() for f in g.fields)):
        if spec.kind is Kind.CHOICE:
            blocks.extend(_options_blocks(spec))
    checks = _check_examples(probe, section)
    if checks:
        blocks += [Heading(3, t.CHECKS_HEAD), Bullets(tuple(checks))]
    computed = _totals_lines(probe, section.totals) if section.totals is not None else []
    if computed:
        blocks += [Heading(3, t.TOTALS_HEAD), Bullets(tuple(computed))]
    return blocks


def _years_note(probe: _Probe, section: SectionSpec) -> str:
    def years_of(view: View) -> tuple[int, ...]:
        return view.section_years(section)

    def shown(years: Sequence[int]) -> str:
        return "、".join(str(y) for y in years)

    base = years_of(probe.view())
    switches = probe.switches(years_of)
    if not switches:
        return t.PER_YEAR.format(cases=t.PER_YEAR_ALL.format(years=shown(base)))
    cases = []
    for fid, value in switches:
        spec = probe.form.field(fid)
        key = Key(fid)
        cases.append(t.PER_YEAR_CASE.format(label=spec.label, value=value, years=shown(base)))
        for other in probe.variants(key):
            years = years_of(probe.view(probe.with_value(key, other)))
            cases.append(t.PER_YEAR_OTHER.format(label=spec.label, value=other, years=shown(years)))
    return t.PER_YEAR.format(cases="；".join(cases))


def _field_grid(probe: _Probe, specs: Sequence[FieldSpec]) -> Grid:
    rows = []
    for number, spec in enumerate(specs, 1):
        rows.append(
            (
                str(number),
                f"`{spec.id}`",
                spec.label,
                t.KIND_NAMES[spec.kind] + (f"（{spec.unit}）" if spec.unit else ""),
                _required_text(spec),
                spec.example,
                "；".join(note.rstrip("。") for note in _field_notes(probe, spec)),
            )
        )
    return Grid(t.FIELD_HEAD, tuple(rows))


def _required_text(spec: FieldSpec) -> str:
    if spec.required_when is not None:
        return t.REQUIRED_PER_RECORD
    return t.REQUIRED if spec.required else t.OPTIONAL


def _field_notes(probe: _Probe, spec: FieldSpec) -> list[str]:
    notes = [spec.help] if spec.help else []
    if spec.allow_negative:
        notes.append(t.NEGATIVE)
    if spec.kind is Kind.TEXT:
        notes.append(t.MAX_LEN.format(n=spec.max_len))
    if spec.kind is Kind.YEAR:
        low, high = spec.year_range
        notes.append(t.YEAR_RANGE.format(low=probe.year + low, high=probe.year + high))
    if spec.for_records:
        notes.append(t.FOR_RECORDS.format(noun=probe.form.group(spec.for_records).noun))
    if spec.applies is not None:
        notes.append(t.APPLIES.format(condition=_condition(probe, spec.applies)))
    when = _required_when(probe.form, spec)
    if when:
        notes.append(when)
    notes.extend(t.RULE.format(message=m) for m in _rule_examples(probe, spec))
    return notes


def _options_blocks(spec: FieldSpec) -> list[Block]:
    certificates = all(o.value in catalog.BY_ID for o in spec.options)
    head = t.OPTIONS_COLS + (t.CERT_COLS if certificates else ())
    rows = []
    for number, option in enumerate(spec.options, 1):
        row: tuple[str, ...] = (
            str(number),
            f"`{option.value}`",
            option.label,
            "、".join(option.aliases),
        )
        if certificates:
            cert = catalog.BY_ID[option.value]
            row += (cert.category, cert.level)
        rows.append(row)
    return [
        Heading(4, t.OPTIONS_HEAD.format(label=spec.label, id=spec.id)),
        Grid(head, tuple(rows)),
    ]


def _indicator_blocks(probe: _Probe) -> list[Block]:
    form = probe.form
    rows = []
    for indicator in form.indicators:
        thresholds = tuple(
            t.NO_REQUIREMENT if (v := indicator.thresholds.get(g)) is None else f"≥ {v:,}"
            for g in Grade
        )
        deps = probe.dependencies(indicator.measure)
        rows.append(
            (indicator.label, f"`{indicator.id}`", indicator.unit, *thresholds, _labels(form, deps))
        )
    shown = [s.heading for s in form.sections if s.indicators]
    return [
        Heading(2, t.INDICATORS_HEAD, "indicators"),
        Grid(t.INDICATOR_COLS, tuple(rows)),
        Para(t.INDICATOR_SECTIONS.format(sections="、".join(shown))),
    ]


def _kind_blocks(probe: _Probe) -> list[Block]:
    form = probe.form
    view = probe.view()
    rows = []
    for kind in Kind:
        spec = _sample_field(form, kind)
        if spec is None or kind not in t.KIND_SAMPLES:
            continue
        key = next((k for k in probe.filing.answers if k.field == spec.id), Key(spec.id))
        name = f"{t.KIND_NAMES[kind]}（`{spec.id}`）"
        for sample in t.KIND_SAMPLES[kind]:
            raw = sample.format(year=probe.year, future=probe.year + 1)
            result = parse_answer(view, spec, key, raw)
            if isinstance(result, Invalid):
                shown = t.REFUSED.format(reason=result.reason, example=result.example)
            else:
                shown = _shown(view, spec, result)
            rows.append((name, f"`{raw}`", shown))
    return [
        Heading(2, t.KINDS_HEAD, "input"),
        Para(t.KINDS_INTRO),
        Grid(t.KIND_COLS, tuple(rows)),
        Para(t.FILE_TYPES.format(types="、".join(ACCEPTED_TYPES))),
    ]


def _sample_field(form: FormSpec, kind: Kind) -> FieldSpec | None:
    """A field of the kind whose answers no consistency check looks at (so the samples show
    the parser alone); the certificate for choices, as it has the most to show."""
    of_kind = [s for s in form.all_fields() if s.kind is kind]
    if kind is Kind.CHOICE:
        return max(of_kind, key=lambda s: len(s.options), default=None)
    checked = {f for s in form.sections for c in s.checks if c.at_answer for f in c.fields}
    return next((s for s in of_kind if s.id not in checked), of_kind[0] if of_kind else None)


def _flow_blocks(form: FormSpec, figure: str | None) -> list[Block]:
    graph = dialog_graph(form)
    labels = {n.id: "：".join(n.label.split("\n")[:2]) for n in graph.nodes}
    clusters = {n.id: graph.clusters.get(n.cluster, "") for n in graph.nodes}

    def where(node: str) -> str:
        cluster = clusters[node]
        return (
            f"{cluster} · {labels[node]}" if cluster and cluster != labels[node] else labels[node]
        )

    rows = tuple((where(e.tail), where(e.head), e.label.replace("\n", " ")) for e in graph.edges)
    blocks: list[Block] = [Heading(2, t.FLOW_HEAD, "flow"), Para(t.FLOW_INTRO)]
    blocks.append(Figure(figure, t.FIGURE_CAPTION) if figure else Para(t.FLOW_NO_SVG))
    blocks.append(Grid(t.FLOW_COLS, rows))
    return blocks


# --- rendering the document ---------------------------------------------------------------------


def markdown(blocks: Sequence[Block]) -> str:
    out: list[str] = []
    for block in blocks:
        match block:
            case Heading(level=level, text=text):
                out.append(f"{'#' * level} {text}")
            case Para(text=text):
                out.append(text)
            case Bullets(items=items):
                out.append("\n".join(f"- {item}" for item in items))
            case Grid(head=head, rows=rows):
                lines = [_md_row(head), "|" + "|".join("---" for _ in head) + "|"]
                lines.extend(_md_row(row) for row in rows)
                out.append("\n".join(lines))
            case Figure(src=src, caption=caption):
                out.append(f"![{caption}]({src})")
    return "\n\n".join(out) + "\n"


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|").replace("\n", "<br>") for c in cells) + " |"


_CODE = re.compile(r"`([^`]+)`")
_STYLE = """
body { font-family: "Noto Sans CJK SC", "WenQuanYi Zen Hei", "Microsoft YaHei", sans-serif;
       margin: 2em auto; max-width: 72em; line-height: 1.5; color: #222; padding: 0 1em; }
table { border-collapse: collapse; margin: 0.5em 0 1.2em; font-size: 0.92em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.5em; vertical-align: top; text-align: left; }
th { background: #ddebf7; }
code { background: #f3f3f3; padding: 0 0.2em; font-size: 0.9em; }
h2 { border-bottom: 2px solid #ddebf7; margin-top: 2em; }
img { max-width: 100%; border: 1px solid #ddd; }
"""


def to_html(blocks: Sequence[Block]) -> str:
    title = next((b.text for b in blocks if isinstance(b, Heading)), "")
    out = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
    ]
    for block in blocks:
        match block:
            case Heading(level=level, text=text, anchor=anchor):
                attr = f' id="{html.escape(anchor)}"' if anchor else ""
                out.append(f"<h{level}{attr}>{_inline(text)}</h{level}>")
            case Para(text=text):
                out.append(f"<p>{_inline(text)}</p>")
            case Bullets(items=items):
                out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>")
            case Grid(head=head, rows=rows):
                cells = "".join(f"<th>{_inline(h)}</th>" for h in head)
                body = "".join(
                    "<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>"
                    for row in rows
                )
                out.append(f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>")
            case Figure(src=src, caption=caption):
                out.append(
                    f'<figure><img src="{html.escape(src)}" alt="{html.escape(caption)}">'
                    f"<figcaption>{html.escape(caption)}</figcaption></figure>"
                )
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _inline(text: str) -> str:
    escaped = html.escape(text).replace("\n", "<br>")
    return _CODE.sub(r"<code>\1</code>", escaped)


# --- the dialog graph -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    label: str
    cluster: str = ""
    shape: str = "box"
    style: str = "rounded"


@dataclass(frozen=True, slots=True)
class Edge:
    tail: str
    head: str
    label: str = ""
    style: str = "solid"


@dataclass
class Graph:
    title: str
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    clusters: dict[str, str] = field(default_factory=dict)  # id -> label, in order

    def node(self, node: Node) -> str:
        self.nodes.append(node)
        return node.id

    def edge(self, tail: str, head: str, label: str = "", style: str = "solid") -> None:
        self.edges.append(Edge(tail, head, label, style))


@dataclass
class _Chain:
    """Builds one section's nodes in asking order; `open` are the nodes whose next step is
    whatever comes next (several after a conditional item: its way in and its way around)."""

    graph: Graph
    section: SectionSpec
    open: list[tuple[str, str]] = field(default_factory=list)  # (node, edge label)
    entry: str = ""
    asks: list[str] = field(default_factory=list)
    records: list[str] = field(default_factory=list)

    def add(self, node: Node, condition: str = "") -> None:
        self.graph.node(node)
        if not self.entry:
            self.entry = node.id
        label_in = t.EDGE_IF.format(condition=condition) if condition else ""
        for tail, label in self.open:
            self.graph.edge(tail, node.id, "，".join(x for x in (label, label_in) if x))
        bypass = [(tail, t.EDGE_ELSE) for tail, _ in self.open] if condition else []
        self.open = [(node.id, ""), *bypass]


def dialog_graph(form: FormSpec) -> Graph:
    """Sections in order (questions, record loops, summaries), the overview, the submit
    check and the review outcomes."""
    probe = _Probe(form)
    graph = Graph(t.GRAPH_TITLE.format(year=form.cycle.year))
    start = graph.node(Node("start", t.NODE_START, shape="oval", style="bold"))
    words = " / ".join(t.COMMAND_WORDS)
    graph.node(Node("commands", t.NODE_COMMANDS.format(words=words), shape="note", style=""))
    previous: list[tuple[str, str]] = [(start, t.EDGE_FIRST)]
    summaries: list[str] = []
    for section in form.sections:
        summaries.append(_section_chain(graph, probe, section, previous))
        previous = [(summaries[-1], t.EDGE_CONFIRM)]
    graph.clusters["review"] = t.CLUSTER_REVIEW
    overview = graph.node(Node("overview", t.NODE_OVERVIEW, "review", style="rounded,bold"))
    graph.edge(summaries[-1], overview, t.EDGE_ALL_DONE)
    for summary in summaries:
        graph.edge(overview, summary, t.EDGE_PICK, "dashed")
    submit = graph.node(Node("submit_check", t.NODE_SUBMIT, "review"))
    graph.edge(overview, submit, t.EDGE_SUBMIT)
    graph.edge(submit, overview, t.EDGE_BACK_OVERVIEW, "dashed")
    status = {
        name: graph.node(
            Node(f"status_{name}", text.format(status=STATUS[name]), "review", "ellipse", "filled")
        )
        for name, text in (
            ("submitted", t.NODE_SUBMITTED),
            ("rejected", t.NODE_REJECTED),
            ("approved", t.NODE_APPROVED),
            ("complete", t.NODE_COMPLETE),
        )
    }
    graph.edge(submit, status["submitted"], t.EDGE_CONFIRM_SUBMIT)
    graph.edge(status["submitted"], status["rejected"], t.EDGE_REJECT)
    graph.edge(status["rejected"], overview, t.EDGE_REOPEN, "dashed")
    graph.edge(status["submitted"], status["approved"], t.EDGE_APPROVE)
    graph.edge(status["approved"], status["complete"], t.EDGE_STAMPED)
    return graph


def _section_chain(
    graph: Graph, probe: _Probe, section: SectionSpec, previous: list[tuple[str, str]]
) -> str:
    """Adds the section's nodes after `previous`; returns its summary node."""
    graph.clusters[section.id] = section.heading
    chain = _Chain(graph, section, list(previous))
    run: list[FieldSpec] = []

    def flush() -> None:
        if not run:
            return
        node_id = f"{section.id}__ask{len(chain.asks) + 1}"
        head = t.NODE_ASK
        if section.years is not None:
            head = t.NODE_ASK_YEARS.format(years=_years_short(probe, section))
        lines = [head, *(_field_line(probe, spec) for spec in run)]
        condition = ""
        if all(spec.applies is not None for spec in run) and run[0].applies is not None:
            condition = _condition(probe, run[0].applies)
        chain.add(Node(node_id, "\n".join(lines), section.id), condition)
        chain.asks.append(node_id)
        run.clear()

    for item in section.items:
        if isinstance(item, FieldSpec):
            run.append(item)
            continue
        flush()
        _group_loop(graph, probe, chain, item)
    flush()
    group = next(section.groups(), None)
    extra = t.NODE_SUMMARY_GROUP if group is not None else " "
    summary = graph.node(
        Node(
            f"{section.id}__summary",
            t.NODE_SUMMARY.format(section=section.heading, group=extra),
            section.id,
            style="rounded,filled",
        )
    )
    for tail, label in chain.open:
        graph.edge(tail, summary, label or t.EDGE_DONE)
    for ask in chain.asks[:1]:
        graph.edge(summary, ask, t.EDGE_EDIT, "dashed")
    for record in chain.records:
        graph.edge(summary, record, t.EDGE_EDIT_RECORD, "dashed")
    return summary


def _group_loop(graph: Graph, probe: _Probe, chain: _Chain, group: GroupSpec) -> None:
    section = chain.section
    record_id = f"{section.id}__{group.id}__record"
    more_id = f"{section.id}__{group.id}__more"
    lines = [
        t.NODE_RECORD.format(measure=group.measure, noun=group.noun),
        *(_field_line(probe, spec) for spec in group.fields),
    ]
    condition = _condition(probe, group.applies) if group.applies is not None else ""
    chain.add(Node(record_id, "\n".join(lines), section.id), condition)
    chain.records.append(record_id)
    more = texts.BTN_ADD_MORE.format(measure="一" + group.measure, noun=group.noun)
    graph.node(Node(more_id, f"{more} / {texts.BTN_DONE_ADDING}", section.id, "diamond", ""))
    graph.edge(record_id, more_id, t.EDGE_SAVED if group.totals is not None else t.EDGE_SAVED_PLAIN)
    graph.edge(more_id, record_id, more)
    # What followed the record node now follows "添加完毕" instead.
    chain.open = [(more_id, texts.BTN_DONE_ADDING), *chain.open[1:]]


def _years_short(probe: _Probe, section: SectionSpec) -> str:
    return "、".join(str(y) for y in probe.view().section_years(section))


def _field_line(probe: _Probe, spec: FieldSpec) -> str:
    line = spec.label
    if not spec.required and spec.required_when is None:
        line += t.MARK_OPTIONAL
    if spec.for_records:
        line += t.MARK_PER_RECORD.format(noun=probe.form.group(spec.for_records).noun)
    if spec.applies is not None:
        line += t.MARK_CONDITION.format(condition=_condition(probe, spec.applies))
    return line


def to_dot(graph: Graph) -> str:
    font = "Noto Sans CJK SC,WenQuanYi Zen Hei,Microsoft YaHei,sans-serif"
    out = [
        "digraph nianjian_dialog {",
        f"  graph [rankdir=TB, labelloc=t, fontsize=16, fontname={_q(font)}, "
        f"label={_q(graph.title)}, newrank=true, nodesep=0.35, ranksep=0.45];",
        f"  node [shape=box, style=rounded, fontsize=10, fontname={_q(font)}];",
        f"  edge [fontsize=9, fontname={_q(font)}];",
    ]
    by_cluster: dict[str, list[Node]] = {}
    for node in graph.nodes:
        by_cluster.setdefault(node.cluster, []).append(node)
    for node in by_cluster.pop("", []):
        out.append(f"  {_node(node)}")
    for cluster, label in graph.clusters.items():
        out.append(f"  subgraph {_q('cluster_' + cluster)} {{")
        out.append(f"    label={_q(label)}; style=rounded; color=gray60;")
        out.extend(f"    {_node(node)}" for node in by_cluster.get(cluster, []))
        out.append("  }")
    for edge in graph.edges:
        attrs = [f"label={_q(edge.label)}"] if edge.label else []
        if edge.style != "solid":
            attrs.append(f"style={edge.style}")
        suffix = f" [{', '.join(attrs)}]" if attrs else ""
        out.append(f"  {_q(edge.tail)} -> {_q(edge.head)}{suffix};")
    out.append("}")
    return "\n".join(out) + "\n"


def _node(node: Node) -> str:
    attrs = [f"label={_q(node.label)}", f"shape={node.shape}"]
    if node.style:
        attrs.append(f"style={_q(node.style)}")
    if "filled" in node.style:
        attrs.append('fillcolor="#eef3fb"')
    return f"{_q(node.id)} [{', '.join(attrs)}];"


def _q(text: str) -> str:
    """A DOT double-quoted string; line breaks become centred `\\n` lines."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
