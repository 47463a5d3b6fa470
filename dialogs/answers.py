"""Turns typed text into a field's value, applying the field's rules and the section's
consistency checks with the candidate answer in place."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from dialogs import parsing, texts_input
from dialogs.model import AddRecord, Change, Key, SetAnswer, Value, apply_changes
from dialogs.spec import FieldSpec, Kind
from dialogs.view import View

_BACK_HINT = "（如需先修改其他项，请发送“返回”或“修改”）"


@dataclass(frozen=True, slots=True)
class Invalid:
    reason: str
    example: str


def parse_answer(view: View, spec: FieldSpec, key: Key, raw: str) -> Value | Invalid:
    try:
        value = _parse(view, spec, raw)
    except parsing.ParseError as error:
        # Free text has no universal example, and a date's belongs to the cycle (the parser's
        # is only a format): the field's own one fits better.
        own = spec.kind in (Kind.TEXT, Kind.DATE) and spec.example
        example = spec.example if own else error.example
        return Invalid(error.reason, example or spec.example)
    reason = _refusal(view, spec, key, value)
    if reason is None:
        return value
    return Invalid(reason, _example(view, spec, key, value))


def _refusal(view: View, spec: FieldSpec, key: Key, value: Value) -> str | None:
    """Why a parsed value cannot be stored: a field rule, the field's date range, or a
    consistency check of its section; None when it can."""
    for rule in spec.rules:
        reason = rule(view, key, value)
        if reason:
            return reason
    if isinstance(value, date):
        reason = _out_of_range(view, spec, value)
        if reason:
            return reason
    problem = _breaks_check(view, spec, key, value)
    return problem + _BACK_HINT if problem else None


def date_bounds(view: View, spec: FieldSpec) -> tuple[date, date]:
    """The earliest and latest date the field accepts."""
    low, high = spec.date_range
    return date(view.year + low, 1, 1), date(view.year + high, 12, 31)


def _out_of_range(view: View, spec: FieldSpec, value: date) -> str | None:
    low, high = date_bounds(view, spec)
    if low <= value <= high:
        return None
    return texts_input.DATE_OUT_OF_RANGE.format(
        label=spec.label, low=low.isoformat(), high=high.isoformat(), value=value.isoformat()
    )


def _example(view: View, spec: FieldSpec, key: Key, refused: Value) -> str:
    """An accepted example, never the value just refused: for a date one that passes the
    field's rules, range and checks when there is such a date among a few candidates."""
    fallback = spec.example or "0"
    if not isinstance(refused, date):
        return fallback
    low, high = date_bounds(view, spec)
    candidates = [spec.example] if spec.example else []
    for year in (view.year, view.year - 1, high.year, low.year):
        candidates += [f"{year}-{month_day}" for month_day in ("06-30", "12-31", "01-15")]
    for candidate in candidates:
        try:
            parsed = parsing.parse_date(candidate)
        except parsing.ParseError:
            continue
        if parsed != refused and _refusal(view, spec, key, parsed) is None:
            return candidate
    return next((c for c in candidates if c != refused.isoformat()), fallback)


# Kinds whose text needs nothing but the parser; the others depend on the field.
_PARSERS: dict[Kind, Callable[[str], Value]] = {
    Kind.COUNT: parsing.parse_count,
    Kind.YESNO: parsing.parse_yes_no,
    Kind.MOBILE: parsing.parse_mobile,
    Kind.LANDLINE: parsing.parse_landline,
    Kind.EMAIL: parsing.parse_email,
    Kind.CREDIT_CODE: parsing.parse_credit_code,
}


def _parse(view: View, spec: FieldSpec, raw: str) -> Value:
    parser = _PARSERS.get(spec.kind)
    if parser is not None:
        return parser(raw)
    match spec.kind:
        case Kind.TEXT:
            return parsing.parse_text(raw, max_len=spec.max_len)
        case Kind.AMOUNT:
            return parsing.parse_amount(raw, allow_negative=spec.allow_negative)
        case Kind.YEAR:
            return _parse_year(view, spec, raw)
        case Kind.DATE:
            return _parse_date(spec, raw)
        case Kind.CHOICE:
            return parsing.match_option(raw, spec.options)
    raise parsing.ParseError("这一项需要上传文件。", "发送 PDF、JPG 或 PNG 文件")


def _parse_date(spec: FieldSpec, raw: str) -> Value:
    if spec.open_ended and parsing.normalize(raw).rstrip("。.") in texts_input.LONG_TERM_WORDS:
        return texts_input.LONG_TERM
    try:
        return parsing.parse_date(raw)
    except parsing.ParseError as error:
        if not spec.open_ended:
            raise
        raise parsing.ParseError(
            f"{error.reason}{texts_input.LONG_TERM_HINT}", error.example
        ) from None


def _parse_year(view: View, spec: FieldSpec, raw: str) -> int:
    low, high = (view.year + spec.year_range[0], view.year + spec.year_range[1])
    text = parsing.normalize(raw).removesuffix("年").strip()
    if not (len(text) == 4 and text.isascii() and text.isdigit()):
        raise parsing.ParseError("请输入四位数年份。", str(view.year))
    year = int(text)
    if not low <= year <= high:
        raise parsing.ParseError(f"年份应在 {low} 到 {high} 之间。", str(view.year))
    return year


def _breaks_check(view: View, spec: FieldSpec, key: Key, value: Value) -> str | None:
    section = view.spec.section_of(spec.id)
    checks = [c for c in section.checks if c.at_answer and spec.id in c.fields]
    if not checks:
        return None
    changes: list[Change] = []
    group = view.spec.group_of(spec.id)
    if group is not None and key.record not in view.records(group.id):
        changes.append(AddRecord(group.id, key.record))
    changes.append(SetAnswer(key, value))
    trial = View(view.spec, apply_changes(view.filing, changes))
    for check in checks:
        for problem in check.run(trial):
            if key in problem.keys:
                return problem.message
    return None
