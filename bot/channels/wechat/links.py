"""Personal, signed, expiring links to the upload page and to documents.

A link names one outbox item (the question that asked for a file, the document sent, the
message shown in full) and carries its expiry and an HMAC over both, so it cannot be forged or
pointed at another item. Whose link it is follows from the item: it belongs to one chat.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime

UPLOAD = "upload"
FILE = "file"
VIEW = "view"

_SIGNATURE_BYTES = 16
# Outbox ids and expiry stamps fit in 64 bits; a longer number is no link of ours (and would
# overflow the database's integer or the datetime).
_MAX_DIGITS = 12


@dataclass(frozen=True, slots=True)
class Grant:
    kind: str
    item_id: int
    expires: datetime


class LinkSigner:
    def __init__(self, secret: bytes, base_url: str) -> None:
        self._secret = secret
        self.base_url = base_url.rstrip("/")

    def token(self, kind: str, item_id: int, expires: datetime) -> str:
        stamp = int(expires.timestamp())
        return f"{item_id}.{stamp}.{self._sign(kind, item_id, stamp)}"

    def url(self, kind: str, item_id: int, expires: datetime) -> str:
        return f"{self.base_url}/{kind}/{self.token(kind, item_id, expires)}"

    def read(self, kind: str, token: str, now: datetime) -> Grant | None:
        """The grant of a genuine, unexpired token of this kind; None for anything else."""
        parts = token.split(".")
        if len(parts) != 3 or not _number(parts[0]) or not _number(parts[1]):
            return None
        item_id, stamp = int(parts[0]), int(parts[1])
        if not hmac.compare_digest(parts[2], self._sign(kind, item_id, stamp)):
            return None
        expires = datetime.fromtimestamp(stamp, UTC)
        if expires <= now:
            return None
        return Grant(kind, item_id, expires)

    def _sign(self, kind: str, item_id: int, stamp: int) -> str:
        message = f"{kind}|{item_id}|{stamp}".encode()
        digest = hmac.new(self._secret, message, hashlib.sha256).digest()[:_SIGNATURE_BYTES]
        return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def _number(part: str) -> bool:
    return part.isascii() and part.isdecimal() and len(part) <= _MAX_DIGITS


def derive_secret(app_secret: str) -> bytes:
    """A link secret stable across restarts, derived from the app secret when none is set."""
    return hashlib.sha256(b"nianjian-wechat-links:" + app_secret.encode()).digest()
