"""Configuration of the Betfair Exchange venue (``market_data.betfair``)."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field


class BetfairConfig(BaseModel):
    """Betfair stream replay (``source: betfair_replay``) settings."""

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
