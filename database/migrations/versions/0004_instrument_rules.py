"""Venue-neutral instruments: price ladder, lot, currency, shorts and fee model; settlement fees.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 08:30:00

Existing rows are Polymarket/sim instruments: the defaults describe them exactly (uniform tick
grid, 0.01-share lot, USDC, long only, the taker-fee curve), and their settlements paid no fee.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("instruments") as batch:
        batch.add_column(
            sa.Column("ladder", sa.String(length=32), server_default="uniform", nullable=False)
        )
        batch.add_column(
            sa.Column("lot", sa.BigInteger(), server_default=sa.text("10000"), nullable=False)
        )
        batch.add_column(
            sa.Column("currency", sa.String(length=8), server_default="USDC", nullable=False)
        )
        batch.add_column(
            sa.Column("allows_short", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(
            sa.Column(
                "fee_model",
                sa.String(length=32),
                server_default="polymarket_taker",
                nullable=False,
            )
        )
    with op.batch_alter_table("settlements") as batch:
        batch.add_column(
            sa.Column("fee", sa.BigInteger(), server_default=sa.text("0"), nullable=False)
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("settlements") as batch:
        batch.drop_column("fee")
    with op.batch_alter_table("instruments") as batch:
        batch.drop_column("fee_model")
        batch.drop_column("allows_short")
        batch.drop_column("currency")
        batch.drop_column("lot")
        batch.drop_column("ladder")
