"""What goes in and out of the engine, free of any platform's formatting.

Each channel renders replies its own way (inline keyboards, numbered lists, upload links)
and turns what the user did into events.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from dialogs.model import FileRef

ACCEPTED_TYPES = ("application/pdf", "image/jpeg", "image/png", "application/ofd")

# --- replies ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    # What the engine receives when the button is pressed; typing it does the same.
    value: str


@dataclass(frozen=True, slots=True)
class Text:
    text: str


@dataclass(frozen=True, slots=True)
class Choice:
    """A question with options; the user may press one or type an answer."""

    text: str
    options: tuple[Button, ...]
    # The answer is typed; the options are only shortcuts (跳过, 保留). A channel that numbers
    # options must not, or "1" would mean the shortcut instead of the answer 1.
    free_text: bool = False
    # The same question asked again after an answer it could not take: its options are those
    # of the prompt still on screen. A channel that lists options as lines of text need not
    # list them again (and keeps the earlier message's options working).
    again: bool = False


@dataclass(frozen=True, slots=True)
class FileRequest:
    """Asks for one file for a named attachment slot."""

    text: str
    slot: str  # the answer key, e.g. "attach.project_file#pro3"
    slot_label: str
    options: tuple[Button, ...] = ()
    accepted: tuple[str, ...] = ACCEPTED_TYPES


@dataclass(frozen=True, slots=True)
class Document:
    """A document for the user (e.g. the declaration form PDF)."""

    filename: str
    content: bytes
    caption: str = ""
    content_type: str = "application/pdf"


Reply = Text | Choice | FileRequest | Document


# --- events -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextIn:
    text: str


@dataclass(frozen=True, slots=True)
class FileIn:
    """A file the channel received and stored; `rejected` carries the reason when the edge
    refused it (empty, too large, not PDF/JPEG/PNG/OFD)."""

    ref: FileRef | None
    rejected: str = ""


@dataclass(frozen=True, slots=True)
class Start:
    payload: str = ""


@dataclass(frozen=True, slots=True)
class TableRow:
    number: int  # the spreadsheet's own row number, for the report
    cells: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TableIn:
    """A spreadsheet received while the conversation waited for one (the project import),
    read at the edge into text cells; the first row is the header. `rejected` says why the
    edge could not read it."""

    name: str
    rows: tuple[TableRow, ...]
    rejected: str = ""


Event = TextIn | FileIn | Start | TableIn


def reply_text(reply: Reply) -> str:
    """The plain text of a reply, for logs, tests and text-only fall-backs."""
    if isinstance(reply, Document):
        return reply.caption
    return reply.text


# --- payloads: replies as JSON-able dicts, for the outbox --------------------------------------


def to_payload(reply: Reply) -> dict[str, object]:
    """A reply as plain JSON values, stored in the outbox until it is delivered."""
    if isinstance(reply, Text):
        return {"type": "text", "text": reply.text}
    if isinstance(reply, Document):
        return {
            "type": "document",
            "filename": reply.filename,
            "content": base64.b64encode(reply.content).decode("ascii"),
            "caption": reply.caption,
            "content_type": reply.content_type,
        }
    options = [[b.label, b.value] for b in reply.options]
    if isinstance(reply, Choice):
        return {
            "type": "choice",
            "text": reply.text,
            "options": options,
            "free_text": reply.free_text,
            "again": reply.again,
        }
    return {
        "type": "file_request",
        "text": reply.text,
        "slot": reply.slot,
        "slot_label": reply.slot_label,
        "options": options,
        "accepted": list(reply.accepted),
    }


def from_payload(data: dict[str, Any]) -> Reply:
    kind = data["type"]
    if kind == "text":
        return Text(data["text"])
    if kind == "document":
        return Document(
            data["filename"],
            base64.b64decode(data["content"]),
            data.get("caption", ""),
            data.get("content_type", "application/pdf"),
        )
    options = tuple(Button(label, value) for label, value in data.get("options", ()))
    if kind == "choice":
        return Choice(
            data["text"],
            options,
            bool(data.get("free_text", False)),
            bool(data.get("again", False)),
        )
    if kind == "file_request":
        return FileRequest(
            data["text"],
            data["slot"],
            data["slot_label"],
            options,
            tuple(data.get("accepted", ())) or ACCEPTED_TYPES,
        )
    raise ValueError(f"unknown reply payload type {kind!r}")
