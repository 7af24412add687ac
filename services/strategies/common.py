"""Small helpers shared by the built-in strategies: own-order tracking and formatting."""

from __future__ import annotations

from services.execution.orders import Order
from services.instruments import Instrument
from services.money import MICRO
from services.strategies.base import StrategyContext


class OwnOrders:
    """A strategy's active orders by instrument, kept from the orders its intents returned.

    Reading this is O(own orders on one instrument), independent of how many orders the engine
    has seen, so strategies can check "do I have something working here?" on every book update.
    Orders are the engine's live objects: their status and fills update in place.
    """

    __slots__ = ("_by_iid",)

    def __init__(self) -> None:
        self._by_iid: dict[str, list[Order]] = {}

    def seed(self, ctx: StrategyContext) -> None:
        """Adopt the orders the engine restored after a restart (call from ``on_start``)."""
        for o in ctx.open_orders():
            self.add(o)

    def add(self, order: Order | None) -> Order | None:
        """Track an order returned by ``ctx.buy``/``ctx.sell`` if it is still active."""
        if order is not None and order.active:
            self._by_iid.setdefault(order.instrument_id, []).append(order)
        return order

    def active(self, instrument_id: str) -> list[Order]:
        """Return the active orders on an instrument (finished ones are dropped)."""
        orders = self._by_iid.get(instrument_id)
        if not orders:
            return []
        alive = [o for o in orders if o.active]
        if len(alive) != len(orders):
            if alive:
                self._by_iid[instrument_id] = alive
            else:
                del self._by_iid[instrument_id]
        return alive

    def any_active(self, instrument_ids: list[str] | tuple[str, ...]) -> bool:
        """Return whether any of the instruments has an active order."""
        return any(self.active(iid) for iid in instrument_ids)

    def cancel(self, ctx: StrategyContext, instrument_id: str, reason: str) -> int:
        """Cancel every active order on an instrument; return how many were cancelled."""
        n = 0
        for o in self.active(instrument_id):
            n += ctx.cancel(o.order_id, reason)
        return n

    def forget(self, instrument_id: str) -> None:
        """Drop an instrument (after resolution)."""
        self._by_iid.pop(instrument_id, None)


def fmt_p(price: int) -> str:
    """Format a micro price as a probability with three decimals (``0.535``)."""
    return f"{price / MICRO:.3f}"


def yes_no(inst: Instrument) -> tuple[str, str] | None:
    """Return ``(yes id, no id)`` of a binary market from either token, or None."""
    if inst.complement_id is None:
        return None
    if inst.outcome.lower() == "no":
        return inst.complement_id, inst.instrument_id
    return inst.instrument_id, inst.complement_id


def is_yes(inst: Instrument) -> bool:
    """Return whether this is the YES token (the first token of a binary market)."""
    return inst.outcome.lower() != "no"
