"""What goes in and out of the engine, free of any platform's formatting.

Each channel renders replies its own way (inline keyboards, numbered lists, upload links)
and turns what the user did into events.
"""

from __future__ import annotations

from dataclasses import dataclass

from dialogs.model import FileRef

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


@dataclass(frozen=True, slots=True)
class FileRequest:
    """Asks for one file for a named attachment slot."""

    text: str
    slot: str  # the answer key, e.g. "attach.project_file#pro3"
    slot_label: str
    options: tuple[Button, ...] = ()
    accepted: tuple[str, ...] = ("application/pdf", "image/jpeg", "image/png", "application/ofd")


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


Event = TextIn | FileIn | Start


def reply_text(reply: Reply) -> str:
    """The plain text of a reply, for logs, tests and text-only fall-backs."""
    if isinstance(reply, Document):
        return reply.caption
    return reply.text
