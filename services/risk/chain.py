"""The pre-trade risk chain: an ordered list of small controls; the first refusal wins.

Each control is pure: it takes the intent and a read-only view of the strategy's state and
returns ``None`` (pass) or a :class:`Rejection` that names the value and the limit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from services.execution.orders import Order
from services.instruments import Instrument
from services.intents import Intent
from services.orderbook import OrderBook
from services.portfolio import Portfolio


class RiskEnv(Protocol):
    """What controls may read beyond the strategy's own portfolio (the safety layer provides it)."""

    def open_orders(self, strategy: str, instrument_id: str | None) -> list[Order]:
        """Return a strategy's active orders, optionally on one instrument."""
        ...

    def mark(self, instrument_id: str) -> int | None:
        """Return an instrument's mark price (mid), micro, or None."""
        ...

    def portfolios(self) -> Iterable[Portfolio]:
        """Return every strategy's portfolio (global caps)."""
        ...

    def day_start_equity(self, strategy: str) -> int | None:
        """Return the strategy's equity at the start of the risk day, micro-USDC."""
        ...

    def peak_equity(self, strategy: str) -> int | None:
        """Return the strategy's peak equity since its last reset, micro-USDC."""
        ...


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
    strategy: str = ""
    env: RiskEnv | None = None  # None: controls that need more than the portfolio pass


class RiskControl(Protocol):
    """One check of the chain."""

    name: str

    def check(self, intent: Intent, view: RiskView) -> Rejection | None:
        """Return a Rejection to refuse the intent, None to let it pass."""
        ...


class TradingStatusControl:
    """Only active strategies open positions; paused and disabled ones may only reduce.

    A disabled strategy's hooks no longer run, so a reducing intent on its behalf comes from the
    safety layer (an exit, a flatten or a ``position.close`` command), which must get through.
    """

    name = "trading_status"

    def check(self, intent: Intent, view: RiskView) -> Rejection | None:
        """Refuse non-reducing intents from paused or disabled strategies."""
        if view.strategy_status == "active" or intent.reduce_only:
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
