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
class SendDeclaration:
    """Send the approved declaration form (again) to the chat that asked."""


@dataclass(frozen=True, slots=True)
class SendProjectTemplate:
    """Send the project spreadsheet template (XLSX, built from the form spec at the edge)."""


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


@dataclass(frozen=True, slots=True)
class RequestBinding:
    """An unbound chat asks to join an enterprise on the roster; a reviewer decides."""

    full_name: str
    credit_code: str


@dataclass(frozen=True, slots=True)
class RequestRegistration:
    """An enterprise first certified this year registers; a reviewer decides."""

    name: str
    credit_code: str
    grade: str
    cert_number: str
    full_name: str
    mobile: str
    first_year: int


@dataclass(frozen=True, slots=True)
class DecideRequest:
    request_id: int
    approve: bool


@dataclass(frozen=True, slots=True)
class PromoteReviewer:
    channel: str
    chat_id: str


@dataclass(frozen=True, slots=True)
class ExportFilings:
    """Send the reviewer the association's workbook of every enterprise's filing of `year`."""

    year: int


Effect = (
    SubmitFiling
    | StampedFormReceived
    | SendDeclaration
    | SendProjectTemplate
    | Approve
    | Reject
    | SendAttachment
    | RedeemInvite
    | IssueInvite
    | RequestBinding
    | RequestRegistration
    | DecideRequest
    | PromoteReviewer
    | ExportFilings
)
