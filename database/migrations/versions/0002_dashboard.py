"""Dashboard tables: user alerts, the triggers the bot records for them, and the trade journal.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 02:08:00.803449
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_AUTO_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "alerts",
        sa.Column("id", _AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("created_ts", sa.Float(), nullable=False),
        sa.Column("updated_ts", sa.Float(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("instrument_id", sa.String(length=128), nullable=True),
        sa.Column("strategy", sa.String(length=64), nullable=True),
        sa.Column("level", sa.BigInteger(), nullable=True),
        sa.Column("level_pct", sa.Float(), nullable=True),
        sa.Column("status_to", sa.String(length=16), nullable=True),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        # sa.true() renders 1 on SQLite and true on PostgreSQL.
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    op.create_table(
        "journal_entries",
        sa.Column("id", _AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("created_ts", sa.Float(), nullable=False),
        sa.Column("updated_ts", sa.Float(), nullable=False),
        sa.Column("strategy", sa.String(length=64), nullable=False),
        sa.Column("instrument_id", sa.String(length=128), nullable=True),
        sa.Column("fill_id", sa.BigInteger(), nullable=True),
        sa.Column("entry_reason", sa.Text(), server_default="", nullable=False),
        sa.Column("confidence", sa.Integer(), nullable=True),
        sa.Column("exit_reason", sa.Text(), server_default="", nullable=False),
        sa.Column("lessons", sa.Text(), server_default="", nullable=False),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal_entries")),
    )
    op.create_index(
        op.f("ix_journal_entries_strategy"), "journal_entries", ["strategy"], unique=False
    )
    op.create_table(
        "alert_triggers",
        sa.Column("id", _AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("alert_id", _AUTO_ID, nullable=False),
        sa.Column("ts", sa.Float(), nullable=False),
        sa.Column("wall_ts", sa.Float(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name=op.f("fk_alert_triggers_alert_id_alerts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_triggers")),
    )
    op.create_index(
        op.f("ix_alert_triggers_alert_id"), "alert_triggers", ["alert_id"], unique=False
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index(op.f("ix_alert_triggers_alert_id"), table_name="alert_triggers")
    op.drop_table("alert_triggers")
    op.drop_index(op.f("ix_journal_entries_strategy"), table_name="journal_entries")
    op.drop_table("journal_entries")
    op.drop_table("alerts")
