"""Several answers in one message through the engine, and doubtful amounts asked, not stored
(issue 14, items 1 and 4): conversations through `step`, the state stored and reloaded after
every message as a restart would."""

from __future__ import annotations

import itertools
import re
from dataclasses import replace
from decimal import Decimal

from dialogs.magnitude import doubtful_lines
from dialogs.model import Answer, Key, Source
from dialogs.replies import Choice, Start
from dialogs.state import Mode
from dialogs.submission import submit_check
from tests.fakes import scripted_events
from tests.test_engine import CONTACT, ENTERPRISE, PERSONNEL, Chat


def _at_holders() -> Chat:
    chat = Chat()
    chat.send(Start())
    chat.run(*ENTERPRISE, *CONTACT, *PERSONNEL)
    assert chat.state.field == "holder.name"
    return chat


def test_every_question_says_once_that_the_whole_record_can_be_pasted() -> None:
    chat = Chat()
    prompt = chat.send(Start())
    assert prompt.count("可一次发送多项") == 1
    holders = _at_holders()
    text = holders.send("返回")
    text = holders.send("确认")
    assert text.count("可一次粘贴整条") == 1 and "可一次发送多项" not in text


def test_labelled_lines_answer_a_section_and_what_is_missing_is_asked() -> None:
    chat = Chat()
    chat.send(Start())
    text = chat.send(
        "单位名称：测试科技有限公司\n统一社会信用代码 91110108551385082Q\n资质等级：乙\n"
        "证书编号=XJ-1\n首次获证年份 二〇二〇年以前"
    )
    assert text.startswith("已识别 4 项，1 项需要补充")
    assert "✓ 统一社会信用代码：91110108551385082Q" in text
    assert "✗ 首次获证年份：" in text and "例如：" in text
    assert chat.value("enterprise.name") == "测试科技有限公司"
    assert chat.value("enterprise.grade") == "乙"
    # Only the refused answer is asked again, one by one.
    assert chat.state.mode is Mode.ASK and chat.state.field == "enterprise.first_year"
    assert "【企业信息 · 小结】" in chat.send("2020")


def test_a_pasted_row_fills_the_record_and_the_rest_is_asked_one_by_one() -> None:
    chat = _at_holders()
    text = chat.send("王强\t系统集成项目管理工程师\t2019-0001")
    assert text.startswith("已识别 3 项，全部齐全")
    assert chat.value("holder.certificate", chat.state.record) is not None
    # The optional validity was not in the row: asked on its own.
    assert chat.state.field == "holder.valid_until"
    assert chat.value("holder.name", chat.state.record) == "王强"
    text = chat.send("跳过")
    assert chat.state.mode is Mode.AFTER_RECORD


def test_several_rows_become_several_records_with_the_per_row_report() -> None:
    chat = _at_holders()
    text = chat.send(
        "持证人姓名\t证书名称\t证书编号\t证书有效期至\n"
        "王强\t系统集成项目管理工程师\t2019-0001\t跳过\n"
        "刘洋\t4\t2020-0003\t1900-01-01\n"
        "陈静\t系统架构\t2022-0004\t2029年12月31日"
    )
    assert "共 3 行项目：2 行无误，1 行有问题" in text
    assert "第 3 行" in text  # the row as numbered in the message, the header being line 1
    names = sorted(str(a.value) for k, a in chat.filing.answers.items() if k.field == "holder.name")
    assert names == ["王强", "陈静"]
    assert chat.state.mode is Mode.AFTER_RECORD


def test_a_doubtful_amount_is_asked_with_both_readings_and_not_stored() -> None:
    chat = Chat()
    chat.send(Start())
    chat.run(*ENTERPRISE, *CONTACT, *PERSONNEL)
    chat.send("总览")
    chat.send("5")  # 2 经营情况
    assert chat.state.field == "business.revenue"
    text = chat.send("3856200")
    assert "⚠ 请确认" in text
    assert chat.value("business.revenue", year=2025) is None
    assert chat.state.mode is Mode.CONFIRM_AMOUNT  # kept over a restart (Chat reloads it)
    assert chat.options == ["3,856,200 万元（385.62 亿元）", "3,856,200 元 = 385.62 万元"]
    assert chat.last is not None and isinstance(chat.last.replies[-1], Choice)
    text = chat.send("按元")
    assert "已按“按元”保存" in text
    assert chat.value("business.revenue", year=2025) == Decimal("385.62")
    assert chat.state.mode is Mode.ASK and chat.state.field != "business.revenue"


def test_a_confirmed_doubtful_amount_is_listed_by_the_pre_submit_check() -> None:
    chat = Chat()
    chat.send(Start())
    chat.run(*ENTERPRISE, *CONTACT, *PERSONNEL)
    chat.send("总览")
    chat.send("5")
    chat.send("3856200")
    text = chat.send("1")  # the first button by its number: as typed, in 万元
    assert chat.value("business.revenue", year=2025) == Decimal("3856200")
    assert "3,856,200" in text
    lines = doubtful_lines(chat.view)
    assert lines and "3,856,200 万元" in lines[1]
    assert "已确认的较大金额" in submit_check(chat.view).text


def test_a_doubtful_amount_can_be_typed_again() -> None:
    chat = Chat()
    chat.send(Start())
    chat.run(*ENTERPRISE, *CONTACT, *PERSONNEL)
    chat.send("总览")
    chat.send("5")
    chat.send("3856200")
    text = chat.send("385.62")
    assert "✓" in text and chat.value("business.revenue", year=2025) == Decimal("385.62")


def test_pasted_lines_never_overwrite_roster_answers() -> None:
    chat = Chat()
    roster = {Key("enterprise.grade"): Answer("甲", Source.ROSTER, 1)}
    chat.filing = replace(chat.filing, answers=roster)
    chat.send(Start())
    text = chat.send("单位名称：测试科技有限公司\n资质等级：乙")
    assert chat.value("enterprise.grade") == "甲"
    assert chat.value("enterprise.name") == "测试科技有限公司"
    assert "资质等级" not in text.split("\n\n")[0] or "不是本部分" in text


def test_an_optional_question_says_once_that_it_can_be_skipped() -> None:
    chat = Chat()
    chat.send(Start())
    chat.run(*ENTERPRISE, "张三")
    prompt = chat.send("13800138000")
    assert "请填写：固定电话" in prompt
    assert prompt.count("跳过") == 1, prompt
    assert chat.options == ["跳过"]


def test_choice_prompts_do_not_ask_for_numbers_the_buttons_do_not_show() -> None:
    chat = Chat()
    chat.send(Start())
    prompt = chat.run("测试科技有限公司", "91110108551385082Q")
    assert "请选择：资质等级" in prompt and "回复编号" not in prompt


def test_the_progress_shown_by_the_engine_never_goes_back_over_the_whole_filing() -> None:
    """总进度 in every prompt of the scripted filing (question by question, 21 records
    added): never lower than the one before (issue 14, item 5)."""
    chat = Chat()
    shown: list[int] = []
    for event in scripted_events():
        text = chat.send(event)
        shown += [int(p) for p in re.findall(r"总进度 (\d+)%", text)]
    assert len(shown) > 250
    drops = [(a, b) for a, b in itertools.pairwise(shown) if b < a]
    assert drops == [], drops
    assert shown[-1] == 100


def test_the_roster_s_answers_are_shown_at_the_start_as_a_read_only_section() -> None:
    chat = Chat()
    roster = {
        Key("enterprise.name"): Answer("测试科技有限公司", Source.ROSTER, 1),
        Key("enterprise.grade"): Answer("乙", Source.ROSTER, 1),
    }
    chat.filing = replace(chat.filing, answers=roster)
    text = chat.send(Start())
    assert "【企业信息】（由协会导入，只读" in text
    assert "单位名称（汉字全称）：测试科技有限公司" in text and "资质等级：乙级" in text


def test_after_a_record_the_next_one_can_be_pasted_without_pressing_add() -> None:
    chat = _at_holders()
    chat.send("王强\t系统集成项目管理工程师\t2019-0001\t跳过")
    assert chat.state.mode is Mode.AFTER_RECORD
    text = chat.send("刘洋\t4\t2020-0003\t跳过")
    assert text.startswith("已识别 4 项，全部齐全")
    names = sorted(str(a.value) for k, a in chat.filing.answers.items() if k.field == "holder.name")
    assert names == ["刘洋", "王强"]
    assert chat.state.mode is Mode.AFTER_RECORD


def test_the_terminal_lists_both_readings_of_a_doubtful_amount() -> None:
    """The console shows words for shortcuts (跳过) but numbers the two readings, whose
    labels say what the words (按万元 / 按元) do not."""
    from pathlib import Path

    from bot.channels.console import render
    from dialogs.replies import Button, Choice

    doubt = Choice(
        "⚠ 请确认2025年营业收入",
        (
            Button("3,856,200 万元（385.62 亿元）", "按万元"),
            Button("3,856,200 元 = 385.62 万元", "按元"),
        ),
        free_text=True,
    )
    shown = render([doubt], Path("unused"))
    assert "  [1] 3,856,200 万元（385.62 亿元）" in shown
    assert "  [2] 3,856,200 元 = 385.62 万元" in shown
    skip = Choice("请填写：备注", (Button("跳过", "跳过"),), free_text=True)
    assert render([skip], Path("unused")).endswith("（也可以发送：跳过）")


def test_a_single_labelled_line_answers_the_question_it_names() -> None:
    """One line "名称 值" is that question's answer, at its own question or at another of the
    record or section: said like a single answer, with no summary of the rest."""
    chat = _at_holders()
    record = chat.state.record
    text = chat.send("证书编号：2019-0001")
    assert text.startswith("✓ 已保存 证书编号：2019-0001") and "已识别" not in text
    assert chat.value("holder.number", record) == "2019-0001"
    assert chat.state.field == "holder.name"  # the question on screen is asked again
    assert "✓ 已保存 持证人姓名：王强" in chat.send("持证人姓名 王强")
    assert chat.value("holder.name", record) == "王强"
    chat = Chat()
    chat.send(Start())
    chat.run(*ENTERPRISE, *CONTACT, *PERSONNEL, "总览")
    assert "请填写：2025年营业收入" in chat.send("5")  # 2 经营情况
    # The short label names the year on screen; a figure in 元 is still doubted.
    assert "✓ 已保存 2025年营业收入：385.62 万元" in chat.send("营业收入 385.62")
    chat.send("返回")
    assert chat.state.field == "business.revenue"
    doubt = chat.send("2025年营业收入 3856200")
    assert chat.state.mode is Mode.CONFIRM_AMOUNT and "3,856,200" in doubt


def test_an_answer_that_only_begins_with_a_label_s_words_stays_an_answer() -> None:
    from dialogs.bulk import labelled_line

    chat = Chat()
    view = chat.view
    keys = [Key(f, "inn1") for f in ("innovation.type", "innovation.name", "innovation.number")]
    assert labelled_line(view, keys, keys[1], "类型安全的数据交换平台") is None
    assert labelled_line(view, keys, keys[1], "类型：软件著作权") == (keys[0], "软件著作权")
    assert labelled_line(view, keys, keys[1], "类型 软件著作权\n名称 X") is None  # several


def test_a_refused_choice_says_why_with_an_option_and_asks_again_briefly() -> None:
    """The refusal names an option as its example (Telegram shows no numbers); the question
    after it is the same one, marked `again`, without the paste hint and example."""
    chat = _at_holders()
    chat.send("王强")
    first = chat.last.replies[-1] if chat.last else None
    assert isinstance(first, Choice) and not first.again
    text = chat.send("不知道")
    assert text.startswith("✗ 没有找到与“不知道”相符的选项。\n例如：软件设计师")
    again = chat.last.replies[-1] if chat.last else None
    assert isinstance(again, Choice) and again.again and again.options == first.options
    assert "请选择：证书名称" in again.text and "可一次粘贴整条" not in again.text
    assert "编号" not in text.split("请选择：")[1]
    assert "✓ 已保存 证书名称：网络工程师" in chat.send("网络工程师")
    after = chat.last.replies[-1] if chat.last else None
    assert not (isinstance(after, Choice) and after.again)
