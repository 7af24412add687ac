"""Configuration of the Betfair Exchange venue (``market_data.betfair``)."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class BetfairStreamConfig(BaseModel):
    """Live Betfair market data (``source: betfair``): login and the market subscription."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    username: str = Field("", description="Betfair account user name (use ${BETFAIR_USERNAME})")
    password: SecretStr = Field(
        SecretStr(""), description="Betfair password; put ${BETFAIR_PASSWORD} here, never the value"
    )
    app_key: SecretStr = Field(
        SecretStr(""), description="Betfair application key; ${BETFAIR_APP_KEY}"
    )
    certs_dir: str = Field(
        "",
        description="Folder with the API certificate (.crt and .key) for the non-interactive login",
    )
    host: str = Field(
        "",
        description="Stream API host: '' (production), integration, or host:port (tests only)",
    )
    identity_url: str = Field(
        "",
        description="Certificate-login base URL: '' (Betfair's); a local fake's URL in tests only",
    )
    event_type_ids: list[str] = Field(
        default_factory=lambda: ["7"], description="Event types subscribed (7 horse racing)"
    )
    country_codes: list[str] = Field(
        default_factory=lambda: ["GB", "IE"], description="Countries subscribed (ISO codes)"
    )
    market_types: list[str] = Field(
        default_factory=lambda: ["WIN"], description="Market types subscribed (WIN, PLACE, ...)"
    )
    conflate_ms: int = Field(
        0, ge=0, le=120_000, description="Conflation of updates, milliseconds (0: none)"
    )
    heartbeat_ms: int = Field(
        5000, ge=500, le=5000, description="Heartbeat interval the stream keeps, milliseconds"
    )
    reconnect_backoff_max_s: float = Field(
        60.0, gt=0, le=3600, description="Longest wait between reconnect attempts, seconds"
    )


class BetfairLiveConfig(BaseModel):
    """Live Betfair orders (``market_data.betfair.live``): off unless enabled.

    The login is the stream's (``market_data.betfair.stream``: user name, password and app key
    from environment variables, the certificate folder); nothing secret is written here.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(False, description="Route the strategies below to Betfair (real bets)")
    strategies: tuple[str, ...] = Field(
        default=(), description="Names of strategies whose orders go to Betfair (others: paper)"
    )
    order_stream: bool = Field(
        True,
        description="Fills from the Stream API's order subscription; polling listCurrentOrders "
        "is the fallback while it is down and once after every reconnect",
    )
    poll_interval_s: float = Field(
        1.0, gt=0, le=60, description="Seconds between listCurrentOrders polls (fallback)"
    )
    api_url: str = Field(
        "", description="Betting API base URL: '' (Betfair's); a local fake's URL in tests only"
    )


class BetfairConfig(BaseModel):
    """Betfair Exchange: replay (``source: betfair_replay``) and live stream (``betfair``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    replay_paths: list[str] = Field(
        default_factory=list,
        description="Betfair stream files (plain, .gz or .bz2) or directories of them, played "
        "back when market_data.source is betfair_replay",
    )
    currency: str = Field(
        "GBP",
        pattern=r"^[A-Z]{3}$",
        description="Account currency: Betfair instruments trade in it (the stream does not say)",
    )
    min_stake: Decimal = Field(
        Decimal("1"),
        gt=0,
        le=Decimal("1000"),
        description="Minimum stake of a bet, in units of the currency (Betfair: 1 GBP, 1 EUR)",
    )
    stream: BetfairStreamConfig = Field(default_factory=BetfairStreamConfig)
    live: BetfairLiveConfig = Field(default_factory=BetfairLiveConfig)
