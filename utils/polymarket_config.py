"""Typed, frozen configuration for the Polymarket market-data feed and its data checks.

Every field has a default, bounds and a description with its unit. Rate limits default to the
documented Polymarket sliding windows (see ``docs/POLYMARKET.md``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RateLimit(_Frozen):
    """A sliding-window request budget for one endpoint."""

    max_requests: int = Field(
        default=100, ge=1, le=1_000_000, description="Requests allowed per window."
    )
    window_s: float = Field(default=10.0, gt=0, le=3600, description="Window length, seconds.")


class RateLimits(_Frozen):
    """Per-endpoint request budgets (documented Polymarket limits as defaults)."""

    gamma_markets: RateLimit = Field(
        default_factory=lambda: RateLimit(max_requests=300, window_s=10),
        description="Gamma GET /markets (and /markets/{id}): requests per window.",
    )
    gamma_events: RateLimit = Field(
        default_factory=lambda: RateLimit(max_requests=500, window_s=10),
        description="Gamma GET /events: requests per window.",
    )
    clob_book: RateLimit = Field(
        default_factory=lambda: RateLimit(max_requests=1500, window_s=10),
        description="CLOB GET /book and /midpoint: requests per window.",
    )
    clob_books: RateLimit = Field(
        default_factory=lambda: RateLimit(max_requests=500, window_s=10),
        description="CLOB POST /books: requests per window.",
    )
    clob_prices_history: RateLimit = Field(
        default_factory=lambda: RateLimit(max_requests=1000, window_s=10),
        description="CLOB GET /prices-history: requests per window.",
    )
    clob_order: RateLimit = Field(
        default_factory=lambda: RateLimit(max_requests=3500, window_s=10),
        description="CLOB POST /order (burst window): requests per window.",
    )

    def get(self, endpoint: str) -> RateLimit:
        """Return the budget for an endpoint key (unknown keys get the CLOB /book budget)."""
        value = getattr(self, endpoint, None)
        return value if isinstance(value, RateLimit) else self.clob_book


class DiscoveryConfig(_Frozen):
    """Which Gamma markets become instruments, and how often the selection is refreshed."""

    active_only: bool = Field(default=True, description="Keep only markets with active=true.")
    accepting_orders_only: bool = Field(
        default=True, description="Keep only markets with acceptingOrders=true."
    )
    categories: tuple[str, ...] = Field(
        default=(),
        description="Keep markets with a tag (label or slug) equal to one of these, or whose "
        "market or event slug contains it as whole words (case-insensitive; 'nba' matches "
        "'nba-champion-2026-27'); empty keeps all.",
    )
    tag_ids: tuple[int, ...] = Field(
        default=(), description="Gamma tag ids passed as tag_id query filters; empty sends none."
    )
    min_liquidity_usd: float = Field(
        default=0.0, ge=0, le=1e12, description="Minimum Gamma liquidityNum, USDC."
    )
    min_volume_usd: float = Field(
        default=0.0, ge=0, le=1e13, description="Minimum Gamma volumeNum, USDC."
    )
    end_within_min_days: float | None = Field(
        default=None,
        ge=0,
        le=36_500,
        description="Keep markets ending at least this many days from now (days); None: no limit.",
    )
    end_within_max_days: float | None = Field(
        default=None,
        ge=0,
        le=36_500,
        description="Keep markets ending at most this many days from now (days); None: no limit.",
    )
    max_markets: int = Field(
        default=50,
        ge=1,
        le=20_000,
        description="Maximum number of markets (condition ids) to watch.",
    )
    include: tuple[str, ...] = Field(
        default=(),
        description="Slugs or condition ids always kept if open (bypass the numeric filters).",
    )
    exclude: tuple[str, ...] = Field(default=(), description="Slugs or condition ids never kept.")
    neg_risk: bool = Field(
        default=True, description="Whether neg-risk (multi-outcome) markets are kept."
    )
    order_by: str = Field(
        default="volumeNum",
        min_length=1,
        max_length=64,
        description="Gamma 'order' field used when ranking candidates (descending).",
    )
    page_size: int = Field(
        default=100, ge=1, le=500, description="Gamma page size (limit), markets."
    )
    max_pages: int = Field(
        default=50, ge=1, le=10_000, description="Maximum Gamma pages per refresh."
    )
    refresh_interval_s: float = Field(
        default=300.0, gt=0, le=86_400, description="Seconds between discovery refreshes."
    )

    @model_validator(mode="after")
    def _window(self) -> DiscoveryConfig:
        lo, hi = self.end_within_min_days, self.end_within_max_days
        if lo is not None and hi is not None and lo > hi:
            raise ValueError("end_within_min_days must not exceed end_within_max_days")
        return self


class PolymarketConfig(_Frozen):
    """Polymarket market-data feed: endpoints, sharding, heartbeat, reconnects, REST hygiene."""

    gamma_url: str = Field(
        default="https://gamma-api.polymarket.com", min_length=1, description="Gamma REST base URL."
    )
    clob_url: str = Field(
        default="https://clob.polymarket.com", min_length=1, description="CLOB REST base URL."
    )
    ws_url: str = Field(
        default="wss://ws-subscriptions-clob.polymarket.com/ws/market",
        min_length=1,
        description="Market-channel WebSocket URL.",
    )
    max_tokens_per_connection: int = Field(
        default=400,
        ge=1,
        le=500,
        description="Tokens subscribed on one WebSocket connection (shard).",
    )
    custom_feature_enabled: bool = Field(
        default=True, description="Ask for best_bid_ask, new_market and market_resolved messages."
    )
    ping_interval_s: float = Field(
        default=10.0, gt=0, le=300, description="Seconds between text PING heartbeats."
    )
    idle_ping_s: float = Field(
        default=2.0,
        gt=0,
        le=300,
        description="Extra PING after this many seconds without any message, seconds; keeps a "
        "quiet connection provably alive (keep it below the validation freshness threshold).",
    )
    silence_timeout_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="Seconds without any message before a shard is dead.",
    )
    connect_timeout_s: float = Field(
        default=10.0, gt=0, le=300, description="WebSocket opening handshake timeout, seconds."
    )
    reconnect_backoff_min_s: float = Field(
        default=0.5, gt=0, le=600, description="First reconnect delay, seconds."
    )
    reconnect_backoff_max_s: float = Field(
        default=30.0, gt=0, le=3600, description="Largest reconnect delay, seconds."
    )
    reconnect_jitter: float = Field(
        default=0.2, ge=0, le=1, description="Relative jitter on reconnect delays (0.2 = +/-20 %)."
    )
    max_batch_messages: int = Field(
        default=512,
        ge=1,
        le=100_000,
        description="Most raw frames translated into one event batch.",
    )
    request_timeout_s: float = Field(
        default=10.0, gt=0, le=300, description="Total timeout of one REST request, seconds."
    )
    max_retries: int = Field(
        default=4,
        ge=0,
        le=20,
        description="REST retries after the first attempt (5xx, 425, 429, I/O).",
    )
    retry_backoff_base_s: float = Field(
        default=0.5, gt=0, le=60, description="First REST retry delay when no Retry-After, seconds."
    )
    retry_backoff_max_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="Largest REST retry delay (also caps Retry-After), s.",
    )
    rate_limits: RateLimits = Field(default_factory=RateLimits, description="Per-endpoint limits.")
    discovery: DiscoveryConfig = Field(
        default_factory=DiscoveryConfig, description="Market selection."
    )
    seed: int | None = Field(
        default=None, description="Seed of the reconnect jitter generator (tests); None: random."
    )

    @model_validator(mode="after")
    def _backoff(self) -> PolymarketConfig:
        if self.reconnect_backoff_min_s > self.reconnect_backoff_max_s:
            raise ValueError("reconnect_backoff_min_s must not exceed reconnect_backoff_max_s")
        if self.retry_backoff_base_s > self.retry_backoff_max_s:
            raise ValueError("retry_backoff_base_s must not exceed retry_backoff_max_s")
        return self


class ValidationConfig(_Frozen):
    """Checks that must pass before a strategy may open an order on an instrument."""

    freshness_threshold_s: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="Largest age of the book (last update or last message on its connection), s.",
    )
    price_discrepancy_threshold: float = Field(
        default=0.01,
        gt=0,
        le=1,
        description="Largest |WebSocket - REST| best bid/ask difference, in price units "
        "(probability; 0.01 = one cent = 1 percentage point).",
    )
    cross_check_interval_s: float = Field(
        default=60.0, gt=0, le=86_400, description="Seconds between cross-check rounds."
    )
    cross_checks_per_round: int = Field(
        default=20,
        ge=0,
        le=10_000,
        description="Instruments compared with REST per round (0: off).",
    )
    cross_check_source: Literal["book", "midpoint"] = Field(
        default="book", description="REST endpoint used for the cross-check."
    )
    suspect_recheck_s: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="Seconds after a failed check before it is rechecked.",
    )
    min_depth_usd: float = Field(
        default=10.0,
        ge=0,
        le=1e9,
        description="Minimum displayed notional on each side within depth_ticks of that "
        "side's best price, USDC (0: no depth check).",
    )
    depth_ticks: int = Field(
        default=5,
        ge=0,
        le=1000,
        description="Ticks from each side's best price counted for min depth (0: the best level "
        "only).",
    )
    require_two_sided: bool = Field(
        default=True, description="Block instruments with an empty bid or ask side."
    )
    check_venue_top: bool = Field(
        default=True,
        description="Block when the book's best bid/ask disagrees with the best prices the venue "
        "reported in its last price_change/best_bid_ask message.",
    )
