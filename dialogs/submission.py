"""Before and after submitting: the pre-submit check, and what changed between versions."""

from __future__ import annotations

from dataclasses import dataclass

from dialogs import texts
from dialogs.indicators import evaluate_all
from dialogs.magnitude import doubtful_lines
from dialogs.model import Filing, Key
from dialogs.spec import FormSpec, SectionSpec
from dialogs.view import Status, View


@dataclass(frozen=True, slots=True)
class Check:
    ready: bool
    text: str
    # Sections still missing something, with their position in the overview (for jumping).
    to_fix: tuple[tuple[int, SectionSpec], ...]


def submit_check(view: View) -> Check:
    lines = [texts.CHECK_HEAD]
    to_fix: list[tuple[int, SectionSpec]] = []
    sections = [s for s in view.spec.sections if view.applies_section(s)]
    for index, section in enumerate(sections, 1):
        state = view.section_state(section)
        if state.status is Status.DONE:
            continue
        to_fix.append((index, section))
        problems = [p.message for p in state.problems]
        missing = list(state.missing[:5]) + problems[:3]
        lines.append(texts.CHECK_MISSING.format(section=section.heading, items="、".join(missing)))
    if not to_fix:
        lines.append(texts.CHECK_COMPLETE)
    lines.append(texts.CHECK_TOTALS)
    indicators = evaluate_all(view) if view.grade is not None else []
    # Section totals end with their indicator's line; the indicators are listed below.
    shown_below = {r.spec.label for r in indicators}
    for section in sections:
        if section.totals is not None and section.id in ("projects", "completion", "holders"):
            lines.extend(
                f"  {label}：{value}"
                for label, value in section.totals(view)
                if label not in shown_below
            )
    if view.grade is not None:
        lines.append(texts.OVERVIEW_INDICATORS.format(grade=view.grade.value))
        lines.extend(f"  {r.spec.label}：{r.text}" for r in indicators)
    lines.extend(doubtful_lines(view))
    lines.append(texts.CHECK_READY if not to_fix else texts.CHECK_NOT_READY)
    return Check(not to_fix, "\n".join(lines), tuple(to_fix))


def changes_between(form: FormSpec, old: Filing, new: Filing) -> list[str]:
    """Every answer that differs between two versions, as "label：old → new"."""
    before, after = View(form, old), View(form, new)
    keys = sorted(set(old.answers) | set(new.answers))
    lines = []
    for key in keys:
        if key.field not in _known(form):
            continue
        was, now = old.get(key), new.get(key)
        if was == now:
            continue
        view = after if now is not None else before
        label = _label(view, key)
        lines.append(
            texts.CHANGE_LINE.format(label=label, old=before.display(key), new=after.display(key))
        )
    for group in {g for s in form.sections for g in s.groups()}:
        added = [r for r in new.record_ids(group.id) if r not in old.record_ids(group.id)]
        removed = [r for r in old.record_ids(group.id) if r not in new.record_ids(group.id)]
        if added or removed:
            lines.append(
                texts.CHANGE_RECORDS.format(noun=group.noun, added=len(added), removed=len(removed))
            )
    return lines


def _known(form: FormSpec) -> set[str]:
    return {f.id for f in form.all_fields()}


def _label(view: View, key: Key) -> str:
    """The answer's label; of a record, which record too ("第3个项目：博州… · 硬件购置费")."""
    try:
        label = view.label(key)
        group = view.spec.group_of(key.field)
        if group is not None and key.record in view.records(group.id):
            record = view.describe_record(group, key.record)
            return texts.CHANGE_RECORD_LABEL.format(record=record, label=label)
        return label
    except (KeyError, ValueError):
        return key.field
