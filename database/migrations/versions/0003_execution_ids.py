"""Execution-client ids: the client and venue order ids, the venue's trade id of each fill, and
the route (execution client) each order went to.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("orders") as b:
        b.add_column(sa.Column("client_order_id", sa.String(length=64), nullable=True))
        b.add_column(sa.Column("venue_order_id", sa.String(length=128), nullable=True))
        b.add_column(sa.Column("route", sa.String(length=32), nullable=True))
    with op.batch_alter_table("fills") as b:
        b.add_column(sa.Column("venue_fill_id", sa.String(length=128), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("fills") as b:
        b.drop_column("venue_fill_id")
    with op.batch_alter_table("orders") as b:
        b.drop_column("route")
        b.drop_column("venue_order_id")
        b.drop_column("client_order_id")
