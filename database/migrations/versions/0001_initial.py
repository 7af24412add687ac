"""Initial schema: strategies, instruments, orders, fills, settlements, positions, snapshots,
events, control commands, market tops and bot state.

Revision ID: 0001
Revises:
Create Date: 2026-11-21 01:56:10.429635
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "bot_state",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value_json", sa.Text(), nullable=False),
        sa.Column("updated_ts", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_bot_state")),
    )
    op.create_table(
        "control_commands",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("created_ts", sa.Float(), nullable=False),
        sa.Column("command", sa.String(length=48), nullable=False),
        sa.Column("args_json", sa.Text(), server_default="{}", nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("applied_ts", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_control_commands")),
    )
    op.create_index(
        op.f("ix_control_commands_status"), "control_commands", ["status"], unique=False
    )

    op.create_table(
        "events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("ts", sa.Float(), nullable=False),
        sa.Column("kind", sa.String(length=48), nullable=False),
        sa.Column("severity", sa.String(length=16), server_default="info", nullable=False),
        sa.Column("strategy", sa.String(length=64), nullable=True),
        sa.Column("instrument_id", sa.String(length=128), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=True),
        sa.Column("limit_value", sa.String(length=64), nullable=True),
        sa.Column("data_json", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_index(op.f("ix_events_kind"), "events", ["kind"], unique=False)
    op.create_index(op.f("ix_events_strategy"), "events", ["strategy"], unique=False)
    op.create_index(op.f("ix_events_ts"), "events", ["ts"], unique=False)

    op.create_table(
        "instruments",
        sa.Column("instrument_id", sa.String(length=128), nullable=False),
        sa.Column("venue", sa.String(length=32), nullable=False),
        sa.Column("market_id", sa.String(length=128), nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=True),
        sa.Column("outcome", sa.String(length=128), nullable=False),
        sa.Column("question", sa.Text(), server_default="", nullable=False),
        sa.Column("category", sa.String(length=64), server_default="", nullable=False),
        sa.Column("tick", sa.BigInteger(), nullable=False),
        sa.Column("min_size", sa.BigInteger(), nullable=False),
        sa.Column("fee_rate", sa.String(length=32), server_default="0", nullable=False),
        sa.Column("fee_exponent", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("end_ts", sa.Float(), nullable=True),
        sa.Column("complement_id", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="open", nullable=False),
        sa.Column("payout", sa.BigInteger(), nullable=True),
        sa.Column("listed_ts", sa.Float(), nullable=False),
        sa.Column("resolved_ts", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("instrument_id", name=op.f("pk_instruments")),
    )
    op.create_index(op.f("ix_instruments_event_id"), "instruments", ["event_id"], unique=False)
    op.create_index(op.f("ix_instruments_market_id"), "instruments", ["market_id"], unique=False)

    op.create_table(
        "market_tops",
        sa.Column("instrument_id", sa.String(length=128), nullable=False),
        sa.Column("best_bid", sa.BigInteger(), nullable=True),
        sa.Column("best_ask", sa.BigInteger(), nullable=True),
        sa.Column("bid_size", sa.BigInteger(), nullable=True),
        sa.Column("ask_size", sa.BigInteger(), nullable=True),
        sa.Column("mid", sa.BigInteger(), nullable=True),
        sa.Column("last_trade", sa.BigInteger(), nullable=True),
        sa.Column("updated_ts", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("instrument_id", name=op.f("pk_market_tops")),
    )
    op.create_table(
        "performance_snapshots",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("strategy", sa.String(length=64), nullable=False),
        sa.Column("ts", sa.Float(), nullable=False),
        sa.Column("granularity", sa.String(length=16), server_default="fine", nullable=False),
        sa.Column("equity", sa.BigInteger(), nullable=False),
        sa.Column("cash", sa.BigInteger(), nullable=False),
        sa.Column("realized_pnl", sa.BigInteger(), nullable=False),
        sa.Column("unrealized_pnl", sa.BigInteger(), nullable=False),
        sa.Column("fees", sa.BigInteger(), nullable=False),
        sa.Column("exposure", sa.BigInteger(), nullable=False),
        sa.Column("equity_liquidation", sa.BigInteger(), nullable=False),
        sa.Column("return_pct", sa.Float(), nullable=False),
        sa.Column("drawdown_pct", sa.Float(), nullable=False),
        sa.Column("sharpe", sa.Float(), nullable=True),
        sa.Column("win_rate", sa.Float(), nullable=True),
        sa.Column("trades", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("round_trips", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("score", sa.Float(), server_default=sa.text("0"), nullable=False),
        sa.Column("rank", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_performance_snapshots")),
    )
    op.create_index(
        "ix_performance_snapshots_strategy_ts",
        "performance_snapshots",
        ["strategy", "ts"],
        unique=False,
    )
    op.create_index(
        op.f("ix_performance_snapshots_ts"),
        "performance_snapshots",
        ["ts"],
        unique=False,
    )

    op.create_table(
        "positions",
        sa.Column("strategy", sa.String(length=64), nullable=False),
        sa.Column("instrument_id", sa.String(length=128), nullable=False),
        sa.Column("qty", sa.BigInteger(), nullable=False),
        sa.Column("cost_basis", sa.BigInteger(), nullable=False),
        sa.Column("realized_pnl", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("fees", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("opened_ts", sa.Float(), nullable=False),
        sa.Column("updated_ts", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("strategy", "instrument_id", name=op.f("pk_positions")),
    )
    op.create_table(
        "settlements",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("strategy", sa.String(length=64), nullable=False),
        sa.Column("instrument_id", sa.String(length=128), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("payout_per_share", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("ts", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlements")),
    )
    op.create_index(op.f("ix_settlements_strategy"), "settlements", ["strategy"], unique=False)

    op.create_table(
        "strategies",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("class_path", sa.String(length=256), nullable=False),
        sa.Column("params_json", sa.Text(), server_default="{}", nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("stage", sa.String(length=16), server_default="paper", nullable=False),
        sa.Column("status", sa.String(length=16), server_default="active", nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("status_since", sa.Float(), nullable=True),
        sa.Column("starting_capital", sa.BigInteger(), nullable=False),
        sa.Column("error_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_ts", sa.Float(), nullable=False),
        sa.Column("updated_ts", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_strategies")),
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("strategy", sa.String(length=64), nullable=False),
        sa.Column("instrument_id", sa.String(length=128), nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("order_type", sa.String(length=8), nullable=False),
        sa.Column("tif", sa.String(length=4), nullable=False),
        sa.Column("post_only", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("filled", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("avg_price", sa.BigInteger(), nullable=True),
        sa.Column("fees", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("reject_reason", sa.Text(), nullable=True),
        sa.Column("liquidity", sa.String(length=8), nullable=True),
        sa.Column("created_ts", sa.Float(), nullable=False),
        sa.Column("updated_ts", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["strategy"],
            ["strategies.name"],
            name=op.f("fk_orders_strategy_strategies"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
    )
    op.create_index(op.f("ix_orders_instrument_id"), "orders", ["instrument_id"], unique=False)
    op.create_index(op.f("ix_orders_status"), "orders", ["status"], unique=False)
    op.create_index(op.f("ix_orders_strategy"), "orders", ["strategy"], unique=False)

    op.create_table(
        "fills",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("strategy", sa.String(length=64), nullable=False),
        sa.Column("instrument_id", sa.String(length=128), nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("liquidity", sa.String(length=8), nullable=False),
        sa.Column("ts", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_fills_order_id_orders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fills")),
    )
    op.create_index(op.f("ix_fills_order_id"), "fills", ["order_id"], unique=False)
    op.create_index(op.f("ix_fills_strategy"), "fills", ["strategy"], unique=False)
    op.create_index(op.f("ix_fills_ts"), "fills", ["ts"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index(op.f("ix_fills_ts"), table_name="fills")
    op.drop_index(op.f("ix_fills_strategy"), table_name="fills")
    op.drop_index(op.f("ix_fills_order_id"), table_name="fills")

    op.drop_table("fills")
    op.drop_index(op.f("ix_orders_strategy"), table_name="orders")
    op.drop_index(op.f("ix_orders_status"), table_name="orders")
    op.drop_index(op.f("ix_orders_instrument_id"), table_name="orders")

    op.drop_table("orders")
    op.drop_table("strategies")
    op.drop_index(op.f("ix_settlements_strategy"), table_name="settlements")

    op.drop_table("settlements")
    op.drop_table("positions")
    op.drop_index(op.f("ix_performance_snapshots_ts"), table_name="performance_snapshots")
    op.drop_index("ix_performance_snapshots_strategy_ts", table_name="performance_snapshots")

    op.drop_table("performance_snapshots")
    op.drop_table("market_tops")
    op.drop_index(op.f("ix_instruments_market_id"), table_name="instruments")
    op.drop_index(op.f("ix_instruments_event_id"), table_name="instruments")

    op.drop_table("instruments")
    op.drop_index(op.f("ix_events_ts"), table_name="events")
    op.drop_index(op.f("ix_events_strategy"), table_name="events")
    op.drop_index(op.f("ix_events_kind"), table_name="events")

    op.drop_table("events")
    op.drop_index(op.f("ix_control_commands_status"), table_name="control_commands")

    op.drop_table("control_commands")
    op.drop_table("bot_state")
