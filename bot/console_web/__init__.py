"""The reviewers' web console: the season at a glance and review at a desk, in a browser.

Routes on the process's one web server (bot/web.py) under /console/; reviewers sign in with a
one-time link sent to their chat (后台 or /console). Not to be confused with
bot/channels/console.py, the terminal chat.
"""

from __future__ import annotations

from bot.console_web.console import Console
from bot.console_web.handlers import routes

__all__ = ["Console", "routes"]
