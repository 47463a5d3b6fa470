"""Keyboards that never hide the next step (issue 14, item 3): on Telegram a long option list
is paged, but going back, the overview and submitting are on every page; the overview puts
submitting first when all is complete."""

from __future__ import annotations

from bot.channels.telegram.render import keyboard
from tests.test_engine import _complete_chat


def _labels(options: list[list[str]], page: int) -> list[str]:
    markup = keyboard(options, 7, page)
    return [button.text for row in markup.inline_keyboard for button in row]


def test_back_to_the_summary_is_on_every_page_of_a_long_list() -> None:
    options = [[f"第{i}个项目", str(i)] for i in range(1, 13)] + [["返回小结", "返回"]]
    first, second = _labels(options, 0), _labels(options, 1)
    assert "返回小结" in first and "返回小结" in second
    assert "第1个项目" in first and "第12个项目" in second and "第12个项目" not in first
    assert "下一页 ▶" in first


def test_a_short_list_is_not_paged_and_keeps_its_order() -> None:
    options = [["确认提交", "确认提交"], ["返回总览", "总览"]]
    assert _labels(options, 0) == ["确认提交", "返回总览"]


def test_submit_is_the_first_button_of_a_complete_overview() -> None:
    chat = _complete_chat()
    chat.run("总览")
    assert chat.options[0] == "📤 提交审核"
    # A typed number still means the option at that place (the terminal and WeChat show it).
    chat.send("3")
    assert chat.state.section == "contact"


def test_a_pinned_button_keeps_its_place_at_the_top() -> None:
    options = [["📤 提交审核", "提交"]] + [[f"部分{i}", f"前往 {i}"] for i in range(1, 12)]
    assert _labels(options, 0)[0] == "📤 提交审核"
    assert _labels(options, 1)[0] == "📤 提交审核"
