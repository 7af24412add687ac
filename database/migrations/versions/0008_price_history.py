"""Price history per instrument (the strategy page's price chart with fills marked).

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-03 09:55:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
# main's head when this branch was cut (the lead re-chains at merge).
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "price_history",
        sa.Column("instrument_id", sa.String(length=128), nullable=False),
        sa.Column("ts", sa.Float(), nullable=False),
        sa.Column("mid", sa.BigInteger(), nullable=True),
        sa.Column("last_trade", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("instrument_id", "ts", name=op.f("pk_price_history")),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("price_history")
