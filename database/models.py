"""Typed ORM models: the bot's database schema.

Units
-----
* Every money, price and size column is a ``BigInteger`` in **micro-units** (1e-6), exactly as in
  ``services.money``: prices are micro-USDC per share (0.53 -> ``530_000``), sizes and quantities
  are micro-shares (12.5 shares -> ``12_500_000``), cash, fees and P&L are micro-USDC.
* Every ``*_ts`` column is a ``Float`` of epoch seconds. ``ts``, ``created_ts``, ``updated_ts``
  and friends are *event time* (the engine's clock: simulated in a backtest, wall time live);
  ``control_commands.created_ts`` / ``applied_ts`` are wall time (written by the dashboard).
* Ratios (``return_pct``, ``drawdown_pct``, ``win_rate``) are plain floats, metrics only.

The schema is portable: nothing here is SQLite-specific, so the same models (and the Alembic
migrations generated from them) run on PostgreSQL. Any change to this file needs a new migration
in ``database/migrations/versions``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    false,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Deterministic constraint names, so later migrations (SQLite batch mode too) can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# A surrogate autoincrement key: BIGINT on PostgreSQL, but INTEGER on SQLite, where only an
# ``INTEGER PRIMARY KEY`` aliases the rowid and autoincrements.
AutoId = BigInteger().with_variant(Integer(), "sqlite")

# Lengths of identifier columns. Polymarket token ids are ~78 decimal digits.
ID_LEN = 128
NAME_LEN = 64

# Column defaults are server-side only (``server_default``), so a partial upsert leaves a column
# it does not name untouched and a raw INSERT from any client gets the same defaults.

# Allowed values of the enum-like string columns (validated by the application, not by CHECK
# constraints, so adding a value needs no table rebuild on SQLite).
STRATEGY_KINDS = ("market_making", "arbitrage", "directional")
STRATEGY_STAGES = ("backtest", "paper", "live")
STRATEGY_STATUSES = ("active", "paused", "disabled")
INSTRUMENT_STATUSES = ("open", "closed", "resolved")
ORDER_STATUSES = ("pending", "open", "partially_filled", "filled", "cancelled", "rejected")
OPEN_ORDER_STATUSES = ("pending", "open", "partially_filled")
EVENT_SEVERITIES = ("info", "warning", "critical")
COMMAND_STATUSES = ("pending", "applied", "failed")
SNAPSHOT_GRANULARITIES = ("fine", "hourly")


class Base(DeclarativeBase):
    """Declarative base of all models; its ``metadata`` is Alembic's target."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class StrategyRow(Base):
    """A configured strategy: its lifecycle stage, trading status and starting capital."""

    __tablename__ = "strategies"

    name: Mapped[str] = mapped_column(String(NAME_LEN), primary_key=True)
    class_path: Mapped[str] = mapped_column(String(256))
    params_json: Mapped[str] = mapped_column(Text, server_default="{}")
    kind: Mapped[str] = mapped_column(String(32))  # STRATEGY_KINDS
    stage: Mapped[str] = mapped_column(String(16), server_default="paper")
    status: Mapped[str] = mapped_column(String(16), server_default="active")
    status_reason: Mapped[str | None] = mapped_column(Text)
    status_since: Mapped[float | None] = mapped_column(Float)
    starting_capital: Mapped[int] = mapped_column(BigInteger)  # micro-USDC
    error_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    created_ts: Mapped[float] = mapped_column(Float)
    updated_ts: Mapped[float] = mapped_column(Float)


class InstrumentRow(Base):
    """One outcome token and its market's trading rules (mirrors ``services.instruments``)."""

    __tablename__ = "instruments"

    instrument_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    venue: Mapped[str] = mapped_column(String(32))
    market_id: Mapped[str] = mapped_column(String(ID_LEN), index=True)
    event_id: Mapped[str | None] = mapped_column(String(ID_LEN), index=True)
    outcome: Mapped[str] = mapped_column(String(ID_LEN))
    question: Mapped[str] = mapped_column(Text, server_default="")
    category: Mapped[str] = mapped_column(String(NAME_LEN), server_default="")
    tick: Mapped[int] = mapped_column(BigInteger)  # micro-USDC
    min_size: Mapped[int] = mapped_column(BigInteger)  # micro-shares
    fee_rate: Mapped[str] = mapped_column(String(32), server_default="0")  # Decimal
    fee_exponent: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    fee_model: Mapped[str] = mapped_column(String(32), server_default="polymarket_taker")
    ladder: Mapped[str] = mapped_column(String(32), server_default="uniform")  # price ladder name
    lot: Mapped[int] = mapped_column(BigInteger, server_default=text("10000"))  # micro size step
    currency: Mapped[str] = mapped_column(String(8), server_default="USDC")
    allows_short: Mapped[bool] = mapped_column(Boolean, server_default=false())
    end_ts: Mapped[float | None] = mapped_column(Float)
    complement_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    status: Mapped[str] = mapped_column(String(16), server_default="open")
    payout: Mapped[int | None] = mapped_column(BigInteger)  # micro-USDC per share once resolved
    void: Mapped[bool] = mapped_column(Boolean, server_default=false())  # bets returned (0016)
    listed_ts: Mapped[float] = mapped_column(Float)
    resolved_ts: Mapped[float | None] = mapped_column(Float)


class OrderRow(Base):
    """An order; ``id`` is assigned by the engine (its own sequence), never by the database."""

    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    strategy: Mapped[str] = mapped_column(ForeignKey("strategies.name"), index=True)
    instrument_id: Mapped[str] = mapped_column(String(ID_LEN), index=True)
    side: Mapped[str] = mapped_column(String(4))  # BUY / SELL
    order_type: Mapped[str] = mapped_column(String(8))  # limit / market
    tif: Mapped[str] = mapped_column(String(4))  # GTC / GTD / FOK / FAK
    post_only: Mapped[bool] = mapped_column(Boolean, server_default=false())
    price: Mapped[int] = mapped_column(BigInteger)  # limit (or worst acceptable) price, micro
    size: Mapped[int] = mapped_column(BigInteger)  # micro-shares
    filled: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    avg_price: Mapped[int | None] = mapped_column(BigInteger)  # micro, None before any fill
    fees: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    status: Mapped[str] = mapped_column(String(20), index=True)  # ORDER_STATUSES
    reason: Mapped[str] = mapped_column(Text, server_default="")
    reject_reason: Mapped[str | None] = mapped_column(Text)
    liquidity: Mapped[str | None] = mapped_column(String(8))  # maker / taker / mixed
    created_ts: Mapped[float] = mapped_column(Float)
    updated_ts: Mapped[float] = mapped_column(Float)
    client_order_id: Mapped[str | None] = mapped_column(String(64))  # "msb-<id>"
    venue_order_id: Mapped[str | None] = mapped_column(String(128))  # the venue's id
    route: Mapped[str | None] = mapped_column(String(32))  # execution client, e.g. "paper"
    expire_ts: Mapped[float | None] = mapped_column(Float)  # GTD expiry, engine-clock seconds


class FillRow(Base):
    """An execution of (part of) an order; ``id`` is engine-assigned."""

    __tablename__ = "fills"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    strategy: Mapped[str] = mapped_column(String(NAME_LEN), index=True)
    instrument_id: Mapped[str] = mapped_column(String(ID_LEN))
    side: Mapped[str] = mapped_column(String(4))
    price: Mapped[int] = mapped_column(BigInteger)  # micro-USDC per share
    size: Mapped[int] = mapped_column(BigInteger)  # micro-shares
    fee: Mapped[int] = mapped_column(BigInteger)  # micro-USDC
    liquidity: Mapped[str] = mapped_column(String(8))  # maker / taker
    ts: Mapped[float] = mapped_column(Float, index=True)
    venue_fill_id: Mapped[str | None] = mapped_column(String(128))  # the venue's trade id
    # Evidence of a paper fill: taker / maker_print / maker_cross ("" for live or older rows).
    fill_reason: Mapped[str] = mapped_column(String(16), default="", server_default="")
    # Live fills: fee from the venue trade's fee_rate_bps ("trade") or the fee model ("model").
    fee_source: Mapped[str] = mapped_column(String(8), default="", server_default="")


class SettlementRow(Base):
    """A position paid out at market resolution; ``id`` is engine-assigned."""

    __tablename__ = "settlements"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    strategy: Mapped[str] = mapped_column(String(NAME_LEN), index=True)
    instrument_id: Mapped[str] = mapped_column(String(ID_LEN))
    size: Mapped[int] = mapped_column(BigInteger)  # micro-shares settled
    # micro-USDC (0 or 1_000_000); NULL when void (every bet returned, migration 0016)
    payout_per_share: Mapped[int | None] = mapped_column(BigInteger)
    void: Mapped[bool] = mapped_column(Boolean, server_default=false())
    # Set on a row that pays nothing but records a Betfair odds reduction (ppm; 0016)
    reduction_ppm: Mapped[int | None] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)  # micro-USDC paid (negative: a short paid)
    fee: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))  # commission charged
    ts: Mapped[float] = mapped_column(Float)


class PositionRow(Base):
    """Current position of one strategy in one instrument (rows at qty 0 may be deleted)."""

    __tablename__ = "positions"

    strategy: Mapped[str] = mapped_column(String(NAME_LEN), primary_key=True)
    instrument_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    qty: Mapped[int] = mapped_column(BigInteger)  # micro-shares
    cost_basis: Mapped[int] = mapped_column(BigInteger)  # micro-USDC
    realized_pnl: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    fees: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    opened_ts: Mapped[float] = mapped_column(Float)
    updated_ts: Mapped[float] = mapped_column(Float)


class ClosedBetRow(Base):
    """A closed bet: every position of a strategy in one market (or neg-risk event) back to zero.

    Written (idempotently, by key) by the performance tracker; rebuilt from the ledger at restart.
    Amounts are micro-USDC; ``pnl`` is net of ``fees``.
    """

    __tablename__ = "closed_bets"

    strategy: Mapped[str] = mapped_column(String(NAME_LEN), primary_key=True)
    group_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    closed_ts: Mapped[float] = mapped_column(Float, primary_key=True, index=True)
    opened_ts: Mapped[float] = mapped_column(Float)
    cost: Mapped[int] = mapped_column(BigInteger)  # notional bought
    proceeds: Mapped[int] = mapped_column(BigInteger)  # notional sold plus payouts
    fees: Mapped[int] = mapped_column(BigInteger)
    pnl: Mapped[int] = mapped_column(BigInteger)
    closed_by: Mapped[str] = mapped_column(String(16))  # sold / settled
    order_id: Mapped[int | None] = mapped_column(BigInteger)  # the closing sell, if sold


class PerformanceSnapshotRow(Base):
    """A point on a strategy's equity curve with its leaderboard metrics."""

    __tablename__ = "performance_snapshots"
    # (strategy, ts) also serves lookups by strategy alone.
    __table_args__ = (Index("ix_performance_snapshots_strategy_ts", "strategy", "ts"),)

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    strategy: Mapped[str] = mapped_column(String(NAME_LEN))
    ts: Mapped[float] = mapped_column(Float, index=True)
    granularity: Mapped[str] = mapped_column(String(16), server_default="fine")
    equity: Mapped[int] = mapped_column(BigInteger)  # micro-USDC, positions marked to mid
    cash: Mapped[int] = mapped_column(BigInteger)
    realized_pnl: Mapped[int] = mapped_column(BigInteger)
    unrealized_pnl: Mapped[int] = mapped_column(BigInteger)
    fees: Mapped[int] = mapped_column(BigInteger)
    exposure: Mapped[int] = mapped_column(BigInteger)
    equity_liquidation: Mapped[int] = mapped_column(BigInteger)  # positions marked to the bid
    return_pct: Mapped[float] = mapped_column(Float)
    drawdown_pct: Mapped[float] = mapped_column(Float)  # current drawdown from the peak
    max_drawdown_pct: Mapped[float | None] = mapped_column(Float)  # all-time, survives restarts
    metrics_json: Mapped[str | None] = mapped_column(Text)  # services.competition.row_metrics
    sharpe: Mapped[float | None] = mapped_column(Float)
    win_rate: Mapped[float | None] = mapped_column(Float)
    trades: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    round_trips: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    score: Mapped[float] = mapped_column(Float, server_default=text("0"))
    rank: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    status: Mapped[str] = mapped_column(String(16))


class EventRow(Base):
    """Audit log: risk rejections, breaker trips, auto-disables, kill switch, graduations..."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    ts: Mapped[float] = mapped_column(Float, index=True)
    kind: Mapped[str] = mapped_column(String(48), index=True)
    severity: Mapped[str] = mapped_column(String(16), server_default="info")
    strategy: Mapped[str | None] = mapped_column(String(NAME_LEN), index=True)
    instrument_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    message: Mapped[str] = mapped_column(Text)
    value: Mapped[str | None] = mapped_column(String(64))  # the measured value, as text
    limit_value: Mapped[str | None] = mapped_column(String(64))  # the limit it broke, as text
    data_json: Mapped[str | None] = mapped_column(Text)


class ControlCommandRow(Base):
    """A command from the dashboard/CLI/API; the bot applies it and writes the result back."""

    __tablename__ = "control_commands"

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    created_ts: Mapped[float] = mapped_column(Float)  # wall time
    command: Mapped[str] = mapped_column(String(48))
    args_json: Mapped[str] = mapped_column(Text, server_default="{}")
    source: Mapped[str] = mapped_column(String(32))  # dashboard / cli / api
    status: Mapped[str] = mapped_column(String(16), server_default="pending", index=True)
    result: Mapped[str | None] = mapped_column(Text)
    applied_ts: Mapped[float | None] = mapped_column(Float)  # wall time


class MarketTopRow(Base):
    """Top of book per instrument, for the dashboard (micro-USDC prices, micro-share sizes)."""

    __tablename__ = "market_tops"

    instrument_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    best_bid: Mapped[int | None] = mapped_column(BigInteger)
    best_ask: Mapped[int | None] = mapped_column(BigInteger)
    bid_size: Mapped[int | None] = mapped_column(BigInteger)
    ask_size: Mapped[int | None] = mapped_column(BigInteger)
    mid: Mapped[int | None] = mapped_column(BigInteger)
    last_trade: Mapped[int | None] = mapped_column(BigInteger)
    updated_ts: Mapped[float] = mapped_column(Float)


class PriceHistoryRow(Base):
    """A point of an instrument's price history, for the strategy page's price chart.

    Appended by the database sink from the engine's top-of-book writes, at most once per
    instrument per persisted-snapshot interval and only when the mid or last trade changed;
    pruned with the fine snapshots (``competition.fine_retention_h``). Prices are micro-USDC per
    share. Keyed by (instrument, time) with no surrogate id (on SQLite a ``WITHOUT ROWID``
    table), so a long token id is stored once per row, not again in an index.
    """

    __tablename__ = "price_history"
    __table_args__ = {"sqlite_with_rowid": False}

    instrument_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    ts: Mapped[float] = mapped_column(Float, primary_key=True)  # event time of the book
    mid: Mapped[int | None] = mapped_column(BigInteger)
    last_trade: Mapped[int | None] = mapped_column(BigInteger)


class StageTransitionRow(Base):
    """A strategy's move between lifecycle stages (migration 0013), or the initial stage.

    ``kind``: ``initial``, ``promotion``, ``demotion``; ``actor``: ``auto`` (the engine clock),
    ``cli``, ``dashboard``, ``breaker``, ``health``, ``reconciliation``; ``ts`` is event time,
    ``wall_ts`` wall time; ``figures_json`` holds the figures and checks at that moment.
    """

    __tablename__ = "stage_transitions"
    __table_args__ = (Index("ix_stage_transitions_strategy", "strategy", "ts"),)

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    ts: Mapped[float] = mapped_column(Float)
    wall_ts: Mapped[float | None] = mapped_column(Float)
    strategy: Mapped[str] = mapped_column(String(NAME_LEN))
    from_stage: Mapped[str | None] = mapped_column(String(16))
    to_stage: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    capital: Mapped[int | None] = mapped_column(BigInteger)  # micro-USD at the new stage
    route: Mapped[str | None] = mapped_column(String(64))
    figures_json: Mapped[str | None] = mapped_column(Text)


class BotStateRow(Base):
    """Key/value state that survives restarts (kill switch, breakers, heartbeat, last event)."""

    __tablename__ = "bot_state"

    key: Mapped[str] = mapped_column(String(NAME_LEN), primary_key=True)
    value_json: Mapped[str] = mapped_column(Text)
    updated_ts: Mapped[float] = mapped_column(Float)


TABLES = Base.metadata.tables
"""Table name -> ``sqlalchemy.Table`` (read-only mapping of the schema)."""


# ---------------------------------------------------------------------------------------------
# Dashboard-owned tables (migration 0002): user alerts, their triggers, and the trade journal.
# The dashboard writes ``alerts`` and ``journal_entries``; the bot only reads ``alerts`` and
# inserts ``alert_triggers``.

ALERT_KINDS = ("price", "strategy_status", "strategy_drawdown", "portfolio_equity")
ALERT_DIRECTIONS = ("above", "below", "cross", "change")


class AlertRow(Base):
    """A user alert the bot evaluates on the engine clock.

    ``kind`` decides which target and level columns apply:

    * ``price``: ``instrument_id`` crosses ``level`` (micro-USDC per share) in ``direction``
      ``above`` / ``below`` / ``cross`` (either way);
    * ``strategy_status``: ``strategy``'s leaderboard status changes (``direction`` ``change``),
      optionally only to ``status_to`` (e.g. ``"DISABLED"``);
    * ``strategy_drawdown``: ``strategy``'s drawdown goes over ``level_pct`` percent;
    * ``portfolio_equity``: the summed equity of all strategies goes ``above`` / ``below``
      ``level`` (micro-USDC).
    """

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    created_ts: Mapped[float] = mapped_column(Float)  # wall time
    updated_ts: Mapped[float] = mapped_column(Float)  # wall time
    kind: Mapped[str] = mapped_column(String(32))  # ALERT_KINDS
    direction: Mapped[str] = mapped_column(String(16))  # ALERT_DIRECTIONS
    instrument_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    strategy: Mapped[str | None] = mapped_column(String(NAME_LEN))
    level: Mapped[int | None] = mapped_column(BigInteger)  # micro-USDC (price or equity)
    level_pct: Mapped[float | None] = mapped_column(Float)  # percent (drawdown)
    status_to: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, server_default="")
    enabled: Mapped[bool] = mapped_column(Boolean, server_default=true())


class AlertTriggerRow(Base):
    """One firing of an alert, recorded by the bot."""

    __tablename__ = "alert_triggers"

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    ts: Mapped[float] = mapped_column(Float)  # event time
    wall_ts: Mapped[float] = mapped_column(Float)  # wall time
    message: Mapped[str] = mapped_column(Text)
    value: Mapped[str | None] = mapped_column(String(64))  # the observed value, as text


class JournalEntryRow(Base):
    """A trade-journal note on a fill or a position (``fill_id`` None: the whole position)."""

    __tablename__ = "journal_entries"

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    created_ts: Mapped[float] = mapped_column(Float)  # wall time
    updated_ts: Mapped[float] = mapped_column(Float)  # wall time
    strategy: Mapped[str] = mapped_column(String(NAME_LEN), index=True)
    instrument_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    fill_id: Mapped[int | None] = mapped_column(BigInteger)
    entry_reason: Mapped[str] = mapped_column(Text, server_default="")
    confidence: Mapped[int | None] = mapped_column(Integer)  # 1..10
    exit_reason: Mapped[str] = mapped_column(Text, server_default="")
    lessons: Mapped[str] = mapped_column(Text, server_default="")
    rating: Mapped[int | None] = mapped_column(Integer)  # 1..5


class BacktestRunRow(Base):
    """One ``bot.py backtest`` or ``bot.py optimize`` run (reports on disk; docs/BACKTESTING.md)."""

    __tablename__ = "backtest_runs"

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # backtest | optimize
    created_wall: Mapped[float] = mapped_column(Float, index=True)  # wall time
    config_file: Mapped[str] = mapped_column(Text, server_default="")
    data: Mapped[str] = mapped_column(Text, server_default="")  # source path
    fidelity: Mapped[str] = mapped_column(String(16))  # L2 | L1 | trades
    start_ts: Mapped[float | None] = mapped_column(Float)  # first event, event time
    end_ts: Mapped[float | None] = mapped_column(Float)  # last event, event time
    strategies: Mapped[str] = mapped_column(Text, server_default="")  # comma-separated
    events: Mapped[int] = mapped_column(BigInteger, server_default="0")
    wall_s: Mapped[float] = mapped_column(Float, server_default="0")
    report_json: Mapped[str] = mapped_column(Text, server_default="")  # path
    report_html: Mapped[str] = mapped_column(Text, server_default="")  # path
    summary_json: Mapped[str] = mapped_column(Text, server_default="{}")


class BacktestResultRow(Base):
    """One strategy's figures in a backtest run (``segment``: ``full``, or an optimizer's
    ``in_sample``/``out_of_sample`` window, with the parameters it ran)."""

    __tablename__ = "backtest_results"

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(
        ForeignKey("backtest_runs.id", ondelete="CASCADE"), index=True
    )
    strategy: Mapped[str] = mapped_column(String(NAME_LEN))
    segment: Mapped[str] = mapped_column(String(32), server_default="full")
    window: Mapped[int] = mapped_column(Integer, server_default="0")
    label: Mapped[str] = mapped_column(String(16))  # EXCELLENT | GOOD | MARGINAL | FAILED
    return_pct: Mapped[float] = mapped_column(Float)
    sharpe: Mapped[float | None] = mapped_column(Float)
    max_drawdown_pct: Mapped[float] = mapped_column(Float)
    trades: Mapped[int] = mapped_column(Integer)
    fees: Mapped[int] = mapped_column(BigInteger)  # micro-units
    pnl: Mapped[int] = mapped_column(BigInteger)  # micro-units: final equity - starting capital
    params_json: Mapped[str] = mapped_column(Text, server_default="{}")
    metrics_json: Mapped[str] = mapped_column(Text, server_default="{}")


class HistoryMarketRow(Base):
    """The catalogue of fetched history (``bot.py history``): one row per market; the data
    itself is Parquet under ``backtest.history_dir`` (docs/BACKTESTING.md)."""

    __tablename__ = "history_markets"

    market_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)  # condition id
    gamma_id: Mapped[str] = mapped_column(String(32), server_default="")
    slug: Mapped[str] = mapped_column(Text, server_default="")
    question: Mapped[str] = mapped_column(Text, server_default="")
    folder: Mapped[str] = mapped_column(Text, server_default="")
    end_ts: Mapped[float | None] = mapped_column(Float)
    closed: Mapped[bool] = mapped_column(Boolean, server_default=false())
    resolved: Mapped[bool] = mapped_column(Boolean, server_default=false())
    price_days: Mapped[int] = mapped_column(Integer, server_default="0")
    first_day: Mapped[str | None] = mapped_column(String(10))
    last_day: Mapped[str | None] = mapped_column(String(10))
    trades: Mapped[int] = mapped_column(BigInteger, server_default="0")
    updated_wall: Mapped[float] = mapped_column(Float)
