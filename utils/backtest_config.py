"""Typed, frozen configuration of backtests, the optimizer and historical data (docs/BACKTESTING.md).

Every field has a default, bounds and a description with its unit.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class L1Config(_Frozen):
    """Assumptions of a top-of-book (L1) replay: the data has prices, not depth or fees."""

    depth_shares: Decimal = Field(
        Decimal("100"),
        gt=0,
        le=Decimal("1e9"),
        description="Shares assumed available at the best bid and at the best ask, shares.",
    )
    fee_rate: Decimal = Field(
        Decimal("0"),
        ge=0,
        le=Decimal("0.25"),
        description="Taker fee rate of every market (fee = shares*rate*p*(1-p)), 0..0.25.",
    )
    tick: Decimal = Field(
        Decimal("0.01"),
        description="Price tick, probability (0.01 or 0.001; a market quoted off the 0.01 grid "
        "gets 0.001).",
    )
    min_size_shares: Decimal = Field(
        Decimal("5"), ge=0, le=Decimal("1e6"), description="Minimum order size, shares."
    )
    settle_at_end: bool = Field(
        True,
        description="Settle every market at 1 or 0 (labels.csv) when the backtest window ends.",
    )

    @model_validator(mode="after")
    def _tick(self) -> L1Config:
        if self.tick not in (Decimal("0.01"), Decimal("0.001")):
            raise ValueError("tick must be 0.01 or 0.001")
        return self


class TradesConfig(_Frozen):
    """Assumptions of a trades / price-history replay (no book at all: conservative)."""

    half_spread: Decimal = Field(
        Decimal("0.01"),
        gt=0,
        le=Decimal("0.2"),
        description="Assumed half spread around each price point, probability: the book shows "
        "a bid this far below and an ask this far above.",
    )
    depth_shares: Decimal = Field(
        Decimal("50"), gt=0, le=Decimal("1e9"), description="Shares assumed at each side, shares."
    )
    fill_window_s: float = Field(
        60.0,
        gt=0,
        le=86_400,
        description="How long a marketable order waits for trades printed at or through its "
        "price before its remainder is cancelled (FAK, FOK) or rests (GTC), seconds.",
    )


class LabelThresholds(_Frozen):
    """Recommendation label of a backtest from its (out-of-sample) figures.

    EXCELLENT needs every ``excellent_*`` figure, GOOD every ``good_*`` figure, MARGINAL a
    non-negative return; anything else (or fewer than ``min_trades`` fills) is FAILED.
    """

    excellent_sharpe: float = Field(2.0, ge=0, le=100, description="Annualised Sharpe, ratio.")
    excellent_return_pct: float = Field(5.0, ge=-100, le=1e6, description="Total return, %.")
    excellent_max_drawdown_pct: float = Field(
        10.0, ge=0, le=100, description="Largest drawdown allowed for EXCELLENT, %."
    )
    good_sharpe: float = Field(1.0, ge=0, le=100, description="Annualised Sharpe, ratio.")
    good_return_pct: float = Field(1.0, ge=-100, le=1e6, description="Total return, %.")
    good_max_drawdown_pct: float = Field(
        20.0, ge=0, le=100, description="Largest drawdown allowed for GOOD, %."
    )
    min_trades: int = Field(10, ge=0, le=1_000_000, description="Fewer fills than this: FAILED.")


class OptimizerConfig(_Frozen):
    """Defaults of ``bot.py optimize`` (each has a command-line flag)."""

    workers: int = Field(2, ge=1, le=256, description="Local worker processes, count.")
    dask_address: str = Field(
        "", description="Dask scheduler (tcp://HOST:8786); empty: local processes."
    )
    trials: int = Field(20, ge=1, le=100_000, description="Trials per walk-forward window.")
    seed: int = Field(1, ge=0, description="Sampler seed: same seed, same trials.")


class HistoryConfig(_Frozen):
    """``bot.py history fetch``: where history comes from and how it is throttled."""

    data_api_url: str = Field(
        "https://data-api.polymarket.com",
        description="Polymarket Data API (trades); Gamma and CLOB URLs come from "
        "market_data.polymarket.",
    )
    fidelity_min: int = Field(
        1, ge=1, le=1440, description="Price-history resolution asked of /prices-history, minutes."
    )
    trades_page: int = Field(
        500, ge=1, le=10_000, description="Trades asked per Data API page, count."
    )
    max_trade_offset: int = Field(
        10_000, ge=0, le=1_000_000, description="Deepest Data API offset asked (its limit)."
    )
    default_days: int = Field(
        30, ge=1, le=3650, description="Days fetched before a market's end without --start."
    )


class BacktestConfig(_Frozen):
    """The ``backtest:`` section."""

    report_dir: str = Field("reports", description="Folder of JSON and HTML reports.")
    history_dir: str = Field("data/history", description="Folder of fetched Parquet history.")
    l1: L1Config = Field(default_factory=L1Config)
    trades: TradesConfig = Field(default_factory=TradesConfig)
    labels: LabelThresholds = Field(default_factory=LabelThresholds)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    history: HistoryConfig = Field(default_factory=HistoryConfig)
