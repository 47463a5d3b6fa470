"""The relational schema. `Row` suffixes keep these apart from the domain values in
`dialogs.model`, which the repositories translate to and from."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Explicit constraint names make migrations identical on SQLite and PostgreSQL and let later
# migrations drop or alter constraints by name (SQLite batch mode needs names).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Money in 万元 with two decimals, and counts. SQLite keeps at most 15 significant digits
# exactly, so repositories refuse values beyond what both backends hold exactly.
MONEY = Numeric(18, 2)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every backend.

    SQLite has no time zones: without this, values would come back naive or shifted.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware (UTC) time")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}  # noqa: RUF012


class FilingRow(Base):
    __tablename__ = "filings"
    # One filing per enterprise and year; filings without an enterprise (NULL) are not limited.
    __table_args__ = (
        UniqueConstraint("enterprise_id", "year", name="uq_filings_enterprise_id_year"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    year: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="draft", server_default="draft")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    enterprise_id: Mapped[int | None] = mapped_column(
        ForeignKey("enterprises.id", ondelete="SET NULL")
    )
    # The number of the last submitted version; 0 = never submitted.
    version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Raised by every change to the filing or its answers (storage/filing_cache.py).
    revision: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class AnswerRow(Base):
    __tablename__ = "answers"
    __table_args__ = (CheckConstraint("source IN ('user', 'roster')", name="source"),)

    filing_id: Mapped[int] = mapped_column(
        ForeignKey("filings.id", ondelete="CASCADE"), primary_key=True
    )
    field: Mapped[str] = mapped_column(String(80), primary_key=True)
    record: Mapped[str] = mapped_column(String(40), primary_key=True, default="")
    year: Mapped[int] = mapped_column(Integer, primary_key=True, default=0)
    vtype: Mapped[str] = mapped_column(String(10))
    value_num: Mapped[Decimal | None] = mapped_column(MONEY)
    value_text: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(10))
    revision: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(120))


class RecordRow(Base):
    """One repeatable record (a project, a certificate holder, ...) and its display order."""

    __tablename__ = "records"

    filing_id: Mapped[int] = mapped_column(
        ForeignKey("filings.id", ondelete="CASCADE"), primary_key=True
    )
    # "group" is an SQL keyword; a plain column name saves quoting everywhere.
    grp: Mapped[str] = mapped_column(String(40), primary_key=True)
    record: Mapped[str] = mapped_column(String(40), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]


class ConversationRow(Base):
    """Where a chat stands, so a restart or a second process picks up the same dialogue."""

    __tablename__ = "conversations"

    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    chat_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    filing_id: Mapped[int | None] = mapped_column(
        ForeignKey("filings.id", ondelete="SET NULL"), index=True
    )
    state: Mapped[str] = mapped_column(Text)  # JSON
    updated_at: Mapped[datetime]


class AttachmentRow(Base):
    """Metadata of a stored file; the bytes live in the content-addressed AttachmentStore."""

    __tablename__ = "attachments"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]


# --- messaging channels ---------------------------------------------------------------------


class ProcessedEventRow(Base):
    """Channel events already handled (Telegram update_id, WeChat MsgId): a redelivered event
    is recognised in the same transaction that would have stored its answer."""

    __tablename__ = "processed_events"

    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    processed_at: Mapped[datetime]


class InboxRow(Base):
    """A channel event as it arrived, stored before the platform is told it was received
    (Telegram: before the next getUpdates confirms it, before a webhook call is answered), so
    an event taken by a process that dies before handling it is handled after the restart.
    Removed once handled; a replayed event that was handled meanwhile is recognised by
    `processed_events`."""

    __tablename__ = "inbox"

    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # Telegram: update_id
    payload: Mapped[str] = mapped_column(Text)  # JSON, as the platform sent it
    received_at: Mapped[datetime]
    # The process that took it (its `process:` lease): another process adopts the events of
    # one whose lease ran out (it died); None: anyone's.
    owner: Mapped[str | None] = mapped_column(String(100))


class OutboxRow(Base):
    """A reply the bot means to send, written in the transaction that decided it, so nothing
    acknowledged in the database is lost between commit and delivery."""

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'sent', 'failed', 'blocked', 'superseded')", name="status"
        ),
        Index("ix_outbox_pending", "status", "channel", "chat_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(20))
    chat_id: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)  # JSON of one reply
    status: Mapped[str] = mapped_column(String(10), default="pending", server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # A long reply goes out in several messages; a retry resumes after the parts sent.
    parts_sent: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # How often its delivery began (recorded before each send): after crashes an item begun
    # twice counts as delivered, so that nothing reaches a chat more than twice.
    started: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    not_before: Mapped[datetime | None]
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class ChannelChatRow(Base):
    """What a channel needs to remember about a chat: the prompt whose buttons are live,
    whether the user blocked the bot, when they last wrote."""

    __tablename__ = "channel_chats"

    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    chat_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    prompt_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    prompt: Mapped[str | None] = mapped_column(Text)  # JSON: the live options
    blocked_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    # Set when what the chat was owed after a crash was coalesced into its current question:
    # an answer repeating the previous one (`last_text`) is confirmed before it is stored.
    resumed_at: Mapped[datetime | None]
    last_text: Mapped[str | None] = mapped_column(Text)
    last_text_at: Mapped[datetime | None]  # when the person sent it (the platform's time)
    confirm_text: Mapped[str | None] = mapped_column(Text)  # a repeat waiting for 是 / 否


class LeaseRow(Base):
    """A named right held by one process until `expires_at` (renewed while it holds it):
    delivering one chat's outbox, being the long-poller, refreshing the WeChat token, being
    alive (`process:<owner>`). A dead process's leases run out and others take over."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    owner: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime]


class SharedValueRow(Base):
    """A value every process shares (the WeChat access token), with its expiry."""

    __tablename__ = "shared_values"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime | None]


# --- accounts, binding, submission, review --------------------------------------------------


class EnterpriseRow(Base):
    """An account: the enterprise's full name plus its unified social credit code."""

    __tablename__ = "enterprises"
    __table_args__ = (
        CheckConstraint("grade IN ('甲', '乙', '丙', '丁')", name="grade"),
        CheckConstraint("status IN ('active', 'pending', 'rejected')", name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    credit_code: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    grade: Mapped[str] = mapped_column(String(2))
    cert_number: Mapped[str] = mapped_column(String(60), default="")
    first_year: Mapped[int] = mapped_column(Integer)
    # "pending": a registration awaiting a reviewer's approval.
    status: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class MemberRow(Base):
    """A chat bound to an enterprise: its contact person. A chat belongs to one enterprise."""

    __tablename__ = "members"
    __table_args__ = (
        CheckConstraint("via IN ('invite', 'request', 'registration', 'console')", name="via"),
    )

    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    chat_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(
        ForeignKey("enterprises.id", ondelete="CASCADE"), index=True
    )
    full_name: Mapped[str] = mapped_column(String(60), default="")
    mobile: Mapped[str] = mapped_column(String(20), default="")
    via: Mapped[str] = mapped_column(String(12))
    bound_at: Mapped[datetime]


class ReviewerRow(Base):
    """A reviewer added at run time; those named in the settings are reviewers regardless."""

    __tablename__ = "reviewers"

    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    chat_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    added_by: Mapped[str] = mapped_column(String(90))
    added_at: Mapped[datetime]


class InviteRow(Base):
    """A one-time code that binds the chat redeeming it to an enterprise."""

    __tablename__ = "invites"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(
        ForeignKey("enterprises.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_by: Mapped[str | None] = mapped_column(String(90))


class RequestRow(Base):
    """A binding or registration request waiting for a reviewer's decision."""

    __tablename__ = "requests"
    __table_args__ = (
        CheckConstraint("kind IN ('binding', 'registration')", name="kind"),
        CheckConstraint("status IN ('pending', 'approved', 'rejected')", name="status"),
        Index("ix_requests_status_created_at", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(12))
    channel: Mapped[str] = mapped_column(String(20))
    chat_id: Mapped[str] = mapped_column(String(64))
    enterprise_id: Mapped[int | None] = mapped_column(
        ForeignKey("enterprises.id", ondelete="SET NULL"), index=True
    )
    payload: Mapped[str] = mapped_column(Text)  # JSON
    status: Mapped[str] = mapped_column(String(10), default="pending", server_default="pending")
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(90))
    reason: Mapped[str | None] = mapped_column(Text)


class FilingVersionRow(Base):
    """The answers as submitted, frozen: what the reviewer decided on and the PDF shows."""

    __tablename__ = "filing_versions"

    filing_id: Mapped[int] = mapped_column(
        ForeignKey("filings.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    snapshot: Mapped[str] = mapped_column(Text)  # JSON, see storage.workflow.snapshot_of
    submitted_at: Mapped[datetime]
    submitted_by: Mapped[str] = mapped_column(String(90))


class TransitionRow(Base):
    """One change of a filing's status: who, when, why (and which sections, on rejection)."""

    __tablename__ = "transitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    filing_id: Mapped[int] = mapped_column(ForeignKey("filings.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    from_status: Mapped[str] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(90))
    channel: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    sections: Mapped[str | None] = mapped_column(Text)  # JSON list of section ids
    at: Mapped[datetime]


# --- reminders --------------------------------------------------------------------------------


class ReminderRow(Base):
    """A reminder recorded under its unique key (enterprise, kind, occurrence): written when it
    falls due, claimed and sent in the transaction that queues its messages in the outbox, so
    it goes out once, ever. Enterprise 0 is the reviewers' digest; no foreign key, so the
    record outlives a removed enterprise."""

    __tablename__ = "reminders"
    __table_args__ = (
        UniqueConstraint("enterprise_id", "kind", "occurrence", name="uq_reminders_key"),
        CheckConstraint("status IN ('pending', 'sent', 'skipped', 'obsolete')", name="status"),
        Index("ix_reminders_status_due_at", "status", "due_at"),
        Index("ix_reminders_year_enterprise_id", "year", "enterprise_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    year: Mapped[int] = mapped_column(Integer)
    enterprise_id: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    occurrence: Mapped[str] = mapped_column(String(40))
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    # JSON list of {"channel", "chat_id", "outbox_id"} or {..., "skipped": reason}.
    recipients: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    # Years whose holidays no source knew when its day was computed (Monday to Friday
    # instead), e.g. "Y+1" as digits; empty when every year was known.
    calendar_estimate: Mapped[str | None] = mapped_column(String(40))


class RenewalRow(Base):
    """The certificate renewal of inspection year `year` marked done: no more countdown."""

    __tablename__ = "renewals"

    enterprise_id: Mapped[int] = mapped_column(
        ForeignKey("enterprises.id", ondelete="CASCADE"), primary_key=True
    )
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    done_at: Mapped[datetime]
    done_by: Mapped[str] = mapped_column(String(90))


# --- security -------------------------------------------------------------------------------


class CallbackNonceRow(Base):
    """A signed WeChat callback's timestamp and nonce, remembered for the accepted time window
    so that a captured request cannot be played again, by any process, after any restart."""

    __tablename__ = "callback_nonces"
    __table_args__ = (Index("ix_callback_nonces_seen_at", "seen_at"),)

    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(100), primary_key=True)  # "timestamp:nonce"
    seen_at: Mapped[datetime]


class InviteFailureRow(Base):
    """A code that bound nothing (unknown, used or expired), by chat: what invite throttling
    counts. The code itself is not kept."""

    __tablename__ = "invite_failures"
    __table_args__ = (
        Index("ix_invite_failures_chat", "channel", "chat_id", "failed_at"),
        Index("ix_invite_failures_failed_at", "failed_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(20))
    chat_id: Mapped[str] = mapped_column(String(64))
    failed_at: Mapped[datetime]


# --- the reviewers' web console -----------------------------------------------------------------


class ConsoleLinkRow(Base):
    """A one-time sign-in link sent to a reviewer's chat (后台): only its SHA-256 is stored, so
    the table hands out no sign-ins; used once, then `used_at` is set."""

    __tablename__ = "console_links"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    chat_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class ConsoleSessionRow(Base):
    """A signed-in browser of a reviewer: the cookie carries the token, the row its SHA-256,
    the CSRF token every form posts back, and when it expires or was ended (退出, reviewer
    removed)."""

    __tablename__ = "console_sessions"
    __table_args__ = (Index("ix_console_sessions_channel_chat_id", "channel", "chat_id"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    chat_id: Mapped[str] = mapped_column(String(64))
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
