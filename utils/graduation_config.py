"""Config sections of the strategy lifecycle: ``graduation:``, ``selection:``, ``rebalancing:``.

They are sections of :class:`utils.config.AppConfig`, hot-reloaded while the bot runs
(``services.config_watch``), and documented in ``docs/GRADUATION.md``. Money is in USD,
percentages are 0-100, durations are days of event time (the engine clock), intervals are seconds
of event time. ``null`` switches a criterion off.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

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


def _crit(ret: float, sharpe: float, win: float, dd: float, bets: int) -> dict[str, Any]:
    return {
        "min_return_pct": ret,
        "min_sharpe": sharpe,
        "min_win_rate_pct": win,
        "max_drawdown_pct": dd,
        "min_closed_bets": bets,
    }


DEFAULT_STAGES: dict[str, dict[str, Any]] = {
    "backtest": {
        "capital_usd": "10000",
        "min_days": 7,
        "route": "paper",
        "auto_promote": True,
        "promote_if": _crit(0.0, 1.0, 50.0, 20.0, 30),
    },
    "paper": {
        "capital_usd": "10000",
        "min_days": 30,
        "route": "paper",
        "auto_promote": False,
        "promote_if": _crit(5.0, 1.5, 55.0, 15.0, 50),
    },
    "micro": {
        "capital_usd": "50",
        "min_days": 7,
        "route": "polymarket_live",
        "auto_promote": False,
        "promote_if": _crit(0.0, 1.0, 50.0, 15.0, 10),
    },
    "mini": {
        "capital_usd": "200",
        "min_days": 14,
        "route": "polymarket_live",
        "auto_promote": False,
        "promote_if": _crit(0.0, 1.0, 50.0, 15.0, 20),
    },
    "full": {
        "capital_usd": "1000",
        "min_days": 0,
        "route": "polymarket_live",
        "auto_promote": False,
        "promote_if": {},
    },
}
"""Each stage's defaults. A stage written partly in config.yaml keeps the defaults of the keys it
does not name (``null`` switches a criterion off), so overriding one number never drops the
others' safety."""

DEFAULT_GATES: dict[str, Any] = _crit(0.0, 1.5, 55.0, 15.0, 20)
"""The selection's qualification gates (strict)."""


def merged(default: dict[str, Any], given: Any) -> Any:
    """Return ``given`` laid over ``default`` (nested dicts merged key by key)."""
    if not isinstance(given, dict):
        return given
    out = dict(default)
    for k, v in given.items():
        d = default.get(k)
        out[k] = merged(d, v) if isinstance(d, dict) and isinstance(v, dict) else v
    return out


class StagesConfig(_Frozen):
    """The five stages, in order: backtest -> paper -> micro -> mini -> full."""

    backtest: StageRule = Field(
        default_factory=lambda: StageRule.model_validate(DEFAULT_STAGES["backtest"])
    )
    paper: StageRule = Field(
        default_factory=lambda: StageRule.model_validate(DEFAULT_STAGES["paper"])
    )
    micro: StageRule = Field(
        default_factory=lambda: StageRule.model_validate(DEFAULT_STAGES["micro"])
    )
    mini: StageRule = Field(
        default_factory=lambda: StageRule.model_validate(DEFAULT_STAGES["mini"])
    )
    full: StageRule = Field(
        default_factory=lambda: StageRule.model_validate(DEFAULT_STAGES["full"])
    )

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, v: Any) -> Any:
        if not isinstance(v, dict):
            return v
        return {k: merged(DEFAULT_STAGES[k], x) if k in DEFAULT_STAGES else x for k, x in v.items()}

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
    save_interval_s: float = Field(
        60.0,
        gt=0,
        le=86400,
        description="Seconds of wall time between saves of the stage figures (a kill -9 loses "
        "at most this much; transitions and a clean stop save at once)",
    )
    stages: StagesConfig = Field(default_factory=StagesConfig)
    backtest_evidence: Literal["backtester", "stage"] = Field(
        "backtester",
        description="What judges a move out of the backtest stage: backtester (the strategy's "
        "latest stored `bot.py backtest` run; its span of history counts as the stage's days) "
        "or stage (what the bot measured while the strategy was in the backtest stage)",
    )
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
    window_days: float | None = Field(
        30.0,
        ge=1,
        le=3650,
        description="Rank on the figures of this many trailing days of event time (selection "
        "and rebalancer); null: all-time figures",
    )
    gates: Criteria = Field(
        default_factory=lambda: Criteria.model_validate(DEFAULT_GATES),
        description="Qualification gates (strict; unnamed keys keep their defaults)",
    )

    @model_validator(mode="before")
    @classmethod
    def _gate_defaults(cls, v: Any) -> Any:
        if isinstance(v, dict) and isinstance(v.get("gates"), dict):
            return {**v, "gates": merged(DEFAULT_GATES, v["gates"])}
        return v

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
