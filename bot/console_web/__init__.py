"""The reviewers' web console: the season at a glance and review at a desk, in a browser.

Routes on the process's one web server (bot/web.py) under /console/; reviewers sign in with a
one-time link sent to their chat (后台 or /console). Not to be confused with
bot/channels/console.py, the terminal chat.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from bot.app import App
from bot.channels.wechat.api import WeChatApi
from bot.console_web.console import Console, Deliver
from bot.console_web.handlers import routes
from bot.web import WebServer

__all__ = ["Console", "add_console", "console_started", "routes"]


def add_console(
    app: App, web: WebServer, deliverers: Sequence[Deliver], wechat: WeChatApi | None = None
) -> Console:
    """The console's routes on the process's web server; `deliverers` are the running
    channels' `deliver_now`, so that contacts hear of a decision at once; with WeChat's API
    invites carry a parametric QR code."""
    console = Console(app, list(deliverers), wechat)
    web.add(routes(console))
    return console


def console_started(console: Console, port: int) -> None:
    """Once the server listens: sign-in links sent in chat point at it, and the dashboard's
    per-filing facts are worked out in the background (a season's filings take seconds)."""
    app = console.app
    app.service.console_url = f"{app.settings.web_origin(port)}/console"
    app.service.console_link_minutes = app.settings.console_link_minutes
    threading.Thread(target=console.warm, name="console-warm", daemon=True).start()
