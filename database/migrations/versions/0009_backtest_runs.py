"""Backtest and optimizer runs with per-strategy results (the dashboard's Backtests page), and
the catalogue of fetched history (``history_markets``).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 11:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
# main's head when this branch was cut (the lead re-chains at merge).
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "backtest_runs",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("created_wall", sa.Float(), nullable=False),
        sa.Column("config_file", sa.Text(), server_default="", nullable=False),
        sa.Column("data", sa.Text(), server_default="", nullable=False),
        sa.Column("fidelity", sa.String(length=16), nullable=False),
        sa.Column("start_ts", sa.Float(), nullable=True),
        sa.Column("end_ts", sa.Float(), nullable=True),
        sa.Column("strategies", sa.Text(), server_default="", nullable=False),
        sa.Column("events", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("wall_s", sa.Float(), server_default="0", nullable=False),
        sa.Column("report_json", sa.Text(), server_default="", nullable=False),
        sa.Column("report_html", sa.Text(), server_default="", nullable=False),
        sa.Column("summary_json", sa.Text(), server_default="{}", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backtest_runs")),
    )
    op.create_index(
        op.f("ix_backtest_runs_created_wall"), "backtest_runs", ["created_wall"], unique=False
    )
    op.create_table(
        "backtest_results",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("run_id", _ID, nullable=False),
        sa.Column("strategy", sa.String(length=64), nullable=False),
        sa.Column("segment", sa.String(length=32), server_default="full", nullable=False),
        sa.Column("window", sa.Integer(), server_default="0", nullable=False),
        sa.Column("label", sa.String(length=16), nullable=False),
        sa.Column("return_pct", sa.Float(), nullable=False),
        sa.Column("sharpe", sa.Float(), nullable=True),
        sa.Column("max_drawdown_pct", sa.Float(), nullable=False),
        sa.Column("trades", sa.Integer(), nullable=False),
        sa.Column("fees", sa.BigInteger(), nullable=False),
        sa.Column("pnl", sa.BigInteger(), nullable=False),
        sa.Column("params_json", sa.Text(), server_default="{}", nullable=False),
        sa.Column("metrics_json", sa.Text(), server_default="{}", nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["backtest_runs.id"],
            name=op.f("fk_backtest_results_run_id_backtest_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backtest_results")),
    )
    op.create_index(
        op.f("ix_backtest_results_run_id"), "backtest_results", ["run_id"], unique=False
    )


    op.create_table(
        "history_markets",
        sa.Column("market_id", sa.String(length=128), nullable=False),
        sa.Column("gamma_id", sa.String(length=32), server_default="", nullable=False),
        sa.Column("slug", sa.Text(), server_default="", nullable=False),
        sa.Column("question", sa.Text(), server_default="", nullable=False),
        sa.Column("folder", sa.Text(), server_default="", nullable=False),
        sa.Column("end_ts", sa.Float(), nullable=True),
        sa.Column("closed", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("resolved", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("price_days", sa.Integer(), server_default="0", nullable=False),
        sa.Column("first_day", sa.String(length=10), nullable=True),
        sa.Column("last_day", sa.String(length=10), nullable=True),
        sa.Column("trades", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("updated_wall", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("market_id", name=op.f("pk_history_markets")),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("history_markets")
    op.drop_index(op.f("ix_backtest_results_run_id"), table_name="backtest_results")
    op.drop_table("backtest_results")
    op.drop_index(op.f("ix_backtest_runs_created_wall"), table_name="backtest_runs")
    op.drop_table("backtest_runs")
