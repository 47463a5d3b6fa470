"""Outbox items as WeChat messages.

A WeChat text message (a passive reply or a customer-service message) holds at most 2,048
bytes of UTF-8 and understands one kind of markup: `<a href="...">`. Options become numbered
lines whose text is a menu link (`weixin://bizmsgmenu`): tapping one sends a text message back
carrying the option's id (prompt number and option index, checked against the live prompt like
a Telegram button), and typing the number works as well. A file request carries a personal
upload link, a document a download link: an Official Account cannot exchange PDFs in the chat.
Outside the 48-hour window a template message shows the first line and opens the full text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.channels.split import split_lines
from bot.channels.wechat import texts
from bot.channels.wechat.links import FILE, UPLOAD, VIEW, LinkSigner
from dialogs.view import file_size

MAX_BYTES = 2048
_MENU_IDS_PER_PROMPT = 1000
# Characters that would end the link's attribute or its query; they are only dropped from the
# text the tap echoes back (the option itself travels as its id).
_UNSAFE_IN_LINK = re.compile(r'[\n\r\t"<>&#]+')


@dataclass(frozen=True, slots=True)
class Rendered:
    parts: list[str]  # text messages, each within MAX_BYTES
    summary: str  # the first line, for a template message
    link: str  # the page a template message opens (the full text, the upload page, the file)


@dataclass(frozen=True, slots=True)
class Lifetimes:
    upload: timedelta
    download: timedelta
    view: timedelta


class Renderer:
    def __init__(self, links: LinkSigner, lifetimes: Lifetimes) -> None:
        self.links = links
        self.lifetimes = lifetimes

    def render(self, item_id: int, payload: dict[str, Any], now: datetime) -> Rendered:
        kind = payload.get("type")
        options: list[list[str]] = payload.get("options") or []
        seq = int(payload.get("seq", 0))
        view = self.links.url(VIEW, item_id, now + self.lifetimes.view)
        if kind == "document":
            url = self.links.url(FILE, item_id, now + self.lifetimes.download)
            name = str(payload.get("filename", ""))
            size = file_size(len(str(payload.get("content", ""))) * 3 // 4)
            days = self.lifetimes.download.days or 1
            link_line = texts.DOWNLOAD_LINK.format(url=url, name=_plain(name), size=size, days=days)
            caption = str(payload.get("caption", ""))
            body = f"📄 {caption}\n{link_line}" if caption else link_line
            return Rendered(split_text(body), caption or name, url)
        text = str(payload.get("text", ""))
        if kind == "file_request":
            url = self.links.url(UPLOAD, item_id, now + self.lifetimes.upload)
            hours = int(self.lifetimes.upload.total_seconds() // 3600)
            blocks = [text, texts.UPLOAD_LINK.format(url=url, hours=hours)]
            if options:
                blocks.append(shortcuts(options, seq))
            return Rendered(split_text("\n\n".join(blocks)), text, url)
        if kind == "choice" and options:
            if payload.get("again") and not payload.get("free_text"):
                # Asked again after a refused answer: the earlier message's options still work.
                return Rendered(split_text(f"{text}\n\n{texts.SAME_OPTIONS}"), text, view)
            if payload.get("free_text"):
                body = f"{text}\n\n{shortcuts(options, seq)}"
            else:
                body = f"{text}\n\n{numbered(options, seq)}\n{texts.PICK_HINT}"
            return Rendered(split_text(body), text, view)
        return Rendered(split_text(text), text, view)


def menu_link(label: str, value: str, seq: int, index: int) -> str:
    """A tappable option. With a prompt number the tap comes back as that option's id;
    without one (an item queued outside the service) it comes back as the option's value."""
    if seq:
        content = _UNSAFE_IN_LINK.sub(" ", label).strip() or str(index + 1)
        menu_id = seq * _MENU_IDS_PER_PROMPT + index
        href = f"weixin://bizmsgmenu?msgmenucontent={content}&msgmenuid={menu_id}"
    else:
        content = _UNSAFE_IN_LINK.sub(" ", value).strip() or str(index + 1)
        href = f"weixin://bizmsgmenu?msgmenucontent={content}&msgmenuid=0"
    return f'<a href="{href}">{_plain(label)}</a>'


def menu_press(menu_id: str) -> tuple[int, int] | None:
    """(prompt number, option index) of a tapped option's id; None for anything else."""
    if not menu_id.isdecimal():
        return None
    number = int(menu_id)
    seq, index = divmod(number, _MENU_IDS_PER_PROMPT)
    return (seq, index) if seq > 0 else None


def numbered(options: Sequence[Sequence[str]], seq: int) -> str:
    return "\n".join(
        f"{i}. {menu_link(label, value, seq, i - 1)}"
        for i, (label, value, *_rest) in enumerate(options, 1)
    )


def shortcuts(options: Sequence[Sequence[str]], seq: int) -> str:
    """Options of a question answered by typing (跳过, 保留): no numbers, a number is an answer."""
    links = [menu_link(label, value, seq, i) for i, (label, value, *_rest) in enumerate(options)]
    return texts.SHORTCUTS + " / ".join(links)


def split_text(text: str, limit: int = MAX_BYTES) -> list[str]:
    """Splits at line boundaries within `limit` bytes of UTF-8; only a single over-long line is
    cut (at a character boundary, never inside a link: links sit on lines of their own)."""
    text = text.strip("\n")
    if _bytes(text) <= limit:
        return [text] if text else []
    return split_lines(text, limit, _bytes)


def summary_line(text: str, limit: int) -> str:
    """The first non-empty line, within `limit` characters (template fields are short)."""
    line = next((s.strip() for s in text.splitlines() if s.strip()), "")
    return line if len(line) <= limit else line[: max(limit - 1, 1)] + "…"


def _bytes(text: str) -> int:
    return len(text.encode("utf-8"))


def _plain(text: str) -> str:
    """Text shown inside a message must not open a tag of its own."""
    return text.replace("<", "＜").replace(">", "＞")
