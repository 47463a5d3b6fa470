"""Repositories for accounts, binding, submission and review.

Like `storage.repository` they take a `Session` and never commit: the caller owns the unit of
work. They return plain dataclasses, never ORM rows. Guarded changes (redeeming an invite,
deciding a request, moving a filing between statuses) are single UPDATEs whose WHERE clause
re-checks the guard, so of two concurrent attempts exactly one matches a row.
"""

from __future__ import annotations

import json
import secrets
import unicodedata
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from sqlalchemy import ColumnElement, bindparam, func, select, update
from sqlalchemy.orm import Session

from dialogs.cycle import Grade
from dialogs.model import Answer, Filing, Key, Source, Value, decode_value, encode_value
from dialogs.roster import RosterEntry
from storage.models import (
    EnterpriseRow,
    FilingRow,
    FilingVersionRow,
    InviteRow,
    MemberRow,
    RequestRow,
    ReviewerRow,
    TransitionRow,
)
from storage.prepared import Prepared
from storage.repository import (
    FilingNotFound,
    FilingRepository,
    UnstorableValue,
    _rowcount,
    _same,
    table_of,
    upsert_into,
)

_ENTERPRISES = table_of(EnterpriseRow)
_FILINGS = table_of(FilingRow)
_MEMBERS = table_of(MemberRow)
_REVIEWERS = table_of(ReviewerRow)
_INVITES = table_of(InviteRow)
_REQUESTS = table_of(RequestRow)
_VERSIONS = table_of(FilingVersionRow)
_TRANSITIONS = table_of(TransitionRow)

ACTIVE = "active"
PENDING = "pending"  # an enterprise's registration, or a request, awaiting a reviewer
REJECTED = "rejected"
APPROVED = "approved"

DRAFT = "draft"
SUBMITTED = "submitted"

VIAS = ("invite", "request", "registration", "console")
REQUEST_KINDS = ("binding", "registration")


def _fit(what: str, value: str, limit: int) -> str:
    # PostgreSQL refuses an over-long VARCHAR and SQLite stores it: refuse on both.
    if len(value) > limit:
        raise UnstorableValue(f"{what}: longer than {limit} characters")
    return value


def _normalize_code(text: str) -> str:
    """Credit codes and invite codes as typed: full-width forms, spaces, lower case."""
    folded = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in folded if not ch.isspace() and ch != "-").upper()


# --- enterprises ----------------------------------------------------------------------------


class EnterpriseNotFound(LookupError):
    def __init__(self, enterprise_id: int) -> None:
        super().__init__(f"no enterprise {enterprise_id}")
        self.enterprise_id = enterprise_id


class EnterpriseExists(Exception):
    """A registration for a credit code that is already active or awaiting approval."""

    def __init__(self, credit_code: str, enterprise_id: int, status: str) -> None:
        super().__init__(f"credit code {credit_code} already registered ({status})")
        self.credit_code = credit_code
        self.enterprise_id = enterprise_id
        self.status = status


@dataclass(frozen=True, slots=True)
class Enterprise:
    id: int
    credit_code: str
    name: str
    grade: str
    cert_number: str
    first_year: int
    status: str
    created_at: datetime
    updated_at: datetime


_ENTERPRISE_COLUMNS = (
    EnterpriseRow.id,
    EnterpriseRow.credit_code,
    EnterpriseRow.name,
    EnterpriseRow.grade,
    EnterpriseRow.cert_number,
    EnterpriseRow.first_year,
    EnterpriseRow.status,
    EnterpriseRow.created_at,
    EnterpriseRow.updated_at,
)


def identity_answers(
    name: str, credit_code: str, grade: str, cert_number: str, first_year: int
) -> dict[Key, Value]:
    """The enterprise's registered values as answers of section 1 (read-only roster answers)."""
    answers: dict[Key, Value] = {
        Key("enterprise.name"): name,
        Key("enterprise.credit_code"): credit_code,
        Key("enterprise.grade"): grade,
        Key("enterprise.first_year"): first_year,
    }
    if cert_number:
        answers[Key("enterprise.cert_number")] = cert_number
    return answers


def roster_answers(entry: RosterEntry, year: int) -> dict[Key, Value]:
    """Everything a roster row says about the filing for `year`: the enterprise's values and
    the completion table of the two years before it (older years are not part of the filing)."""
    answers = identity_answers(
        entry.name, entry.credit_code, entry.grade.value, entry.cert_number, entry.first_year
    )
    for prior in entry.prior:
        if prior.year not in (year - 2, year - 1):
            continue
        values: tuple[tuple[str, Value | None], ...] = (
            ("completion.count", prior.projects),
            ("completion.contract", prior.contract),
            ("completion.service", prior.service),
        )
        for field, value in values:
            if value is not None:
                answers[Key(field, "", prior.year)] = value
    return answers


class EnterpriseRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, enterprise_id: int) -> Enterprise | None:
        return self._one(EnterpriseRow.id == enterprise_id)

    def by_credit_code(self, credit_code: str) -> Enterprise | None:
        return self._one(EnterpriseRow.credit_code == _normalize_code(credit_code))

    def all_active(self) -> list[Enterprise]:
        rows = self._session.execute(
            select(*_ENTERPRISE_COLUMNS)
            .where(EnterpriseRow.status == ACTIVE)
            .order_by(EnterpriseRow.name, EnterpriseRow.id)
        )
        return [Enterprise(*row) for row in rows]

    def upsert_from_roster(self, entry: RosterEntry, year: int, now: datetime) -> tuple[int, bool]:
        """Creates or updates the enterprise of a roster row (by credit code; it becomes active)
        and writes the row's values into its filing for `year` as roster answers.

        Returns (enterprise id, created). Importing the same roster again changes nothing.
        """
        code = _normalize_code(entry.credit_code)
        values: dict[str, Any] = {
            "name": _fit("name", entry.name, 100),
            "grade": Grade(entry.grade).value,
            "cert_number": _fit("cert_number", entry.cert_number, 60),
            "first_year": entry.first_year,
            "status": ACTIVE,
            "updated_at": now,
        }
        existing = self._session.scalar(
            select(EnterpriseRow.id).where(EnterpriseRow.credit_code == code).with_for_update()
        )
        if existing is None:
            insert = upsert_into(self._session, _ENTERPRISES)
            statement = (
                insert.values(credit_code=code, created_at=now, **values)
                # A concurrent import of the same code: update what it inserted.
                .on_conflict_do_update(index_elements=["credit_code"], set_=values)
                .returning(_ENTERPRISES.c.id)
            )
            enterprise_id = int(self._session.execute(statement).scalar_one())
        else:
            enterprise_id = existing
            self._session.execute(
                update(_ENTERPRISES).where(_ENTERPRISES.c.id == existing).values(values)
            )
        filing_id, _created = self._ensure_filing(enterprise_id, year, now)
        self._import(filing_id, roster_answers(entry, year), now)
        return enterprise_id, existing is None

    def create_pending(  # noqa: PLR0917 - the registration's fields, in form order
        self,
        name: str,
        credit_code: str,
        grade: str,
        cert_number: str,
        first_year: int,
        now: datetime,
    ) -> int:
        """Records a new enterprise's registration, awaiting approval.

        A code whose earlier registration was rejected registers again (same id, new values);
        an active or pending one raises EnterpriseExists.
        """
        code = _normalize_code(credit_code)
        values: dict[str, Any] = {
            "name": _fit("name", name, 100),
            "grade": Grade(grade).value,
            "cert_number": _fit("cert_number", cert_number, 60),
            "first_year": first_year,
            "status": PENDING,
            "updated_at": now,
        }
        _fit("credit_code", code, 18)
        existing = self._session.execute(
            select(EnterpriseRow.id, EnterpriseRow.status)
            .where(EnterpriseRow.credit_code == code)
            .with_for_update()
        ).one_or_none()
        if existing is None:
            statement = (
                upsert_into(self._session, _ENTERPRISES)
                .values(credit_code=code, created_at=now, **values)
                .on_conflict_do_nothing(index_elements=["credit_code"])
                .returning(_ENTERPRISES.c.id)
            )
            inserted = self._session.scalar(statement)
            if inserted is None:  # registered concurrently
                found = self.by_credit_code(code)
                assert found is not None
                raise EnterpriseExists(code, found.id, found.status)
            return int(inserted)
        enterprise_id, status = existing
        reopened = (
            update(_ENTERPRISES)
            .where(_ENTERPRISES.c.id == enterprise_id, _ENTERPRISES.c.status == REJECTED)
            .values(values)
        )
        if status != REJECTED or _rowcount(self._session, reopened) != 1:
            raise EnterpriseExists(code, enterprise_id, status)
        return int(enterprise_id)

    def activate(self, enterprise_id: int, now: datetime) -> bool:
        """Approves a pending registration; False when it is not pending (any more)."""
        return self._decide(enterprise_id, ACTIVE, now)

    def reject(self, enterprise_id: int, now: datetime) -> bool:
        return self._decide(enterprise_id, REJECTED, now)

    def filing_for(self, enterprise_id: int, year: int, now: datetime) -> int:
        """The enterprise's filing for `year`, created when missing; either way its section-1
        answers are brought in line with the enterprise's registered values."""
        enterprise = self.get(enterprise_id)
        if enterprise is None:
            raise EnterpriseNotFound(enterprise_id)
        filing_id, _created = self._ensure_filing(enterprise_id, year, now)
        answers = identity_answers(
            enterprise.name,
            enterprise.credit_code,
            enterprise.grade,
            enterprise.cert_number,
            enterprise.first_year,
        )
        self._import(filing_id, answers, now)
        return filing_id

    # --- internals ---

    def _one(self, *where: ColumnElement[bool]) -> Enterprise | None:
        row = self._session.execute(select(*_ENTERPRISE_COLUMNS).where(*where)).one_or_none()
        return None if row is None else Enterprise(*row)

    def _decide(self, enterprise_id: int, status: str, now: datetime) -> bool:
        statement = (
            update(_ENTERPRISES)
            .where(_ENTERPRISES.c.id == enterprise_id, _ENTERPRISES.c.status == PENDING)
            .values(status=status, updated_at=now)
        )
        return _rowcount(self._session, statement) == 1

    def _ensure_filing(self, enterprise_id: int, year: int, now: datetime) -> tuple[int, bool]:
        where = (FilingRow.enterprise_id == enterprise_id, FilingRow.year == year)
        found = self._session.scalar(select(FilingRow.id).where(*where))
        if found is not None:
            return found, False
        statement = (
            upsert_into(self._session, _FILINGS)
            .values(enterprise_id=enterprise_id, year=year, status=DRAFT, version=0)
            .values(created_at=now, updated_at=now)
            # Two chats of one enterprise starting at once: the second gets the first's filing.
            .on_conflict_do_nothing(index_elements=["enterprise_id", "year"])
            .returning(_FILINGS.c.id)
        )
        created = self._session.scalar(statement)
        if created is not None:
            return int(created), True
        return int(self._session.execute(select(FilingRow.id).where(*where)).scalar_one()), False

    def _import(self, filing_id: int, answers: Mapping[Key, Value], now: datetime) -> None:
        """Imports the answers that differ from what is stored (or are not roster answers
        yet), so a repeated import leaves revisions and timestamps alone."""
        filings = FilingRepository(self._session)
        current = filings.stored_values(filing_id, list(answers))
        for key, value in answers.items():
            old = current.get(key)
            if old is None or old[1] != Source.ROSTER or not _same(old[0], value):
                filings.import_answer(filing_id, key, value, now)


# --- members --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Member:
    channel: str
    chat_id: str
    enterprise_id: int
    full_name: str
    mobile: str
    via: str
    bound_at: datetime


_MEMBER_COLUMNS = (
    MemberRow.channel,
    MemberRow.chat_id,
    MemberRow.enterprise_id,
    MemberRow.full_name,
    MemberRow.mobile,
    MemberRow.via,
    MemberRow.bound_at,
)


_MEMBER_ENTERPRISE = Prepared(
    select(MemberRow.enterprise_id).where(
        MemberRow.channel == bindparam("channel"), MemberRow.chat_id == bindparam("chat_id")
    )
)
_IS_REVIEWER = Prepared(
    select(ReviewerRow.chat_id).where(
        ReviewerRow.channel == bindparam("channel"), ReviewerRow.chat_id == bindparam("chat_id")
    )
)


class MemberRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def bind(
        self,
        channel: str,
        chat_id: str,
        enterprise_id: int,
        via: str,
        now: datetime,
        *,
        full_name: str = "",
        mobile: str = "",
    ) -> None:
        """Binds the chat to the enterprise, replacing any earlier binding of that chat (and
        its contact details)."""
        if via not in VIAS:
            raise ValueError(f"unknown binding route {via!r}")
        values = {
            "enterprise_id": enterprise_id,
            "full_name": _fit("full_name", full_name, 60),
            "mobile": _fit("mobile", mobile, 20),
            "via": via,
            "bound_at": now,
        }
        statement = (
            upsert_into(self._session, _MEMBERS)
            .values(channel=channel, chat_id=chat_id, **values)
            .on_conflict_do_update(index_elements=["channel", "chat_id"], set_=values)
        )
        self._session.execute(statement)

    def set_contact(self, channel: str, chat_id: str, full_name: str, mobile: str) -> bool:
        """Stores the contact details the member confirmed; False when the chat is not bound."""
        statement = (
            update(_MEMBERS)
            .where(_MEMBERS.c.channel == channel, _MEMBERS.c.chat_id == chat_id)
            .values(full_name=_fit("full_name", full_name, 60), mobile=_fit("mobile", mobile, 20))
        )
        return _rowcount(self._session, statement) == 1

    def enterprise_of(self, channel: str, chat_id: str) -> int | None:
        """The enterprise this chat is bound to (what every message of a contact asks)."""
        row = _MEMBER_ENTERPRISE.one(self._session, channel=channel, chat_id=chat_id)
        return None if row is None else int(row[0])

    def get(self, channel: str, chat_id: str) -> Member | None:
        row = self._session.execute(
            select(*_MEMBER_COLUMNS).where(
                MemberRow.channel == channel, MemberRow.chat_id == chat_id
            )
        ).one_or_none()
        return None if row is None else Member(*row)

    def of_enterprise(self, enterprise_id: int) -> list[Member]:
        """The enterprise's bound chats, first bound first."""
        rows = self._session.execute(
            select(*_MEMBER_COLUMNS)
            .where(MemberRow.enterprise_id == enterprise_id)
            .order_by(MemberRow.bound_at, MemberRow.channel, MemberRow.chat_id)
        )
        return [Member(*row) for row in rows]

    def unbind(self, channel: str, chat_id: str) -> bool:
        statement = _MEMBERS.delete().where(
            _MEMBERS.c.channel == channel, _MEMBERS.c.chat_id == chat_id
        )
        return _rowcount(self._session, statement) == 1


# --- reviewers ------------------------------------------------------------------------------


class ReviewerRepository:
    """Reviewers named in the settings (`configured`) plus those added at run time."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, channel: str, chat_id: str, added_by: str, now: datetime) -> bool:
        """False when the chat was already a stored reviewer."""
        statement = (
            upsert_into(self._session, _REVIEWERS)
            .values(channel=channel, chat_id=chat_id, added_by=added_by, added_at=now)
            .on_conflict_do_nothing(index_elements=["channel", "chat_id"])
        )
        return _rowcount(self._session, statement) == 1

    def remove(self, channel: str, chat_id: str) -> bool:
        """Removes a stored reviewer; configured reviewers stay reviewers regardless."""
        statement = _REVIEWERS.delete().where(
            _REVIEWERS.c.channel == channel, _REVIEWERS.c.chat_id == chat_id
        )
        return _rowcount(self._session, statement) == 1

    def is_reviewer(
        self, channel: str, chat_id: str, configured: Collection[tuple[str, str]]
    ) -> bool:
        if (channel, chat_id) in configured:
            return True
        return _IS_REVIEWER.one(self._session, channel=channel, chat_id=chat_id) is not None

    def all(self, configured: Collection[tuple[str, str]]) -> list[tuple[str, str]]:
        stored = self._session.execute(select(ReviewerRow.channel, ReviewerRow.chat_id))
        return sorted({(c, i) for c, i in configured} | {(c, i) for c, i in stored})


# --- invites --------------------------------------------------------------------------------

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


# --- binding and registration requests ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Request:
    id: int
    kind: str
    channel: str
    chat_id: str
    enterprise_id: int | None
    payload: dict[str, Any]
    status: str
    created_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    reason: str | None


_REQUEST_COLUMNS = (
    RequestRow.id,
    RequestRow.kind,
    RequestRow.channel,
    RequestRow.chat_id,
    RequestRow.enterprise_id,
    RequestRow.payload,
    RequestRow.status,
    RequestRow.created_at,
    RequestRow.decided_at,
    RequestRow.decided_by,
    RequestRow.reason,
)


def _request(row: Sequence[Any]) -> Request:
    values = list(row)
    values[5] = json.loads(values[5])
    return Request(*values)


class RequestRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def open(
        self,
        kind: str,
        channel: str,
        chat_id: str,
        payload: Mapping[str, Any],
        now: datetime,
        *,
        enterprise_id: int | None = None,
    ) -> int:
        if kind not in REQUEST_KINDS:
            raise ValueError(f"unknown request kind {kind!r}")
        statement = (
            _REQUESTS.insert()
            .values(
                kind=kind,
                channel=channel,
                chat_id=chat_id,
                enterprise_id=enterprise_id,
                payload=json.dumps(dict(payload), ensure_ascii=False, sort_keys=True),
                status=PENDING,
                created_at=now,
            )
            .returning(_REQUESTS.c.id)
        )
        return int(self._session.execute(statement).scalar_one())

    def get(self, request_id: int) -> Request | None:
        row = self._session.execute(
            select(*_REQUEST_COLUMNS).where(RequestRow.id == request_id)
        ).one_or_none()
        return None if row is None else _request(row)

    def pending(self, kind: str | None = None) -> list[Request]:
        """Requests awaiting a decision, oldest first."""
        where = [RequestRow.status == PENDING]
        if kind is not None:
            where.append(RequestRow.kind == kind)
        return self._list(*where)

    def pending_for(self, channel: str, chat_id: str) -> list[Request]:
        """The chat's requests awaiting a decision, oldest first."""
        return self._list(
            RequestRow.status == PENDING,
            RequestRow.channel == channel,
            RequestRow.chat_id == chat_id,
        )

    def decide(
        self, request_id: int, status: str, by: str, now: datetime, reason: str | None = None
    ) -> bool:
        """Approves or rejects a pending request; False when it is not pending (any more),
        e.g. when another reviewer decided first."""
        if status not in (APPROVED, REJECTED):
            raise ValueError(f"a request is approved or rejected, not {status!r}")
        statement = (
            update(_REQUESTS)
            .where(_REQUESTS.c.id == request_id, _REQUESTS.c.status == PENDING)
            .values(status=status, decided_at=now, decided_by=by, reason=reason)
        )
        return _rowcount(self._session, statement) == 1

    def _list(self, *where: ColumnElement[bool]) -> list[Request]:
        rows = self._session.execute(
            select(*_REQUEST_COLUMNS).where(*where).order_by(RequestRow.created_at, RequestRow.id)
        )
        return [_request(row) for row in rows]


# --- submission and review ------------------------------------------------------------------


class StatusConflict(Exception):
    """The filing is not in a status the change may start from (or changed meanwhile)."""

    def __init__(self, filing_id: int, status: str) -> None:
        super().__init__(f"filing {filing_id} is {status}")
        self.filing_id = filing_id
        self.status = status


@dataclass(frozen=True, slots=True)
class Transition:
    id: int
    filing_id: int
    version: int
    from_status: str
    to_status: str
    actor: str
    channel: str
    reason: str | None
    sections: tuple[str, ...] | None
    at: datetime


@dataclass(frozen=True, slots=True)
class QueueItem:
    filing_id: int
    year: int
    status: str
    version: int
    # Filings from before accounts existed have no enterprise: None and "" then.
    enterprise_id: int | None
    enterprise_name: str
    credit_code: str
    grade: str
    submitted_at: datetime  # the last move into "submitted" (else the last change)


class WorkflowRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def status(self, filing_id: int) -> tuple[str, int]:
        """(status, number of the last submitted version; 0 = never submitted)."""
        row = self._session.execute(
            select(FilingRow.status, FilingRow.version).where(FilingRow.id == filing_id)
        ).one_or_none()
        if row is None:
            raise FilingNotFound(filing_id)
        return row[0], row[1]

    def submit(
        self,
        filing_id: int,
        snapshot: Mapping[str, Any],
        by: str,
        channel: str,
        now: datetime,
        *,
        expect_from: Collection[str] | None = None,
    ) -> int:
        """Freezes `snapshot` (see `snapshot_of`) as the next version, moves the filing to
        "submitted" and records the transition; returns the new version number.

        Raises StatusConflict when the filing's status is not in `expect_from` (if given), or
        when a concurrent submission or transition got there first."""
        current, version = self._lock(filing_id)
        if expect_from is not None and current not in expect_from:
            raise StatusConflict(filing_id, current)
        new_version = version + 1
        moved = (
            update(_FILINGS)
            .where(
                _FILINGS.c.id == filing_id,
                _FILINGS.c.status == current,
                _FILINGS.c.version == version,
            )
            .values(
                status=SUBMITTED,
                version=new_version,
                updated_at=now,
                revision=_FILINGS.c.revision + 1,
            )
        )
        if _rowcount(self._session, moved) != 1:
            raise StatusConflict(filing_id, self.status(filing_id)[0])
        self._session.execute(
            _VERSIONS.insert().values(
                filing_id=filing_id,
                version=new_version,
                snapshot=json.dumps(dict(snapshot), ensure_ascii=False, sort_keys=True),
                submitted_at=now,
                submitted_by=by,
            )
        )
        self._record(
            filing_id, new_version, (current, SUBMITTED), actor=by, channel=channel, at=now
        )
        return new_version

    def transition(
        self,
        filing_id: int,
        to_status: str,
        actor: str,
        channel: str,
        now: datetime,
        *,
        reason: str | None = None,
        sections: Sequence[str] | None = None,
        expect_from: Collection[str] | None = None,
    ) -> bool:
        """Moves the filing to `to_status` and records who, when, why and which sections.

        False (and nothing written) when its status is not in `expect_from`, or when it
        changed between reading and writing (another reviewer decided first)."""
        current, version = self._lock(filing_id)
        if expect_from is not None and current not in expect_from:
            return False
        moved = (
            update(_FILINGS)
            .where(
                _FILINGS.c.id == filing_id,
                _FILINGS.c.status == current,
                _FILINGS.c.version == version,
            )
            .values(status=to_status, updated_at=now, revision=_FILINGS.c.revision + 1)
        )
        if _rowcount(self._session, moved) != 1:
            return False
        self._record(
            filing_id,
            version,
            (current, to_status),
            actor=actor,
            channel=channel,
            at=now,
            reason=reason,
            sections=sections,
        )
        return True

    def history(self, filing_id: int) -> list[Transition]:
        rows = self._session.execute(
            select(
                TransitionRow.id,
                TransitionRow.filing_id,
                TransitionRow.version,
                TransitionRow.from_status,
                TransitionRow.to_status,
                TransitionRow.actor,
                TransitionRow.channel,
                TransitionRow.reason,
                TransitionRow.sections,
                TransitionRow.at,
            )
            .where(TransitionRow.filing_id == filing_id)
            .order_by(TransitionRow.at, TransitionRow.id)
        )
        history = []
        for row in rows:
            values = list(row)
            values[8] = None if row.sections is None else tuple(json.loads(row.sections))
            history.append(Transition(*values))
        return history

    def version_snapshot(self, filing_id: int, version: int) -> dict[str, Any] | None:
        raw = self._session.scalar(
            select(FilingVersionRow.snapshot).where(
                FilingVersionRow.filing_id == filing_id, FilingVersionRow.version == version
            )
        )
        if raw is None:
            return None
        data: dict[str, Any] = json.loads(raw)
        return data

    def queue(self, statuses: Collection[str] = (SUBMITTED,)) -> list[QueueItem]:
        """Filings in `statuses`, the longest waiting first."""
        last_submitted = (
            select(TransitionRow.filing_id, func.max(TransitionRow.at).label("at"))
            .where(TransitionRow.to_status == SUBMITTED)
            .group_by(TransitionRow.filing_id)
            .subquery()
        )
        submitted_at = func.coalesce(last_submitted.c.at, FilingRow.updated_at)
        rows = self._session.execute(
            select(
                FilingRow.id,
                FilingRow.year,
                FilingRow.status,
                FilingRow.version,
                FilingRow.enterprise_id,
                EnterpriseRow.name,
                EnterpriseRow.credit_code,
                EnterpriseRow.grade,
                last_submitted.c.at,
                FilingRow.updated_at,
            )
            .select_from(FilingRow)
            .outerjoin(EnterpriseRow, EnterpriseRow.id == FilingRow.enterprise_id)
            .outerjoin(last_submitted, last_submitted.c.filing_id == FilingRow.id)
            .where(FilingRow.status.in_(list(statuses)))
            .order_by(submitted_at, FilingRow.id)
        )
        return [
            QueueItem(
                filing_id=row[0],
                year=row[1],
                status=row[2],
                version=row[3],
                enterprise_id=row[4],
                enterprise_name=row[5] or "",
                credit_code=row[6] or "",
                grade=row[7] or "",
                submitted_at=row[8] if row[8] is not None else row[9],
            )
            for row in rows
        ]

    # --- internals ---

    def _lock(self, filing_id: int) -> tuple[str, int]:
        """The filing's status and version, read under its row lock: on PostgreSQL concurrent
        changes of one filing queue here. SQLite ignores FOR UPDATE; there the guarded UPDATE
        after it catches the race."""
        row = self._session.execute(
            select(FilingRow.status, FilingRow.version)
            .where(FilingRow.id == filing_id)
            .with_for_update()
        ).one_or_none()
        if row is None:
            raise FilingNotFound(filing_id)
        return row[0], row[1]

    def _record(
        self,
        filing_id: int,
        version: int,
        move: tuple[str, str],
        *,
        actor: str,
        channel: str,
        at: datetime,
        reason: str | None = None,
        sections: Iterable[str] | None = None,
    ) -> None:
        self._session.execute(
            _TRANSITIONS.insert().values(
                filing_id=filing_id,
                version=version,
                from_status=move[0],
                to_status=move[1],
                actor=actor,
                channel=channel,
                reason=reason,
                sections=None if sections is None else json.dumps(list(sections)),
                at=at,
            )
        )


# --- snapshots ------------------------------------------------------------------------------

SNAPSHOT_FORMAT = 1


def snapshot_of(filing: Filing) -> dict[str, Any]:
    """The filing's answers and records as JSON-ready data, exact for every value type:
    numbers travel as strings so a Decimal comes back as the same Decimal."""
    answers = []
    for key in sorted(filing.answers):
        vtype, num, text = encode_value(filing.answers[key].value)
        answers.append(
            [key.field, key.record, key.year, vtype.value, None if num is None else str(num), text]
        )
    records = {group: list(ids) for group, ids in sorted(filing.records.items())}
    return {"format": SNAPSHOT_FORMAT, "answers": answers, "records": records}


def filing_from_snapshot(
    data: Mapping[str, Any], filing_id: int, year: int, *, status: str = SUBMITTED
) -> Filing:
    """The filing as it was submitted. Answer sources and revisions are not part of a
    snapshot: every answer comes back as revision 1 from the user."""
    if data.get("format") != SNAPSHOT_FORMAT:
        raise ValueError(f"unknown snapshot format {data.get('format')!r}")
    answers: dict[Key, Answer] = {}
    for field, record, answer_year, vtype, num, text in data["answers"]:
        number = None if num is None else Decimal(num)
        answers[Key(field, record, answer_year)] = Answer(decode_value(vtype, number, text))
    records = {group: tuple(ids) for group, ids in data["records"].items()}
    return Filing(
        id=filing_id,
        year=year,
        status=status,
        answers=MappingProxyType(answers),
        records=MappingProxyType(records),
    )
