"""Config sections of the safety layer: risk limits, breakers, health, exits, kill switch, control.

They are sections of :class:`utils.config.AppConfig` (``risk:``, ``breakers:``, ``health:``,
``exits:``, ``kill_switch_options:``, ``control:`` and the top-level ``kill_switch:`` flag) and are
hot-reloaded while the bot runs (``services.config_watch``). Money is in USD, percentages are
0-100, event-time intervals are seconds of the engine clock, ``control`` intervals are wall seconds.
``null`` switches a limit off.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_KELLY_FRACTION = Decimal("0.5")
"""Half Kelly is the most any strategy may bet: full Kelly is too aggressive for noisy edges."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


STAGES = ("backtest", "paper", "micro", "mini", "full")
"""Lifecycle stages of a strategy (today every strategy runs in ``paper``)."""

STRATEGY_KINDS = ("market_making", "arbitrage", "directional")
"""Kinds of strategy (``Strategy.kind``)."""

Mode = Literal["enforce", "observe"]


class StageModes(_Frozen):
    """Whether a rule acts (``enforce``) or only records what it would have done (``observe``),
    per lifecycle stage. In YAML a single word sets every stage: ``daily_loss: observe``."""

    backtest: Mode = Field("enforce", description="Mode in backtests")
    paper: Mode = Field("enforce", description="Mode in paper trading")
    micro: Mode = Field("enforce", description="Mode with micro live stakes")
    mini: Mode = Field("enforce", description="Mode with mini live stakes")
    full: Mode = Field("enforce", description="Mode with full live stakes")

    @model_validator(mode="before")
    @classmethod
    def _one_word(cls, v: Any) -> Any:
        if isinstance(v, str):
            return dict.fromkeys(STAGES, v)
        return v

    def mode(self, stage: str) -> str:
        """Return the mode at ``stage`` (an unknown stage is treated as live: ``full``)."""
        return str(getattr(self, stage if stage in STAGES else "full"))


_STREAK_PAPER_OBSERVE = {"backtest": "observe", "paper": "observe"}


class BreakerModes(_Frozen):
    """``enforce`` / ``observe`` per breaker and stage (``breakers.modes``)."""

    consecutive_losses: StageModes = Field(
        default_factory=lambda: StageModes.model_validate(_STREAK_PAPER_OBSERVE),
        description="Loss-streak breaker (observed in backtest and paper by default)",
    )
    daily_loss: StageModes = Field(default_factory=StageModes)
    strategy_drawdown: StageModes = Field(default_factory=StageModes)
    portfolio_drawdown: StageModes = Field(default_factory=StageModes)
    system_failures: StageModes = Field(default_factory=StageModes)


class HealthModes(_Frozen):
    """``enforce`` / ``observe`` per health rule and stage (``health.modes``)."""

    daily_loss: StageModes = Field(default_factory=StageModes)
    consecutive_losses: StageModes = Field(
        default_factory=lambda: StageModes.model_validate(_STREAK_PAPER_OBSERVE),
        description="Loss-streak rule (observed in backtest and paper by default)",
    )
    drawdown: StageModes = Field(default_factory=StageModes)
    win_rate: StageModes = Field(
        default_factory=lambda: StageModes.model_validate(_STREAK_PAPER_OBSERVE),
        description="Win-rate rule (observed in backtest and paper by default)",
    )


def _kind_limits(**limits: int | None) -> dict[str, int | None]:
    return dict(limits)


def _check_kinds(v: dict[str, Any]) -> dict[str, Any]:
    for k in v:
        if k not in STRATEGY_KINDS:
            raise ValueError(f"unknown strategy kind {k!r}; kinds are {', '.join(STRATEGY_KINDS)}")
    return v


OUTSIDE_ZONE = "outside"
"""Name of the prices below the first and above the last zone boundary."""


class ZoneConfig(_Frozen):
    """Price zones (PETS): Z1 is [b0, b1), Z2 [b1, b2), ... ; prices beyond are ``outside``."""

    boundaries: tuple[float, ...] = Field(
        (0.05, 0.20, 0.40, 0.60, 0.80, 0.98),
        min_length=2,
        max_length=11,
        description="Zone boundaries, probabilities strictly increasing inside (0, 1)",
    )
    directional_blocked: tuple[str, ...] = Field(
        (),
        description="Zones (Z1.., or 'outside') where directional strategies may not open positions",
    )

    @field_validator("boundaries")
    @classmethod
    def _increasing(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0.0 < b < 1.0 for b in v):
            raise ValueError("every zone boundary must be a probability strictly inside (0, 1)")
        if any(b >= c for b, c in zip(v, v[1:], strict=False)):
            raise ValueError("zone boundaries must be strictly increasing")
        return v

    @model_validator(mode="after")
    def _known_zones(self) -> ZoneConfig:
        names = set(self.zone_names()) | {OUTSIDE_ZONE}
        for z in self.directional_blocked:
            if z not in names:
                raise ValueError(
                    f"unknown zone {z!r} in directional_blocked; zones are "
                    f"{', '.join(sorted(names))}"
                )
        return self

    def zone_names(self) -> list[str]:
        """Return the zone names ``Z1..Zn`` defined by the boundaries."""
        return [f"Z{i + 1}" for i in range(len(self.boundaries) - 1)]


class RiskLimits(_Frozen):
    """Pre-trade limits of one strategy (``risk.limits``; ``risk.per_strategy.NAME`` overrides).

    Size limits allow the limit exactly (an order of exactly ``max_order_usd`` passes); loss
    limits stop new entries once the loss reaches the limit.
    """

    max_order_usd: Decimal | None = Field(
        Decimal("1000"), gt=0, le=Decimal("1e9"), description="Largest notional of one order, USD"
    )
    max_position_usd: Decimal | None = Field(
        Decimal("2500"),
        gt=0,
        le=Decimal("1e9"),
        description="Largest notional per instrument (position at mark + resting buys + order), USD",
    )
    max_exposure_usd: Decimal | None = Field(
        Decimal("10000"),
        gt=0,
        le=Decimal("1e10"),
        description="Largest total of positions at mark + resting buys + order, USD",
    )
    max_open_positions: int | None = Field(
        50, ge=1, le=100_000, description="Most instruments held or bid for at once, count"
    )
    max_daily_loss_usd: Decimal | None = Field(
        Decimal("500"),
        gt=0,
        le=Decimal("1e9"),
        description="Loss since the day's start (realized + unrealized) that stops entries, USD",
    )
    max_drawdown_pct: float | None = Field(
        15.0, gt=0, le=100, description="Drawdown from peak equity that stops new entries, %"
    )
    max_orders_per_s: int | None = Field(
        50, ge=1, le=100_000, description="Most orders in any 1-second window (event time), count"
    )


class RiskConfig(_Frozen):
    """The pre-trade risk chain (order sanity and the trading state are always checked)."""

    enabled: bool = Field(True, description="Apply the limits below (sanity checks always run)")
    limits: RiskLimits = Field(default_factory=RiskLimits)
    per_strategy: dict[str, RiskLimits] = Field(
        default_factory=dict,
        description="Per-strategy overrides: only the keys written replace risk.limits",
    )
    global_max_exposure_usd: Decimal | None = Field(
        None, gt=0, le=Decimal("1e12"), description="Cap on all strategies' exposure together, USD"
    )
    zones: ZoneConfig = Field(default_factory=ZoneConfig)
    max_kelly_fraction: Decimal = Field(
        MAX_KELLY_FRACTION,
        gt=0,
        le=1,
        description="Largest Kelly fraction a strategy may size with (0.5 half, 0.25 quarter)",
    )
    allow_full_kelly: bool = Field(
        False, description="Allow max_kelly_fraction above 0.5 (up to full Kelly)"
    )
    day_reset_timezone: str = Field(
        "UTC", description="IANA time zone whose midnight starts a new risk day"
    )
    rejection_event_interval_s: float = Field(
        1.0,
        ge=0,
        le=3600,
        description="Record one risk_rejection event per strategy and control per this many "
        "event-time seconds (repeats are counted, not stored); 0 records every one",
    )

    @field_validator("day_reset_timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {v!r} (use an IANA name like Europe/London)"
            ) from None
        return v

    @model_validator(mode="after")
    def _kelly(self) -> RiskConfig:
        if self.max_kelly_fraction > MAX_KELLY_FRACTION and not self.allow_full_kelly:
            raise ValueError(
                f"max_kelly_fraction {self.max_kelly_fraction} is above half Kelly; "
                "set allow_full_kelly: true to allow it"
            )
        return self

    def limits_for(self, strategy: str) -> RiskLimits:
        """Return ``limits`` with the keys written under ``per_strategy[strategy]`` applied."""
        over = self.per_strategy.get(strategy)
        if over is None:
            return self.limits
        return self.limits.model_copy(update={k: getattr(over, k) for k in over.model_fields_set})


class BreakerConfig(_Frozen):
    """Circuit breakers (checked on the engine clock)."""

    enabled: bool = Field(True, description="Run the circuit breakers")
    check_interval_s: float = Field(
        1.0, gt=0, le=3600, description="Event-time seconds between breaker checks"
    )
    consecutive_losses: int | None = Field(
        5,
        ge=1,
        le=1000,
        description="Losing bets in a row that pause a strategy, count (directional strategies "
        "and any kind not in consecutive_losses_by_kind)",
    )
    consecutive_losses_by_kind: dict[str, int | None] = Field(
        default_factory=lambda: _kind_limits(market_making=15, arbitrage=3),
        description="Per strategy kind: losing bets in a row that pause it (null: off). A market "
        "maker's closed bet is an inventory round trip, an arbitrage's should never lose",
    )
    consecutive_losses_min_loss_pct: float | None = Field(
        1.0,
        ge=0,
        le=100,
        description="The loss-streak breaker trips only if the strategy is down at least this "
        "much from its starting capital, % (null: any streak trips)",
    )
    consecutive_losses_pause_h: float = Field(
        24.0, gt=0, le=24 * 365, description="Pause after the loss streak, hours (auto-resume)"
    )
    daily_loss_pct: float | None = Field(
        5.0, gt=0, le=100, description="Portfolio-wide loss since the day's start that halts all, %"
    )
    strategy_drawdown_pct: float | None = Field(
        25.0, gt=0, le=100, description="Strategy drawdown from its peak that halts it, %"
    )
    portfolio_drawdown_pct: float | None = Field(
        40.0, gt=0, le=100, description="Portfolio drawdown that activates the kill switch, %"
    )
    failure_threshold: int | None = Field(
        10, ge=1, le=100_000, description="Strategy/execution errors within the window that open it"
    )
    failure_window_s: float = Field(
        300.0, gt=0, le=86_400, description="Window for counting errors, event-time seconds"
    )
    cooldown_s: float = Field(
        1800.0, gt=0, le=604_800, description="Time OPEN before HALF_OPEN, event-time seconds"
    )
    probe_max_usd: Decimal = Field(
        Decimal("50"), gt=0, le=Decimal("1e9"), description="Largest probe order in HALF_OPEN, USD"
    )
    probe_window_s: float = Field(
        60.0, gt=0, le=86_400, description="Error-free seconds after the probe that close it"
    )
    modes: BreakerModes = Field(
        default_factory=BreakerModes,
        description="enforce or observe, per breaker and lifecycle stage",
    )

    _kinds = field_validator("consecutive_losses_by_kind")(_check_kinds)

    def streak_limit(self, kind: str) -> int | None:
        """Return the loss-streak threshold of a strategy kind (None: rule off)."""
        if kind in self.consecutive_losses_by_kind:
            return self.consecutive_losses_by_kind[kind]
        return self.consecutive_losses


class HealthConfig(_Frozen):
    """Strategy health monitor: auto-disable on sustained bad behaviour."""

    enabled: bool = Field(True, description="Run the health monitor")
    check_interval_s: float = Field(
        60.0, gt=0, le=86_400, description="Event-time seconds between health checks"
    )
    max_daily_loss_pct: float | None = Field(
        10.0, gt=0, le=100, description="Disable when the day's loss is more than this, %"
    )
    max_consecutive_losses: int | None = Field(
        8,
        ge=1,
        le=1000,
        description="Disable at this many losing bets in a row, count (directional strategies "
        "and any kind not in max_consecutive_losses_by_kind)",
    )
    max_consecutive_losses_by_kind: dict[str, int | None] = Field(
        default_factory=lambda: _kind_limits(market_making=25, arbitrage=5),
        description="Per strategy kind: losing bets in a row that disable it (null: off)",
    )
    max_drawdown_pct: float | None = Field(
        20.0, gt=0, le=100, description="Disable when drawdown from peak is more than this, %"
    )
    min_win_rate_pct: float | None = Field(
        40.0, ge=0, le=100, description="Disable when the win rate is under this, %"
    )
    min_trades_for_win_rate: int = Field(
        20, ge=1, le=1_000_000, description="Closed bets needed before the win-rate rule applies"
    )
    quality_rules_min_loss_pct: float | None = Field(
        1.0,
        ge=0,
        le=100,
        description="The loss-streak and win-rate rules act only on a strategy down at least this "
        "much from its starting capital, % (null: always)",
    )
    modes: HealthModes = Field(
        default_factory=HealthModes, description="enforce or observe, per rule and lifecycle stage"
    )

    _kinds = field_validator("max_consecutive_losses_by_kind")(_check_kinds)

    def streak_limit(self, kind: str) -> int | None:
        """Return the loss-streak threshold of a strategy kind (None: rule off)."""
        if kind in self.max_consecutive_losses_by_kind:
            return self.max_consecutive_losses_by_kind[kind]
        return self.max_consecutive_losses


class ExitRules(_Frozen):
    """When to close a position at market (``null`` switches a rule off)."""

    stop_loss_pct: float | None = Field(
        None, gt=0, le=100, description="Exit when the mid is this far below the entry price, %"
    )
    take_profit_pct: float | None = Field(
        None, gt=0, le=10_000, description="Exit when the mid is this far above the entry price, %"
    )
    trailing_stop_pct: float | None = Field(
        None, gt=0, le=100, description="Exit when the mid falls this far from its high, %"
    )
    max_hold_min: float | None = Field(
        None, gt=0, le=525_600, description="Exit after holding this long, minutes"
    )
    exit_before_end_min: float | None = Field(
        None, gt=0, le=525_600, description="Exit this long before the market's end time, minutes"
    )

    def merged(self, over: ExitRules | None) -> ExitRules:
        """Return these rules with the keys explicitly set in ``over`` replaced."""
        if over is None:
            return self
        return self.model_copy(update={k: getattr(over, k) for k in over.model_fields_set})


class ExitConfig(_Frozen):
    """The exit manager: stop-loss, take-profit, trailing stop, time exits."""

    enabled: bool = Field(True, description="Run the exit manager")
    check_interval_s: float = Field(
        1.0, gt=0, le=3600, description="Event-time seconds between exit checks"
    )
    rules: ExitRules = Field(default_factory=ExitRules)
    per_strategy: dict[str, ExitRules] = Field(
        default_factory=dict, description="Per-strategy overrides: only the keys written apply"
    )
    when_paused: bool = Field(True, description="Keep exits running for paused strategies")
    retry_s: float = Field(
        10.0, gt=0, le=86_400, description="Wait before retrying an exit that did not fill, seconds"
    )


class KillSwitchConfig(_Frozen):
    """What the kill switch does when activated (``kill_switch_options``)."""

    flatten_on_kill: bool = Field(
        False, description="Close every position at market when the kill switch activates"
    )
    flatten_retry_s: float = Field(
        5.0, gt=0, le=3600, description="Retry closing what is left every N event-time seconds"
    )
    flatten_timeout_s: float = Field(
        300.0, gt=0, le=86_400, description="Give up flattening (REDUCING -> HALTED) after, seconds"
    )


class ControlConfig(_Frozen):
    """Control commands from the dashboard/CLI and config hot reload (wall-clock intervals)."""

    poll_interval_s: float = Field(
        0.1, ge=0.01, le=5, description="Seconds between reads of pending control commands"
    )
    heartbeat_interval_s: float = Field(
        1.0, gt=0, le=60, description="Seconds between heartbeats written to bot_state"
    )
    config_reload: bool = Field(True, description="Re-read config.yaml when it changes")
    config_poll_interval_s: float = Field(
        1.0, ge=0.05, le=600, description="Seconds between checks of config.yaml for changes"
    )
    cli_wait_s: float = Field(
        5.0, gt=0, le=300, description="How long `bot.py control` waits for the bot's answer, s"
    )


HOT_RELOADABLE = (
    "risk",
    "breakers",
    "health",
    "exits",
    "kill_switch",
    "kill_switch_options",
    "control",
    "graduation",
    "selection",
    "rebalancing",
)
"""Top-level config keys applied live on reload; every other key needs a restart."""


def check_override_names(per_strategy_keys: dict[str, list[str]], names: list[str]) -> None:
    """Raise ValueError if a ``per_strategy`` section names a strategy that is not configured.

    Parameters
    ----------
    per_strategy_keys : dict[str, list[str]]
        Section path (e.g. ``risk.per_strategy``) -> strategy names used there.
    names : list[str]
        Configured strategy names.
    """
    known = set(names)
    for section, used in per_strategy_keys.items():
        for n in used:
            if n not in known:
                raise ValueError(
                    f"{section} names strategy {n!r}, which is not in strategies "
                    f"(known: {', '.join(sorted(known)) or 'none'})"
                )
