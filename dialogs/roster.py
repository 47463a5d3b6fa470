"""The association's roster of certified enterprises, as rows of text: parsed with the same
parsers as typed answers, every problem reported with its row and column.

Columns (Chinese header or English alias; order does not matter, unknown columns are ignored):

| 表头 | alias | content |
|---|---|---|
| 单位名称 | name | full Chinese name |
| 统一社会信用代码 | credit_code | 18 characters, check digit verified |
| 资质等级 | grade | 甲 / 乙 / 丙 / 丁 (also 甲级 …) |
| 证书编号 | cert_number | |
| 首次获证年份 | first_year | e.g. 2019 |
| {年}年完成项目数 | projects_{年} | prior years' completion table, e.g. 2023年完成项目数 |
| {年}年项目合同总值 | contract_{年} | 万元 |
| {年}年服务费总值 | service_{年} | 万元 |
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from dialogs import parsing
from dialogs.cycle import Grade

COLUMNS: dict[str, str] = {
    "单位名称": "name",
    "单位名称汉字全称": "name",
    "统一社会信用代码": "credit_code",
    "信用代码": "credit_code",
    "资质等级": "grade",
    "等级": "grade",
    "证书编号": "cert_number",
    "首次获证年份": "first_year",
    "获证年份": "first_year",
}
_YEAR_COLUMNS = (
    (re.compile(r"^(\d{4})年?(?:完成)?项目数$"), "projects"),
    (re.compile(r"^(\d{4})年?(?:项目)?合同总值$"), "contract"),
    (re.compile(r"^(\d{4})年?(?:软件和信息技术)?服务费总值$"), "service"),
    (re.compile(r"^(projects|contract|service)_(\d{4})$"), ""),
)
REQUIRED = ("name", "credit_code", "grade", "first_year")


@dataclass(frozen=True, slots=True)
class PriorYear:
    year: int
    projects: int | None = None
    contract: Decimal | None = None
    service: Decimal | None = None


@dataclass(frozen=True, slots=True)
class RosterEntry:
    row: int
    name: str
    credit_code: str
    grade: Grade
    cert_number: str
    first_year: int
    prior: tuple[PriorYear, ...] = ()


@dataclass(frozen=True, slots=True)
class RosterProblem:
    row: int
    column: str
    reason: str

    def __str__(self) -> str:
        return f"第 {self.row} 行「{self.column}」：{self.reason}"


@dataclass
class RosterParse:
    entries: list[RosterEntry] = field(default_factory=list)
    problems: list[RosterProblem] = field(default_factory=list)


def column_of(header: str) -> tuple[str, int] | None:
    """("2023年完成项目数") -> ("projects", 2023); ("单位名称") -> ("name", 0)."""
    text = parsing.normalize(header).replace(" ", "")
    if text in COLUMNS:
        return COLUMNS[text], 0
    lowered = text.lower()
    if lowered in COLUMNS.values():
        return lowered, 0
    for pattern, kind in _YEAR_COLUMNS:
        match = pattern.match(lowered)
        if match:
            if kind:
                return kind, int(match.group(1))
            return match.group(1), int(match.group(2))
    return None


def parse_rows(
    header: Iterable[str], rows: Iterable[Iterable[object]], *, first_row: int = 2
) -> RosterParse:
    """Parses the roster; row numbers are as the spreadsheet shows them (header = row 1)."""
    result = RosterParse()
    columns = [column_of(str(h or "")) for h in header]
    present = {c[0] for c in columns if c is not None}
    for name in REQUIRED:
        if name not in present:
            result.problems.append(RosterProblem(1, _HEADER_NAMES[name], "缺少这一列"))
    if result.problems:
        return result
    seen: dict[str, int] = {}
    for offset, raw in enumerate(rows):
        number = first_row + offset
        cells = ["" if c is None else str(c).strip() for c in raw]
        if not any(cells):
            continue
        values: dict[tuple[str, int], str] = {}
        for column, cell in zip(columns, cells, strict=False):
            if column is not None and cell:
                values[column] = cell
        entry = _entry(number, values, result.problems)
        if entry is None:
            continue
        if entry.credit_code in seen:
            result.problems.append(
                RosterProblem(number, "统一社会信用代码", f"与第 {seen[entry.credit_code]} 行重复")
            )
            continue
        seen[entry.credit_code] = number
        result.entries.append(entry)
    return result


_HEADER_NAMES = {
    "name": "单位名称",
    "credit_code": "统一社会信用代码",
    "grade": "资质等级",
    "cert_number": "证书编号",
    "first_year": "首次获证年份",
    "projects": "完成项目数",
    "contract": "项目合同总值",
    "service": "服务费总值",
}


def _entry(
    row: int, values: Mapping[tuple[str, int], str], problems: list[RosterProblem]
) -> RosterEntry | None:
    before = len(problems)

    def parse(column: str, year: int, parser: object) -> object:
        text = values.get((column, year), "")
        label = f"{year}年{_HEADER_NAMES[column]}" if year else _HEADER_NAMES[column]
        if not text:
            if column in REQUIRED:
                problems.append(RosterProblem(row, label, "不能为空"))
            return None
        try:
            return parser(text)  # type: ignore[operator]
        except parsing.ParseError as error:
            problems.append(RosterProblem(row, label, f"{error.reason}（例如：{error.example}）"))
            return None

    name = parse("name", 0, lambda t: parsing.parse_text(t, max_len=100))
    code = parse("credit_code", 0, parsing.parse_credit_code)
    grade = parse("grade", 0, _parse_grade)
    first_year = parse("first_year", 0, _parse_year)
    cert_number = values.get(("cert_number", 0), "")
    years = sorted({year for (_column, year) in values if year})
    prior = []
    for year in years:
        projects = parse("projects", year, parsing.parse_count)
        contract = parse("contract", year, parsing.parse_amount)
        service = parse("service", year, parsing.parse_amount)
        prior.append(PriorYear(year, projects, contract, service))  # type: ignore[arg-type]
    if len(problems) > before:
        return None
    assert isinstance(name, str) and isinstance(code, str)
    assert isinstance(grade, Grade) and isinstance(first_year, int)
    return RosterEntry(row, name, code, grade, cert_number, first_year, tuple(prior))


def _parse_grade(text: str) -> Grade:
    value = parsing.normalize(text).removesuffix("级").strip()
    for grade in Grade:
        if value == grade.value:
            return grade
    raise parsing.ParseError("资质等级应为甲、乙、丙或丁。", "乙")


def _parse_year(text: str) -> int:
    value = parsing.normalize(text).removesuffix(".0").removesuffix("年").strip()
    if len(value) == 4 and value.isascii() and value.isdigit() and 1980 <= int(value) <= 2100:
        return int(value)
    raise parsing.ParseError("请填写四位数年份。", "2019")
