"""Amounts whose magnitude is doubtful for the filing: asked, not stored.

An amount in 万元 typed as `3856200` (a figure in 元 without its unit) parses fine and would be
stored as 385 亿元. `doubtful_amount` judges a freshly parsed amount against the rest of the
filing and the grade's usual range and, when it is doubtful, returns both readings as Chinese
button labels for a confirmation. `confirmed_doubts` lists the stored amounts that would be
doubtful, for the pre-submit check: they were confirmed (or typed with a unit) and deserve a
second look. Pure: the engine decides when to ask.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from dialogs import texts_input
from dialogs.cycle import Grade
from dialogs.model import Key
from dialogs.parsing import normalize
from dialogs.spec import Kind, SectionSpec
from dialogs.view import View

# More than this multiple of the largest other amount of the filing is doubtful.
OTHERS_MULTIPLE = Decimal(100)
# Other figures below this (万元) say too little about the enterprise's scale.
OTHERS_FLOOR = Decimal(10)
# The largest single amount (万元) usual for an enterprise of each grade; above it is doubtful.
GRADE_USUAL: dict[Grade, Decimal] = {
    Grade.JIA: Decimal(2_000_000),  # 200 亿元
    Grade.YI: Decimal(200_000),  # 20 亿元
    Grade.BING: Decimal(50_000),  # 5 亿元
    Grade.DING: Decimal(20_000),  # 2 亿元
}
# A whole number of at least this many 万元 (10 亿元) typed without a unit looks like 元.
YUAN_LOOKING = Decimal(100_000)

_WAN = Decimal(10_000)
_CENT = Decimal("0.01")
_UNIT = re.compile(r"[万亿元w]", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Doubt:
    """A doubtful amount with its two readings: as typed (万元) and as 元."""

    key: Key
    reason: str  # Chinese: why it is doubtful
    as_wan: Decimal  # the amount as parsed, in 万元
    as_yuan: Decimal  # the same digits read as 元, converted to 万元

    @property
    def wan_label(self) -> str:
        """ "3,856,200 万元（385.62 亿元）" """
        return texts_input.DOUBT_AS_WAN.format(
            amount=_figure(self.as_wan), big=_in_words(self.as_wan)
        )

    @property
    def yuan_label(self) -> str:
        """ "3,856,200 元 = 385.62 万元" """
        return texts_input.DOUBT_AS_YUAN.format(
            amount=_figure(self.as_wan), wan=f"{self.as_yuan:,.2f}"
        )

    def question(self, view: View) -> str:
        return texts_input.DOUBT_QUESTION.format(
            label=view.label(self.key),
            typed=_figure(self.as_wan),
            as_wan=f"{_figure(self.as_wan)} 万元",
            why=self.reason,
        )


def doubtful_amount(view: View, key: Key, value: Decimal, raw: str) -> Doubt | None:
    """The doubt about `value` (parsed from `raw` for `key`), or None when it is plausible.

    Only a bare number is doubted: "3856200元" or "3856200万" says its unit on purpose."""
    if _UNIT.search(normalize(raw)):
        return None
    return _judge(view, key, value, typed_whole=_whole(raw))


def confirmed_doubts(view: View, section: SectionSpec | None = None) -> list[Doubt]:
    """Every stored amount (of `section`, or of the whole filing) that is doubtful by the
    same measure, in form order."""
    found = view.memo(("doubts",), lambda: _all_doubts(view))
    if section is None:
        return found
    return [d for d in found if view.spec.section_of(d.key.field) is section]


def _all_doubts(view: View) -> list[Doubt]:
    by_field: dict[str, list[_Other]] = {}
    for key, size in _amounts(view):
        by_field.setdefault(key.field, []).append((key, size))
    large = [item for items in by_field.values() for item in items if item[1] >= OTHERS_FLOOR]
    largest = sorted(large, key=lambda item: -item[1])[:2]
    found = []
    for spec in view.spec.all_fields():
        for key, _size in sorted(by_field.get(spec.id, ())):
            value = view.filing.get(key)
            if not isinstance(value, Decimal):
                continue
            other = next(((k, v) for k, v in largest if k != key), None)
            doubt = _judge(view, key, value, typed_whole=value % 1 == 0, other=other)
            if doubt is not None:
                found.append(doubt)
    return found


def doubtful_lines(view: View) -> list[str]:
    """The pre-submit check's lines about confirmed doubtful amounts (none: no lines)."""
    doubts = confirmed_doubts(view)
    if not doubts:
        return []
    return [texts_input.DOUBT_CONFIRMED_HEAD] + [
        texts_input.DOUBT_CONFIRMED_LINE.format(label=view.label(d.key), value=d.wan_label)
        for d in doubts
    ]


_Other = tuple[Key, Decimal]


def _judge(
    view: View, key: Key, value: Decimal, *, typed_whole: bool, other: _Other | None = None
) -> Doubt | None:
    size = abs(value)
    if size == 0:
        return None
    as_yuan = (value / _WAN).quantize(_CENT, rounding=ROUND_HALF_UP)
    if other is None:
        other = _largest_other(view, key)
    reason = _reason(view, size, other, typed_whole=typed_whole)
    return None if reason is None else Doubt(key, reason, value, as_yuan)


def _reason(view: View, size: Decimal, other: _Other | None, *, typed_whole: bool) -> str | None:
    if other is not None and size > OTHERS_MULTIPLE * other[1]:
        other_key, other_value = other
        return texts_input.DOUBT_WHY_OTHERS.format(
            other=view.label(other_key),
            other_value=f"{_figure(other_value)} 万元",
            ratio=f"{size / other_value:,.0f}",
        )
    grade = view.grade
    if grade is not None and size > GRADE_USUAL[grade]:
        return texts_input.DOUBT_WHY_GRADE.format(
            grade=grade.value, limit=_in_words(GRADE_USUAL[grade])
        )
    if typed_whole and size >= YUAN_LOOKING:
        return texts_input.DOUBT_WHY_YUAN
    return None


def _amounts(view: View) -> list[_Other]:
    """Every stored amount of the form, as (key, size)."""
    found = []
    for key, answer in view.filing.answers.items():
        if not isinstance(answer.value, Decimal) or view.spec.owner_of(key.field) is None:
            continue  # not an amount, or the workflow's own answers
        if view.spec.field(key.field).kind is Kind.AMOUNT:
            found.append((key, abs(answer.value)))
    return found


def _largest_other(view: View, key: Key) -> _Other | None:
    """The filing's largest amount other than `key`, when it is large enough to say
    something about the enterprise's scale."""
    others = [(k, size) for k, size in _amounts(view) if k != key and size >= OTHERS_FLOOR]
    return max(others, key=lambda item: item[1], default=None)


def _whole(raw: str) -> bool:
    text = normalize(raw).replace(",", "").replace(" ", "")
    return "." not in text.rstrip("0").rstrip(".") if "." in text else True


def _figure(value: Decimal) -> str:
    """3,856,200 or 1,234.5: thousands separated, no trailing zero decimals."""
    if value % 1 == 0:
        return f"{value:,.0f}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _in_words(wan: Decimal) -> str:
    """An amount in 万元 in the unit a person reads it in: 亿元 from 1 亿, else 元."""
    size = abs(wan)
    if size >= _WAN:
        return f"{_figure((wan / _WAN).quantize(_CENT, rounding=ROUND_HALF_UP))} 亿元"
    return f"{_figure((wan * _WAN).quantize(_CENT))} 元"
