"""Typed, frozen configuration of the embedded simulated venue.

Every field has a default, bounds and a description with its unit. Rates marked "per token" apply
to each outcome token (a binary market has two); rates marked "per group" apply to each binary
market or neg-risk event. See ``docs/SIMULATOR.md`` for how the fields shape the market.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator


class SimConfig(BaseModel):
    """Universe, microstructure and price-process settings of the simulated venue.

    ``half_spread_ticks``, ``informed_edge_ticks`` and ``maker_noise_ticks`` (names of an earlier
    draft) are still accepted as aliases of the ``*_cents`` fields.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    # ------------------------------------------------------------------ universe
    markets: int = Field(
        20,
        ge=1,
        le=500,
        description="Live binary markets kept listed (not counting neg-risk events), count.",
    )
    neg_risk_events: int = Field(
        1, ge=0, le=50, description="Live neg-risk (multi-outcome) events kept listed, count."
    )
    outcomes_per_event: int = Field(
        4, ge=2, le=12, description="Mutually exclusive outcomes per neg-risk event, count."
    )
    fee_enabled_share: float = Field(
        0.5, ge=0.0, le=1.0, description="Fraction of markets/events with taker fees, 0..1."
    )
    fee_rate_min: float = Field(
        0.02, ge=0.0, le=0.25, description="Lowest taker fee rate of a fee-enabled market."
    )
    fee_rate_max: float = Field(
        0.07, ge=0.0, le=0.25, description="Highest taker fee rate of a fee-enabled market."
    )
    fee_exponent: int = Field(
        1, ge=1, le=4, description="Fee schedule exponent: fee = shares*rate*(p*(1-p))**exp."
    )
    fine_tick_share: float = Field(
        0.3,
        ge=0.0,
        le=1.0,
        description="Fraction of markets listed with a 0.001 tick (others 0.01), 0..1.",
    )
    tick_change_low: float = Field(
        0.04,
        ge=0.0,
        le=0.5,
        description="A 0.01-tick market whose YES mid goes below this (probability) switches to "
        "a 0.001 tick, as Polymarket does.",
    )
    tick_change_high: float = Field(
        0.96,
        ge=0.5,
        le=1.0,
        description="A 0.01-tick market whose YES mid goes above this (probability) switches to "
        "a 0.001 tick.",
    )
    min_size_shares: float = Field(
        5.0, ge=0.01, le=10_000, description="Minimum order size of every market, shares."
    )
    lifetime_min_s: float = Field(
        1800.0, ge=60.0, le=90 * 86400.0, description="Shortest market lifetime, seconds."
    )
    lifetime_max_s: float = Field(
        14400.0, ge=60.0, le=90 * 86400.0, description="Longest market lifetime, seconds."
    )
    resolution_delay_s: float = Field(
        2.0,
        ge=0.0,
        le=86400.0,
        description="Delay between a market closing and its resolution, seconds.",
    )
    initial_ending_soon: int = Field(
        3,
        ge=0,
        le=500,
        description="Markets of the initial universe that end within initial_ending_soon_s, so "
        "a short run sees resolutions and settlements, count.",
    )
    initial_ending_soon_s: float = Field(
        100.0,
        ge=10.0,
        le=86400.0,
        description="Those markets end between half of this and this many seconds after the "
        "start, seconds.",
    )
    overdue_resolve_s: float = Field(
        30.0,
        ge=1.0,
        le=86400.0,
        description="Adopted markets whose end time has passed close within this many seconds "
        "after the start.",
    )

    # ------------------------------------------------------------------ activity and takers
    activity: float = Field(
        1.0,
        gt=0.0,
        le=50.0,
        description="Multiplier on every per-token action rate (flicker, noise and informed "
        "trades); 1.0 gives one action every ~150 ms per binary market.",
    )
    activity_dispersion: float = Field(
        0.5,
        ge=0.0,
        le=2.0,
        description="Log-normal sigma of each group's activity factor (busy vs quiet markets).",
    )
    flicker_per_s: float = Field(
        3.0,
        ge=0.0,
        le=200.0,
        description="Maker size changes (no trade, no price move) per token per second.",
    )
    noise_trades_per_min: float = Field(
        4.0, ge=0.0, le=600.0, description="Uninformed taker orders per token per minute."
    )
    noise_trade_median_shares: float = Field(
        30.0, ge=1.0, le=1e6, description="Median uninformed taker order size, shares."
    )
    noise_trade_size_sigma: float = Field(
        1.2, ge=0.0, le=3.0, description="Log-normal sigma of uninformed taker order sizes."
    )
    noise_max_slippage_ticks: int = Field(
        3,
        ge=0,
        le=50,
        description="Uninformed takers walk at most this many ticks past the best price, ticks.",
    )
    informed_trades_per_min: float = Field(
        2.0,
        ge=0.0,
        le=600.0,
        description="Informed taker checks per token per minute (they trade only at an edge).",
    )
    informed_edge_cents: float = Field(
        0.5,
        validation_alias=AliasChoices("informed_edge_cents", "informed_edge_ticks"),
        ge=0.0,
        le=50.0,
        description="Informed takers need this edge over the true value at p=0.5 (scaled like "
        "spreads, at least one tick) plus the taker fee, cents.",
    )
    informed_size_median_shares: float = Field(
        200.0, ge=1.0, le=1e6, description="Median informed taker budget per visit, shares."
    )
    informed_reaction_s: float = Field(
        1.0,
        ge=0.0,
        le=600.0,
        description="Mean delay between a price jump and the informed takers' visit, seconds.",
    )

    arbitrage_visits_per_min: float = Field(
        2.0,
        ge=0.0,
        le=600.0,
        description="Visits of a competing arbitrageur per binary market per minute: it buys "
        "YES+NO (or a neg-risk event's YES set) at the best asks when they cost less than 1 "
        "after fees by at least arbitrage_edge_ticks.",
    )
    arbitrage_edge_ticks: float = Field(
        1.0, ge=0.0, le=100.0, description="Profit the arbitrageur needs per set, ticks."
    )
    arbitrage_size_median_shares: float = Field(
        150.0, ge=1.0, le=1e6, description="Median arbitrageur budget per visit, shares."
    )

    # ------------------------------------------------------------------ makers
    makers_per_token: int = Field(
        3, ge=1, le=12, description="Quoting market makers on each token, count."
    )
    deep_maker: bool = Field(
        True,
        description="Add one maker per token with large orders far from the mid (the wall of "
        "0.01 bids / 0.99 asks real books show).",
    )
    maker_levels_min: int = Field(
        3, ge=1, le=20, description="Fewest price levels a maker quotes per side, count."
    )
    maker_levels_max: int = Field(
        6, ge=1, le=20, description="Most price levels a maker quotes per side, count."
    )
    half_spread_cents: float = Field(
        1.0,
        validation_alias=AliasChoices("half_spread_cents", "half_spread_ticks"),
        ge=0.05,
        le=50.0,
        description="Typical maker half-spread around its fair value at p=0.5, cents (0.01); "
        "scaled by sqrt(4p(1-p)) toward 0 and 1, at least half a tick, wider in thin markets.",
    )
    top_size_median_shares: float = Field(
        120.0,
        ge=5.0,
        le=1e6,
        description="Median size of a maker's best level, shares (deeper levels are larger).",
    )
    liquidity_dispersion: float = Field(
        0.8,
        ge=0.0,
        le=3.0,
        description="Log-normal sigma of each group's depth factor (thin vs deep markets).",
    )
    maker_requote_s: float = Field(
        6.0, gt=0.0, le=3600.0, description="Mean interval between a maker's requotes, seconds."
    )
    maker_refill_s: float = Field(
        2.0,
        gt=0.0,
        le=3600.0,
        description="Mean delay before a maker replaces orders that were filled, seconds.",
    )
    maker_lag_s: float = Field(
        3.0,
        gt=0.0,
        le=3600.0,
        description="Mean delay before a maker reacts to a price jump, seconds (books are stale "
        "meanwhile).",
    )
    maker_noise_cents: float = Field(
        0.25,
        validation_alias=AliasChoices("maker_noise_cents", "maker_noise_ticks"),
        ge=0.0,
        le=50.0,
        description="Std. dev. of a maker's error about the true value at p=0.5, cents "
        "(independent per token, so YES and NO books disagree slightly).",
    )

    # ------------------------------------------------------------------ latent price process
    latent_step_s: float = Field(
        1.0, gt=0.0, le=600.0, description="Update interval of the true probability, seconds."
    )
    initial_logodds_sd: float = Field(
        1.5,
        ge=0.0,
        le=6.0,
        description="Std. dev. of a new market's initial log-odds (0 lists every market at 0.5).",
    )
    volatility_logodds_per_sqrt_hour: float = Field(
        0.5,
        ge=0.0,
        le=20.0,
        description="Diffusion of the true log-odds, per square-root hour.",
    )
    jumps_per_hour: float = Field(
        1.0, ge=0.0, le=3600.0, description="News jumps per group per hour."
    )
    jump_information: float = Field(
        0.15,
        ge=0.0,
        le=20.0,
        description="Mean information of a jump (log-odds drift units; 0.15 typically moves a 50% "
        "market by 10-15 points).",
    )
    endgame_window_s: float = Field(
        900.0,
        ge=0.0,
        le=30 * 86400.0,
        description="Before the end, information arrives faster during this window and the "
        "price converges toward 0 or 1, seconds.",
    )
    endgame_information: float = Field(
        2.0,
        ge=0.0,
        le=50.0,
        description="Strength of the end-game convergence (total log-odds drift is about "
        "this times ln(window / tau)).",
    )
    endgame_tau_s: float = Field(
        15.0,
        gt=0.0,
        le=86400.0,
        description="Time scale that caps the information rate just before the end, seconds.",
    )

    # ------------------------------------------------------------------ mispricings
    endgame_mispricing_multiplier: float = Field(
        20.0,
        ge=1.0,
        le=1000.0,
        description="Dislocations are this many times more frequent inside a market's end-game "
        "window, where books are thin and makers lag, factor.",
    )
    mispricing_rate_per_hour: float = Field(
        2.0,
        ge=0.0,
        le=3600.0,
        description="Injected dislocations per group per hour (one token's makers quote off "
        "fair so YES ask + NO ask < 1, or a neg-risk event's YES asks sum below 1).",
    )
    mispricing_duration_s: float = Field(
        4.0, gt=0.0, le=3600.0, description="Mean duration of an injected dislocation, seconds."
    )
    mispricing_max_edge_ticks: int = Field(
        3,
        ge=1,
        le=100,
        description="An injected dislocation leaves 1..this many ticks of arbitrage edge, ticks.",
    )

    # ------------------------------------------------------------------ output
    batch_window_ms: float = Field(
        50.0,
        ge=0.0,
        le=60_000.0,
        description="Events within this span of event time are yielded as one batch, ms "
        "(0 = one batch per simulated action).",
    )
    snapshot_interval_s: float = Field(
        0.0,
        ge=0.0,
        le=86400.0,
        description="Resend a full BookSnapshot of every token at this interval, seconds "
        "(0 = only at listing).",
    )

    # ------------------------------------------------------------------ where it runs
    process: Literal["auto", "child", "thread"] = Field(
        "auto",
        description="Where bot.py generates the simulated market: 'child' (a child process "
        "on another CPU core, events sent to the engine through a pipe), 'thread' (on the "
        "engine's own thread, as before) or 'auto' (child when at least 2 CPU cores are "
        "available to the bot, else thread). The events are identical either way.",
    )

    @model_validator(mode="after")
    def _check_ranges(self) -> SimConfig:
        if self.lifetime_min_s > self.lifetime_max_s:
            raise ValueError("lifetime_min_s must be <= lifetime_max_s")
        if self.maker_levels_min > self.maker_levels_max:
            raise ValueError("maker_levels_min must be <= maker_levels_max")
        if self.fee_rate_min > self.fee_rate_max:
            raise ValueError("fee_rate_min must be <= fee_rate_max")
        return self
