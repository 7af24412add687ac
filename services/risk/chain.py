"""The pre-trade risk chain: an ordered list of small controls; the first refusal wins.

Each control is pure: it takes the intent and a read-only view of the strategy's state and
returns ``None`` (pass) or a :class:`Rejection` that names the value and the limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from services.instruments import Instrument
from services.orderbook import OrderBook
from services.portfolio import Portfolio
from services.strategies.base import Intent


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why an intent was refused, e.g. ``order notional 1,250.00 exceeds max_order_usd 1,000.00``."""

    control: str
    message: str
    value: str | None = None
    limit: str | None = None


@dataclass(frozen=True, slots=True)
class RiskView:
    """What a control may look at when judging one intent."""

    now: float
    instrument: Instrument
    book: OrderBook | None
    portfolio: Portfolio
    strategy_kind: str
    strategy_status: str
    price: int  # limit price after market orders were turned into a worst price


class RiskControl(Protocol):
    """One check of the chain."""

    name: str

    def check(self, intent: Intent, view: RiskView) -> Rejection | None:
        """Return a Rejection to refuse the intent, None to let it pass."""
        ...


class TradingStatusControl:
    """Only active strategies open positions; paused ones may still reduce; disabled do nothing."""

    name = "trading_status"

    def check(self, intent: Intent, view: RiskView) -> Rejection | None:
        """Refuse intents from paused (unless reducing) or disabled strategies."""
        if view.strategy_status == "active":
            return None
        if view.strategy_status == "paused" and intent.reduce_only:
            return None
        return Rejection(
            self.name, f"strategy is {view.strategy_status}", view.strategy_status, "active"
        )


class RiskChain:
    """Run controls in order; the first rejection stops the intent."""

    def __init__(self, controls: list[RiskControl] | None = None) -> None:
        self.controls: list[RiskControl] = list(controls or [TradingStatusControl()])

    def check(self, intent: Intent, view: RiskView) -> Rejection | None:
        """Return the first rejection, or None if every control passes."""
        for control in self.controls:
            rej = control.check(intent, view)
            if rej is not None:
                return rej
        return None
