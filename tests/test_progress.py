"""总进度 only goes forward when records are added (issue 14, item 5)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dialogs import totals
from dialogs.model import (
    AddRecord,
    Change,
    ClearAnswer,
    Filing,
    Key,
    SetAnswer,
    Value,
    apply_changes,
)
from dialogs.view import View
from tests.fakes import completed_filing

FORM, COMPLETE = completed_filing()
GROUPS = (totals.HOLDERS, totals.PROJECTS, totals.INNOVATIONS)
ANSWER_KEYS = sorted(COMPLETE.answers)


def _template(group: str) -> dict[str, Value]:
    """The answers of the group's first record in the scripted filing, by field."""
    first = COMPLETE.record_ids(group)[0]
    return {k.field: a.value for k, a in COMPLETE.answers.items() if k.record == first}


TEMPLATES = {group: _template(group) for group in GROUPS}


def _add(filing: Filing, group: str, record: str, fields: list[str]) -> Filing:
    values = TEMPLATES[group]
    changes: list[Change] = [AddRecord(group, record)]
    changes += [SetAnswer(Key(f, record), values[f]) for f in fields]
    return apply_changes(filing, changes)


@settings(deadline=None, max_examples=150)
@given(
    removed=st.sets(st.sampled_from(ANSWER_KEYS), max_size=60),
    group=st.sampled_from(GROUPS),
    answered=st.integers(min_value=1, max_value=15),
)
def test_adding_a_record_never_lowers_progress(
    removed: set[Key], group: str, answered: int
) -> None:
    filing = apply_changes(COMPLETE, [ClearAnswer(k) for k in removed])
    before = View(FORM, filing).progress()
    fields = list(TEMPLATES[group])
    added = _add(filing, group, "new1", fields[:answered])
    after = View(FORM, added).progress()
    assert after >= before or before == 100, (before, after)
    # and every further answer of the new record keeps it going forward
    previous = after
    for count in range(answered + 1, len(fields) + 1):
        current = View(FORM, _add(filing, group, "new1", fields[:count])).progress()
        assert current >= previous or previous == 100, (previous, current)
        previous = current


def test_fifteen_projects_in_a_row_only_go_forward() -> None:
    """The issue's filing: 总进度 went 84 % → 72 % with every new project."""
    filing = apply_changes(
        COMPLETE, [ClearAnswer(k) for k in COMPLETE.answers if k.field.startswith("attach.")]
    )
    seen = [View(FORM, filing).progress()]
    fields = list(TEMPLATES[totals.PROJECTS])
    for n in range(1, 16):
        for count in range(1, len(fields) + 1):
            filing = _add(filing, totals.PROJECTS, f"extra{n}", fields[:count])
            seen.append(View(FORM, filing).progress())
    assert seen == sorted(seen), seen
    assert seen[-1] < 100  # the contract files are still missing


def test_complete_is_100_and_one_missing_answer_is_not() -> None:
    assert View(FORM, COMPLETE).progress() == 100
    missing = apply_changes(COMPLETE, [ClearAnswer(Key("contact.name"))])
    assert View(FORM, missing).progress() == 99


def _answered_in_order(first_year: int) -> list[int]:
    """总进度 after each answer of 企业信息 and then of 2 经营情况, typed from an empty
    filing in form order, for an enterprise first certified in `first_year`."""
    filing = Filing(0, FORM.cycle.year)
    seen = [View(FORM, filing).progress()]
    for section_id in ("enterprise", "business"):
        section = FORM.section(section_id)
        for _round in range(2):  # once first_year is known, the section may ask more years
            for key in View(FORM, filing).steps(section):
                if key in filing.answers:
                    continue
                value: Value | None = COMPLETE.get(Key(key.field, "", 2025))
                if key.field == "enterprise.first_year":
                    value = first_year
                elif value is None:
                    value = COMPLETE.get(key)
                if value is None:
                    continue
                filing = apply_changes(filing, [SetAnswer(key, value)])
                seen.append(View(FORM, filing).progress())
    return seen


def test_learning_the_first_year_never_lowers_progress() -> None:
    """A newly certified enterprise answers three years of business figures; before its first
    certified year is known those count already, so answering it is a step forward."""
    for first_year in (FORM.cycle.year, FORM.cycle.year - 5):
        seen = _answered_in_order(first_year)
        assert seen == sorted(seen), (first_year, seen)
        assert seen[-1] > seen[0]
