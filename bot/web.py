"""The process's one web server (tornado): every page and endpoint the product serves over HTTP
— the Telegram webhook, the WeChat callback and its pages, health and metrics, the staff
console — is a set of routes
added to one `WebServer`, which `nianjian run` starts on WEB_HOST:WEB_PORT behind the reverse
proxy."""

from __future__ import annotations

import logging
from typing import Any

import tornado.web
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

log = logging.getLogger(__name__)

# (path pattern, handler class, handler initialize() arguments): what a part of the product
# contributes to the server.
Route = tuple[str, type[tornado.web.RequestHandler], dict[str, Any]]


class WebServer:
    def __init__(self, host: str, port: int, max_body_size: int) -> None:
        self.host = host
        self.port = port
        self.max_body_size = max_body_size
        self._routes: list[Route] = []
        self._server: HTTPServer | None = None

    def add(self, routes: list[Route]) -> None:
        if self._server is not None:
            raise RuntimeError("routes are added before the server starts")
        self._routes.extend(routes)

    def application(self) -> tornado.web.Application:
        # Each handler that renders templates names its own folder (get_template_path).
        return tornado.web.Application(list(self._routes), log_function=access_log)

    @property
    def running(self) -> bool:
        return self._server is not None

    async def start(self) -> int:
        """Binds and serves; returns the port (the one the system chose when port is 0)."""
        sockets = bind_sockets(self.port, self.host)
        self.port = sockets[0].getsockname()[1]
        self._server = HTTPServer(self.application(), max_body_size=self.max_body_size)
        self._server.add_sockets(sockets)
        log.info("web server listening on %s:%s", self.host, self.port)
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            await self._server.close_all_connections()
            self._server = None


def upload_limit(max_upload_bytes: int) -> int:
    """Room for the largest accepted upload plus the multipart envelope."""
    return max_upload_bytes + 1024 * 1024


def access_log(handler: tornado.web.RequestHandler) -> None:
    """One line per request, without the query string (signatures, nonces, sign-in tokens)
    and with a handler's own `shown_path()` where its path carries a credential (a link's
    token): successes at DEBUG, refusals at WARNING with the handler's `refusal` reason."""
    status = handler.get_status()
    reason = getattr(handler, "refusal", "")
    shown = getattr(handler, "shown_path", None)
    path = shown() if callable(shown) else handler.request.path
    line = "web %d %s %s %.1fms" + (" (%s)" if reason else "")
    args: list[Any] = [
        status,
        handler.request.method,
        path,
        1000.0 * handler.request.request_time(),
    ]
    if reason:
        args.append(reason)
    level = logging.DEBUG if status < 400 else logging.WARNING if status < 500 else logging.ERROR
    log.log(level, line, *args)
