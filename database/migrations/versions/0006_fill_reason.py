"""Fills record the evidence of a paper fill (taker, maker by print, maker by crossing).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 08:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
# Chained to main's head when this branch was rebased (the lead re-chains at merge).
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("fills") as batch:
        batch.add_column(
            sa.Column("fill_reason", sa.String(length=16), server_default="", nullable=False)
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("fills") as batch:
        batch.drop_column("fill_reason")
