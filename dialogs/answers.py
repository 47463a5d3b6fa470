"""Turns typed text into a field's value, applying the field's rules and the section's
consistency checks with the candidate answer in place."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dialogs import parsing
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
    for rule in spec.rules:
        reason = rule(view, key, value)
        if reason:
            return Invalid(reason, spec.example)
    problem = _breaks_check(view, spec, key, value)
    if problem:
        return Invalid(problem + _BACK_HINT, spec.example or "0")
    return value


# Kinds whose text needs nothing but the parser; the others depend on the field.
_PARSERS: dict[Kind, Callable[[str], Value]] = {
    Kind.COUNT: parsing.parse_count,
    Kind.DATE: parsing.parse_date,
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
        case Kind.CHOICE:
            return parsing.match_option(raw, spec.options)
    raise parsing.ParseError("这一项需要上传文件。", "发送 PDF、JPG 或 PNG 文件")


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
