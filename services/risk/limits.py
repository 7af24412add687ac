"""Limits in force and the measures the limit controls share.

:class:`LimitsBook` resolves ``risk.limits`` and ``risk.per_strategy`` into micro-units per
strategy (swapped whole by the hot reload); the helpers price an intent (limit or market),
value positions at the mark and name the PETS price zone of a price.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from services.instruments import Side
from services.intents import Intent
from services.ladder import Quote
from services.money import MICRO, notional, to_micro
from services.risk.chain import RiskView
from utils.safety_config import OUTSIDE_ZONE, RiskConfig, ZoneConfig


# ---------------------------------------------------------------------------------------- limits
@dataclass(frozen=True, slots=True)
class ResolvedLimits:
    """One strategy's limits in micro-units (None: no limit)."""

    max_order: int | None
    max_position: int | None
    max_exposure: int | None
    max_open_positions: int | None
    max_daily_loss: int | None
    max_drawdown_pct: float | None
    max_orders_per_s: int | None


def _m(v: Decimal | None) -> int | None:
    return None if v is None else to_micro(v)


class LimitsBook:
    """The current :class:`RiskConfig`, resolved per strategy (swapped whole on reload)."""

    def __init__(self, cfg: RiskConfig) -> None:
        self.cfg = cfg
        self._cache: dict[str, ResolvedLimits] = {}
        self.global_max_exposure = _m(cfg.global_max_exposure_usd)

    def update(self, cfg: RiskConfig) -> None:
        """Use new limits from now on."""
        self.cfg = cfg
        self._cache = {}
        self.global_max_exposure = _m(cfg.global_max_exposure_usd)

    def for_strategy(self, name: str) -> ResolvedLimits:
        """Return a strategy's limits (defaults with its ``per_strategy`` keys applied)."""
        lim = self._cache.get(name)
        if lim is None:
            c = self.cfg.limits_for(name)
            lim = self._cache[name] = ResolvedLimits(
                _m(c.max_order_usd),
                _m(c.max_position_usd),
                _m(c.max_exposure_usd),
                c.max_open_positions,
                _m(c.max_daily_loss_usd),
                c.max_drawdown_pct,
                c.max_orders_per_s,
            )
        return lim


# --------------------------------------------------------------------------------------- helpers
def order_notional(intent: Intent, view: RiskView) -> int:
    """Return an intent's notional in micro-USDC.

    A limit order counts at its limit price. A market order counts at the prices it would walk
    through on the displayed book, the rest at its worst price (``view.price``).
    """
    inst = view.instrument
    if inst.allows_short or inst.quote is not Quote.PROBABILITY:
        # A back risks its stake, a lay its liability (at the limit, or the worst price).
        units, cash = inst.position_delta(intent.side, intent.size, view.price)
        return cash if units > 0 else -units - cash
    if intent.price is not None or view.book is None:
        return notional(intent.size, view.price)
    left = intent.size
    total = 0
    side = Side.SELL if intent.side is Side.BUY else Side.BUY
    for price, size in view.book.levels(side):
        q = min(left, size)
        total += notional(q, price)
        left -= q
        if left <= 0:
            return total
    return total + notional(left, view.price)


def adds_exposure(intent: Intent, view: RiskView) -> bool:
    """Return whether an intent can add exposure: a buy, or either side where shorts exist."""
    if intent.reduce_only:
        return False
    return intent.side is Side.BUY or view.instrument.allows_short


def reference_price(intent: Intent, view: RiskView) -> int:
    """Return the price an intent trades at for zone rules (best opposite price for market)."""
    if intent.price is not None or view.book is None:
        return view.price
    best = view.book.best_ask() if intent.side is Side.BUY else view.book.best_bid()
    return best if best is not None else view.price


def buy_exposure(view: RiskView, instrument_id: str | None) -> int:
    """Return the notional of the strategy's resting buy orders (optionally one instrument)."""
    env = view.env
    if env is None:
        return 0
    return sum(
        notional(o.remaining, o.price)
        for o in env.open_orders(view.strategy, instrument_id)
        if o.side is Side.BUY
    )


def position_value(view: RiskView, iid: str) -> int:
    """Return a position's value at the mark (cost basis without a mark), micro-USDC."""
    m = view.env.mark(iid) if view.env is not None else None
    return view.portfolio.exposure_of(iid, m)


def equity_of(view: RiskView) -> int:
    """Return the strategy's equity (cash plus positions at the mark), micro-USDC."""
    pf = view.portfolio
    if view.env is None:
        return pf.cash + sum(p.cost_basis for p in pf.positions.values())
    valued = getattr(view.env, "market_value", None)  # the safety layer's cached valuation
    if valued is not None:
        return pf.cash + int(valued(pf))
    return pf.equity(view.env.mark)


def zone_of(price: int, zones: ZoneConfig) -> str:
    """Return the PETS zone name (``Z1``..) of a micro price, or ``outside``.

    Zone ``Zi`` is ``[b(i-1), b(i))``; the last zone includes its upper boundary.
    """
    p = price / MICRO
    b = zones.boundaries
    if p < b[0] or p > b[-1]:
        return OUTSIDE_ZONE
    for i in range(1, len(b)):
        if p < b[i]:
            return f"Z{i}"
    return f"Z{len(b) - 1}"


def strategy_exposure(view: RiskView) -> int:
    """Return positions at mark plus resting buy notional of the view's strategy, micro."""
    pf = view.portfolio
    return sum(position_value(view, iid) for iid in pf.positions) + buy_exposure(view, None)
