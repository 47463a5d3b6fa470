"""What a WeChat callback must pass before its body is read: a timestamp within the window,
and a (timestamp, nonce) never accepted before, remembered in the database for every process.
The mode (safe or plain) is an explicit setting; plain mode is warned about.

WeChat signs token, timestamp and nonce (plus, in safe mode, the ciphertext); a captured
request is therefore good only within the window and only once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bot.channels.wechat import texts
from bot.settings import Settings
from storage.db import Database
from storage.nonces import first_use, forget_before, window_start

CHANNEL = "wechat"
_MAX_NONCE = 64
_MAX_TIMESTAMP_DIGITS = 12
# Old nonces are dropped now and then, not on every callback.
_PRUNE_EVERY = 256


def plain_mode_warning(settings: Settings) -> str | None:
    """The warning line for an operator (start-up log, `nianjian doctor`) when WeChat runs in
    plain mode; None in safe mode or without WeChat."""
    if settings.wechat_enabled() and settings.wechat_mode == "plain":
        return texts.PLAIN_MODE_WARNING
    return None


def mode_problem(settings: Settings) -> str | None:
    """Why the WeChat settings cannot start (safe mode without its key, or plain mode with
    one); None when they can."""
    if not settings.wechat_enabled():
        return None
    has_key = settings.wechat_encoding_aes_key is not None
    if settings.wechat_mode == "safe" and not has_key:
        return texts.SAFE_MODE_NEEDS_KEY
    if settings.wechat_mode == "plain" and has_key:
        return texts.PLAIN_MODE_WITH_KEY
    return None


class CallbackGuard:
    def __init__(
        self, db: Database, window: timedelta, wall: Callable[[], float] = time.time
    ) -> None:
        self.db = db
        self.window = window
        # WeChat's timestamps are wall-clock time, whatever clock the service runs on.
        self.wall = wall
        self._count = 0
        self._lock = threading.Lock()

    def stale(self, timestamp: str, nonce: str) -> str | None:
        """Why a callback's timestamp or nonce is refused as such (malformed, or outside the
        window); None when it may be checked against the nonces seen."""
        if not timestamp.isdecimal() or len(timestamp) > _MAX_TIMESTAMP_DIGITS:
            return "malformed timestamp"
        if not nonce or len(nonce) > _MAX_NONCE or not nonce.isascii():
            return "malformed nonce"
        offset = int(timestamp) - self.wall()
        if abs(offset) > self.window.total_seconds():
            return f"timestamp {offset:+.0f} s from now, outside the window"
        return None

    def first_use(self, timestamp: str, nonce: str) -> bool:
        """Uses the nonce up; False when it was used before (a replay). Blocking: call it in a
        thread."""
        now = datetime.fromtimestamp(self.wall(), UTC)
        with self.db.session() as session:
            if not first_use(session, CHANNEL, f"{timestamp}:{nonce}", now):
                return False
            if self._due_for_pruning():
                forget_before(session, CHANNEL, window_start(now, self.window))
        return True

    def _due_for_pruning(self) -> bool:
        with self._lock:
            self._count += 1
            return self._count % _PRUNE_EVERY == 1
