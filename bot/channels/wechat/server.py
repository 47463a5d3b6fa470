"""The HTTP side of the WeChat channel (tornado): the callback WeChat posts to, and the small
pages the chat links to: the upload page for a file the engine asks for, a document's
download, and a message's full text (what a template message opens).

Every page link is personal and signed (see links.py): it names one outbox item of one chat.
An upload goes through `ChatService.receive_files`, so the file gets the same checks by content
and lands in the same store as one sent in Telegram or in the terminal.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import tornado.web
import xmltodict
from sqlalchemy import select
from wechatpy import parse_message
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.utils import check_signature

from bot import observability
from bot.channels.wechat import texts
from bot.channels.wechat.delivery import CHANNEL
from bot.channels.wechat.links import FILE, UPLOAD, VIEW
from bot.service import Incoming
from bot.web import Route
from dialogs.replies import ACCEPTED_TYPES, reply_text
from dialogs.screens.locked import STAMPED_FORM
from dialogs.state import ConvState, Mode
from storage.models import OutboxRow, ProcessedEventRow
from storage.repository import ConversationRepository

TEMPLATES = Path(__file__).parent / "templates"

if TYPE_CHECKING:
    from bot.channels.wechat.channel import WeChatChannel

log = logging.getLogger(__name__)

EMPTY_ACK = "success"
_ASKING = ("choice", "file_request")
_EXTENSIONS = {
    "application/pdf": ".pdf",
    "image/jpeg": ".jpg,.jpeg",
    "image/png": ".png",
    "application/ofd": ".ofd",
}


def routes(channel: WeChatChannel) -> list[Route]:
    args = {"channel": channel}
    base = channel.path.rstrip("/")
    return [
        (base or "/", CallbackHandler, args),
        (f"{base}/{UPLOAD}/([^/]+)", UploadHandler, args),
        (f"{base}/{FILE}/([^/]+)", FileHandler, args),
        (f"{base}/{VIEW}/([^/]+)", ViewHandler, args),
    ]


class _Handler(tornado.web.RequestHandler):
    def get_template_path(self) -> str:
        return str(TEMPLATES)

    def shown_path(self) -> str:
        return safe_path(self.request.path)

    refusal = ""  # why a request was refused: the one line bot.web.access_log writes for it

    def initialize(self, channel: WeChatChannel) -> None:
        self.channel = channel

    def signed(self) -> bool:
        try:
            check_signature(
                self.channel.token,
                self.get_query_argument("signature", ""),
                self.get_query_argument("timestamp", ""),
                self.get_query_argument("nonce", ""),
            )
        except InvalidSignatureException:
            return False
        return True

    async def refuse(self, status: int, reason: str) -> None:
        self.refusal = reason
        self.set_status(status)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        await self.finish(f"{status}")

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        """Tornado's own line would carry the query string (signatures) or a link token."""
        if isinstance(value, tornado.web.HTTPError):
            self.refusal = value.log_message or ""
            return
        log.error(
            "wechat %s %s failed: %s",
            self.request.method,
            safe_path(self.request.path),
            typ.__name__,
            exc_info=(typ, value, tb),
        )


class CallbackHandler(_Handler):
    async def get(self) -> None:
        """The URL verification WeChat does when the server address is configured."""
        if not await self._admitted():
            return
        if not await asyncio.to_thread(self.channel.guard.first_use, *self._stamp()):
            await self.refuse(403, "nonce used before (a replay)")
            return
        self.write(self.get_query_argument("echostr", ""))

    async def post(self) -> None:
        started = time.monotonic()
        if not await self._admitted():
            return
        xml = await self._decrypted()
        if xml is None:
            return
        try:
            parsed = parse_callback(xml)
        except ValueError as error:
            await self.refuse(400, f"malformed callback: {error}")
            return
        # The nonce is used up in the database before the message is looked at. Should the
        # database be too slow for WeChat's five seconds, WeChat gets the empty
        # acknowledgement and the message is handled once its nonce is known to be fresh.
        check = asyncio.ensure_future(
            asyncio.to_thread(self.channel.guard.first_use, *self._stamp())
        )
        remaining = self.channel.budget - (time.monotonic() - started)
        try:
            fresh = await asyncio.wait_for(asyncio.shield(check), max(remaining, 0.0))
        except TimeoutError:
            await self._acknowledge_late(check, parsed, started)
            return
        if not fresh:
            await self.refuse(403, "nonce used before (a replay)")
            return
        observability.touch(observability.WECHAT_CALLBACK)
        callback = await self.channel.on_callback(parsed, started)
        answer = callback.answer if callback is not None else None
        if answer is None:
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            await self.finish(EMPTY_ACK)
        else:
            crypto = self.channel.crypto
            if crypto is not None:
                nonce = self.get_query_argument("nonce", "")
                timestamp = self.get_query_argument("timestamp", "")
                answer = crypto.encrypt_message(answer, nonce, timestamp)
            self.set_header("Content-Type", "application/xml; charset=utf-8")
            await self.finish(answer)
        if callback is not None:
            callback.responded.set()
            observability.update_handled(CHANNEL, time.monotonic() - started)

    async def _acknowledge_late(
        self, check: asyncio.Future[bool], parsed: Parsed, started: float
    ) -> None:
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        await self.finish(EMPTY_ACK)
        if not await check:
            log.warning(
                "wechat POST %s refused late: nonce used before (a replay)", self.request.path
            )
            return
        callback = await self.channel.on_callback(parsed, started)
        if callback is not None:
            callback.responded.set()

    def _stamp(self) -> tuple[str, str]:
        return self.get_query_argument("timestamp", ""), self.get_query_argument("nonce", "")

    async def _admitted(self) -> bool:
        """Signed, and a well-formed timestamp within the window (its nonce is checked next)."""
        if not self.signed():
            await self.refuse(403, "bad signature")
            return False
        stale = self.channel.guard.stale(*self._stamp())
        if stale is not None:
            await self.refuse(403, stale)
            return False
        return True

    async def _decrypted(self) -> str | None:
        body = self.request.body.decode("utf-8", "replace")
        encrypted = self.get_query_argument("encrypt_type", "raw") == "aes"
        crypto = self.channel.crypto
        if crypto is None:
            if encrypted:  # safe mode on WeChat's side but not here
                await self.refuse(400, "encrypted callback in plain mode")
                return None
            return body
        if not encrypted:  # safe mode: plain text is not WeChat
            await self.refuse(403, "plain callback in safe mode")
            return None
        try:
            return str(
                crypto.decrypt_message(
                    body,
                    self.get_query_argument("msg_signature", ""),
                    self.get_query_argument("timestamp", ""),
                    self.get_query_argument("nonce", ""),
                )
            )
        except (InvalidSignatureException, InvalidAppIdException):
            await self.refuse(403, "bad message signature")
        except Exception as error:  # malformed XML or ciphertext
            await self.refuse(400, f"undecryptable callback: {type(error).__name__}")
        return None


@dataclass(frozen=True, slots=True)
class Parsed:
    """A callback's XML as fields, and as wechatpy's message object."""

    raw: dict[str, Any]
    message: Any


_OPENID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def parse_callback(xml: str) -> Parsed:
    """The callback's fields; ValueError for anything that is not a WeChat message."""
    try:
        document = xmltodict.parse(xml)
        message = parse_message(xml)
    except Exception as error:  # expat, wechatpy: any malformed input
        raise ValueError(type(error).__name__) from None
    raw = document.get("xml") if isinstance(document, dict) else None
    if not isinstance(raw, dict):
        raise ValueError("no <xml> root")
    sender = raw.get("FromUserName")
    if sender is not None and not (isinstance(sender, str) and _OPENID.match(sender)):
        raise ValueError("malformed FromUserName")
    return Parsed(raw, message)


_TOKEN_SEGMENT = re.compile(rf"/({UPLOAD}|{FILE}|{VIEW})/[^/]+")


def safe_path(path: str) -> str:
    """A request path fit for the log: a link's token is a credential, so it is left out."""
    return _TOKEN_SEGMENT.sub(r"/\1/…", path)


# --- the pages ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Item:
    id: int
    chat_id: str
    payload: dict[str, Any]


class _Page(_Handler):
    def page(self, template: str, status: int = 200, **values: Any) -> Any:
        self.set_status(status)
        self.set_header("Cache-Control", "no-store")
        self.set_header("Referrer-Policy", "no-referrer")
        return self.render(template, t=texts, **values)

    def invalid(self) -> Any:
        return self.page("message.html", 403, title=texts.PAGE_TITLE, lines=[texts.LINK_INVALID])

    async def item(self, kind: str, token: str) -> _Item | None:
        grant = self.channel.links.read(kind, token, self.channel.service.clock.now())
        if grant is None:
            return None
        return await asyncio.to_thread(_load_item, self.channel, grant.item_id)


class UploadHandler(_Page):
    async def get(self, token: str) -> None:
        item = await self.item(UPLOAD, token)
        if item is None or item.payload.get("type") != "file_request":
            await self.invalid()
            return
        await self._form(item)

    async def post(self, token: str) -> None:
        item = await self.item(UPLOAD, token)
        if item is None or item.payload.get("type") != "file_request":
            await self.invalid()
            return
        uploaded = self.request.files.get("file") or []
        if not uploaded or not uploaded[0].body:
            await self._form(item, error=texts.UPLOAD_NO_FILE)
            return
        name, data = uploaded[0].filename or "文件", uploaded[0].body
        # A page sent twice (reload, double tap) is the same upload: handled once.
        event_id = f"upload:{item.id}:{hashlib.sha256(data).hexdigest()[:32]}"
        if await asyncio.to_thread(_processed, self.channel, event_id):
            await self._duplicate()
            return
        if not await asyncio.to_thread(_current, self.channel, item):
            await self.page("message.html", 409, title=texts.UPLOAD_TITLE, lines=[texts.LINK_STALE])
            return
        turn = await asyncio.to_thread(
            self.channel.service.receive_files,
            CHANNEL,
            item.chat_id,
            [Incoming(name, data)],
            event_id=event_id,
            queue=True,
        )
        self.channel.spawn(self.channel.sender.deliver(item.chat_id))
        self.channel.deliver_others(turn.notified, item.chat_id)
        if turn.duplicate:
            await self._duplicate()
            return
        said = reply_text(turn.replies[0]) if turn.replies else ""
        ok = bool(said) and not said.lstrip().startswith("✗")
        # The engine asks again (a refused file) or for the next file: the page links there.
        following = await asyncio.to_thread(self._following, turn.outbox_ids)
        await self.page(
            "result.html",
            title=texts.UPLOAD_TITLE,
            ok=ok,
            lines=said.split("\n"),
            again=following[0] if following else "",
            again_label=(
                (texts.UPLOAD_NEXT.format(slot=following[1]) if ok else texts.UPLOAD_AGAIN)
                if following
                else ""
            ),
        )

    async def _duplicate(self) -> None:
        lines = [texts.UPLOAD_DUPLICATE]
        await self.page("result.html", title=texts.UPLOAD_TITLE, ok=True, lines=lines, again="")

    async def _form(self, item: _Item, error: str = "") -> None:
        payload = item.payload
        accepted = payload.get("accepted") or list(ACCEPTED_TYPES)
        accept = ",".join([*accepted, *(_EXTENSIONS.get(a, "") for a in accepted)]).strip(",")
        limit_mb = self.channel.settings.max_upload_mb
        await self.page(
            "upload.html",
            title=texts.UPLOAD_TITLE,
            slot=str(payload.get("slot_label", "")),
            question=str(payload.get("text", "")).split("\n"),
            accept=accept,
            limit_mb=limit_mb,
            limit_bytes=limit_mb * 1024 * 1024,
            error=error,
        )

    def _following(self, ids: tuple[int, ...]) -> tuple[str, str] | None:
        """The upload link of the file request among these replies, with its slot's name."""
        for item_id in reversed(ids):
            found = _load_item(self.channel, item_id)
            if found is not None and found.payload.get("type") == "file_request":
                expires = self.channel.service.clock.now() + self.channel.renderer.lifetimes.upload
                url = self.channel.links.url(UPLOAD, item_id, expires)
                return url, str(found.payload.get("slot_label", ""))
        return None


class FileHandler(_Page):
    async def get(self, token: str) -> None:
        item = await self.item(FILE, token)
        if item is None or item.payload.get("type") != "document":
            await self.invalid()
            return
        payload = item.payload
        content = base64.b64decode(payload.get("content", ""))
        name = str(payload.get("filename") or "document.pdf")
        self.set_header("Content-Type", str(payload.get("content_type") or "application/pdf"))
        # Inline: WeChat's in-app browser previews a PDF; "save" works from there.
        self.set_header("Content-Disposition", f"inline; filename*=UTF-8''{quote(name)}")
        self.set_header("Cache-Control", "private, no-store")
        await self.finish(content)


class ViewHandler(_Page):
    async def get(self, token: str) -> None:
        item = await self.item(VIEW, token)
        if item is None:
            await self.invalid()
            return
        payload = item.payload
        lines = str(payload.get("text") or payload.get("caption") or "").split("\n")
        options = [str(label) for label, *_rest in payload.get("options") or []]
        await self.page(
            "view.html",
            title=texts.VIEW_TITLE,
            lines=lines,
            options=options,
            numbered=not bool(payload.get("free_text") or payload.get("type") == "file_request"),
        )


# --- reading the outbox and the conversation (in threads) --------------------------------------


def _load_item(channel: WeChatChannel, item_id: int) -> _Item | None:
    with channel.service.db.session() as session:
        row = session.get(OutboxRow, item_id)
        if row is None or row.channel != CHANNEL:
            return None
        return _Item(row.id, row.chat_id, json.loads(row.payload))


def _processed(channel: WeChatChannel, event_id: str) -> bool:
    with channel.service.db.session() as session:
        return session.get(ProcessedEventRow, (CHANNEL, event_id)) is not None


def _current(channel: WeChatChannel, item: _Item) -> bool:
    """Whether the chat still waits for this file. The engine takes a file for the question
    it asks now, so a link to an earlier question must not put a file there: while a question
    is asked, the link must be for that very slot; otherwise (the stamped form after approval,
    a spreadsheet import) no later message may have asked anything else."""
    slot = str(item.payload.get("slot", ""))
    with channel.service.db.session() as session:
        stored = ConversationRepository(session).get(CHANNEL, item.chat_id)
        state = ConvState.from_dict(stored.state if stored is not None else None)
        if state.mode is Mode.ASK and slot != STAMPED_FORM:
            return str(state.key) == slot
        later = session.scalars(
            select(OutboxRow.payload).where(
                OutboxRow.channel == CHANNEL,
                OutboxRow.chat_id == item.chat_id,
                OutboxRow.id > item.id,
            )
        )
        return all(json.loads(payload).get("type") not in _ASKING for payload in later)
