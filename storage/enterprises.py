"""The roster: enterprises (imported from the association's roster or registered in chat,
active, pending or rejected), with the identity answers they give their filings.

Like every repository they take a `Session` and never commit, and return plain dataclasses.
Deciding a registration is a single UPDATE whose WHERE clause re-checks the guard, so of two
concurrent attempts exactly one matches a row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from dialogs.cycle import Grade
from dialogs.model import Key, Source, Value
from dialogs.roster import RosterEntry
from storage.models import EnterpriseRow, FilingRow
from storage.repository import (
    FilingRepository,
    _fit,
    _normalize_code,
    _rowcount,
    _same,
    table_of,
    upsert_into,
)
from storage.statuses import ACTIVE, DRAFT, PENDING, REJECTED

_ENTERPRISES = table_of(EnterpriseRow)
_FILINGS = table_of(FilingRow)


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
