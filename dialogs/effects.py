"""What a dialog asks the world to do beyond storing answers: the service carries these out
in the same transaction (submitting freezes a version, approving sends the declaration form)."""

from __future__ import annotations

from dataclasses import dataclass

from dialogs.model import FileRef


@dataclass(frozen=True, slots=True)
class SubmitFiling:
    """Freeze the filing as this version and notify the reviewers."""

    version: int


@dataclass(frozen=True, slots=True)
class StampedFormReceived:
    """The stamped declaration form is in: the filing is complete."""

    ref: FileRef


@dataclass(frozen=True, slots=True)
class Approve:
    filing_id: int
    version: int


@dataclass(frozen=True, slots=True)
class Reject:
    filing_id: int
    version: int
    reason: str
    sections: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SendAttachment:
    """Send a stored file of a filing to the reviewer who asked for it."""

    ref: FileRef


@dataclass(frozen=True, slots=True)
class RedeemInvite:
    code: str


@dataclass(frozen=True, slots=True)
class IssueInvite:
    credit_code: str


Effect = (
    SubmitFiling
    | StampedFormReceived
    | Approve
    | Reject
    | SendAttachment
    | RedeemInvite
    | IssueInvite
)
