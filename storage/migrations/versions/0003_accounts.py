"""Accounts, binding, submission and review: enterprises, members, reviewers, invites,
requests, filing versions and transitions; filings gain an enterprise and a version number.

SQLite cannot add a table-level foreign key or unique constraint in place, so `filings` is
rebuilt (batch mode: copy, DROP, rename). With foreign keys enforced (storage.db turns them
on) that DROP first deletes every filing, cascading to all answers and records: the rebuild
runs with enforcement off, which SQLite accepts only outside a transaction.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "enterprises",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("credit_code", sa.String(length=18), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("grade", sa.String(length=2), nullable=False),
        sa.Column("cert_number", sa.String(length=60), nullable=False),
        sa.Column("first_year", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("grade IN ('甲', '乙', '丙', '丁')", name=op.f("ck_enterprises_grade")),
        sa.CheckConstraint(
            "status IN ('active', 'pending', 'rejected')", name=op.f("ck_enterprises_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enterprises")),
        sa.UniqueConstraint("credit_code", name=op.f("uq_enterprises_credit_code")),
    )
    with _foreign_keys_off(), op.batch_alter_table("filings") as batch:
        batch.add_column(sa.Column("enterprise_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("version", sa.Integer(), server_default="0", nullable=False))
        batch.create_foreign_key(
            op.f("fk_filings_enterprise_id_enterprises"),
            "enterprises",
            ["enterprise_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch.create_unique_constraint(
            op.f("uq_filings_enterprise_id_year"), ["enterprise_id", "year"]
        )
    op.create_table(
        "members",
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("full_name", sa.String(length=60), nullable=False),
        sa.Column("mobile", sa.String(length=20), nullable=False),
        sa.Column("via", sa.String(length=12), nullable=False),
        sa.Column("bound_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "via IN ('invite', 'request', 'registration', 'console')", name=op.f("ck_members_via")
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name=op.f("fk_members_enterprise_id_enterprises"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("channel", "chat_id", name=op.f("pk_members")),
    )
    op.create_index(op.f("ix_members_enterprise_id"), "members", ["enterprise_id"])
    op.create_table(
        "reviewers",
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("added_by", sa.String(length=90), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("channel", "chat_id", name=op.f("pk_reviewers")),
    )
    op.create_table(
        "invites",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_by", sa.String(length=90), nullable=True),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name=op.f("fk_invites_enterprise_id_enterprises"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_invites")),
    )
    op.create_index(op.f("ix_invites_enterprise_id"), "invites", ["enterprise_id"])
    op.create_table(
        "requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), server_default="pending", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=90), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.CheckConstraint("kind IN ('binding', 'registration')", name=op.f("ck_requests_kind")),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'rejected')", name=op.f("ck_requests_status")
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name=op.f("fk_requests_enterprise_id_enterprises"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_requests")),
    )
    op.create_index(op.f("ix_requests_enterprise_id"), "requests", ["enterprise_id"])
    op.create_index("ix_requests_status_created_at", "requests", ["status", "created_at"])
    op.create_table(
        "filing_versions",
        sa.Column("filing_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("snapshot", sa.Text(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_by", sa.String(length=90), nullable=False),
        sa.ForeignKeyConstraint(
            ["filing_id"],
            ["filings.id"],
            name=op.f("fk_filing_versions_filing_id_filings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("filing_id", "version", name=op.f("pk_filing_versions")),
    )
    op.create_table(
        "transitions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("filing_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("from_status", sa.String(length=20), nullable=False),
        sa.Column("to_status", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=90), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("sections", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["filing_id"],
            ["filings.id"],
            name=op.f("fk_transitions_filing_id_filings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transitions")),
    )
    op.create_index(op.f("ix_transitions_filing_id"), "transitions", ["filing_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_transitions_filing_id"), table_name="transitions")
    op.drop_table("transitions")
    op.drop_table("filing_versions")
    op.drop_index("ix_requests_status_created_at", table_name="requests")
    op.drop_index(op.f("ix_requests_enterprise_id"), table_name="requests")
    op.drop_table("requests")
    op.drop_index(op.f("ix_invites_enterprise_id"), table_name="invites")
    op.drop_table("invites")
    op.drop_table("reviewers")
    op.drop_index(op.f("ix_members_enterprise_id"), table_name="members")
    op.drop_table("members")
    with _foreign_keys_off(), op.batch_alter_table("filings") as batch:
        batch.drop_constraint(op.f("uq_filings_enterprise_id_year"), type_="unique")
        batch.drop_constraint(op.f("fk_filings_enterprise_id_enterprises"), type_="foreignkey")
        batch.drop_column("version")
        batch.drop_column("enterprise_id")
    op.drop_table("enterprises")


@contextmanager
def _foreign_keys_off() -> Iterator[None]:
    """Turns SQLite's foreign key enforcement off around a table rebuild, then checks that
    the rebuilt tables still satisfy every foreign key. A no-op on other backends.

    The PRAGMA is ignored inside a transaction, so this commits the migrations run so far
    (SQLite commits DDL as it goes anyway: pysqlite only opens transactions for DML).
    """
    if op.get_bind().dialect.name != "sqlite":
        yield
        return
    context = op.get_context()
    with context.autocommit_block():
        op.execute("PRAGMA foreign_keys=OFF")
    if op.get_bind().exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError("could not turn off SQLite foreign keys for rebuilding a table")
    yield
    with context.autocommit_block():
        op.execute("PRAGMA foreign_keys=ON")
    problems = op.get_bind().exec_driver_sql("PRAGMA foreign_key_check").all()
    if problems:
        raise RuntimeError(f"foreign keys broken by the table rebuild: {problems}")
