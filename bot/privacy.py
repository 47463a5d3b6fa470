"""Personal numbers are shown whole only to their owner: masked in logs and in what
reviewers and other contacts see."""

from __future__ import annotations

import logging
import re

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


class MaskingFilter(logging.Filter):
    """Installed on the root handlers: no log line carries a whole mobile or ID number."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_personal(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def install_log_masking() -> None:
    for handler in logging.getLogger().handlers:
        handler.addFilter(MaskingFilter())
