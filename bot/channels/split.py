"""Long replies split into messages a platform accepts, at line boundaries where possible."""

from __future__ import annotations

from collections.abc import Callable


def split_lines(text: str, limit: int, size: Callable[[str], int] = len) -> list[str]:
    """Parts of `text` of at most `limit` by `size` (characters by default; WeChat counts
    UTF-8 bytes), split at line boundaries; only a single over-long line is cut, at a
    character boundary. Empty parts are dropped."""
    parts: list[str] = []
    current = ""
    for raw in text.split("\n"):
        line = raw
        while size(line) > limit:
            if current:
                parts.append(current)
                current = ""
            head = _longest_prefix(line, limit, size)
            parts.append(head)
            line = line[len(head) :]
        candidate = f"{current}\n{line}" if current else line
        if size(candidate) > limit:
            parts.append(current)
            current = line
        else:
            current = candidate
    if current:
        parts.append(current)
    return [p for p in (part.strip("\n") for part in parts) if p]


def _longest_prefix(line: str, limit: int, size: Callable[[str], int]) -> str:
    if size is len:
        return line[:limit]
    low, high = 1, len(line)
    while low < high:
        middle = (low + high + 1) // 2
        if size(line[:middle]) <= limit:
            low = middle
        else:
            high = middle - 1
    return line[:low]
