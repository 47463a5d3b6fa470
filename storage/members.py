"""Members: the chats bound to an enterprise, and the contact each of them gave."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from storage.models import MemberRow
from storage.prepared import Prepared
from storage.repository import _fit, _rowcount, table_of, upsert_into

_MEMBERS = table_of(MemberRow)

VIAS = ("invite", "request", "registration", "console")


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
