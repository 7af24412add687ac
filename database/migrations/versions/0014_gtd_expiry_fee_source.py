"""Orders keep a GTD expiry; live fills say where their fee came from.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 14:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
# Chained to main's head when this branch was made (the lead re-chains at merge).
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("expire_ts", sa.Float(), nullable=True))
    with op.batch_alter_table("fills") as batch:
        batch.add_column(
            sa.Column("fee_source", sa.String(length=8), server_default="", nullable=False)
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("fills") as batch:
        batch.drop_column("fee_source")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("expire_ts")
