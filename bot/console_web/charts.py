"""Charts drawn on the server as inline SVG: no script, no library, nothing fetched from
elsewhere; every bar is a link to the list behind it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: int
    color: str
    href: str


def bars(items: Sequence[Bar], *, width: int = 440, row: int = 28) -> str:
    """Horizontal bars, one per item, label left, count right of the bar."""
    label_w, count_w = 140, 40
    room = width - label_w - count_w
    top = max((i.value for i in items), default=0) or 1
    parts = [
        f'<svg class="chart bars" viewBox="0 0 {width} {row * len(items)}" role="img" '
        f'xmlns="http://www.w3.org/2000/svg">'
    ]
    for n, item in enumerate(items):
        y = n * row
        length = max(2.0, room * item.value / top) if item.value else 0.0
        parts.append(
            f'<a href="{escape(item.href)}"><g class="bar">'
            f'<rect x="0" y="{y}" width="{width}" height="{row}" fill="transparent"/>'
            f'<text x="{label_w - 8}" y="{y + row / 2 + 5}" text-anchor="end">'
            f"{escape(item.label)}</text>"
            f'<rect x="{label_w}" y="{y + 6}" width="{length:.1f}" height="{row - 12}" '
            f'rx="3" fill="{item.color}"/>'
            f'<text class="count" x="{label_w + length + 6:.1f}" y="{y + row / 2 + 5}">'
            f"{item.value}</text></g></a>"
        )
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True, slots=True)
class Column:
    label: str  # under the column (a date, shown for some columns only)
    values: tuple[int, ...]  # one per series, stacked
    href: str


def stacked_columns(
    columns: Sequence[Column],
    colors: Sequence[str],
    *,
    width: int = 640,
    height: int = 180,
    every: int = 5,
) -> str:
    """Vertical stacked columns (e.g. submissions, approvals, rejections per day)."""
    bottom, left, right = 22, 26, 18
    inner = height - bottom - 6
    top = max((sum(c.values) for c in columns), default=0) or 1
    step = (width - left - right) / max(len(columns), 1)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f'<line x1="{left}" y1="{6 + inner}" x2="{width}" y2="{6 + inner}" class="axis"/>',
        f'<text class="tick" x="{left - 4}" y="14" text-anchor="end">{top}</text>',
        f'<text class="tick" x="{left - 4}" y="{6 + inner}" text-anchor="end">0</text>',
    ]
    for n, column in enumerate(columns):
        x = left + n * step + step * 0.15
        y = 6.0 + inner
        parts.append(f'<a href="{escape(column.href)}"><g class="bar">')
        parts.append(
            f'<rect x="{x:.1f}" y="6" width="{step * 0.7:.1f}" height="{inner}" '
            f'fill="transparent"><title>{escape(column.label)}</title></rect>'
        )
        for value, color in zip(column.values, colors, strict=False):
            h = inner * value / top
            y -= h
            if value:
                parts.append(
                    f'<rect x="{x:.1f}" y="{y:.1f}" width="{step * 0.7:.1f}" height="{h:.1f}" '
                    f'fill="{color}"><title>{escape(column.label)}：{value}</title></rect>'
                )
        parts.append("</g></a>")
        if n % every == 0 or n == len(columns) - 1:
            parts.append(
                f'<text class="tick" x="{x + step * 0.35:.1f}" y="{height - 6}" '
                f'text-anchor="middle">{escape(column.label)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)
