"""Stage transitions: every move of a strategy between lifecycle stages (who, when, why, figures).

Revision ID: 0013
Revises: 0009
Create Date: 2026-12-03 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
# Chained to main's head (0009) when this branch was rebased (the lead re-chains at merge).
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "stage_transitions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("ts", sa.Float(), nullable=False),
        sa.Column("wall_ts", sa.Float(), nullable=True),
        sa.Column("strategy", sa.String(length=64), nullable=False),
        sa.Column("from_stage", sa.String(length=16), nullable=True),
        sa.Column("to_stage", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("capital", sa.BigInteger(), nullable=True),
        sa.Column("route", sa.String(length=64), nullable=True),
        sa.Column("figures_json", sa.Text(), nullable=True),
    )
    op.create_index("ix_stage_transitions_strategy", "stage_transitions", ["strategy", "ts"])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_stage_transitions_strategy", table_name="stage_transitions")
    op.drop_table("stage_transitions")
