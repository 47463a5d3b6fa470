"""The webhook Telegram posts updates to (webhook mode): a route of the process's one web
server (`bot/web.py`), at TELEGRAM_WEBHOOK_PATH.

python-telegram-bot's own webhook server answers a body that is not JSON with HTTP 500 and a
traceback in the log; this handler answers every malformed call with a 4xx and one log line
(the web server's access log, with the reason), compares the secret header in constant time,
and logs no header. An update is written to the inbox (the queue's `put`) before the call is
answered, as with PTB's server; before the channel has started (or once it stops) a call is
answered 503, which Telegram retries.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Callable
from typing import Any

import tornado.web
from telegram import Bot, Update

from bot.web import Route

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram's updates are small; a document's content is never in one (only its file_id).
MAX_BODY = 1024 * 1024


class WebhookHandler(tornado.web.RequestHandler):
    SUPPORTED_METHODS = ("POST",)
    refusal = ""

    def initialize(
        self, bot: Bot, queue: asyncio.Queue[object], secret: str, serving: Callable[[], bool]
    ) -> None:
        self.bot = bot
        self.queue = queue
        self.secret = secret
        self.serving = serving

    async def post(self) -> None:
        given = self.request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            await self._refuse(403, "missing or wrong secret token")
            return
        if not self.serving():
            await self._refuse(503, "the Telegram channel is not serving (starting or stopping)")
            return
        if len(self.request.body) > MAX_BODY:
            await self._refuse(413, "body too large for a Telegram update")
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


def routes(
    bot: Bot,
    queue: asyncio.Queue[object],
    secret: str,
    path: str,
    serving: Callable[[], bool],
) -> list[Route]:
    """The webhook at /PATH (with or without a trailing slash) on the process's web server."""
    args = {"bot": bot, "queue": queue, "secret": secret, "serving": serving}
    return [(rf"/{path.strip('/')}/?", WebhookHandler, args)]
