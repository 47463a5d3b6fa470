"""Several processes on one database: leases, inbox owners, coalesced replies, the shared
WeChat access token, and what a chat needs after a crash.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_STATUS = "status IN ('pending', 'sent', 'failed', 'blocked')"
_NEW_STATUS = "status IN ('pending', 'sent', 'failed', 'blocked', 'superseded')"


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("owner", sa.String(length=100), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
    )
    op.create_table(
        "shared_values",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_shared_values")),
    )
    with op.batch_alter_table("inbox") as batch:
        batch.add_column(sa.Column("owner", sa.String(length=100), nullable=True))
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("started", sa.Integer(), server_default="0", nullable=False))
        batch.drop_constraint(op.f("ck_outbox_status"), type_="check")
        batch.create_check_constraint(op.f("ck_outbox_status"), _NEW_STATUS)
    with op.batch_alter_table("channel_chats") as batch:
        batch.add_column(sa.Column("resumed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_text", sa.Text(), nullable=True))
        batch.add_column(sa.Column("last_text_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("confirm_text", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("channel_chats") as batch:
        batch.drop_column("confirm_text")
        batch.drop_column("last_text_at")
        batch.drop_column("last_text")
        batch.drop_column("resumed_at")
    op.execute("UPDATE outbox SET status = 'sent' WHERE status = 'superseded'")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_constraint(op.f("ck_outbox_status"), type_="check")
        batch.create_check_constraint(op.f("ck_outbox_status"), _OLD_STATUS)
        batch.drop_column("started")
    with op.batch_alter_table("inbox") as batch:
        batch.drop_column("owner")
    op.drop_table("shared_values")
    op.drop_table("leases")
