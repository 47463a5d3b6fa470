"""The enterprise's filing of the previous cycle, as it was filed: the last submitted version's
snapshot (what the association received), for the new filing to start from."""

from __future__ import annotations

from collections.abc import MutableMapping

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from dialogs.model import Filing
from storage.models import FilingRow
from storage.prepared import Prepared
from storage.workflow import WorkflowRepository, filing_from_snapshot

# A filing counts as filed once submitted; approval or completion only confirm it.
FILED = frozenset({"submitted", "approved", "complete"})

# Asked on every message while a carried section is open: prepared (storage/prepared.py).
_FILED_VERSION = Prepared(
    select(FilingRow.id, FilingRow.status, FilingRow.version).where(
        FilingRow.enterprise_id == bindparam("enterprise_id"), FilingRow.year == bindparam("year")
    )
)

# Submitted versions never change: (filing id, version, status) -> the filing as filed.
Decoded = MutableMapping[tuple[int, int, str], Filing | None]


def last_filed(
    session: Session, enterprise_id: int, year: int, decoded: Decoded | None = None
) -> Filing | None:
    """The enterprise's filing of `year - 1` as last submitted, or None when it did not file.
    `decoded`: snapshots decoded before, reused (a submitted version is immutable)."""
    row = _FILED_VERSION.one(session, enterprise_id=enterprise_id, year=year - 1)
    if row is None:
        return None
    filing_id, status, version = int(row[0]), str(row[1]), int(row[2])
    if status not in FILED or not version:
        return None
    key = (filing_id, version, status)
    if decoded is not None and key in decoded:
        return decoded[key]
    snapshot = WorkflowRepository(session).version_snapshot(filing_id, version)
    found = (
        None
        if snapshot is None
        else filing_from_snapshot(snapshot, filing_id, year - 1, status=status)
    )
    if decoded is not None:
        if len(decoded) > 4096:
            decoded.clear()
        decoded[key] = found
    return found
