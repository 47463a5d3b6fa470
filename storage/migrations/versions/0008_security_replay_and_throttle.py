"""Security: WeChat callback nonces (replay refused across restarts and processes) and
failed invite codes by chat (throttling, and what reviewers see).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "callback_nonces",
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("nonce", sa.String(length=100), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("channel", "nonce", name=op.f("pk_callback_nonces")),
    )
    op.create_index("ix_callback_nonces_seen_at", "callback_nonces", ["seen_at"])
    op.create_table(
        "invite_failures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invite_failures")),
    )
    op.create_index(
        "ix_invite_failures_chat", "invite_failures", ["channel", "chat_id", "failed_at"]
    )
    op.create_index("ix_invite_failures_failed_at", "invite_failures", ["failed_at"])


def downgrade() -> None:
    op.drop_index("ix_invite_failures_failed_at", table_name="invite_failures")
    op.drop_index("ix_invite_failures_chat", table_name="invite_failures")
    op.drop_table("invite_failures")
    op.drop_index("ix_callback_nonces_seen_at", table_name="callback_nonces")
    op.drop_table("callback_nonces")
