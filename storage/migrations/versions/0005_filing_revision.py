"""Filings gain `revision`, a counter raised by every change to the filing or its answers.

A bot process keeps the filings it works on in memory and reuses one while the counter is
unchanged (storage/filing_cache.py): a chat message then reads one integer instead of the
whole filing.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN on both backends: no table rebuild, so no cascade can fire.
    op.add_column(
        "filings", sa.Column("revision", sa.Integer(), nullable=False, server_default="0")
    )


def downgrade() -> None:
    # SQLite drops a column in place since 3.35; a batch rebuild of `filings` would cascade.
    op.execute("ALTER TABLE filings DROP COLUMN revision")
