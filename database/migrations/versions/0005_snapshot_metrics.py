"""Performance snapshots keep the all-time max drawdown and the full metrics set.

Revision ID: 0005
Revises: 0006
Create Date: 2026-12-03 08:50:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("performance_snapshots") as batch:
        batch.add_column(sa.Column("max_drawdown_pct", sa.Float(), nullable=True))
        batch.add_column(sa.Column("metrics_json", sa.Text(), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("performance_snapshots") as batch:
        batch.drop_column("metrics_json")
        batch.drop_column("max_drawdown_pct")
