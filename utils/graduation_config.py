"""Config sections of the strategy lifecycle: ``graduation:``, ``selection:``, ``rebalancing:``.

They are sections of :class:`utils.config.AppConfig`, hot-reloaded while the bot runs
(``services.config_watch``), and documented in ``docs/GRADUATION.md``. Money is in USD,
percentages are 0-100, durations are days of event time (the engine clock), intervals are seconds
of event time. ``null`` switches a criterion off.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


StageName = Literal["backtest", "paper", "micro", "mini", "full"]
Schedule = Literal["daily", "weekly", "monthly"]


class Criteria(_Frozen):
    """Thresholds on a strategy's figures (``null`` switches one off).

    Entry criteria (``graduation.stages.X.promote_if``) are inclusive (``>=``, ``<=``); the
    selection's qualification gates (``selection.gates``) are strict (``>``, ``<``).
    """

    min_return_pct: float | None = Field(None, ge=-100, le=10_000, description="Return, %")
    min_sharpe: float | None = Field(None, ge=-100, le=100, description="Annualised Sharpe ratio")
    min_win_rate_pct: float | None = Field(None, ge=0, le=100, description="Closed bets won, %")
    max_drawdown_pct: float | None = Field(None, ge=0, le=100, description="Max drawdown, %")
    min_closed_bets: int = Field(0, ge=0, le=1_000_000, description="Closed bets (trades)")
    sharpe_basis: Literal["point", "supported"] = Field(
        "point",
        description="point: the Sharpe as shown; supported: the Sharpe minus one standard error",
    )


class StageRule(_Frozen):
    """One stage: its capital, how long a strategy stays at least, where its orders go, and what
    it must show to move on to the next stage."""

    capital_usd: Decimal = Field(gt=0, le=Decimal("1e9"), description="Capital at this stage, USD")
    min_days: float = Field(ge=0, le=3650, description="Minimum days in the stage (event time)")
    route: str = Field(
        "paper",
        min_length=1,
        max_length=64,
        description="Execution client (route name) the stage's orders go to",
    )
    auto_promote: bool = Field(
        False,
        description="Move to the next stage without approval when eligible (never into a live "
        "stage: those always need an approval)",
    )
    promote_if: Criteria = Field(
        default_factory=Criteria, description="Entry criteria of the next stage"
    )


def _stage(
    capital: str, days: float, route: str, auto: bool, crit: dict[str, float | int | None]
) -> StageRule:
    return StageRule(
        capital_usd=Decimal(capital),
        min_days=days,
        route=route,
        auto_promote=auto,
        promote_if=Criteria.model_validate(crit),
    )


class StagesConfig(_Frozen):
    """The five stages, in order: backtest -> paper -> micro -> mini -> full."""

    backtest: StageRule = Field(
        default_factory=lambda: _stage(
            "10000",
            7,
            "paper",
            True,
            dict(
                min_return_pct=0.0,
                min_sharpe=1.0,
                min_win_rate_pct=50.0,
                max_drawdown_pct=20.0,
                min_closed_bets=30,
            ),
        )
    )
    paper: StageRule = Field(
        default_factory=lambda: _stage(
            "10000",
            30,
            "paper",
            False,
            dict(
                min_return_pct=5.0,
                min_sharpe=1.5,
                min_win_rate_pct=55.0,
                max_drawdown_pct=15.0,
                min_closed_bets=50,
            ),
        )
    )
    micro: StageRule = Field(
        default_factory=lambda: _stage(
            "50",
            7,
            "polymarket_live",
            False,
            dict(
                min_return_pct=0.0,
                min_sharpe=1.0,
                min_win_rate_pct=50.0,
                max_drawdown_pct=15.0,
                min_closed_bets=10,
            ),
        )
    )
    mini: StageRule = Field(
        default_factory=lambda: _stage(
            "200",
            14,
            "polymarket_live",
            False,
            dict(
                min_return_pct=0.0,
                min_sharpe=1.0,
                min_win_rate_pct=50.0,
                max_drawdown_pct=15.0,
                min_closed_bets=20,
            ),
        )
    )
    full: StageRule = Field(default_factory=lambda: _stage("1000", 0, "polymarket_live", False, {}))

    def rule(self, stage: str) -> StageRule:
        """Return the rule of ``stage``."""
        return getattr(self, stage)  # type: ignore[no-any-return]


class GraduationConfig(_Frozen):
    """``graduation:``: stages, eligibility checks and demotion."""

    enabled: bool = Field(True, description="Check eligibility and apply stage changes")
    initial_stage: StageName = Field(
        "paper", description="Stage of a strategy the database has never seen"
    )
    check_interval_s: float = Field(
        3600.0, gt=0, le=7 * 86400, description="Seconds of event time between eligibility checks"
    )
    sample_interval_s: float = Field(
        60.0, gt=0, le=86400, description="Seconds of event time between stage-figure samples"
    )
    stages: StagesConfig = Field(default_factory=StagesConfig)
    demote_on_breaker_trip: bool = Field(
        True, description="A breaker trip moves a live-stage strategy back to paper"
    )
    demote_on_auto_disable: bool = Field(
        True, description="A health (or error) auto-disable moves a live-stage strategy to paper"
    )
    demote_on_reconciliation_failure: bool = Field(
        True, description="A reconciliation difference on its orders moves it back to paper"
    )
    reconcile_interval_s: float = Field(
        300.0, gt=0, le=86400, description="Seconds of event time between reconciliations"
    )
    approval_confirm_word: str = Field(
        "GRADUATE",
        min_length=1,
        max_length=32,
        description="Word the dashboard asks the user to type to approve a live stage",
    )


class SelectionConfig(_Frozen):
    """``selection:``: the scheduled 70/20/10 selection of a stage's capital pool."""

    enabled: bool = Field(False, description="Make selection proposals on the schedule")
    stage: StageName = Field("full", description="Stage whose capital pool is divided")
    pool_usd: Decimal = Field(
        Decimal("1000"), gt=0, le=Decimal("1e9"), description="Capital divided, USD"
    )
    shares_pct: tuple[float, ...] = Field(
        (70.0, 20.0, 10.0), min_length=1, max_length=10, description="Shares of the top N, %"
    )
    schedule: Schedule = Field("weekly", description="daily, weekly (Mondays) or monthly (1st)")
    at_hour_utc: int = Field(0, ge=0, le=23, description="Hour (UTC, event time) it runs")
    auto_apply: bool = Field(False, description="Apply a proposal without approval")
    gates: Criteria = Field(
        default_factory=lambda: Criteria(
            min_return_pct=0.0,
            min_sharpe=1.5,
            min_win_rate_pct=55.0,
            max_drawdown_pct=15.0,
            min_closed_bets=20,
        ),
        description="Qualification gates (strict)",
    )

    @model_validator(mode="after")
    def _shares(self) -> SelectionConfig:
        if any(s <= 0 for s in self.shares_pct) or sum(self.shares_pct) > 100.0 + 1e-9:
            raise ValueError("shares_pct must be positive and sum to at most 100")
        return self


class RebalanceWeights(_Frozen):
    """Weights of the rebalancer's score (normalised to sum to 1)."""

    sharpe: float = Field(0.4, ge=0, le=1)
    win_rate: float = Field(0.3, ge=0, le=1)
    pnl: float = Field(0.3, ge=0, le=1)


class RebalancingConfig(_Frozen):
    """``rebalancing:``: re-divide the pool by score within bounds, on a schedule."""

    enabled: bool = Field(False, description="Rebalance the selection's pool on the schedule")
    schedule: Schedule = Field("weekly", description="daily, weekly (Mondays) or monthly (1st)")
    at_hour_utc: int = Field(0, ge=0, le=23, description="Hour (UTC, event time) it runs")
    weights: RebalanceWeights = Field(default_factory=RebalanceWeights)
    min_share_pct: float = Field(5.0, ge=0, le=100, description="Least share of the pool, %")
    max_share_pct: float = Field(40.0, gt=0, le=100, description="Largest share of the pool, %")
    auto_apply: bool = Field(True, description="Apply without approval (else a proposal)")

    @model_validator(mode="after")
    def _bounds(self) -> RebalancingConfig:
        if self.min_share_pct > self.max_share_pct:
            raise ValueError("min_share_pct must not exceed max_share_pct")
        w = self.weights
        if w.sharpe + w.win_rate + w.pnl <= 0:
            raise ValueError("rebalancing.weights must not all be 0")
        return self
