"""Reading a choice: an option's number, typed or pressed, or one of its words."""

from __future__ import annotations

from collections.abc import Sequence

from dialogs.parsing import normalize
from dialogs.replies import Button

_DIGITS = frozenset("0123456789")


def option_value(raw: str, options: Sequence[Button]) -> str:
    """A bare number picks that option, as pressing it would; anything else stays as typed."""
    verb, number = split_verb(raw)
    if verb or number is None or not 1 <= number <= len(options):
        return raw
    return options[number - 1].value


def split_verb(raw: str) -> tuple[str, int | None]:
    """Splits "编辑 3" / "修改3" / "3" into a verb and a number."""
    text = normalize(raw).strip().lower()
    # Only ASCII digits count: NFKC leaves circled and other exotic digits as they are.
    digits = "".join(ch for ch in text if ch in _DIGITS)
    verb = "".join(ch for ch in text if ch not in _DIGITS and not ch.isspace()).strip("第条个项.。")
    number = int(digits) if digits and len(digits) < 5 else None
    return verb, number


def pick(raw: str, count: int, words: dict[str, int]) -> int | None:
    """An option number 1..count, typed or pressed, or one of the option words."""
    verb, number = split_verb(raw)
    if number is not None and not verb:
        return number if 1 <= number <= count else None
    if verb in words:
        return words[verb]
    for word, index in words.items():
        if len(verb) >= 2 and (verb in word or word in verb):
            return index
    return None
