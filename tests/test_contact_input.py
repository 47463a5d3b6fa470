"""What contacts type, taken as they meant it: names stored as typed, hostile characters
removed, plausible dates per field, 长期 validity, greetings before binding, doubtful
magnitudes, and the pre-submit check without repetitions (issue 14, items 4, 6 and 8)."""

from __future__ import annotations

import unicodedata
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialogs import texts, texts_input, totals
from dialogs.answers import Invalid, parse_answer
from dialogs.cycle import Cycle
from dialogs.engine import step
from dialogs.form import build_form
from dialogs.magnitude import confirmed_doubts, doubtful_amount
from dialogs.model import (
    AddRecord,
    Answer,
    FileRef,
    Filing,
    Key,
    SetAnswer,
    Source,
    apply_changes,
)
from dialogs.onboarding import OnboardingState, onboarding_step
from dialogs.parsing import clean_text, normalize, parse_text
from dialogs.replies import TextIn, reply_text
from dialogs.state import ConvState
from dialogs.submission import submit_check
from dialogs.summary import summary_text
from dialogs.view import View
from storage.db import Database
from storage.files import EXTENSIONS, JPEG, OFD, PDF, PNG, AttachmentStore, display_name
from storage.repository import FilingRepository
from tests.fakes import completed_filing
from tests.filing_script import png_bytes

FORM = build_form(Cycle.for_year(2025))
NOW = datetime(2025, 12, 1, 2, tzinfo=UTC)
HOSTILE = (
    "\x00",
    "\x1b[31m",
    "\x1b[0m",
    "\x1b]0;title\x07",
    "\u202e",
    "\u202d",
    "\u2066",
    "\u2069",
    "\u200b",
    "\ufeff",
    "\x7f",
    "\x9b2J",
)


def _parse(field_id: str, raw: str, filing: Filing | None = None, record: str = "") -> object:
    view = View(FORM, filing or Filing(1, 2025))
    return parse_answer(view, FORM.field(field_id), Key(field_id, record), raw)


# --- names and free text: stored as typed -----------------------------------------------------


def test_full_width_brackets_of_a_project_name_are_kept() -> None:
    assert _parse("project.name", " 博州档案数字化（合并3项） ") == "博州档案数字化（合并3项）"
    assert _parse("holder.name", "Ｌｉ　Ｍｉｎｇ") == "Ｌｉ Ｍｉｎｇ"
    assert parse_text("ＡＢＣ（中国）有限公司") == "ＡＢＣ（中国）有限公司"


def test_name_comparison_still_normalises() -> None:
    """Two records of one person count once, however their name was typed."""
    assert totals.person_key("Ｌｉ Ｍｉｎｇ") == totals.person_key("li ming")


def test_the_engine_stores_the_project_name_as_typed() -> None:
    form, filing = completed_filing()
    rid = filing.record_ids(totals.PROJECTS)[0]
    view = View(form, filing)
    value = parse_answer(view, form.field("project.name"), Key("project.name", rid), "甲（乙）")
    assert value == "甲（乙）"


def test_control_escape_and_bidi_characters_are_stripped() -> None:
    assert parse_text("张\x00三") == "张三"
    assert parse_text("\x1b[31m红色\x1b[0m公司") == "红色公司"
    assert parse_text("营业执照\u202efdp.exe") == "营业执照fdp.exe"
    assert parse_text("\x1b]0;hacked\x07李四") == "李四"
    assert parse_text("张\x0b三") == "张 三"  # vertical tab: a line break in Word, so a space
    assert normalize("\x1b[1;31m12\x1b[0m") == "12"


@settings(deadline=None)
@given(
    st.lists(
        st.one_of(st.sampled_from(HOSTILE), st.text(min_size=1, max_size=3)),
        min_size=1,
        max_size=12,
    )
)
def test_no_control_or_bidi_character_survives(parts: list[str]) -> None:
    cleaned = clean_text("".join(parts))
    for char in cleaned:
        # control (Cc) and format (Cf: zero-width, bidi overrides) characters are gone
        assert char == " " or unicodedata.category(char) not in ("Cc", "Cf"), repr(cleaned)
    assert "[31m" not in cleaned or "[31m" in "".join(p for p in parts if p not in HOSTILE)


# --- dates: plausible ranges, 长期, an example that is not the refused date ---------------------


@pytest.mark.parametrize(
    ("field_id", "raw", "low", "high"),
    [
        ("project.contract_date", "9999-12-31", "2005-01-01", "2025-12-31"),
        ("project.contract_date", "0001-01-01", "2005-01-01", "2025-12-31"),
        ("project.contract_date", "1900-01-01", "2005-01-01", "2025-12-31"),
        ("holder.valid_until", "9999-12-31", "2015-01-01", "2075-12-31"),
        ("holder.valid_until", "1900-01-01", "2015-01-01", "2075-12-31"),
    ],
)
def test_absurd_dates_are_refused_with_the_range(
    field_id: str, raw: str, low: str, high: str
) -> None:
    result = _parse(field_id, raw, record="x1")
    assert isinstance(result, Invalid)
    assert low in result.reason and high in result.reason
    assert result.example != raw


def test_absurd_acceptance_and_innovation_dates_are_refused() -> None:
    for field_id in ("project.acceptance_date", "innovation.date"):
        result = _parse(field_id, "9999-12-31", record="x1")
        assert isinstance(result, Invalid) and "2025" in result.reason


def test_plausible_dates_are_accepted() -> None:
    assert _parse("project.contract_date", "2010-05-01", record="p") == date(2010, 5, 1)
    assert _parse("holder.valid_until", "2070-12-31", record="h") == date(2070, 12, 31)


def test_the_refusal_never_shows_the_refused_date_as_its_example() -> None:
    """The acceptance date equal to the field's own example, but before the signing date."""
    filing = apply_changes(
        Filing(1, 2025),
        [SetAnswer(Key("project.contract_date", "pro1"), date(2025, 6, 1))],
    )
    example = FORM.field("project.acceptance_date").example
    result = _parse("project.acceptance_date", example, filing, record="pro1")
    assert isinstance(result, Invalid)
    assert result.example != example
    # and the example given is one the question accepts
    assert not isinstance(
        _parse("project.acceptance_date", result.example, filing, record="pro1"), Invalid
    )


@pytest.mark.parametrize("raw", ["长期", "长期有效", "永久", "长期。", " 长期 "])
def test_long_term_validity_is_accepted(raw: str) -> None:
    assert _parse("holder.valid_until", raw, record="h1") == texts_input.LONG_TERM


def test_long_term_is_only_for_open_ended_dates() -> None:
    result = _parse("project.contract_date", "长期", record="p1")
    assert isinstance(result, Invalid)
    refused = _parse("holder.valid_until", "明年", record="h1")
    assert isinstance(refused, Invalid) and "长期" in refused.reason


def test_a_long_term_certificate_counts_and_is_shown_as_such() -> None:
    filing = apply_changes(
        Filing(1, 2025),
        [
            SetAnswer(Key("holder.name", "hol1"), "王五"),
            SetAnswer(Key("holder.certificate", "hol1"), "rk_network"),
            SetAnswer(Key("holder.number", "hol1"), "N1"),
            SetAnswer(Key("holder.valid_until", "hol1"), texts_input.LONG_TERM),
        ],
    )
    filing = replace(filing, records={totals.HOLDERS: ("hol1",)})
    view = View(FORM, filing)
    assert totals.certificate_valid(view, "hol1")
    assert totals.certified_people(view) == 1
    assert view.display(Key("holder.valid_until", "hol1")) == "长期"


# --- before binding ---------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["你好", "您好！", "hello", "在吗？", "Hi~"])
def test_a_greeting_before_binding_gets_the_menu_not_a_code_error(text: str) -> None:
    outcome = onboarding_step(OnboardingState(), TextIn(text), "0991-2301105", 2025)
    shown = "\n".join(reply_text(r) for r in outcome.replies)
    assert texts.NOT_A_CODE not in shown
    assert "邀请码" in shown and "申请绑定" in shown


def test_a_mistyped_code_still_says_what_a_code_looks_like() -> None:
    outcome = onboarding_step(OnboardingState(), TextIn("K7M2QX"), "0991-2301105", 2025)
    assert texts.NOT_A_CODE in reply_text(outcome.replies[0])


# --- doubtful magnitudes ----------------------------------------------------------------------


def _business(**figures: str) -> Filing:
    changes = [SetAnswer(Key("enterprise.grade"), "乙")]
    changes += [
        SetAnswer(Key(f"business.{name}", "", 2025), Decimal(value))
        for name, value in figures.items()
    ]
    return apply_changes(Filing(1, 2025), changes)


def test_revenue_typed_in_yuan_is_doubted_with_both_readings() -> None:
    view = View(FORM, _business(total_assets="4200"))
    key = Key("business.revenue", "", 2025)
    doubt = doubtful_amount(view, key, Decimal("3856200.00"), "3856200")
    assert doubt is not None
    assert doubt.wan_label == "3,856,200 万元（385.62 亿元）"
    assert doubt.yuan_label == "3,856,200 元 = 385.62 万元"
    assert doubt.as_yuan == Decimal("385.62")
    assert "资产总额" in doubt.reason and "918" in doubt.reason
    assert "营业收入" in doubt.question(view)


def test_a_whole_number_looking_like_yuan_is_doubted_without_other_figures() -> None:
    view = View(FORM, Filing(1, 2025))
    doubt = doubtful_amount(view, Key("business.rnd", "", 2025), Decimal(150000), "150000")
    assert doubt is not None and doubt.reason == texts_input.DOUBT_WHY_YUAN
    assert doubt.wan_label == "150,000 万元（15 亿元）"


def test_the_grade_range_makes_an_amount_doubtful() -> None:
    view = View(FORM, _business())
    doubt = doubtful_amount(
        view, Key("business.revenue", "", 2025), Decimal("250000.5"), "250000.5"
    )
    assert doubt is not None and "乙级" in doubt.reason


@pytest.mark.parametrize("raw", ["3856200元", "3856200万", "385.62亿"])
def test_an_amount_with_its_unit_is_not_doubted(raw: str) -> None:
    view = View(FORM, _business(total_assets="4200"))
    assert doubtful_amount(view, Key("business.revenue", "", 2025), Decimal(3856200), raw) is None


@pytest.mark.parametrize("raw", ["3856.2", "4200", "12000", "0", "-35.5"])
def test_plausible_amounts_are_not_doubted(raw: str) -> None:
    view = View(FORM, _business(total_assets="4200", net_assets="1800"))
    key = Key("business.revenue", "", 2025)
    assert doubtful_amount(view, key, Decimal(raw), raw) is None


def test_the_pre_submit_check_lists_confirmed_doubtful_amounts() -> None:
    form, filing = completed_filing()
    key = Key("business.revenue", "", 2025)
    assert confirmed_doubts(View(form, filing)) == []
    assert texts_input.DOUBT_CONFIRMED_HEAD not in submit_check(View(form, filing)).text
    doubtful = apply_changes(filing, [SetAnswer(key, Decimal(3856200))])
    check = submit_check(View(form, doubtful))
    assert texts_input.DOUBT_CONFIRMED_HEAD in check.text
    assert "2025年营业收入：3,856,200 万元（385.62 亿元）" in check.text


# --- the pre-submit check ---------------------------------------------------------------------


def test_the_pre_submit_check_shows_each_indicator_once() -> None:
    form, filing = completed_filing()
    text = submit_check(View(form, filing)).text
    for label in ("持证人员总数", "三年系统集成项目总值", "技术人员总数"):
        assert text.count(f"{label}：") == 1, (label, text)


# --- through the engine -----------------------------------------------------------------------


def test_an_engine_answer_keeps_full_width_text_and_drops_controls() -> None:
    filing = Filing(1, 2025)
    state = ConvState()
    outcome = step(FORM, filing, state, TextIn("/start"), NOW)
    filing = apply_changes(filing, outcome.changes)
    outcome = step(FORM, filing, outcome.state, TextIn("新疆\x00博州（合并）\u202e公司"), NOW)
    filing = apply_changes(filing, outcome.changes)
    assert filing.get(Key("enterprise.name")) == "新疆博州（合并）公司"


def test_roster_answers_are_left_alone() -> None:
    """Read-only answers are never re-parsed: what the association imported stays."""
    filing = Filing(1, 2025, answers={Key("enterprise.name"): Answer("Ａ（Ｂ）", Source.ROSTER)})
    assert View(FORM, filing).display(Key("enterprise.name")) == "Ａ（Ｂ）"


# --- file names shown to anyone -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "content_type", "shown"),
    [
        ("营业执照\u202efdp.exe", PDF, "营业执照fdp.pdf"),
        ("营业执照.pdf", PNG, "营业执照.png"),
        ("scan.JPEG", JPEG, "scan.JPEG"),
        ("合同.jpg", JPEG, "合同.jpg"),
        ("C:\\Users\\张三\\桌面\\利润表", PDF, "利润表.pdf"),
        ("../../etc/passwd", OFD, "passwd.ofd"),
        ("\x00\x1b[31m.pdf", PDF, "附件.pdf"),
        ("报告 2025.v2.docx", PDF, "报告 2025.v2.pdf"),
        ("", JPEG, "附件.jpg"),
    ],
)
def test_file_names_are_cleaned_and_carry_the_real_extension(
    sent: str, content_type: str, shown: str
) -> None:
    assert display_name(sent, content_type) == shown


def test_the_store_keeps_the_cleaned_name(tmp_path: Path) -> None:
    store = AttachmentStore(tmp_path)
    ref = store.put(png_bytes(), "营业执照\u202egnp.pdf")
    assert ref.name == "营业执照gnp.png" and ref.content_type == PNG


@settings(deadline=None)
@given(st.text(max_size=80), st.sampled_from(sorted(EXTENSIONS)))
def test_every_shown_name_is_clean_and_typed(name: str, content_type: str) -> None:
    shown = display_name(name, content_type)
    assert shown.lower().endswith(EXTENSIONS[content_type])
    assert len(shown) <= 120 and "/" not in shown and "\\" not in shown
    assert all(unicodedata.category(c) not in ("Cc", "Cf") for c in shown)


# --- what reaches the database --------------------------------------------------------------


def test_hostile_text_and_file_names_are_stored_clean(database: Database, tmp_path: Path) -> None:
    """A NUL would be refused by PostgreSQL; escapes and bidi overrides would be stored."""
    typed = "博州\x00档案\x1b[31m数字化（合并3项）\u202e\x0b二期"
    name = _parse("project.name", typed, record="pro1")
    assert isinstance(name, str) and name == "博州档案数字化（合并3项） 二期"
    ref = AttachmentStore(tmp_path).put(png_bytes(), "合同\x00\u202egnp.pdf")
    with database.session() as session:
        filing_id = FilingRepository(session).create(2025, NOW)
    with database.session() as session:
        FilingRepository(session).apply(
            filing_id,
            [
                AddRecord(totals.PROJECTS, "pro1"),
                SetAnswer(Key("project.name", "pro1"), name),
                SetAnswer(Key("attach.project_file", "pro1"), ref),
            ],
            actor="contact:1",
            now=NOW,
        )
    with database.session() as session:
        stored = FilingRepository(session).load(filing_id)
    assert stored.get(Key("project.name", "pro1")) == "博州档案数字化（合并3项） 二期"
    assert stored.get(Key("attach.project_file", "pro1")) == ref
    assert ref.name == "合同gnp.png"


def test_a_name_stored_before_cleaning_is_shown_clean() -> None:
    old = FileRef("0" * 64, "营业执照\u202efdp.exe", 2048, PDF)
    filing = apply_changes(Filing(1, 2025), [SetAnswer(Key("attach.licence"), old)])
    assert View(FORM, filing).display(Key("attach.licence")) == "营业执照fdp.exe（2 KB）"


def test_the_section_summary_never_says_no_problem_under_a_doubtful_amount() -> None:
    form, filing = completed_filing()
    section = form.section("business")
    assert texts.SUMMARY_CHECKS_OK in summary_text(View(form, filing), section)
    doubtful = apply_changes(
        filing, [SetAnswer(Key("business.revenue", "", 2025), Decimal(3856200))]
    )
    text = summary_text(View(form, doubtful), section)
    assert texts.SUMMARY_CHECKS_OK not in text
    assert "2025年营业收入：3,856,200 万元（385.62 亿元）" in text
    # other sections are not concerned
    assert texts.SUMMARY_CHECKS_OK in summary_text(View(form, doubtful), form.section("personnel"))
