"""Invite codes: issued for an enterprise, redeemed once, within their validity.

Like every repository they take a `Session` and never commit, and return plain dataclasses.
Redeeming a code is a single UPDATE whose WHERE clause re-checks the guard, so of two concurrent
attempts exactly one matches a row.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.models import EnterpriseRow, InviteRow
from storage.repository import _normalize_code, table_of

_INVITES = table_of(InviteRow)


# No 0/O, 1/I: codes are read off paper and typed on phones.
INVITE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
INVITE_LENGTH = 8  # 32^8 ≈ 10^12 codes
_INVITE_MAX = 16


def new_code() -> str:
    return "".join(secrets.choice(INVITE_ALPHABET) for _ in range(INVITE_LENGTH))


@dataclass(frozen=True, slots=True)
class InviteInfo:
    code: str
    enterprise_id: int
    enterprise_name: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None
    used_by: str | None
    usable: bool  # neither used nor expired at the time asked


class InviteRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def issue(self, enterprise_id: int, now: datetime, valid_for: timedelta, code: str) -> str:
        """Stores a code (the caller draws it, e.g. with `new_code()`); returns it normalised."""
        normalized = _normalize_code(code)
        if not normalized or len(normalized) > _INVITE_MAX:
            raise ValueError(f"invite code must have 1 to {_INVITE_MAX} characters")
        if valid_for <= timedelta(0):
            raise ValueError("an invite must be valid for some time")
        self._session.execute(
            _INVITES.insert().values(
                code=normalized,
                enterprise_id=enterprise_id,
                created_at=now,
                expires_at=now + valid_for,
            )
        )
        return normalized

    def redeem(self, code: str, by: str, now: datetime) -> int | None:
        """Uses the code up and returns its enterprise; None when it is unknown, expired or
        already used. One UPDATE both checks and marks, so of two concurrent redeems one wins
        (PostgreSQL re-checks the WHERE after waiting for the row lock; SQLite serialises)."""
        normalized = _normalize_code(code)
        if not normalized or len(normalized) > _INVITE_MAX:
            return None
        statement = (
            update(_INVITES)
            .where(
                _INVITES.c.code == normalized,
                _INVITES.c.used_at.is_(None),
                _INVITES.c.expires_at > now,
            )
            .values(used_at=now, used_by=by)
            .returning(_INVITES.c.enterprise_id)
        )
        enterprise_id = self._session.execute(statement).scalar_one_or_none()
        return None if enterprise_id is None else int(enterprise_id)

    def peek(self, code: str, now: datetime) -> InviteInfo | None:
        """What the code would bind to, without using it; None for an unknown code."""
        normalized = _normalize_code(code)
        row = self._session.execute(
            select(
                InviteRow.code,
                InviteRow.enterprise_id,
                EnterpriseRow.name,
                InviteRow.created_at,
                InviteRow.expires_at,
                InviteRow.used_at,
                InviteRow.used_by,
            )
            .join(EnterpriseRow, EnterpriseRow.id == InviteRow.enterprise_id)
            .where(InviteRow.code == normalized)
        ).one_or_none()
        if row is None:
            return None
        usable = row.used_at is None and row.expires_at > now
        return InviteInfo(*row, usable=usable)
