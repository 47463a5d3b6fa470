"""Reminders gain `calendar_estimate`: the years whose holidays no source knew when the
reminder's day was computed (Monday to Friday instead), e.g. "2027". Kept on the record so that
a correction made later (the year's holiday file entered) can be seen against it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("reminders", sa.Column("calendar_estimate", sa.String(40), nullable=True))


def downgrade() -> None:
    # SQLite drops a column in place since 3.35 (no table rebuild).
    op.execute("ALTER TABLE reminders DROP COLUMN calendar_estimate")
