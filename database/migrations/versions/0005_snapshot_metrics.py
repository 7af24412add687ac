"""Performance snapshots keep the all-time max drawdown and the full metrics set; closed bets.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 08:50:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "closed_bets",
        sa.Column("strategy", sa.String(length=64), nullable=False),
        sa.Column("group_id", sa.String(length=128), nullable=False),
        sa.Column("closed_ts", sa.Float(), nullable=False),
        sa.Column("opened_ts", sa.Float(), nullable=False),
        sa.Column("cost", sa.BigInteger(), nullable=False),
        sa.Column("proceeds", sa.BigInteger(), nullable=False),
        sa.Column("fees", sa.BigInteger(), nullable=False),
        sa.Column("pnl", sa.BigInteger(), nullable=False),
        sa.Column("closed_by", sa.String(length=16), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint(
            "strategy", "group_id", "closed_ts", name=op.f("pk_closed_bets")
        ),
    )
    op.create_index(
        op.f("ix_closed_bets_closed_ts"), "closed_bets", ["closed_ts"], unique=False
    )
    with op.batch_alter_table("performance_snapshots") as batch:
        batch.add_column(sa.Column("max_drawdown_pct", sa.Float(), nullable=True))
        batch.add_column(sa.Column("metrics_json", sa.Text(), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index(op.f("ix_closed_bets_closed_ts"), table_name="closed_bets")
    op.drop_table("closed_bets")
    with op.batch_alter_table("performance_snapshots") as batch:
        batch.drop_column("metrics_json")
        batch.drop_column("max_drawdown_pct")
