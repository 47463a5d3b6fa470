"""Section summaries, record details and the overview, as plain text for any channel."""

from __future__ import annotations

from dialogs import texts, texts_input
from dialogs.indicators import evaluate_all
from dialogs.magnitude import confirmed_doubts
from dialogs.model import Key
from dialogs.spec import GroupSpec, SectionSpec
from dialogs.view import Status, View


def record_lines(view: View, section: SectionSpec, record: str) -> list[str]:
    lines: list[str] = []
    for group in section.groups():
        if group.totals is not None and record in view.records(group.id):
            lines.extend(
                texts.RECORD_TOTALS.format(label=label, value=value)
                for label, value in group.totals(view, record)
            )
    return lines


def summary_text(view: View, section: SectionSpec) -> str:
    lines = [texts.SUMMARY_HEAD.format(section=section.heading)]
    number = 0
    for entry in view.layout(section):
        if isinstance(entry, GroupSpec):
            lines.extend(_group_lines(view, entry))
            continue
        number += 1
        lines.append(f"{number}. {key_line(view, entry)}")
    if section.totals is not None:
        computed = section.totals(view)
        if computed:
            lines.append(texts.SUMMARY_TOTALS)
            lines.extend(f"  {label}：{value}" for label, value in computed)
    state = view.section_state(section)
    doubts = confirmed_doubts(view, section)
    if state.problems:
        lines.append(texts.SUMMARY_CHECKS)
        lines.extend(f"  ⚠ {p.message}" for p in state.problems)
    elif not state.missing and not doubts:
        lines.append(texts.SUMMARY_CHECKS_OK)
    if doubts:
        # Never "no problems found" under a revenue of 385 亿元 for a small enterprise.
        lines.append(texts_input.DOUBT_SUMMARY_HEAD)
        lines.extend(
            texts_input.DOUBT_SUMMARY_LINE.format(
                label=view.label(d.key), value=d.wan_label, why=d.reason
            )
            for d in doubts
        )
    if state.missing:
        lines.append(texts.SUMMARY_MISSING.format(items=_shorten(state.missing)))
    if view.read_only(section):
        lines.append(texts.SUMMARY_READ_ONLY.format(help_line=view.spec.cycle.help_line))
    else:
        lines.append(texts.SUMMARY_HINT)
    return "\n".join(lines)


def _group_lines(view: View, group: GroupSpec) -> list[str]:
    ids = view.records(group.id)
    if not ids:
        return [texts.SUMMARY_NO_RECORDS.format(noun=group.noun)]
    lines = [texts.SUMMARY_RECORDS.format(noun=group.noun, count=len(ids), measure=group.measure)]
    for rid in ids:
        missing = [
            view.label(k)
            for k in view.record_keys(group, rid)
            if not view.answered(k) and view.required(view.spec.field(k.field), k)
        ]
        suffix = f"（未完成：{_shorten(missing)}）" if missing else ""
        lines.append(
            f"  #{view.record_index(group.id, rid)} {view.describe_record(group, rid)}{suffix}"
        )
    return lines


def _shorten(items: tuple[str, ...] | list[str], limit: int = 5) -> str:
    shown = "、".join(items[:limit])
    if len(items) > limit:
        shown += texts.MORE.format(count=len(items))
    return shown


def overview_text(view: View) -> tuple[str, list[str]]:
    """The overview's heading and indicators, and one entry per section with its status;
    the entries become the options, so every channel shows them as it shows choices."""
    lines = [texts.OVERVIEW_HEAD.format(percent=view.progress())]
    entries: list[str] = []
    all_done = True
    for state in view.iter_states():
        if not view.applies_section(state.section):
            continue
        title = state.section.heading
        if state.status is Status.DONE:
            entries.append(texts.OVERVIEW_DONE.format(section=title))
            continue
        all_done = False
        if state.status is Status.NOT_STARTED:
            entries.append(texts.OVERVIEW_NOT_STARTED.format(section=title))
            continue
        missing = list(state.missing)
        if state.problems:
            missing.append(texts.PROBLEMS.format(count=len(state.problems)))
        entries.append(
            texts.OVERVIEW_INCOMPLETE.format(section=title, missing=_shorten(missing, 3))
        )
    if view.grade is not None:
        lines.append(texts.OVERVIEW_INDICATORS.format(grade=view.grade.value))
        lines.extend(f"  {r.spec.label}：{r.text}" for r in evaluate_all(view))
    lines.append(texts.OVERVIEW_ALL_DONE if all_done else texts.OVERVIEW_HINT)
    return "\n".join(lines), entries


def key_line(view: View, key: Key) -> str:
    return f"{view.label(key)}：{view.display(key)}"
