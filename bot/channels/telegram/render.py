"""Replies as Telegram messages: texts split within 4,096 characters, options as inline
keyboards whose callback data stays within 64 bytes, long option lists paged."""

from __future__ import annotations

from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.channels.split import split_lines

MAX_TEXT = 4096
PAGE_SIZE = 8
MAX_CALLBACK_BYTES = 64
BUTTON_LABEL = 60

# Option values of the next step, kept on every page of a paged keyboard.
PINNED = frozenset({"返回", "总览", "提交", "确认提交", "继续"})
PREVIOUS_PAGE = "◀ 上一页"
NEXT_PAGE = "下一页 ▶"
FILE_HINT = (
    "📎 请直接发送文件（PDF、JPG、PNG 或 OFD），也可以拍照发送；"
    "几张照片作为一组（相册）一起发送，会合并成一个 PDF。"
)
PRESSED = "👉 {label}"
STALE_BUTTON = "这个按钮已经失效了，请使用最新消息中的按钮，或直接输入回答。"


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Splits at paragraph, then line boundaries; only a single over-long line is cut."""
    if len(text) <= limit:
        return [text]
    return split_lines(text, limit)


def callback(seq: int, token: str) -> str:
    data = f"{seq}:{token}"
    assert len(data.encode()) <= MAX_CALLBACK_BYTES
    return data


def parse_callback(data: str | None) -> tuple[int, str] | None:
    """("12:3") -> (12, "3"); ("12:p1") -> (12, "p1"); anything else -> None."""
    if not data or ":" not in data:
        return None
    seq, _, token = data.partition(":")
    if not seq.isdecimal() or not token:
        return None
    return int(seq), token


def keyboard(options: Sequence[Sequence[str]], seq: int, page: int = 0) -> InlineKeyboardMarkup:
    """The options of prompt `seq`; a button carries its index, never its text, so callback
    data is short whatever the label."""
    indexed = list(enumerate(options))
    paged = len(indexed) > PAGE_SIZE + 2
    # The next step (back to the summary, the overview, submitting) is on every page: only
    # the long list itself is paged.
    pinned = [(i, o) for i, o in indexed if paged and len(o) > 1 and o[1] in PINNED]
    listed = [(i, o) for i, o in indexed if (i, o) not in pinned]
    pages = max(1, -(-len(listed) // PAGE_SIZE)) if paged else 1
    page = min(max(page, 0), pages - 1)
    window = listed[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    shown = indexed if pages == 1 else sorted(window + pinned)
    per_row = _per_row([label for _i, (label, *_rest) in shown])
    rows: list[list[InlineKeyboardButton]] = []
    for start in range(0, len(shown), per_row):
        rows.append(
            [
                InlineKeyboardButton(_label(label), callback_data=callback(seq, str(i)))
                for i, (label, *_rest) in shown[start : start + per_row]
            ]
        )
    if pages > 1:
        nav = []
        if page > 0:
            nav.append(
                InlineKeyboardButton(PREVIOUS_PAGE, callback_data=callback(seq, f"p{page - 1}"))
            )
        nav.append(
            InlineKeyboardButton(f"{page + 1}/{pages}", callback_data=callback(seq, f"p{page}"))
        )
        if page < pages - 1:
            nav.append(InlineKeyboardButton(NEXT_PAGE, callback_data=callback(seq, f"p{page + 1}")))
        rows.append(nav)
    return InlineKeyboardMarkup(rows)


def _per_row(labels: Sequence[str]) -> int:
    longest = max((len(label) for label in labels), default=0)
    if longest <= 4:
        return 4
    if longest <= 10:
        return 2
    return 1


def _label(label: str) -> str:
    return label if len(label) <= BUTTON_LABEL else label[: BUTTON_LABEL - 1] + "…"


def label_of(markup: InlineKeyboardMarkup | None, data: str | None) -> str | None:
    """The text of the pressed button, read back from the message's own keyboard."""
    if markup is None:
        return None
    for row in markup.inline_keyboard:
        for button in row:
            if button.callback_data == data:
                return button.text
    return None
