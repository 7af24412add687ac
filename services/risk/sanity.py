"""Order sanity controls of the risk chain: what the venue or the ledger would refuse anyway.

Price on the tick grid inside ``[tick, 1 - tick]``, size on the lot grid and at least the market
minimum, post-only orders that would not cross, no trade against the strategy's own resting
orders, and enough cash or shares (no negative cash, no short sales). They run for every intent,
reducing ones included, and whatever ``risk.enabled`` says.
"""

from __future__ import annotations

from services.execution.orders import TimeInForce
from services.instruments import Side
from services.intents import Intent
from services.ladder import Quote
from services.money import MICRO, fmt_money, fmt_usd, notional, taker_fee
from services.risk.chain import Rejection, RiskView


def fmt_price(price: int) -> str:
    """Format a micro price as a probability (``0.55``, ``0.555``)."""
    s = f"{price / MICRO:.4f}".rstrip("0")
    return s + "0" if s.endswith(".") else s


def _sh(size: int) -> str:
    return f"{size / MICRO:,.2f}"


class PriceControl:
    """A limit price lies on the instrument's tick grid inside ``[tick, 1 - tick]``."""

    name = "price"

    def check(self, intent: Intent, view: RiskView) -> Rejection | None:
        """Refuse an off-grid or out-of-range limit price."""
        if intent.price is None:
            return None
        inst = view.instrument
        if inst.on_grid(intent.price):
            return None
        lad = inst.ladder
        if lad.quote is Quote.ODDS:
            return Rejection(
                self.name,
                f"odds {intent.price / MICRO:g} are not on the {lad.kind} ladder "
                f"[{lad.min_price / MICRO:g}, {lad.max_price / MICRO:g}]",
                f"{intent.price / MICRO:g}",
                f"{lad.kind} ladder",
            )
        return Rejection(
            self.name,
            f"price {fmt_price(intent.price)} is not on the tick grid {fmt_price(inst.tick)} inside "
            f"[{fmt_price(inst.tick)}, {fmt_price(MICRO - inst.tick)}]",
            fmt_price(intent.price),
            f"tick {fmt_price(inst.tick)}",
        )


class SizeControl:
    """The size is positive, on the 0.01-share lot grid and at least the market minimum."""

    name = "size"

    def check(self, intent: Intent, view: RiskView) -> Rejection | None:
        """Refuse sizes the venue would refuse."""
        inst = view.instrument
        if intent.size <= 0 or intent.size % inst.lot:
            unit = "share" if inst.quote is Quote.PROBABILITY else inst.currency
            return Rejection(
                self.name,
                f"size {intent.size / MICRO} is not a positive multiple of "
                f"{inst.lot / MICRO:g} {unit}",
                str(intent.size / MICRO),
                f"{inst.lot / MICRO:g}",
            )
        if intent.size < inst.min_size:
            return Rejection(
                self.name,
                f"size {_sh(intent.size)} is below the market minimum {_sh(inst.min_size)}",
                _sh(intent.size),
                _sh(inst.min_size),
            )
        return None


class ExpiryControl:
    """A GTD order carries an expiry in the future; no other order type carries one.

    The expiry is engine-clock seconds (``ctx.now() + lifetime``). A venue may need a longer
    lifetime (Polymarket: about two minutes; its live client refuses nearer expiries itself).
    """

    name = "expiry"

    def check(self, intent: Intent, view: RiskView) -> Rejection | None:
        """Refuse a GTD intent without a future expiry, or an expiry on another order type."""
        exp = intent.expire_ts
        if intent.tif is TimeInForce.GTD:
            if intent.price is None:
                return Rejection(self.name, "a GTD order needs a limit price", "market", "limit")
            if exp is None:
                return Rejection(
                    self.name, "a GTD order needs expire_ts (engine-clock seconds)", "none", "set"
                )
            if exp <= view.now:
                return Rejection(
                    self.name,
                    f"GTD expiry {exp:.3f} is not after now {view.now:.3f}",
                    f"{exp:.3f}",
                    f"> {view.now:.3f}",
                )
        elif exp is not None:
            return Rejection(
                self.name,
                f"expire_ts is only for GTD orders, not {intent.tif.value}",
                intent.tif.value,
                "GTD",
            )
        return None


class PostOnlyControl:
    """A post-only order needs a limit price that does not cross the book."""

    name = "post_only"

    def check(self, intent: Intent, view: RiskView) -> Rejection | None:
        """Refuse a post-only order that would take liquidity."""
        if not intent.post_only:
            return None
        if intent.price is None:
            return Rejection(self.name, "a post-only order needs a limit price", "market", "limit")
        if not intent.tif.rests:
            # The venue takes post-only on resting orders only (reference: "Post-only is allowed
            # with GTC/GTD only").
            return Rejection(
                self.name,
                f"post-only is allowed with GTC or GTD only, not {intent.tif.value}",
                intent.tif.value,
                "GTC/GTD",
            )
        book = view.book
        if book is None:
            return None
        if intent.side is Side.BUY:
            best = book.best_ask()
            if best is not None and intent.price >= best:
                return Rejection(
                    self.name,
                    f"post-only buy at {fmt_price(intent.price)} would cross the best ask {fmt_price(best)}",
                    fmt_price(intent.price),
                    f"< {fmt_price(best)}",
                )
        else:
            best = book.best_bid()
            if best is not None and intent.price <= best:
                return Rejection(
                    self.name,
                    f"post-only sell at {fmt_price(intent.price)} would cross the best bid {fmt_price(best)}",
                    fmt_price(intent.price),
                    f"> {fmt_price(best)}",
                )
        return None


class SelfCrossControl:
    """An order may not trade against the strategy's own resting orders."""

    name = "self_cross"

    def check(self, intent: Intent, view: RiskView) -> Rejection | None:
        """Refuse a buy at or above an own resting sell (or a sell at or below an own bid)."""
        if view.env is None:
            return None
        for o in view.env.open_orders(view.strategy, intent.instrument_id):
            if o.side is intent.side:
                continue
            if (
                intent.side is Side.BUY
                and view.price >= o.price
                or intent.side is Side.SELL
                and view.price <= o.price
            ):
                crossed = True
            else:
                crossed = False
            if crossed:
                what = "buy" if intent.side is Side.BUY else "sell"
                at = "market" if intent.price is None else fmt_price(view.price)
                return Rejection(
                    self.name,
                    f"{what} at {at} would cross the strategy's own resting "
                    f"{o.side.value.lower()} order {o.order_id} at {fmt_price(o.price)}",
                    at,
                    fmt_price(o.price),
                )
        return None


class FundsControl:
    """No negative cash ever: a buy needs its notional plus the worst fee; a sell needs shares."""

    name = "funds"

    def check(self, intent: Intent, view: RiskView) -> Rejection | None:
        """Refuse what the portfolio cannot fund."""
        pf = view.portfolio
        inst = view.instrument
        if inst.allows_short:
            # Either side may need cash: a back pays its stake, a lay holds its liability.
            units, cash = inst.position_delta(intent.side, intent.size, view.price)
            need = cash if units > 0 else -units - cash
            if intent.reduce_only and not intent.tif.rests:
                # A closing order (the portfolio checks it reduces) frees more than it needs.
                need = 0
            need += inst.fees.worst_fee(intent.size, view.price, inst.lot)
            have = pf.available_cash
            if need > have:
                cur = inst.currency
                return Rejection(
                    self.name,
                    f"order needs {fmt_money(need, cur)}, available {fmt_money(have, cur)}",
                    fmt_usd(need),
                    fmt_usd(have),
                )
            return None
        if intent.side is Side.BUY:
            fees = view.instrument.fees
            need = notional(intent.size, view.price) + taker_fee(
                intent.size, min(view.price, MICRO // 2), fees.rate, fees.exponent
            )
            have = pf.available_cash
            if need > have:
                return Rejection(
                    self.name,
                    f"order needs {fmt_usd(need)} cash, available {fmt_usd(have)}",
                    fmt_usd(need),
                    fmt_usd(have),
                )
            return None
        have = pf.available_qty(intent.instrument_id)
        if intent.size > have:
            return Rejection(
                self.name,
                f"selling {_sh(intent.size)} shares, available {_sh(have)} (no short sales)",
                _sh(intent.size),
                _sh(have),
            )
        return None
