"""A fake Telegram Bot API server for tests that drive the real python-telegram-bot stack.

`FakeTelegram` listens on 127.0.0.1 (OS-assigned port) and speaks enough of the Bot API for a
PTB `Application` in polling mode: long-polling `getUpdates`, sending/editing/deleting messages,
inline keyboards and callback queries, file upload (`sendDocument`, `sendPhoto`) and download
(`getFile` + `/file/bot<token>/<path>`). Tests inject what users do (`send_text`,
`press_button`, `send_document`, `send_photo`, `send_album`, ...) and inspect what the bot did
(`sent`, `edits`, `callback_answers`, ...). Faults can be injected (`fail_next`,
`fail_network_next`, `delay_next`, `block_user`, `rate_limit`).

Usage::

    with FakeTelegram() as fake:
        app = (
            Application.builder()
            .token(fake.token)
            .base_url(fake.base_url)
            .base_file_url(fake.base_file_url)
            .build()
        )
        ...
        fake.send_text(42, "/start")
        await fake.wait_for_messages_async(42, count=1)

Where the real server behaves in a way tests should notice, so does this one: text is checked
against `parse_mode` (bad HTML/MarkdownV2 is refused with "can't parse entities"), length limits
apply after entity parsing, `editMessageText` without `reply_markup` removes the inline keyboard,
an edit that changes nothing is refused with "message is not modified", `getFile` refuses files
over 20 MB, a second concurrent `getUpdates` terminates the first one with 409 Conflict, and
`getUpdates` is refused while a webhook is set. Pass `validate_formatting=False` to skip the
`parse_mode` checks, `strict_chats=True` to refuse sends to users who never wrote to the bot, and
`poll_conflicts=False` to let concurrent getUpdates calls wait side by side.

Webhook mode: once `setWebhook` names an HTTPS URL, queued updates are POSTed there one at a time
in update_id order, with the `X-Telegram-Bot-Api-Secret-Token` header, and leave the queue only
when the bot answers 2xx; failures are retried and shown by `getWebhookInfo`
(`last_error_date`, `last_error_message`). `webhook_ssl` is the SSL context the fake verifies
the bot's certificate with (e.g. one trusting a test's self-signed certificate).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import math
import mimetypes
import re
import select
import socket
import socketserver
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

JSONDict = dict[str, Any]
T = TypeVar("T")

BOT_ID = 123456
BOT_USERNAME = "nianjian_test_bot"
BOT_FIRST_NAME = "年检助手"
DEFAULT_TOKEN = "123456:TEST"

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_CALLBACK_ANSWER_LENGTH = 200
MAX_INLINE_BUTTONS = 100
MAX_GET_FILE_SIZE = 20 * 1024 * 1024
MAX_UPLOAD_SIZE = 50 * 1024 * 1024
MAX_COMMANDS = 100
CLIENT_GONE = 499  # ApiCall.status of a long poll whose client hung up (e.g. PTB cancelled it)

BOT_USER: JSONDict = {
    "id": BOT_ID,
    "is_bot": True,
    "first_name": BOT_FIRST_NAME,
    "username": BOT_USERNAME,
}

# Update types delivered when allowed_updates was never set (or set to []), as documented.
_DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

# Parameters whose values are plain strings: never JSON-decode them, even if they look like JSON
# (a text "123" must stay a str). Every other form value is JSON-decoded when possible.
_STRING_PARAMS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "url",
        "callback_query_id",
        "inline_message_id",
        "file_id",
        "action",
        "secret_token",
        "ip_address",
        "language_code",
        "document",
        "photo",
        "audio",
        "video",
        "voice",
        "animation",
        "sticker",
        "thumbnail",
        "business_connection_id",
        "message_effect_id",
        "name",
        "description",
        "short_description",
        "emoji",
        "title",
        "question",
        "custom_emoji_id",
        "first_name",
        "last_name",
        "phone_number",
        "vcard",
        "address",
        "payload",
        "currency",
        "provider_token",
        "start_parameter",
        "game_short_name",
        "query",
        "explanation",
    }
)

_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)

_INLINE_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)

DEFAULT_RATE_LIMITED_METHODS = frozenset(
    {"sendMessage", "sendDocument", "sendPhoto", "sendMediaGroup", "copyMessage", "forwardMessage"}
)

_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the "
    "same as a current content and reply markup of the message"
)


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------


@dataclass
class SentMessage:
    """A message the bot sent successfully (sendMessage, sendDocument, sendPhoto)."""

    method: str
    chat_id: int | str
    message_id: int
    text: str | None = None
    """The text exactly as the bot sent it (markup included)."""
    caption: str | None = None
    """The caption exactly as the bot sent it (markup included)."""
    parse_mode: str | None = None
    reply_markup: JSONDict | None = None
    document: bytes | None = None
    filename: str | None = None
    mime_type: str | None = None
    photo: bytes | None = None
    file_id: str | None = None
    rendered_text: str | None = None
    """What the user sees: text or caption after entity parsing."""
    message: JSONDict = field(default_factory=dict)
    """The Bot API Message object returned to the bot."""
    params: JSONDict = field(default_factory=dict)
    timestamp: float = field(default_factory=time.monotonic)

    @property
    def body(self) -> str | None:
        """The text, or the caption for media messages."""
        return self.text if self.text is not None else self.caption

    @property
    def buttons(self) -> list[JSONDict]:
        """All inline keyboard buttons, row by row, flattened."""
        return _flat_buttons(self.reply_markup)

    @property
    def callback_data(self) -> list[str]:
        """The callback_data of every inline button that has one."""
        return [b["callback_data"] for b in self.buttons if "callback_data" in b]

    def button(self, text_contains: str) -> JSONDict:
        """The first inline button whose text contains `text_contains` (KeyError if none)."""
        for button in self.buttons:
            if text_contains in str(button.get("text", "")):
                return button
        raise KeyError(f"no button containing {text_contains!r} in {self.buttons!r}")


@dataclass
class EditRecord:
    """A successful editMessageText / editMessageCaption / editMessageReplyMarkup."""

    method: str
    chat_id: int | str
    message_id: int
    text: str | None = None
    caption: str | None = None
    parse_mode: str | None = None
    reply_markup: JSONDict | None = None
    rendered_text: str | None = None
    params: JSONDict = field(default_factory=dict)
    timestamp: float = field(default_factory=time.monotonic)


@dataclass
class CallbackAnswer:
    """A successful answerCallbackQuery."""

    callback_query_id: str
    text: str | None = None
    show_alert: bool = False
    url: str | None = None
    cache_time: int | None = None
    user_id: int | None = None
    message_id: int | None = None
    data: str | None = None
    timestamp: float = field(default_factory=time.monotonic)


@dataclass
class Deletion:
    chat_id: int | str
    message_id: int
    timestamp: float = field(default_factory=time.monotonic)


@dataclass
class ChatActionRecord:
    chat_id: int | str
    action: str
    timestamp: float = field(default_factory=time.monotonic)


@dataclass
class ApiCall:
    """Every Bot API request, successful or not.

    status 0: connection dropped on purpose (fail_network_next); 499 (CLIENT_GONE): a long poll
    whose client had already hung up.
    """

    method: str
    params: JSONDict
    status: int
    description: str | None = None
    timestamp: float = field(default_factory=time.monotonic)

    @property
    def ok(self) -> bool:
        return self.status == HTTPStatus.OK


@dataclass
class FileEntry:
    file_id: str
    file_unique_id: str
    data: bytes
    file_size: int
    file_path: str
    file_name: str | None = None
    mime_type: str | None = None

    def as_file(self) -> JSONDict:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.file_size,
            "file_path": self.file_path,
        }


# --------------------------------------------------------------------------------------------
# Internals
# --------------------------------------------------------------------------------------------


class _ApiError(Exception):
    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> JSONDict:
        body: JSONDict = {"ok": False, "error_code": self.code, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def _bad(description: str) -> _ApiError:
    return _ApiError(HTTPStatus.BAD_REQUEST, f"Bad Request: {description}")


def _not_found() -> _ApiError:
    return _ApiError(HTTPStatus.NOT_FOUND, "Not Found")


def _too_many(retry_after: int) -> _ApiError:
    return _ApiError(
        HTTPStatus.TOO_MANY_REQUESTS,
        f"Too Many Requests: retry after {retry_after}",
        retry_after=retry_after,
    )


_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request: injected failure",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


@dataclass
class _Upload:
    name: str
    filename: str
    content_type: str
    data: bytes


@dataclass
class _Queued:
    update: JSONDict
    force: bool = False  # a redelivery: hand it out once even if already confirmed
    delivered: bool = False

    @property
    def update_id(self) -> int:
        return int(self.update["update_id"])


@dataclass
class _Stored:
    message: JSONDict
    from_bot: bool


@dataclass
class _Fault:
    code: int
    description: str
    retry_after: int | None


@dataclass
class _RateLimiter:
    per_second: float
    per_chat_per_second: float | None
    burst: float
    methods: frozenset[str]
    window: deque[float] = field(default_factory=deque)
    buckets: dict[Any, tuple[float, float]] = field(default_factory=dict)

    def check(self, chat_id: Any, now: float) -> int | None:
        """Consumes a slot and returns None, or returns the retry_after (seconds) to answer."""
        while self.window and self.window[0] <= now - 1.0:
            self.window.popleft()
        bucket: tuple[float, float] | None = None
        if self.per_chat_per_second and chat_id is not None:
            tokens, last = self.buckets.get(chat_id, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.per_chat_per_second)
            if tokens < 1.0:
                self.buckets[chat_id] = (tokens, now)
                return max(1, math.ceil((1.0 - tokens) / self.per_chat_per_second))
            bucket = (tokens - 1.0, now)
        if len(self.window) >= self.per_second:
            return max(1, math.ceil(self.window[0] + 1.0 - now))
        self.window.append(now)
        if bucket is not None:
            self.buckets[chat_id] = bucket
        return None


def _u16(text: str) -> int:
    """Length in UTF-16 code units, the unit of Bot API entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def _flat_buttons(markup: JSONDict | None) -> list[JSONDict]:
    if not markup or not isinstance(markup.get("inline_keyboard"), list):
        return []
    return [b for row in markup["inline_keyboard"] for b in row if isinstance(b, dict)]


def _try_json(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def _coerce(key: str, value: Any) -> Any:
    if isinstance(value, str) and key not in _STRING_PARAMS:
        return _try_json(value)
    return value


def _header_params(header: str) -> tuple[str, dict[str, str]]:
    main, _, rest = header.partition(";")
    params: dict[str, str] = {}
    for m in re.finditer(r'([\w*-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))', rest):
        value = m.group(2) if m.group(2) is not None else m.group(3)
        params[m.group(1).lower()] = value
    return main.strip().lower(), params


def _unescape_form_param(value: str) -> str:
    # httpx encodes '"' as %22, control characters as %XX and '\' as '\\' (HTML5 rules).
    value = re.sub(r"%([01][0-9A-Fa-f]|22)", lambda m: chr(int(m.group(1), 16)), value)
    return value.replace("\\\\", "\\")


def _parse_multipart(body: bytes, boundary: str) -> list[tuple[str, str | None, str, bytes]]:
    parts: list[tuple[str, str | None, str, bytes]] = []
    delimiter = b"--" + boundary.encode("latin-1")
    chunks = body.split(delimiter)
    for raw in chunks[1:]:
        if raw.startswith(b"--"):
            break
        chunk = raw.removeprefix(b"\r\n").removesuffix(b"\r\n")
        head, _, content = chunk.partition(b"\r\n\r\n")
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        _, disposition = _header_params(headers.get("content-disposition", ""))
        name = _unescape_form_param(disposition.get("name", ""))
        filename: str | None = None
        if "filename*" in disposition:
            _, _, encoded = disposition["filename*"].partition("''")
            filename = unquote(encoded)
        elif "filename" in disposition:
            filename = _unescape_form_param(disposition["filename"])
        parts.append((name, filename, headers.get("content-type", ""), content))
    return parts


def _parse_request(content_type: str, body: bytes, query: str) -> tuple[JSONDict, list[_Upload]]:
    params: JSONDict = {}
    uploads: list[_Upload] = []
    for key, value in parse_qsl(query, keep_blank_values=True):
        params[key] = _coerce(key, value)
    ctype, ct_params = _header_params(content_type or "")
    if not body:
        return params, uploads
    if ctype == "application/json":
        try:
            obj = json.loads(body)
        except ValueError as error:
            raise _bad("can't parse JSON object") from error
        if not isinstance(obj, dict):
            raise _bad("can't parse JSON object")
        for key, value in obj.items():
            params[key] = _coerce(key, value)
    elif ctype == "multipart/form-data":
        for name, filename, part_type, data in _parse_multipart(
            body, ct_params.get("boundary", "")
        ):
            if filename is not None:
                uploads.append(_Upload(name, filename, part_type, data))
            else:
                params[name] = _coerce(name, data.decode("utf-8", "replace"))
    else:  # application/x-www-form-urlencoded (or unspecified)
        for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
            params[key] = _coerce(key, value)
    return params, uploads


def _summarise(params: JSONDict, uploads: list[_Upload]) -> JSONDict:
    summary = dict(params)
    for upload in uploads:
        summary[upload.name] = f"<upload {upload.filename!r}, {len(upload.data)} bytes>"
    return summary


# --------------------------------------------------------------------------------------------
# Formatting (parse_mode) — modelled on the Bot API rules and tdlib's parsers
# --------------------------------------------------------------------------------------------


class _ParseError(Exception):
    pass


class _Out:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.pos = 0  # UTF-16 offset
        self.entities: list[JSONDict] = []

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.pos += _u16(text)

    def entity(self, kind: str, start: int, **extra: Any) -> None:
        if self.pos > start:
            self.entities.append(
                {"type": kind, "offset": start, "length": self.pos - start, **extra}
            )

    def result(self) -> tuple[str, list[JSONDict]]:
        entities = sorted(self.entities, key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.parts), entities


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_HTML_ENTITY_RE = re.compile(r"&(?:#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6})|(lt|gt|amp|quot));")
_HTML_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_HTML_ATTR = r"[a-zA-Z_:][-a-zA-Z0-9_:.]*(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s\"'=<>`]+))?"
_HTML_START_RE = re.compile(rf"<([a-zA-Z][a-zA-Z0-9-]*)((?:\s+{_HTML_ATTR})*)\s*>")
_HTML_END_RE = re.compile(r"</([a-zA-Z][a-zA-Z0-9-]*)\s*>")
_HTML_ATTR_RE = re.compile(
    r"([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s\"'=<>`]+))?"
)


def _html_unescape(value: str) -> str:
    def repl(m: re.Match[str]) -> str:
        if m.group(1):
            return chr(min(int(m.group(1)), 0x10FFFF))
        if m.group(2):
            return chr(min(int(m.group(2), 16), 0x10FFFF))
        return _HTML_NAMED[m.group(3)]

    return _HTML_ENTITY_RE.sub(repl, value)


def _parse_html(text: str) -> tuple[str, list[JSONDict]]:
    out = _Out()
    stack: list[tuple[str, int, dict[str, str]]] = []  # tag, start offset, attributes
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "&":
            m = _HTML_ENTITY_RE.match(text, i)
            if m:
                out.add(_html_unescape(m.group(0)))
                i = m.end()
                continue
            out.add(c)  # a lone '&' is tolerated, as tdlib does
            i += 1
            continue
        if c != "<":
            out.add(c)
            i += 1
            continue
        offset = _byte_offset(text, i)
        if text.startswith("</", i):
            m = _HTML_END_RE.match(text, i)
            if not m:
                raise _ParseError(f"Unclosed end tag at byte offset {offset}")
            name = m.group(1).lower()
            if not stack:
                raise _ParseError(f'Unexpected end tag "{name}" at byte offset {offset}')
            tag, start, attrs = stack.pop()
            if tag != name:
                raise _ParseError(
                    f'Unmatched end tag at byte offset {offset}, expected "</{tag}>", '
                    f'found "</{name}>"'
                )
            _html_close(out, tag, start, attrs, stack)
            i = m.end()
            continue
        m = _HTML_START_RE.match(text, i)
        if not m:
            if ">" not in text[i:]:
                raise _ParseError(f"Unclosed start tag at byte offset {offset}")
            name_match = re.match(r"<([^\s>]*)", text[i:])
            name = name_match.group(1) if name_match else ""
            raise _ParseError(f'Unsupported start tag "{name}" at byte offset {offset}')
        name = m.group(1).lower()
        if name not in _HTML_TAGS:
            raise _ParseError(f'Unsupported start tag "{name}" at byte offset {offset}')
        attrs = {
            a.group(1).lower(): _html_unescape((a.group(2) or "").strip("\"'"))
            for a in _HTML_ATTR_RE.finditer(m.group(2))
        }
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise _ParseError('Tag "span" must have class "tg-spoiler"')
        stack.append((name, out.pos, attrs))
        i = m.end()
    if stack:
        raise _ParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return out.result()


def _html_close(
    out: _Out,
    tag: str,
    start: int,
    attrs: dict[str, str],
    stack: list[tuple[str, int, dict[str, str]]],
) -> None:
    kind = _HTML_TAGS[tag]
    if kind == "text_link":
        if attrs.get("href"):
            out.entity("text_link", start, url=attrs["href"])
    elif kind == "custom_emoji":
        if attrs.get("emoji-id"):
            out.entity("custom_emoji", start, custom_emoji_id=attrs["emoji-id"])
    elif kind == "code":
        language = attrs.get("class", "")
        if language.startswith("language-") and stack and stack[-1][0] == "pre":
            stack[-1][2]["language"] = language.removeprefix("language-")
        else:
            out.entity("code", start)
    elif kind == "pre":
        if attrs.get("language"):
            out.entity("pre", start, language=attrs["language"])
        else:
            out.entity("pre", start)
    elif kind == "blockquote":
        out.entity("expandable_blockquote" if "expandable" in attrs else "blockquote", start)
    else:
        out.entity(kind, start)


_MDV2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_MDV2_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
    "code": "Code",
    "pre": "Pre",
}


def _parse_markdown_v2(text: str) -> tuple[str, list[JSONDict]]:
    out = _Out()
    stack: list[list[Any]] = []  # [kind, start offset, byte offset, language]
    quote: list[Any] | None = None  # [start offset, expandable]
    i, n = 0, len(text)

    def close_quote() -> None:
        nonlocal quote
        if quote is not None:
            out.entity("expandable_blockquote" if quote[1] else "blockquote", quote[0])
            quote = None

    while i < n:
        c = text[i]
        top = stack[-1][0] if stack else None
        if c == "\\" and i + 1 < n and 0 < ord(text[i + 1]) <= 126:
            out.add(text[i + 1])
            i += 2
            continue
        if top in ("code", "pre"):
            i = _mdv2_code(text, i, out, stack)
            continue
        if (i == 0 or text[i - 1] == "\n") and (text.startswith("**>", i) or c == ">"):
            if quote is None:
                quote = [out.pos, c == "*"]
            i += 3 if c == "*" else 1
            continue
        if c == "\n":
            if quote is not None and not (
                text.startswith(">", i + 1) or text.startswith("**>", i + 1)
            ):
                close_quote()
            out.add(c)
            i += 1
            continue
        if (
            quote is not None
            and quote[1]
            and top != "spoiler"
            and text.startswith("||", i)
            and (i + 2 == n or text[i + 2] == "\n")
        ):
            i += 2
            close_quote()
            continue
        if c not in _MDV2_RESERVED:
            out.add(c)
            i += 1
            continue
        i = _mdv2_markup(text, i, out, stack)
    if stack:
        kind, _, offset, _ = stack[-1]
        raise _ParseError(f"Can't find end of {_MDV2_NAMES[kind]} entity at byte offset {offset}")
    close_quote()
    return out.result()


def _mdv2_code(text: str, i: int, out: _Out, stack: list[list[Any]]) -> int:
    """Inside code/pre only '`' (and escapes) are special; returns the next index."""
    if stack[-1][0] == "pre" and text.startswith("```", i):
        _mdv2_close(out, stack.pop())
        return i + 3
    if stack[-1][0] == "code" and text[i] == "`":
        _mdv2_close(out, stack.pop())
        return i + 1
    out.add(text[i])
    return i + 1


def _mdv2_close(out: _Out, item: list[Any], url: str = "") -> None:
    kind, start, _, language = item
    if kind == "pre" and language:
        out.entity("pre", start, language=language)
    elif kind == "text_link":
        if url:
            out.entity("text_link", start, url=url)
    elif kind == "custom_emoji":
        emoji_id = url.partition("id=")[2]
        if emoji_id:
            out.entity("custom_emoji", start, custom_emoji_id=emoji_id)
    else:
        out.entity(kind, start)


def _mdv2_url(text: str, i: int) -> tuple[str, int]:
    """Reads the optional "(url)" after the ']' at text[i]; returns it and the next index."""
    n = len(text)
    j = i + 1
    if j >= n or text[j] != "(":
        return "", j
    chars: list[str] = []
    j += 1
    while j < n and text[j] != ")":
        if text[j] == "\\" and j + 1 < n:
            chars.append(text[j + 1])
            j += 2
        else:
            chars.append(text[j])
            j += 1
    if j >= n:
        raise _ParseError(f"Can't find end of a URL at byte offset {_byte_offset(text, i)}")
    return "".join(chars), j + 1


def _mdv2_markup(text: str, i: int, out: _Out, stack: list[list[Any]]) -> int:
    """Handles the reserved character at text[i]; returns the next index."""
    c = text[i]
    top = stack[-1][0] if stack else None
    closers = {"bold": "*", "italic": "_", "underline": "__", "strikethrough": "~", "spoiler": "||"}
    if top in closers and text.startswith(closers[top], i):
        _mdv2_close(out, stack.pop())
        return i + len(closers[top])
    if top in ("text_link", "custom_emoji") and c == "]":
        url, j = _mdv2_url(text, i)
        _mdv2_close(out, stack.pop(), url)
        return j
    offset = _byte_offset(text, i)
    if c == "*":
        stack.append(["bold", out.pos, offset, None])
        return i + 1
    if c == "_":
        if text.startswith("__", i):
            stack.append(["underline", out.pos, offset, None])
            return i + 2
        stack.append(["italic", out.pos, offset, None])
        return i + 1
    if c == "~":
        stack.append(["strikethrough", out.pos, offset, None])
        return i + 1
    if text.startswith("||", i):
        stack.append(["spoiler", out.pos, offset, None])
        return i + 2
    if c == "[":
        stack.append(["text_link", out.pos, offset, None])
        return i + 1
    if text.startswith("![", i):
        stack.append(["custom_emoji", out.pos, offset, None])
        return i + 2
    if text.startswith("```", i):
        j = i + 3
        m = re.compile(r"([^\s`]*)\n").match(text, j)
        language = None
        if m:
            language = m.group(1) or None
            j = m.end()
        stack.append(["pre", out.pos, offset, language])
        return j
    if c == "`":
        stack.append(["code", out.pos, offset, None])
        return i + 1
    raise _ParseError(f"Character '{c}' is reserved and must be escaped with the preceding '\\'")


def _parse_markdown(text: str) -> tuple[str, list[JSONDict]]:
    """Legacy Markdown: *bold*, _italic_, `code`, ```pre```, [text](url); no nesting."""
    out = _Out()
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in "_*`[":
            out.add(text[i + 1])
            i += 2
        elif c not in "_*`[":
            out.add(c)
            i += 1
        elif c == "[":
            i = _md_link(text, i, out)
        elif text.startswith("```", i):
            i = _md_pre(text, i, out)
        else:
            j = text.find(c, i + 1)
            if j < 0:
                raise _md_missing_end(text, i)
            start = out.pos
            out.add(text[i + 1 : j])
            out.entity({"*": "bold", "_": "italic", "`": "code"}[c], start)
            i = j + 1
    return out.result()


def _md_missing_end(text: str, i: int) -> _ParseError:
    offset = _byte_offset(text, i)
    return _ParseError(f"Can't find end of the entity starting at byte offset {offset}")


def _md_link(text: str, i: int, out: _Out) -> int:
    j = text.find("]", i + 1)
    if j < 0:
        raise _md_missing_end(text, i)
    k = j + 1
    url = ""
    if k < len(text) and text[k] == "(":
        end = text.find(")", k + 1)
        if end >= 0:
            url = text[k + 1 : end]
            k = end + 1
    start = out.pos
    out.add(text[i + 1 : j])
    if url:
        out.entity("text_link", start, url=url)
    return k


def _md_pre(text: str, i: int, out: _Out) -> int:
    j = text.find("```", i + 3)
    if j < 0:
        raise _md_missing_end(text, i)
    inner = text[i + 3 : j]
    first, newline, rest = inner.partition("\n")
    language = None
    if newline and first and not re.search(r"\s", first):
        language, inner = first, rest
    start = out.pos
    out.add(inner)
    if language:
        out.entity("pre", start, language=language)
    else:
        out.entity("pre", start)
    return j + 3


def render_formatted(text: str, parse_mode: str | None) -> tuple[str, list[JSONDict]]:
    """Text and entities as Telegram would produce them; raises ValueError if unparsable."""
    mode = (parse_mode or "").lower()
    parser = {"html": _parse_html, "markdownv2": _parse_markdown_v2, "markdown": _parse_markdown}
    if not mode:
        return text, []
    if mode not in parser:
        raise ValueError(f"unsupported parse_mode {parse_mode!r}")
    try:
        return parser[mode](text)
    except _ParseError as error:
        raise ValueError(f"can't parse entities: {error}") from error


# --------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------

_API_PATH = re.compile(r"/bot([^/]+)/([A-Za-z0-9_]+)/?")
_FILE_PATH = re.compile(r"/file/bot([^/]+)/(.+)")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)

    def server_bind(self) -> None:
        # Skip HTTPServer.server_bind's getfqdn() reverse lookup, which can be slow.
        socketserver.TCPServer.server_bind(self)
        self.server_name = "127.0.0.1"
        self.server_port = self.server_address[1]

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hanging up mid-request are expected; stay quiet


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeTelegram/1.0"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without this, Nagle + delayed ACK
        # would add ~40 ms to every response.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.fake._track(self.connection, add=True)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        self.server.fake._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _dispatch(self) -> None:
        fake = self.server.fake
        fake._inflight_change(+1)
        try:
            self._serve(fake)
        finally:
            fake._inflight_change(-1)

    def _serve(self, fake: FakeTelegram) -> None:
        try:
            body = self._read_body()
        except (OSError, ValueError):
            self.close_connection = True
            return
        url = urlsplit(self.path)
        api = _API_PATH.fullmatch(url.path)
        if api:
            try:
                params, uploads = _parse_request(
                    self.headers.get("Content-Type", ""), body, url.query
                )
            except _ApiError as error:
                self._send_json(error.code, error.payload())
                return
            outcome = fake._handle_api(
                api.group(1), api.group(2), params, uploads, self._client_gone
            )
            if outcome is None:
                self._drop()
            else:
                self._send_json(*outcome)
            return
        file_match = _FILE_PATH.fullmatch(url.path)
        data = fake._download(unquote(file_match.group(2))) if file_match else None
        if data is None:
            self._send_json(HTTPStatus.NOT_FOUND, _not_found().payload())
        else:
            self._send(HTTPStatus.OK, data, "application/octet-stream")

    def _send_json(self, status: int, payload: JSONDict) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self._send(status, body, "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def _client_gone(self) -> bool:
        """True once the client has closed the connection (e.g. a cancelled long poll)."""
        try:
            if hasattr(select, "poll"):  # no FD_SETSIZE limit, unlike select()
                poller = select.poll()
                poller.register(self.connection, select.POLLIN)
                if not poller.poll(0):
                    return False
            elif not select.select([self.connection], [], [], 0)[0]:
                return False
            return bool(self.connection.recv(1, socket.MSG_PEEK) == b"")
        except (BlockingIOError, ValueError):
            return False
        except OSError:
            return True

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


# --------------------------------------------------------------------------------------------
# The fake server
# --------------------------------------------------------------------------------------------


class FakeTelegram:
    """A fake Bot API server; see the module docstring. All public methods are thread-safe."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        validate_formatting: bool = True,
        strict_chats: bool = False,
        poll_conflicts: bool = True,
        first_update_id: int = 100_000_001,
        webhook_ssl: ssl.SSLContext | None = None,
    ) -> None:
        self.token = token
        self.webhook_ssl = webhook_ssl
        self.poll_conflicts = poll_conflicts
        self.validate_formatting = validate_formatting
        self.strict_chats = strict_chats
        self._cond = threading.Condition(threading.RLock())
        self._stop_event = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._inflight = 0
        self._local = threading.local()
        # Conversation state
        self._users: dict[int, JSONDict] = {}
        self._messages: dict[tuple[Any, int], _Stored] = {}
        self._next_message_id: dict[Any, int] = {}
        self._queue: list[_Queued] = []
        self._next_update_id = first_update_id
        self._poll_generation = 0
        self._allowed_updates: list[str] = []
        self._callback_queries: dict[str, tuple[int, int, str | None]] = {}
        self._next_callback_id = 4_382_000_000_000_000_001
        self._next_media_group = 13_700_000_000_000_001
        self._files: dict[str, FileEntry] = {}
        self._paths: dict[str, str] = {}
        self._photo_sizes: dict[str, list[JSONDict]] = {}
        self._next_file = 1
        self._webhook: JSONDict | None = None
        self._webhook_thread: threading.Thread | None = None
        self._webhook_error: tuple[int, str] | None = None
        self._webhook_delivered: list[int] = []
        self._commands: dict[tuple[str, str], list[JSONDict]] = {}
        # Fault injection
        self._faults: dict[str, deque[_Fault]] = {}
        self._network_faults: Counter[str] = Counter()
        self._delays: dict[str, deque[float]] = {}
        self._blocked: dict[Any, str] = {}
        self._limiter: _RateLimiter | None = None
        # Records
        self._sent: list[SentMessage] = []
        self._edits: list[EditRecord] = []
        self._answers: list[CallbackAnswer] = []
        self._deletions: list[Deletion] = []
        self._chat_actions: list[ChatActionRecord] = []
        self._calls: list[ApiCall] = []
        self._requests: Counter[str] = Counter()
        self._rejected_429 = 0
        self._dropped_updates: list[JSONDict] = []
        self._methods: dict[str, tuple[str, Callable[[JSONDict, list[_Upload]], Any]]] = {
            name.lower(): (name, func)
            for name, func in {
                "getMe": self._m_get_me,
                "logOut": self._m_true,
                "close": self._m_true,
                "getChat": self._m_get_chat,
                "setWebhook": self._m_set_webhook,
                "deleteWebhook": self._m_delete_webhook,
                "getWebhookInfo": self._m_get_webhook_info,
                "setMyCommands": self._m_set_my_commands,
                "getMyCommands": self._m_get_my_commands,
                "deleteMyCommands": self._m_delete_my_commands,
                "getUpdates": self._m_get_updates,
                "sendMessage": self._m_send_message,
                "sendDocument": self._m_send_document,
                "sendPhoto": self._m_send_photo,
                "sendChatAction": self._m_send_chat_action,
                "editMessageText": self._m_edit_message_text,
                "editMessageCaption": self._m_edit_message_caption,
                "editMessageReplyMarkup": self._m_edit_message_reply_markup,
                "deleteMessage": self._m_delete_message,
                "answerCallbackQuery": self._m_answer_callback_query,
                "getFile": self._m_get_file,
            }.items()
        }

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> FakeTelegram:
        if self._server is not None:
            return self
        self._stop_event.clear()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"FakeTelegram:{self.port}",
            daemon=True,
        )
        self._thread.start()
        self._webhook_thread = threading.Thread(
            target=self._deliver_webhooks, name="FakeTelegram:webhook", daemon=True
        )
        self._webhook_thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stop_event.set()
        with self._cond:
            self._cond.notify_all()  # wake long polls and wait_for() callers
        server.shutdown()
        server.server_close()
        with self._cond:
            # Let requests being answered (e.g. woken long polls) finish writing their reply.
            self._cond.wait_for(lambda: self._inflight == 0, timeout=1.0)
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._webhook_thread is not None:
            self._webhook_thread.join(timeout=5)
            self._webhook_thread = None

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeTelegram is not running")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """For `ApplicationBuilder.base_url` / `Bot(base_url=...)`; PTB appends the token."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """For `ApplicationBuilder.base_file_url` / `Bot(base_file_url=...)`."""
        return f"http://127.0.0.1:{self.port}/file/bot"

    def _inflight_change(self, delta: int) -> None:
        with self._cond:
            self._inflight += delta
            self._cond.notify_all()

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._cond:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    # ---------------------------------------------------------------- users and updates

    def add_user(
        self,
        user_id: int,
        first_name: str = "测试用户",
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str = "zh-hans",
    ) -> JSONDict:
        """Registers (or redefines) the profile used in updates from `user_id`."""
        user: JSONDict = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name:
            user["last_name"] = last_name
        if username:
            user["username"] = username
        user["language_code"] = language_code
        with self._cond:
            self._users[user_id] = user
            return dict(user)

    def _user(self, user_id: int) -> JSONDict:
        if user_id not in self._users:
            self._users[user_id] = {
                "id": user_id,
                "is_bot": False,
                "first_name": f"用户{user_id}",
                "language_code": "zh-hans",
            }
        return dict(self._users[user_id])

    def _chat(self, chat_id: Any) -> JSONDict:
        if isinstance(chat_id, int) and chat_id in self._users:
            user = self._users[chat_id]
            chat = {"id": chat_id, "type": "private", "first_name": user["first_name"]}
            for key in ("last_name", "username"):
                if key in user:
                    chat[key] = user[key]
            return chat
        if isinstance(chat_id, int) and chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": f"用户{chat_id}"}
        if isinstance(chat_id, int):
            kind = "supergroup" if str(chat_id).startswith("-100") else "group"
            return {"id": chat_id, "type": kind, "title": f"群组{chat_id}"}
        raise _bad("chat not found")

    def _chat_instance(self, chat_id: int) -> str:
        return str(-(abs(chat_id) * 7919 + 1_234_567_890_123))

    def _allocate_message_id(self, chat_id: Any) -> int:
        message_id = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = message_id + 1
        return message_id

    def _enqueue(self, update: JSONDict, *, force: bool = False) -> JSONDict:
        if "update_id" not in update:
            update["update_id"] = self._next_update_id
        self._next_update_id = max(self._next_update_id, int(update["update_id"]) + 1)
        kind = next((k for k in update if k != "update_id"), "")
        allowed = self._allowed_updates
        if (allowed and kind not in allowed) or (not allowed and kind in _DEFAULT_EXCLUDED_UPDATES):
            self._dropped_updates.append(update)  # Telegram never creates such updates
        else:
            self._queue.append(_Queued(copy.deepcopy(update), force=force))
        self._cond.notify_all()
        return update

    def _user_message(self, user_id: int, reply_to: int | None = None, **content: Any) -> JSONDict:
        user = self._user(user_id)
        message: JSONDict = {
            "message_id": self._allocate_message_id(user_id),
            "from": user,
            "chat": self._chat(user_id),
            "date": int(time.time()),
            **content,
        }
        if reply_to is not None:
            message["reply_to_message"] = self._reply_copy(user_id, reply_to)
        self._messages[(user_id, message["message_id"])] = _Stored(message, from_bot=False)
        return message

    def _reply_copy(self, chat_id: Any, message_id: int) -> JSONDict:
        stored = self._messages.get((chat_id, message_id))
        if stored is None:
            raise KeyError(f"no message {message_id} in chat {chat_id}")
        replied = copy.deepcopy(stored.message)
        replied.pop("reply_to_message", None)
        return replied

    def send_text(self, user_id: int, text: str, *, reply_to: int | None = None) -> JSONDict:
        """Queues a text message from `user_id` (in the private chat `user_id`)."""
        content: JSONDict = {"text": text}
        command = re.match(r"/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![A-Za-z0-9_@])", text)
        if command:
            content["entities"] = [
                {"type": "bot_command", "offset": 0, "length": _u16(command.group(0))}
            ]
        with self._cond:
            message = self._user_message(user_id, reply_to, **content)
            return self._enqueue({"message": message})

    def press_button(
        self, user_id: int, message_id: int, callback_data: str, *, strict: bool = True
    ) -> JSONDict:
        """Queues a callback_query: `user_id` pressed a button of the bot's message `message_id`.

        With `strict`, the message's current inline keyboard must contain that callback_data.
        """
        with self._cond:
            stored = self._messages.get((user_id, message_id))
            if stored is None:
                raise KeyError(f"no message {message_id} in chat {user_id}")
            if strict:
                available = [
                    b.get("callback_data")
                    for b in _flat_buttons(stored.message.get("reply_markup"))
                    if "callback_data" in b
                ]
                if callback_data not in available:
                    raise ValueError(
                        f"message {message_id} has no button with callback_data "
                        f"{callback_data!r}; available: {available!r}"
                    )
            query_id = str(self._next_callback_id)
            self._next_callback_id += 1
            self._callback_queries[query_id] = (user_id, message_id, callback_data)
            query = {
                "id": query_id,
                "from": self._user(user_id),
                "message": copy.deepcopy(stored.message),
                "chat_instance": self._chat_instance(user_id),
                "data": callback_data,
            }
            return self._enqueue({"callback_query": query})

    def _register_file(
        self,
        data: bytes,
        folder: str,
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
        size_override: int | None = None,
        file_id: str | None = None,
        file_path: str | None = None,
        prefix: str = "BQAC",
    ) -> FileEntry:
        number = self._next_file
        self._next_file += 1
        suffix = ""
        if file_name and "." in file_name:
            suffix = "." + file_name.rsplit(".", 1)[1].lower()
        elif folder == "photos":
            suffix = ".jpg"
        entry = FileEntry(
            file_id=file_id or f"{prefix}AgIAAxkBAAI{number:06d}",
            file_unique_id=f"AgAD{number:06d}",
            data=bytes(data),
            file_size=len(data) if size_override is None else size_override,
            file_path=file_path or f"{folder}/file_{number}{suffix}",
            file_name=file_name,
            mime_type=mime_type,
        )
        old = self._files.get(entry.file_id)
        if old is not None:
            self._paths.pop(old.file_path, None)
        self._files[entry.file_id] = entry
        self._paths[entry.file_path] = entry.file_id
        return entry

    def _document_object(self, entry: FileEntry) -> JSONDict:
        document: JSONDict = {
            "file_id": entry.file_id,
            "file_unique_id": entry.file_unique_id,
            "file_size": entry.file_size,
        }
        if entry.file_name:
            document["file_name"] = entry.file_name
        if entry.mime_type:
            document["mime_type"] = entry.mime_type
        return document

    def _photo_object(self, data: bytes, width: int, height: int) -> list[JSONDict]:
        small_w = min(320, width)
        small_h = max(1, round(height * small_w / max(1, width)))
        sizes: list[JSONDict] = []
        for w, h in ((small_w, small_h), (width, height)):
            entry = self._register_file(data, "photos", prefix="AgAC")
            sizes.append(
                {
                    "file_id": entry.file_id,
                    "file_unique_id": entry.file_unique_id,
                    "file_size": entry.file_size,
                    "width": w,
                    "height": h,
                }
            )
        for size in sizes:
            self._photo_sizes[size["file_id"]] = sizes
        return copy.deepcopy(sizes)

    def send_document(
        self,
        user_id: int,
        filename: str,
        data: bytes,
        mime_type: str | None = None,
        *,
        caption: str | None = None,
        size_override: int | None = None,
    ) -> JSONDict:
        """Queues a message with a document; its bytes are downloadable through getFile."""
        mime = mime_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        with self._cond:
            entry = self._register_file(
                data, "documents", file_name=filename, mime_type=mime, size_override=size_override
            )
            content: JSONDict = {"document": self._document_object(entry)}
            if caption is not None:
                content["caption"] = caption
            return self._enqueue({"message": self._user_message(user_id, **content)})

    def send_photo(
        self,
        user_id: int,
        data: bytes,
        media_group_id: str | None = None,
        caption: str | None = None,
        *,
        width: int = 1280,
        height: int = 960,
    ) -> JSONDict:
        """Queues a photo message (two PhotoSizes, largest last) from `user_id`."""
        with self._cond:
            content: JSONDict = {"photo": self._photo_object(data, width, height)}
            if media_group_id is not None:
                content["media_group_id"] = media_group_id
            if caption is not None:
                content["caption"] = caption
            return self._enqueue({"message": self._user_message(user_id, **content)})

    def send_album(
        self, user_id: int, photos: list[bytes], caption: str | None = None
    ) -> list[JSONDict]:
        """Queues several photo messages sharing one media_group_id (caption on the first)."""
        with self._cond:
            group = str(self._next_media_group)
            self._next_media_group += 1
            return [
                self.send_photo(user_id, data, group, caption if index == 0 else None)
                for index, data in enumerate(photos)
            ]

    def declare_file(
        self,
        file_id: str,
        data: bytes,
        size_override: int | None = None,
        *,
        file_path: str | None = None,
        file_name: str | None = None,
    ) -> JSONDict:
        """Makes `file_id` known to getFile (a `size_override` > 20 MB makes getFile refuse)."""
        with self._cond:
            entry = self._register_file(
                data,
                "documents",
                file_name=file_name,
                size_override=size_override,
                file_id=file_id,
                file_path=file_path,
            )
            return entry.as_file()

    def queue_raw(self, update: JSONDict) -> JSONDict:
        """Queues any update dict (an update_id is assigned unless present)."""
        with self._cond:
            return self._enqueue(update)

    def duplicate(self, update: JSONDict) -> JSONDict:
        """Queues `update` again with the same update_id, as Telegram may redeliver.

        The copy is handed out once by the next getUpdates even if its id is below the offset.
        """
        with self._cond:
            return self._enqueue(update, force=True)

    # ---------------------------------------------------------------- fault injection

    def _canonical(self, method: str) -> str:
        known = self._methods.get(method.lower())
        return known[0] if known else method

    def fail_next(
        self,
        method: str,
        count: int = 1,
        error_code: int = 429,
        retry_after: int = 1,
        description: str | None = None,
    ) -> None:
        """The next `count` calls of `method` ("*" = any method) fail with `error_code`."""
        if description is None:
            if error_code == HTTPStatus.TOO_MANY_REQUESTS:
                description = f"Too Many Requests: retry after {retry_after}"
            else:
                description = _DEFAULT_DESCRIPTIONS.get(error_code, f"Error {error_code}")
        fault = _Fault(
            error_code,
            description,
            retry_after if error_code == HTTPStatus.TOO_MANY_REQUESTS else None,
        )
        with self._cond:
            self._faults.setdefault(self._canonical(method), deque()).extend([fault] * count)

    def fail_network_next(self, method: str, count: int = 1) -> None:
        """The next `count` calls of `method` ("*" = any) get the connection closed, no reply."""
        with self._cond:
            self._network_faults[self._canonical(method)] += count

    def delay_next(self, method: str, seconds: float, count: int = 1) -> None:
        """The next `count` calls of `method` ("*" = any) are answered `seconds` late."""
        with self._cond:
            self._delays.setdefault(self._canonical(method), deque()).extend([seconds] * count)

    def block_user(
        self, chat_id: int | str, description: str = "Forbidden: bot was blocked by the user"
    ) -> None:
        """Every send/edit/chat action to `chat_id` gets 403 from now on."""
        with self._cond:
            self._blocked[chat_id] = description

    def unblock_user(self, chat_id: int | str) -> None:
        with self._cond:
            self._blocked.pop(chat_id, None)

    def rate_limit(
        self,
        per_second: float = 30,
        per_chat_per_second: float | None = 1.0,
        burst: float = 3,
        *,
        methods: Iterable[str] | None = None,
        enabled: bool = True,
    ) -> None:
        """Enforces flood limits on sending methods, answering 429 beyond them.

        Globally at most `per_second` accepted sends in any sliding 1-second window; per chat a
        token bucket of capacity `burst` refilled at `per_chat_per_second` (None disables the
        per-chat limit, which Telegram only enforces softly). Only `methods` are limited
        (default: DEFAULT_RATE_LIMITED_METHODS, i.e. sends, not edits). Rejections count in
        `rejected_429`. `enabled=False` turns enforcement off.
        """
        with self._cond:
            if not enabled:
                self._limiter = None
                return
            self._limiter = _RateLimiter(
                per_second=per_second,
                per_chat_per_second=per_chat_per_second,
                burst=max(1.0, float(burst)),
                methods=frozenset(methods or DEFAULT_RATE_LIMITED_METHODS),
            )

    # ---------------------------------------------------------------- records

    def _snapshot(self, items: list[T]) -> list[T]:
        with self._cond:
            return list(items)

    @property
    def sent(self) -> list[SentMessage]:
        return self._snapshot(self._sent)

    @property
    def edits(self) -> list[EditRecord]:
        return self._snapshot(self._edits)

    @property
    def callback_answers(self) -> list[CallbackAnswer]:
        return self._snapshot(self._answers)

    @property
    def deletions(self) -> list[Deletion]:
        return self._snapshot(self._deletions)

    @property
    def chat_actions(self) -> list[ChatActionRecord]:
        return self._snapshot(self._chat_actions)

    @property
    def calls(self) -> list[ApiCall]:
        return self._snapshot(self._calls)

    @property
    def errors(self) -> list[ApiCall]:
        """Calls answered with an error, or dropped by fail_network_next (status 0).

        Long polls abandoned by their client (status CLIENT_GONE, 499) are not errors.
        """
        with self._cond:
            return [call for call in self._calls if not call.ok and call.status != CLIENT_GONE]

    @property
    def requests(self) -> Counter[str]:
        """Number of calls per Bot API method (canonical spelling)."""
        with self._cond:
            return Counter(self._requests)

    @property
    def rejected_429(self) -> int:
        """Sends refused by the `rate_limit` enforcement."""
        with self._cond:
            return self._rejected_429

    @property
    def dropped_updates(self) -> list[JSONDict]:
        """Injected updates discarded because allowed_updates excluded their type."""
        return self._snapshot(self._dropped_updates)

    @property
    def pending_updates(self) -> list[JSONDict]:
        """Updates not yet confirmed by a getUpdates offset."""
        with self._cond:
            return [copy.deepcopy(q.update) for q in self._queue]

    def webhook_failing(self, message: str, at: float | None = None) -> None:
        """getWebhookInfo reports that delivering to the webhook failed (at `at`, default now)."""
        with self._cond:
            self._webhook_error = (int(time.time() if at is None else at), message)

    @property
    def webhook(self) -> JSONDict | None:
        with self._cond:
            return copy.deepcopy(self._webhook)

    @property
    def commands(self) -> list[JSONDict]:
        """Commands set with setMyCommands for the default scope and no language."""
        return self.commands_for()

    def commands_for(
        self, scope: JSONDict | None = None, language_code: str = ""
    ) -> list[JSONDict]:
        with self._cond:
            key = (json.dumps(scope or {"type": "default"}, sort_keys=True), language_code)
            return copy.deepcopy(self._commands.get(key, []))

    def messages_to(self, chat_id: int | str) -> list[SentMessage]:
        """Messages the bot sent to `chat_id`, oldest first."""
        with self._cond:
            return [m for m in self._sent if m.chat_id == chat_id]

    def message(self, chat_id: int | str, message_id: int) -> JSONDict | None:
        """The current state (after edits) of a message, or None if unknown or deleted."""
        with self._cond:
            stored = self._messages.get((chat_id, message_id))
            return copy.deepcopy(stored.message) if stored else None

    def reset_records(self) -> None:
        """Forgets sent/edits/answers/deletions/chat actions/calls/counters (not chat state)."""
        with self._cond:
            self._sent.clear()
            self._edits.clear()
            self._answers.clear()
            self._deletions.clear()
            self._chat_actions.clear()
            self._calls.clear()
            self._requests.clear()
            self._rejected_429 = 0
            self._dropped_updates.clear()
            self._cond.notify_all()

    def wait_for(
        self, predicate: Callable[[], T], timeout: float = 10, description: str | None = None
    ) -> T:
        """Blocks until `predicate()` is truthy (checked on every recorded event); returns it.

        Raises TimeoutError. Do not call this from the event loop running the bot: use
        `wait_for_async` there.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                result = predicate()
                if result:
                    return result
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    what = description or getattr(predicate, "__name__", "condition")
                    raise TimeoutError(
                        f"FakeTelegram: {what} not met within {timeout}s; "
                        f"requests so far: {dict(self._requests)}"
                    )
                self._cond.wait(min(remaining, 0.5))

    async def wait_for_async(
        self, predicate: Callable[[], T], timeout: float = 10, description: str | None = None
    ) -> T:
        """`wait_for` for coroutines: waits in a worker thread, leaving the event loop free."""
        return await asyncio.to_thread(self.wait_for, predicate, timeout, description)

    def wait_for_messages(
        self, chat_id: int | str, count: int = 1, timeout: float = 10
    ) -> list[SentMessage]:
        """Blocks until the bot has sent at least `count` messages to `chat_id`; returns them."""

        def enough() -> list[SentMessage]:
            found = self.messages_to(chat_id)
            return found if len(found) >= count else []

        return self.wait_for(enough, timeout, f"{count} message(s) to chat {chat_id}")

    async def wait_for_messages_async(
        self, chat_id: int | str, count: int = 1, timeout: float = 10
    ) -> list[SentMessage]:
        return await asyncio.to_thread(self.wait_for_messages, chat_id, count, timeout)

    # ---------------------------------------------------------------- request handling

    def _pop_delay(self, name: str) -> float:
        with self._cond:
            for key in (name, "*"):
                queue = self._delays.get(key)
                if queue:
                    return queue.popleft()
        return 0.0

    def _handle_api(
        self,
        token: str,
        method: str,
        params: JSONDict,
        uploads: list[_Upload],
        client_gone: Callable[[], bool] | None = None,
    ) -> tuple[int, JSONDict] | None:
        self._local.client_gone = client_gone
        canonical = self._methods.get(method.lower())
        name = canonical[0] if canonical else method
        summary = _summarise(params, uploads)
        delay = self._pop_delay(name)
        if delay:
            self._stop_event.wait(delay)
        with self._cond:
            self._requests[name] += 1
            try:
                for key in (name, "*"):
                    if self._network_faults[key] > 0:
                        self._network_faults[key] -= 1
                        self._record_call(name, summary, 0, "connection dropped (injected)")
                        return None
                for key in (name, "*"):
                    faults = self._faults.get(key)
                    if faults:
                        fault = faults.popleft()
                        raise _ApiError(fault.code, fault.description, fault.retry_after)
                if canonical is None:
                    raise _not_found()
                self._check_chat_limits(name, params)
                result = canonical[1](params, uploads)
            except _ApiError as error:
                self._record_call(name, summary, error.code, error.description)
                return error.code, error.payload()
            self._record_call(name, summary, HTTPStatus.OK)
            return HTTPStatus.OK, {"ok": True, "result": result}

    def _record_call(
        self, name: str, summary: JSONDict, status: int, description: str | None = None
    ) -> None:
        self._calls.append(ApiCall(name, summary, int(status), description))
        self._cond.notify_all()

    def _check_chat_limits(self, name: str, params: JSONDict) -> None:
        chat_id = params.get("chat_id")
        sending = name.startswith(("send", "edit")) or name in ("copyMessage", "forwardMessage")
        if sending and chat_id in self._blocked:
            raise _ApiError(HTTPStatus.FORBIDDEN, self._blocked[chat_id])
        limiter = self._limiter
        if limiter is not None and name in limiter.methods:
            retry_after = limiter.check(chat_id, time.monotonic())
            if retry_after is not None:
                self._rejected_429 += 1
                raise _too_many(retry_after)

    def _download(self, file_path: str) -> bytes | None:
        with self._cond:
            self._requests["<download>"] += 1
            file_id = self._paths.get(file_path)
            data = self._files[file_id].data if file_id else None
            self._record_call("<download>", {"file_path": file_path}, 200 if data else 404)
            return data

    # ---------------------------------------------------------------- parameter helpers

    def _chat_id(self, params: JSONDict) -> Any:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise _bad("chat_id is empty")
        if isinstance(chat_id, str):
            for user_id, user in self._users.items():
                if chat_id.lower() == "@" + str(user.get("username", "")).lower():
                    return user_id
            raise _bad("chat not found")
        if not isinstance(chat_id, int) or isinstance(chat_id, bool):
            raise _bad("chat not found")
        if self.strict_chats and chat_id not in self._users:
            raise _bad("chat not found")
        return chat_id

    def _message_id(self, params: JSONDict) -> int:
        message_id = params.get("message_id")
        if not isinstance(message_id, int) or isinstance(message_id, bool):
            raise _bad("message identifier is not specified")
        return message_id

    def _render(self, text: str, parse_mode: Any, entities: Any) -> tuple[str, list[JSONDict]]:
        if not parse_mode or not self.validate_formatting:
            return text, list(entities) if isinstance(entities, list) else []
        try:
            return render_formatted(text, str(parse_mode))
        except ValueError as error:
            raise _bad(str(error)) from error

    def _text_content(self, params: JSONDict) -> tuple[str, JSONDict]:
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _bad("message text is empty")
        rendered, entities = self._render(text, params.get("parse_mode"), params.get("entities"))
        if not rendered.strip():
            raise _bad("message text is empty")
        if len(rendered) > MAX_TEXT_LENGTH:
            raise _bad("message is too long")
        content: JSONDict = {"text": rendered}
        if entities:
            content["entities"] = entities
        return text, content

    def _caption_content(self, params: JSONDict) -> tuple[str | None, JSONDict]:
        caption = params.get("caption")
        if caption is None or caption == "":
            return None, {}
        caption = str(caption)
        rendered, entities = self._render(
            caption, params.get("parse_mode"), params.get("caption_entities")
        )
        if len(rendered) > MAX_CAPTION_LENGTH:
            raise _bad("message caption is too long")
        content: JSONDict = {"caption": rendered}
        if entities:
            content["caption_entities"] = entities
        return caption, content

    def _markup(self, params: JSONDict) -> JSONDict | None:
        markup = params.get("reply_markup")
        if markup is None or markup == "":
            return None
        if isinstance(markup, str):
            markup = _try_json(markup)
        if not isinstance(markup, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            self._check_inline_keyboard(markup["inline_keyboard"])
        elif not any(k in markup for k in ("keyboard", "remove_keyboard", "force_reply")):
            raise _bad("can't parse reply keyboard markup JSON object")
        return markup

    @staticmethod
    def _check_inline_keyboard(rows: Any) -> None:
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise _bad(
                'field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays'
            )
        total = 0
        for row in rows:
            for button in row:
                total += 1
                if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                    raise _bad(
                        'can\'t parse inline keyboard button: Field "text" must be of type String'
                    )
                actions = [key for key in _INLINE_BUTTON_ACTIONS if key in button]
                if not actions:
                    raise _bad(
                        "can't parse inline keyboard button: "
                        "Text buttons are unallowed in the inline keyboard"
                    )
                if "callback_data" in button:
                    data = button["callback_data"]
                    if not isinstance(data, str) or not (
                        1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES
                    ):
                        raise _bad("BUTTON_DATA_INVALID")
                if "url" in button and not button["url"]:
                    raise _bad("BUTTON_URL_INVALID")
        if total > MAX_INLINE_BUTTONS:
            raise _bad("reply markup is too long")

    def _reply_to(self, chat_id: Any, params: JSONDict) -> JSONDict:
        reply = params.get("reply_parameters")
        if isinstance(reply, dict):
            message_id = reply.get("message_id")
            allow = bool(reply.get("allow_sending_without_reply"))
        else:
            message_id = params.get("reply_to_message_id")
            allow = bool(params.get("allow_sending_without_reply"))
        if message_id is None:
            return {}
        try:
            return {"reply_to_message": self._reply_copy(chat_id, int(message_id))}
        except (KeyError, ValueError, TypeError) as error:
            if allow:
                return {}
            raise _bad("message to be replied not found") from error

    def _bot_message(self, chat_id: Any, content: JSONDict, markup: JSONDict | None) -> JSONDict:
        message: JSONDict = {
            "message_id": self._allocate_message_id(chat_id),
            "from": dict(BOT_USER),
            "chat": self._chat(chat_id),
            "date": int(time.time()),
            **content,
        }
        if markup is not None and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        self._messages[(chat_id, message["message_id"])] = _Stored(message, from_bot=True)
        return copy.deepcopy(message)

    def _upload_for(self, field_name: str, params: JSONDict, uploads: list[_Upload]) -> Any:
        value = params.get(field_name)
        if isinstance(value, str) and value.startswith("attach://"):
            wanted = value.removeprefix("attach://")
            return next((u for u in uploads if u.name == wanted), value)
        direct = next((u for u in uploads if u.name == field_name), None)
        return direct if direct is not None else value

    def _check_upload(self, upload: _Upload) -> None:
        if not upload.data:
            raise _bad("file must be non-empty")
        if len(upload.data) > MAX_UPLOAD_SIZE:
            raise _ApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "Request Entity Too Large")

    # ---------------------------------------------------------------- Bot API methods

    def _m_true(self, params: JSONDict, uploads: list[_Upload]) -> bool:
        return True

    def _m_get_me(self, params: JSONDict, uploads: list[_Upload]) -> JSONDict:
        return {
            **BOT_USER,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _m_get_chat(self, params: JSONDict, uploads: list[_Upload]) -> JSONDict:
        chat = self._chat(self._chat_id(params))
        return {
            **chat,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    def _m_set_webhook(self, params: JSONDict, uploads: list[_Upload]) -> bool:
        url = str(params.get("url") or "")
        if not url:
            self._webhook = None
            return True
        if not url.startswith("https://"):
            raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
        self._webhook = {k: v for k, v in params.items() if k != "certificate"}
        if isinstance(params.get("allowed_updates"), list):
            self._allowed_updates = list(params["allowed_updates"])
        if params.get("drop_pending_updates"):
            self._queue.clear()
        return True

    # ---------------------------------------------------------------- webhook delivery

    def _deliver_webhooks(self) -> None:
        """Telegram's side of webhook mode: the oldest queued update is POSTed to the webhook
        URL until the bot answers 2xx, then the next one."""
        while not self._stop_event.is_set():
            with self._cond:
                self._cond.wait_for(
                    lambda: self._stop_event.is_set() or self._deliverable(),
                    timeout=0.5,
                )
                hook = self._webhook
                if self._stop_event.is_set() or hook is None or not self._deliverable():
                    continue
                queued = min(self._queue, key=lambda q: q.update_id)
                url = str(hook["url"])
                secret = hook.get("secret_token")
                update = copy.deepcopy(queued.update)
            error = self._post_update(url, secret, update)
            with self._cond:
                if error is None:
                    if queued in self._queue:
                        self._queue.remove(queued)
                    self._webhook_delivered.append(queued.update_id)
                    self._cond.notify_all()
                    continue
                self._webhook_error = (int(time.time()), error)
            self._stop_event.wait(0.2)  # Telegram backs off too (for longer)

    def _deliverable(self) -> bool:
        """Updates are queued and the webhook is on this machine: a test never sends traffic
        elsewhere, so a webhook set to a public name (doctor's tests) just keeps them pending."""
        if not (self._webhook and self._queue):
            return False
        host = urllib.parse.urlsplit(str(self._webhook["url"])).hostname
        return host in ("127.0.0.1", "localhost", "::1")

    def _post_update(self, url: str, secret: Any, update: JSONDict) -> str | None:
        headers = {"Content-Type": "application/json"}
        if secret:
            headers["X-Telegram-Bot-Api-Secret-Token"] = str(secret)
        request = urllib.request.Request(
            url, data=json.dumps(update).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=10, context=self.webhook_ssl) as answer:
                status = int(answer.status)
        except urllib.error.HTTPError as refused:
            return f"Wrong response from the webhook: {refused.code} {refused.reason}"
        except (OSError, ssl.SSLError) as failed:
            return f"Connection failed: {failed}"
        return None if 200 <= status < 300 else f"Wrong response from the webhook: {status}"

    @property
    def webhook_delivered(self) -> list[int]:
        """update_ids the bot's webhook accepted, in order."""
        with self._cond:
            return list(self._webhook_delivered)

    def _m_delete_webhook(self, params: JSONDict, uploads: list[_Upload]) -> bool:
        self._webhook = None
        if params.get("drop_pending_updates"):
            self._queue.clear()
        return True

    def _m_get_webhook_info(self, params: JSONDict, uploads: list[_Upload]) -> JSONDict:
        info: JSONDict = {
            "url": "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._queue),
        }
        if self._webhook:
            info["url"] = self._webhook["url"]
            info["max_connections"] = self._webhook.get("max_connections", 40)
            if "ip_address" in self._webhook:
                info["ip_address"] = self._webhook["ip_address"]
            if self._allowed_updates:
                info["allowed_updates"] = list(self._allowed_updates)
            if self._webhook_error is not None:
                info["last_error_date"], info["last_error_message"] = self._webhook_error
        return info

    @staticmethod
    def _commands_key(params: JSONDict) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    def _m_set_my_commands(self, params: JSONDict, uploads: list[_Upload]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > MAX_COMMANDS:
            raise _bad("BOT_COMMANDS_TOO_MUCH" if isinstance(commands, list) else "commands empty")
        for command in commands:
            if not isinstance(command, dict) or not re.fullmatch(
                r"[a-z0-9_]{1,32}", str(command.get("command", "")).removeprefix("/")
            ):
                raise _bad("BOT_COMMAND_INVALID")
            description = command.get("description")
            if not isinstance(description, str) or not 1 <= len(description) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
        self._commands[self._commands_key(params)] = [
            {"command": str(c["command"]).removeprefix("/"), "description": c["description"]}
            for c in commands
        ]
        return True

    def _m_get_my_commands(self, params: JSONDict, uploads: list[_Upload]) -> list[JSONDict]:
        return copy.deepcopy(self._commands.get(self._commands_key(params), []))

    def _m_delete_my_commands(self, params: JSONDict, uploads: list[_Upload]) -> bool:
        self._commands.pop(self._commands_key(params), None)
        return True

    def _m_get_updates(self, params: JSONDict, uploads: list[_Upload]) -> list[JSONDict]:
        if self._webhook:
            raise _ApiError(
                HTTPStatus.CONFLICT,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = params.get("offset")
        limit = params.get("limit")
        limit = 100 if not isinstance(limit, int) or limit <= 0 else min(limit, 100)
        timeout = params.get("timeout")
        timeout = float(timeout) if isinstance(timeout, int | float) and timeout > 0 else 0.0
        if isinstance(params.get("allowed_updates"), list):
            self._allowed_updates = list(params["allowed_updates"])
        self._poll_generation += 1
        generation = self._poll_generation
        self._cond.notify_all()  # terminates an older pending getUpdates (409, like Telegram)
        if isinstance(offset, int) and not isinstance(offset, bool):
            if offset < 0:
                self._queue = self._queue[offset:] if -offset < len(self._queue) else self._queue
            else:
                self._queue = [
                    q for q in self._queue if q.update_id >= offset or (q.force and not q.delivered)
                ]
        deadline = time.monotonic() + timeout
        while True:
            if self._stop_event.is_set():
                return []
            if self.poll_conflicts and generation != self._poll_generation:
                if self._caller_gone():
                    raise _ApiError(CLIENT_GONE, "client closed the connection")
                raise _ApiError(HTTPStatus.CONFLICT, _DEFAULT_DESCRIPTIONS[HTTPStatus.CONFLICT])
            if self._queue:
                batch = sorted(self._queue, key=lambda q: q.update_id)[:limit]
                for queued in batch:
                    queued.delivered = True
                return [copy.deepcopy(q.update) for q in batch]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            if self._caller_gone():
                raise _ApiError(CLIENT_GONE, "client closed the connection")
            self._cond.wait(min(remaining, 0.1))

    def _caller_gone(self) -> bool:
        client_gone = getattr(self._local, "client_gone", None)
        return bool(client_gone and client_gone())

    def _m_send_message(self, params: JSONDict, uploads: list[_Upload]) -> JSONDict:
        chat_id = self._chat_id(params)
        raw_text, content = self._text_content(params)
        markup = self._markup(params)
        content.update(self._reply_to(chat_id, params))
        message = self._bot_message(chat_id, content, markup)
        self._sent.append(
            SentMessage(
                method="sendMessage",
                chat_id=chat_id,
                message_id=message["message_id"],
                text=raw_text,
                parse_mode=params.get("parse_mode"),
                reply_markup=markup,
                rendered_text=content["text"],
                message=copy.deepcopy(message),
                params=dict(params),
            )
        )
        return message

    def _m_send_document(self, params: JSONDict, uploads: list[_Upload]) -> JSONDict:
        chat_id = self._chat_id(params)
        source = self._upload_for("document", params, uploads)
        if isinstance(source, _Upload):
            self._check_upload(source)
            mime = (
                source.content_type
                or mimetypes.guess_type(source.filename)[0]
                or "application/octet-stream"
            )
            entry = self._register_file(
                source.data, "documents", file_name=source.filename, mime_type=mime
            )
        elif isinstance(source, str) and source in self._files:
            entry = self._files[source]
        elif isinstance(source, str) and source.startswith(("http://", "https://")):
            name = urlsplit(source).path.rsplit("/", 1)[-1] or "file"
            entry = self._register_file(b"", "documents", file_name=name)
        elif source is None:
            raise _bad("there is no document in the request")
        else:
            raise _bad("wrong file identifier/HTTP URL specified")
        raw_caption, content = self._caption_content(params)
        content["document"] = self._document_object(entry)
        markup = self._markup(params)
        content.update(self._reply_to(chat_id, params))
        message = self._bot_message(chat_id, content, markup)
        self._sent.append(
            SentMessage(
                method="sendDocument",
                chat_id=chat_id,
                message_id=message["message_id"],
                caption=raw_caption,
                parse_mode=params.get("parse_mode"),
                reply_markup=markup,
                document=entry.data,
                filename=entry.file_name,
                mime_type=entry.mime_type,
                file_id=entry.file_id,
                rendered_text=content.get("caption"),
                message=copy.deepcopy(message),
                params=_summarise(params, uploads),
            )
        )
        return message

    def _m_send_photo(self, params: JSONDict, uploads: list[_Upload]) -> JSONDict:
        chat_id = self._chat_id(params)
        source = self._upload_for("photo", params, uploads)
        if isinstance(source, _Upload):
            self._check_upload(source)
            sizes = self._photo_object(source.data, 1280, 960)
            data = source.data
        elif isinstance(source, str) and source in self._photo_sizes:
            sizes = copy.deepcopy(self._photo_sizes[source])
            data = self._files[sizes[-1]["file_id"]].data
        elif source is None:
            raise _bad("there is no photo in the request")
        else:
            raise _bad("wrong file identifier/HTTP URL specified")
        raw_caption, content = self._caption_content(params)
        content["photo"] = sizes
        markup = self._markup(params)
        content.update(self._reply_to(chat_id, params))
        message = self._bot_message(chat_id, content, markup)
        self._sent.append(
            SentMessage(
                method="sendPhoto",
                chat_id=chat_id,
                message_id=message["message_id"],
                caption=raw_caption,
                parse_mode=params.get("parse_mode"),
                reply_markup=markup,
                photo=data,
                file_id=sizes[-1]["file_id"],
                rendered_text=content.get("caption"),
                message=copy.deepcopy(message),
                params=_summarise(params, uploads),
            )
        )
        return message

    def _m_send_chat_action(self, params: JSONDict, uploads: list[_Upload]) -> bool:
        chat_id = self._chat_id(params)
        action = params.get("action")
        if action not in _CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        self._chat_actions.append(ChatActionRecord(chat_id, str(action)))
        return True

    def _editable(self, params: JSONDict) -> tuple[Any, int, JSONDict]:
        if params.get("inline_message_id"):
            raise _bad("MESSAGE_ID_INVALID")
        chat_id = self._chat_id(params)
        message_id = self._message_id(params)
        stored = self._messages.get((chat_id, message_id))
        if stored is None:
            raise _bad("message to edit not found")
        if not stored.from_bot:
            raise _bad("message can't be edited")
        return chat_id, message_id, stored.message

    @staticmethod
    def _apply_edit(message: JSONDict, changes: JSONDict, markup: JSONDict | None) -> None:
        new_markup = markup if markup is not None and "inline_keyboard" in markup else None
        unchanged = message.get("reply_markup") == new_markup and all(
            message.get(key) == value for key, value in changes.items()
        )
        if unchanged:
            raise _bad(_NOT_MODIFIED)
        for key, value in changes.items():
            if value is None:
                message.pop(key, None)
            else:
                message[key] = value
        if new_markup is None:
            message.pop("reply_markup", None)  # an edit without reply_markup drops the keyboard
        else:
            message["reply_markup"] = new_markup
        message["edit_date"] = int(time.time())

    def _m_edit_message_text(self, params: JSONDict, uploads: list[_Upload]) -> JSONDict:
        chat_id, message_id, message = self._editable(params)
        if "text" not in message:
            raise _bad("there is no text in the message to edit")
        raw_text, content = self._text_content(params)
        markup = self._markup(params)
        self._apply_edit(
            message, {"text": content["text"], "entities": content.get("entities")}, markup
        )
        self._edits.append(
            EditRecord(
                method="editMessageText",
                chat_id=chat_id,
                message_id=message_id,
                text=raw_text,
                parse_mode=params.get("parse_mode"),
                reply_markup=markup,
                rendered_text=content["text"],
                params=dict(params),
            )
        )
        return copy.deepcopy(message)

    def _m_edit_message_caption(self, params: JSONDict, uploads: list[_Upload]) -> JSONDict:
        chat_id, message_id, message = self._editable(params)
        if not any(key in message for key in ("document", "photo")):
            raise _bad("there is no caption in the message to edit")
        raw_caption, content = self._caption_content(params)
        markup = self._markup(params)
        self._apply_edit(
            message,
            {
                "caption": content.get("caption"),
                "caption_entities": content.get("caption_entities"),
            },
            markup,
        )
        self._edits.append(
            EditRecord(
                method="editMessageCaption",
                chat_id=chat_id,
                message_id=message_id,
                caption=raw_caption,
                parse_mode=params.get("parse_mode"),
                reply_markup=markup,
                rendered_text=content.get("caption"),
                params=dict(params),
            )
        )
        return copy.deepcopy(message)

    def _m_edit_message_reply_markup(self, params: JSONDict, uploads: list[_Upload]) -> JSONDict:
        chat_id, message_id, message = self._editable(params)
        markup = self._markup(params)
        self._apply_edit(message, {}, markup)
        self._edits.append(
            EditRecord(
                method="editMessageReplyMarkup",
                chat_id=chat_id,
                message_id=message_id,
                reply_markup=markup,
                params=dict(params),
            )
        )
        return copy.deepcopy(message)

    def _m_delete_message(self, params: JSONDict, uploads: list[_Upload]) -> bool:
        chat_id = self._chat_id(params)
        message_id = self._message_id(params)
        if self._messages.pop((chat_id, message_id), None) is None:
            raise _bad("message to delete not found")
        self._deletions.append(Deletion(chat_id, message_id))
        return True

    def _m_answer_callback_query(self, params: JSONDict, uploads: list[_Upload]) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if query_id not in self._callback_queries:
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        text = params.get("text")
        if text is not None and len(str(text)) > MAX_CALLBACK_ANSWER_LENGTH:
            raise _bad("MESSAGE_TOO_LONG")
        user_id, message_id, data = self._callback_queries[query_id]
        self._answers.append(
            CallbackAnswer(
                callback_query_id=query_id,
                text=None if text is None else str(text),
                show_alert=bool(params.get("show_alert")),
                url=params.get("url"),
                cache_time=params.get("cache_time"),
                user_id=user_id,
                message_id=message_id,
                data=data,
            )
        )
        return True

    def _m_get_file(self, params: JSONDict, uploads: list[_Upload]) -> JSONDict:
        file_id = params.get("file_id")
        entry = self._files.get(str(file_id)) if file_id else None
        if entry is None:
            raise _bad("invalid file_id")
        if entry.file_size > MAX_GET_FILE_SIZE:
            raise _bad("file is too big")
        return entry.as_file()
