"""A void settlement is a void, not a payout of -1 (a Betfair runner REMOVED from its market).

``instruments.void`` and ``settlements.void`` say that every matched bet on the instrument was
returned; their payout (``instruments.payout``, ``settlements.payout_per_share``, now nullable)
is NULL then, since nothing was paid per unit. Rows written before this revision with the old
sentinel -1 are converted.

``settlements.reduction_ppm`` marks a ledger row that pays nothing but records a Betfair odds
reduction (a runner removed with an adjustment factor): the bets matched on the instrument so
far had their odds multiplied by it / 1e6; a restart replays it.

Revision ID: 0016
Revises: 0014
Create Date: 2026-12-03 14:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("instruments") as batch:
        batch.add_column(sa.Column("void", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("settlements") as batch:
        batch.add_column(sa.Column("void", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.alter_column("payout_per_share", existing_type=sa.BigInteger(), nullable=True)
        batch.add_column(sa.Column("reduction_ppm", sa.BigInteger(), nullable=True))
    op.execute("UPDATE instruments SET void = true, payout = NULL WHERE payout = -1")
    op.execute(
        "UPDATE settlements SET void = true, payout_per_share = NULL WHERE payout_per_share = -1"
    )


def downgrade() -> None:
    """Revert this revision (voids become the old -1 sentinel; reduction rows are deleted)."""
    op.execute("DELETE FROM settlements WHERE reduction_ppm IS NOT NULL")
    op.execute("UPDATE instruments SET payout = -1 WHERE void")
    op.execute("UPDATE settlements SET payout_per_share = -1 WHERE void")
    with op.batch_alter_table("settlements") as batch:
        batch.drop_column("reduction_ppm")
        batch.alter_column("payout_per_share", existing_type=sa.BigInteger(), nullable=False)
        batch.drop_column("void")
    with op.batch_alter_table("instruments") as batch:
        batch.drop_column("void")
