"""Several answers in one message (issue 14, item 1): a row pasted from Excel, with or without
its header row, labelled lines, several rows at once; parsed with the single answers' parsers
and checks, summarised as "已识别 N 项，M 项需要补充"."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from dialogs import project_import, totals
from dialogs.answers import Invalid, parse_answer
from dialogs.bulk import (
    data_rows,
    is_bulk,
    parse_message,
    parse_rows,
    record_keys,
    rows_changes,
    section_keys,
)
from dialogs.cycle import Cycle
from dialogs.form import build_form
from dialogs.model import Answer, Filing, Key, apply_changes
from dialogs.view import SKIPPED, View
from tests.filing_script import COLUMN_TOTALS, HOLDERS, PROJECTS

FORM = build_form(Cycle.for_year(2025))
GROUP = FORM.group(totals.PROJECTS)
HEADER = "\t".join(project_import.header_of(spec) for spec in GROUP.fields)


def _view(**answers: object) -> View:
    filing = Filing(
        1,
        2025,
        answers={Key(field): Answer(value) for field, value in answers.items()},  # type: ignore[arg-type]
    )
    return View(FORM, filing)


PROJECT_VIEW = _view(**{"projects.has_projects": True})
KEYS = record_keys(PROJECT_VIEW, GROUP, "pro1")


def _row(project: tuple[str, str, str, str, str, tuple[str, ...]]) -> str:
    name, client, signed, accepted, merged, fees = project
    return "\t".join((name, client, signed, accepted, merged, *fees))


def _single(view: View, key: Key, raw: str) -> object:
    return parse_answer(view, FORM.field(key.field), key, raw)


def test_a_pasted_project_row_is_fifteen_answers() -> None:
    text = _row(PROJECTS[10])
    assert is_bulk(text) and data_rows(PROJECT_VIEW, KEYS, text) == 1
    bulk = parse_message(PROJECT_VIEW, KEYS, text)
    assert bulk.summary == "已识别 15 项，全部齐全"
    assert not bulk.problems and not bulk.missing
    values = dict(bulk.values)
    assert values[Key("project.name", "pro1")] == "博州中小学机房运维（合并）"  # as typed
    assert values[Key("project.merged", "pro1")] is True
    assert values[Key("project.contract_date", "pro1")] == date(2025, 3, 1)
    assert values[Key("project.hw_purchased", "pro1")] == Decimal("10.00")


def test_a_row_under_its_header_maps_columns_by_name() -> None:
    # columns in another order: the header says which is which
    header = HEADER.split("\t")
    cells = _row(PROJECTS[0]).split("\t")
    order = [1, 0, *range(2, len(header))]
    text = "\t".join(header[i] for i in order) + "\n" + "\t".join(cells[i] for i in order)
    assert data_rows(PROJECT_VIEW, KEYS, text) == 1
    bulk = parse_message(PROJECT_VIEW, KEYS, text)
    values = dict(bulk.values)
    assert values[Key("project.name", "pro1")] == "乌鲁木齐市政务云平台"
    assert values[Key("project.client", "pro1")] == "乌鲁木齐市数据局"
    assert values[Key("project.fee_software", "pro1")] == Decimal("120.50")  # 1,205,000元


def test_labelled_lines_in_every_usual_form() -> None:
    text = "\n".join(
        (
            "项目名称：博州档案数字化（合并3项）",
            "建设单位 博州档案局",
            "软件开发费 120.5",
            "咨询设计费：12万",
            "集成实施费（万元）= 8",
            "运行维护费\t3",
        )
    )
    bulk = parse_message(PROJECT_VIEW, KEYS, text)
    values = dict(bulk.values)
    assert values[Key("project.name", "pro1")] == "博州档案数字化（合并3项）"
    assert values[Key("project.client", "pro1")] == "博州档案局"
    assert values[Key("project.fee_software", "pro1")] == Decimal("120.50")
    assert values[Key("project.fee_consulting", "pro1")] == Decimal("12.00")
    assert values[Key("project.fee_integration", "pro1")] == Decimal("8.00")
    assert values[Key("project.fee_maintenance", "pro1")] == Decimal("3.00")
    assert bulk.summary == "已识别 6 项，9 项需要补充"
    assert Key("project.contract_date", "pro1") in bulk.missing  # asked one by one next


def test_problems_are_reported_per_field_and_checks_see_the_whole_message() -> None:
    text = "合同签订日期 2025-06-01\n验收日期 2025-03-01\n硬件购置费 很多\n问候语 你好"
    bulk = parse_message(PROJECT_VIEW, KEYS, text)
    problems = {p.key.field: p for p in bulk.problems}
    assert "早于合同签订日期" in problems["project.acceptance_date"].reason
    assert problems["project.hw_purchased"].example
    assert bulk.unknown and "问候语" in bulk.unknown[0]
    assert dict(bulk.values)[Key("project.contract_date", "pro1")] == date(2025, 6, 1)
    lines = bulk.lines(PROJECT_VIEW)
    assert lines[0] == bulk.summary and any(line.startswith("✗ 验收日期") for line in lines)


def test_absurd_dates_and_hostile_text_are_refused_or_cleaned_as_when_typed() -> None:
    text = "项目名称\x1b[31m：某\u202e项目\x00\n合同签订日期：9999-12-31"
    bulk = parse_message(PROJECT_VIEW, KEYS, text)
    assert dict(bulk.values)[Key("project.name", "pro1")] == "某项目"
    assert "2005-01-01" in bulk.problems[0].reason


def test_section_answers_by_label_and_per_year() -> None:
    view = _view(**{"enterprise.first_year": 2025, "enterprise.grade": "乙"})
    keys = section_keys(view, FORM.section("business"))
    assert len(keys) == 27  # a new enterprise: three years
    text = "2025年营业收入 4567.89\n2024年营业收入：1,234.5\n2025年净利润 -35.5\n营业收入 1"
    bulk = parse_message(view, keys, text)
    values = dict(bulk.values)
    assert values[Key("business.revenue", "", 2025)] == Decimal("4567.89")
    assert values[Key("business.revenue", "", 2024)] == Decimal("1234.50")
    assert values[Key("business.net_profit", "", 2025)] == Decimal("-35.50")
    assert bulk.unknown  # "营业收入" alone names no single year here
    single = _view(**{"enterprise.first_year": 2020})
    plain = parse_message(
        single, section_keys(single, FORM.section("business")), "营业收入 10\n系统集成收入 5"
    )
    assert dict(plain.values) == {
        Key("business.revenue", "", 2025): Decimal("10.00"),
        Key("business.si_revenue", "", 2025): Decimal("5.00"),
    }


def test_a_figure_in_yuan_is_flagged_for_confirmation() -> None:
    view = _view(**{"enterprise.first_year": 2020, "enterprise.grade": "乙"})
    keys = section_keys(view, FORM.section("business"))
    bulk = parse_message(view, keys, "资产总额 4200\n营业收入 3856200")
    assert [d.key for d in bulk.doubts] == [Key("business.revenue", "", 2025)]
    assert bulk.doubts[0].yuan_label == "3,856,200 元 = 385.62 万元"


def test_twelve_pasted_projects_become_twelve_records_with_the_scripts_totals() -> None:
    text = HEADER + "\n" + "\n".join(_row(p) for p in PROJECTS)
    assert data_rows(PROJECT_VIEW, KEYS, text) == 12
    parsed = parse_rows(PROJECT_VIEW, GROUP, text)
    assert parsed.clean and len(parsed.rows) == 12
    # without the header row too
    bare = parse_rows(PROJECT_VIEW, GROUP, "\n".join(_row(p) for p in PROJECTS))
    assert [r.values for r in bare.rows] == [r.values for r in parsed.rows]
    filing = apply_changes(PROJECT_VIEW.filing, rows_changes(PROJECT_VIEW, GROUP, parsed))
    after = View(FORM, filing)
    assert len(after.records(totals.PROJECTS)) == 12
    column = totals.column_totals(after)
    assert column["contract_amount"] == COLUMN_TOTALS["contract_amount"]


def test_pasted_rows_with_problems_get_the_import_report() -> None:
    rows = [_row(p) for p in PROJECTS[:3]]
    rows[1] = rows[1].replace("2024/5/6", "2024-13-40")
    parsed = parse_rows(PROJECT_VIEW, GROUP, "\n".join(rows))
    assert len(parsed.rows) == 2 and parsed.bad_rows == 1
    report = "\n".join(project_import.report_lines(parsed))
    assert "第 2 行「合同签订日期（年-月-日）」" in report


def test_pasted_holders_use_the_same_report() -> None:
    view = _view()
    group = FORM.group(totals.HOLDERS)
    lines = ["\t".join(h) for h in HOLDERS[:4]]
    lines[2] = "\t".join(("刘洋", "不存在的证书名称xyz", "2020-0003", "跳过"))
    parsed = parse_rows(view, group, "\n".join(lines))
    assert [r.row for r in parsed.rows] == [1, 2, 4]
    assert parsed.problems[0].row == 3 and parsed.problems[0].column == "证书名称"
    first = dict(parsed.rows[0].values)
    assert first["holder.name"] == "王强" and first["holder.valid_until"] == SKIPPED
    assert "第 3 行「证书名称」" in "\n".join(project_import.report_lines(parsed))
    filing = apply_changes(view.filing, rows_changes(view, group, parsed))
    assert View(FORM, filing).records(totals.HOLDERS) == ("hol1", "hol2", "hol3")


def test_a_single_line_is_not_bulk() -> None:
    assert not is_bulk("120.5") and not is_bulk("博州档案数字化（合并3项）")
    assert is_bulk("软件开发费 120.5\n咨询设计费 10")


_SEPARATORS = st.sampled_from([" ", "：", ":", "=", "\t", "（万元）", "（万元）：", "  "])


@settings(deadline=None, max_examples=60)
@given(
    project=st.sampled_from(PROJECTS),
    separators=st.lists(_SEPARATORS, min_size=15, max_size=15),
    shuffle=st.randoms(use_true_random=False),
)
def test_labelled_lines_give_what_the_single_answers_give(
    project: tuple[str, str, str, str, str, tuple[str, ...]],
    separators: list[str],
    shuffle: object,
) -> None:
    name, client, signed, accepted, merged, fees = project
    raws = [name, client, signed, accepted, merged, *fees]
    lines = [
        f"{FORM.field(key.field).label}{sep}{raw}"
        for key, raw, sep in zip(KEYS, raws, separators, strict=True)
    ]
    shuffle.shuffle(lines)  # type: ignore[attr-defined]
    bulk = parse_message(PROJECT_VIEW, KEYS, "\n".join(lines))
    values = dict(bulk.values)
    for key, raw in zip(KEYS, raws, strict=True):
        single = _single(PROJECT_VIEW, key, raw)
        assert not isinstance(single, Invalid), (key, raw)
        assert values[key] == single, (key, raw, lines)
    assert bulk.summary == "已识别 15 项，全部齐全"


@settings(deadline=None, max_examples=100)
@given(st.decimals(min_value=0, max_value=99999, places=2), _SEPARATORS)
def test_any_amount_by_label_equals_the_typed_amount(amount: Decimal, sep: str) -> None:
    key = Key("project.fee_data", "pro1")
    bulk = parse_message(PROJECT_VIEW, KEYS, f"数据处理费{sep}{amount}\n其他费用 0")
    assert dict(bulk.values)[key] == _single(PROJECT_VIEW, key, str(amount))


@settings(deadline=None, max_examples=200)
@given(st.text(max_size=60))
def test_any_message_gives_a_result(text: str) -> None:
    """Whatever is pasted: values, problems and notes, never an exception or a hang."""
    bulk = parse_message(PROJECT_VIEW, KEYS, text)
    assert bulk.found + len(bulk.problems) <= len(KEYS)
    assert bulk.summary.startswith("已识别")
    if data_rows(PROJECT_VIEW, KEYS, text) > 1:
        parsed = parse_rows(PROJECT_VIEW, GROUP, text)
        assert len(parsed.rows) + parsed.bad_rows <= data_rows(PROJECT_VIEW, KEYS, text) + 1


def test_an_unclosed_bracket_after_a_label_is_part_of_the_value() -> None:
    bulk = parse_message(PROJECT_VIEW, KEYS, "项目名称（二期\n建设单位 某局")
    assert dict(bulk.values)[Key("project.name", "pro1")] == "（二期"
