"""Typed, frozen configuration of live Polymarket trading (``live:`` in config.yaml).

Live trading is off unless ``enabled: true`` and at least one strategy is named in
``strategies``; ``dry_run`` (default true) builds and signs orders but never posts them.
See docs/GOING_LIVE.md.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LiveConfig(_Frozen):
    """Live Polymarket execution (CLOB V2 through the official SDK ``polymarket-client``)."""

    enabled: bool = Field(False, description="Route the strategies below to the live venue.")
    dry_run: bool = Field(
        True,
        description="Build and sign every order but never post it (acknowledged locally, "
        "never filled); turn off only after a day of dry run.",
    )
    strategies: tuple[str, ...] = Field(
        default=(), description="Names of strategies routed live (others stay on paper)."
    )
    clob_url: str = Field(
        "https://clob.polymarket.com", description="CLOB REST base URL (orders, cancels)."
    )
    user_ws_url: str = Field(
        "wss://ws-subscriptions-clob.polymarket.com/ws/user",
        description="User-channel WebSocket URL (order and trade updates).",
    )
    chain_id: int = Field(137, ge=1, description="EVM chain id the orders are signed for.")
    keys_path: str = Field(
        "data/keys.enc", description="Encrypted key store written by `bot.py keys set`."
    )
    passphrase_env: str = Field(
        "MSB_KEYS_PASSPHRASE",
        min_length=1,
        description="Environment variable holding the key-store passphrase (else a prompt).",
    )
    heartbeat_interval_s: float = Field(
        5.0,
        gt=0,
        le=9,
        description="Seconds between dead-man heartbeats (the venue cancels every order "
        "after 10 s without one).",
    )
    order_timeout_s: float = Field(
        30.0, gt=0, le=86_400, description="Cancel a live order left unfilled this long, s."
    )
    order_timeout_per_strategy_s: dict[str, float] = Field(
        default_factory=dict, description="Per-strategy order timeout overrides, s."
    )
    reconcile_interval_s: float = Field(
        60.0, ge=1, le=86_400, description="Seconds between reconciliations with the venue."
    )
    reconcile_kill_threshold: int = Field(
        3,
        ge=1,
        le=10_000,
        description="Differences in one reconciliation that activate the kill switch.",
    )
    balance_tolerance_usd: float = Field(
        0.01, ge=0, le=1e6, description="USDC difference ignored by reconciliation."
    )
    slippage_high_pct: float = Field(
        1.0,
        ge=0,
        le=100,
        description="Average fill price worse than the decision price by more than this "
        "percentage labels the order SLIPPAGE_HIGH.",
    )
    post_only_after_restart_s: float = Field(
        30.0,
        ge=0,
        le=3600,
        description="After a 425 (matching-engine restart) only post-only orders are sent "
        "for this long, s.",
    )
    max_retries: int = Field(
        3, ge=0, le=20, description="Retries of a request answered 425/429 or timed out."
    )
    request_timeout_s: float = Field(
        10.0, gt=0, le=120, description="Seconds before an order or cancel request gives up."
    )
    max_order_usd: float = Field(
        25.0, gt=0, le=1e9, description="Live-only check: largest notional of one order, USDC."
    )
    max_market_exposure_usd: float = Field(
        100.0,
        gt=0,
        le=1e9,
        description="Live-only check: largest cost of positions plus open buys in one market, "
        "USDC, per strategy.",
    )
    paper_twin: bool = Field(
        True,
        description="Run each live strategy also on paper (as <name>__twin) for the "
        "paper-vs-live fidelity report.",
    )
