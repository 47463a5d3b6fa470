"""Personal numbers are shown whole only to their owner: masked in logs and in what
reviewers and other contacts see."""

from __future__ import annotations

import logging
import re

from sqlalchemy.engine import make_url

# Mainland mobile numbers (with or without +86) and 18-character resident ID numbers.
_MOBILE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?(1[3-9]\d)\d{4}(\d{4})(?!\d)")
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(\d{6})\d{8}(\d{3}[\dXx])(?![0-9A-Za-z])")


def mask_mobile(mobile: str) -> str:
    """13800138000 -> 138****8000."""
    return _MOBILE.sub(r"\1****\2", mobile)


# A Telegram bot token inside a Bot API URL (/bot123456:ABC.../getUpdates).
_TOKEN = re.compile(r"(/bot|/file/bot)\d+:[A-Za-z0-9_-]+")
# A web console sign-in link (tornado's access log writes every request's path).
_CONSOLE_LINK = re.compile(r"(/console/login/)[A-Za-z0-9_-]+")


def mask_personal(text: str) -> str:
    """Masks every mobile and ID number in a text (ID first: it contains mobile-like runs),
    and any bot token a library put into a logged URL."""
    text = _CONSOLE_LINK.sub(r"\1<token>", _TOKEN.sub(r"\1<token>", text))
    return _MOBILE.sub(r"\1****\2", _ID_NUMBER.sub(r"\1********\2", text))


# Credentials that libraries put into URLs and error texts: WeChat's token URL carries
# `secret=`, every API URL `access_token=`, callbacks `signature=` and `msg_signature=`.
_QUERY_SECRET = re.compile(
    r"(?i)\b(secret|appsecret|access_token|signature|msg_signature|echostr|token|nonce)="
    r"[^&\s'\"<>)\],;]+"
)
# A signed WeChat page link's token: outbox id, expiry, 22 characters of HMAC.
_LINK_TOKEN = re.compile(r"(?<![\w.])\d{1,12}\.\d{9,12}\.[A-Za-z0-9_-]{20,}")
_REDACTED = "<redacted>"
# Secret values of this process (configured or derived); at least this long to be worth it.
_MIN_SECRET = 6
_secrets: set[str] = set()


def register_secret(*values: str | None) -> None:
    """Makes these values unprintable: every log line and every recorded error text has them
    replaced. Called with the configured secrets at start-up and with derived ones as they
    are made; process-wide like logging itself."""
    for value in values:
        if value and len(value) >= _MIN_SECRET:
            _secrets.add(value)


def redact(text: str) -> str:
    """The text without any registered secret, credential query parameter, bot token in a
    URL or signed link token."""
    for value in sorted(_secrets, key=len, reverse=True):
        if value in text:
            text = text.replace(value, _REDACTED)
    text = _TOKEN.sub(r"\1<token>", text)
    text = _QUERY_SECRET.sub(rf"\1={_REDACTED}", text)
    return _LINK_TOKEN.sub(_REDACTED, text)


class MaskingFilter(logging.Filter):
    """Installed on the root handlers: no log line carries a whole mobile or ID number, nor a
    secret (its message or its traceback)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact(mask_personal(message))
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def install_log_masking() -> None:
    for handler in logging.getLogger().handlers:
        handler.addFilter(MaskingFilter())


def shown_url(url: str) -> str:
    """A database URL fit for a message: the password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "（无法解析）"
