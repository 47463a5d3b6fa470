"""The webhook Telegram posts updates to (webhook mode), served with tornado.

python-telegram-bot's own webhook server answers a body that is not JSON with HTTP 500 and a
traceback in the log; this one answers every malformed call with a 4xx and one log line,
compares the secret header in constant time, and logs no header. An update is written to the
inbox (the queue's `put`) before the call is answered, as with PTB's server.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from typing import Any

import tornado.web
from telegram import Bot, Update
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram's updates are small; a document's content is never in one (only its file_id).
MAX_BODY = 1024 * 1024


class WebhookHandler(tornado.web.RequestHandler):
    SUPPORTED_METHODS = ("POST",)
    refusal = ""

    def initialize(self, bot: Bot, queue: asyncio.Queue[object], secret: str) -> None:
        self.bot = bot
        self.queue = queue
        self.secret = secret

    async def post(self) -> None:
        given = self.request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            await self._refuse(403, "missing or wrong secret token")
            return
        try:
            data = json.loads(self.request.body)
        except ValueError:  # JSONDecodeError and UnicodeDecodeError alike
            await self._refuse(400, "body is not JSON")
            return
        if not isinstance(data, dict) or type(data.get("update_id")) is not int:
            await self._refuse(400, "not a Telegram update")
            return
        try:
            update = Update.de_json(data, self.bot)
        except Exception as error:  # any shape PTB cannot read
            await self._refuse(400, f"not a Telegram update ({type(error).__name__})")
            return
        await self.queue.put(update)  # stored in the inbox before the answer
        await self.finish()

    async def _refuse(self, status: int, reason: str) -> None:
        self.refusal = reason
        self.set_status(status)
        await self.finish()

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, tornado.web.HTTPError):
            self.refusal = value.log_message or ""
            return
        log.error("telegram webhook call failed: %s", typ.__name__, exc_info=(typ, value, tb))


def _access_log(handler: tornado.web.RequestHandler) -> None:
    """One line per call, never a header: refusals at WARNING with the reason."""
    status = handler.get_status()
    if status < 400:
        log.debug("telegram webhook %d", status)
        return
    reason = getattr(handler, "refusal", "")
    log.warning(
        "telegram webhook %d %s %s%s",
        status,
        handler.request.method,
        handler.request.path,
        f" ({reason})" if reason else "",
    )


class WebhookServer:
    def __init__(
        self,
        bot: Bot,
        queue: asyncio.Queue[object],
        secret: str,
        *,
        listen: str,
        port: int,
        path: str,
    ) -> None:
        route = "/" + path.strip("/")
        args = {"bot": bot, "queue": queue, "secret": secret}
        app = tornado.web.Application(
            [(rf"{route}/?", WebhookHandler, args)], log_function=_access_log
        )
        self._server = HTTPServer(app, max_body_size=MAX_BODY)
        self._listen, self._port = listen, port
        self.port = port
        self.serving = False

    def start(self) -> None:
        sockets = bind_sockets(self._port, self._listen)
        self.port = sockets[0].getsockname()[1]
        self._server.add_sockets(sockets)
        self.serving = True

    async def stop(self) -> None:
        self.serving = False
        self._server.stop()
        await self._server.close_all_connections()
