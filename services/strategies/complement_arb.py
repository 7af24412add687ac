"""Complement arbitrage: buy YES and NO (or every outcome of a neg-risk event) for less than 1.

Exactly one of the bought outcomes pays 1 at resolution, so when the asks plus taker fees sum
below ``1 - margin`` the bundle locks in the difference. The reverse also holds: a strategy that
holds both sides sells them when the bids sum above ``1 + margin`` after fees.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from services.events import MarketResolved
from services.execution.orders import TimeInForce
from services.instruments import Instrument, Side
from services.money import MICRO, floor_lot, notional, taker_fee, to_micro
from services.orderbook import OrderBook
from services.strategies.base import Strategy, StrategyContext, StrategyParams


class ComplementArbParams(StrategyParams):
    """Parameters of :class:`ComplementArbitrage`."""

    min_edge: Decimal = Field(
        Decimal("0.005"), ge=0, le=Decimal("0.5"),
        description="Profit per bundle required after fees, USDC per share (the margin)",
    )
    max_bundle_shares: Decimal = Field(
        Decimal("500"), gt=0, description="Largest bundle bought at once, shares"
    )
    max_bundle_usd: Decimal = Field(
        Decimal("1000"), gt=0, description="Largest cash outlay per bundle, USD"
    )
    cooldown_s: float = Field(
        2.0, ge=0, description="Wait after trading a market before trading it again, seconds"
    )
    multi_outcome: bool = Field(True, description="Also trade neg-risk events' YES outcomes")
    sell_side: bool = Field(True, description="Sell held bundles when bids sum above 1 + margin")


class ComplementArbitrage(Strategy):
    """Buys complementary outcomes when their asks sum below 1 minus fees and a margin."""

    Params = ComplementArbParams
    kind = "arbitrage"
    description = "Buys YES+NO (or all outcomes of a neg-risk event) when asks sum below 1 - fees."
    params: ComplementArbParams

    def __init__(self, name: str, params: ComplementArbParams) -> None:  # type: ignore[override]
        super().__init__(name, params)
        self._edge = to_micro(params.min_edge)
        self._max_shares = floor_lot(to_micro(params.max_bundle_shares))
        self._max_usd = to_micro(params.max_bundle_usd)
        self._cool: dict[str, float] = {}

    def wants(self, instrument: Instrument) -> bool:
        """Binary markets with a complement, and neg-risk outcomes if enabled."""
        return instrument.complement_id is not None or (
            self.params.multi_outcome and instrument.event_id is not None
        )

    def on_book(self, ctx: StrategyContext, book: OrderBook) -> None:
        """Check the market (and event) this book belongs to for a mispriced bundle."""
        inst = ctx.instrument(book.instrument_id)
        if inst is None:
            return
        now = ctx.now()
        if inst.complement_id is not None and self._cool.get(inst.market_id, -1e18) <= now:
            legs = sorted([inst, ctx.instrument(inst.complement_id)], key=_yes_first)
            if all(leg is not None for leg in legs):
                self._try_bundle(ctx, inst.market_id, legs, now)  # type: ignore[arg-type]
        if self.params.multi_outcome and inst.event_id and self._cool.get(inst.event_id, -1e18) <= now:
            yes_legs = [i for i in ctx.event_instruments(inst.event_id) if i.outcome.lower() == "yes"]
            if len(yes_legs) >= 2:
                self._try_bundle(ctx, inst.event_id, yes_legs, now)

    def on_resolution(self, ctx: StrategyContext, event: MarketResolved) -> None:
        """Forget cooldowns of resolved markets."""
        self._cool.pop(event.market_id, None)

    # ------------------------------------------------------------------ internals
    def _try_bundle(
        self, ctx: StrategyContext, key: str, legs: list[Instrument], now: float
    ) -> None:
        books = [ctx.book(leg.instrument_id) for leg in legs]
        if any(b is None for b in books):
            return
        asks = [b.best_ask() for b in books]  # type: ignore[union-attr]
        if all(a is not None for a in asks):
            size = min(
                ctx.available(leg.instrument_id, Side.SELL, a)  # type: ignore[arg-type]
                for leg, a in zip(legs, asks)
            )
            size = floor_lot(min(size, self._max_shares))
            total_ask = sum(asks)  # type: ignore[arg-type]
            if total_ask > 0:
                size = floor_lot(min(size, self._max_usd * MICRO // total_ask))
            size = floor_lot(min(size, ctx.portfolio.available_cash * MICRO // max(total_ask, 1)))
            if size >= max(leg.min_size for leg in legs) and size > 0:
                cost = sum(
                    notional(size, a) + taker_fee(size, a, leg.fees.rate, leg.fees.exponent)
                    for leg, a in zip(legs, asks)  # type: ignore[arg-type]
                )
                payout = size  # exactly one leg pays 1 per share
                edge = payout - cost
                if edge >= notional(size, self._edge):
                    self._cool[key] = now + self.params.cooldown_s
                    reason = (
                        f"asks sum {total_ask / MICRO:.4f} + fees < 1 - margin: "
                        f"locks {edge / MICRO:.2f} USDC on {size / MICRO:.2f} shares"
                    )
                    for leg, a in zip(legs, asks):
                        ctx.buy(leg.instrument_id, size, a, tif=TimeInForce.FAK, reason=reason)
                    return
        if not self.params.sell_side:
            return
        held = min(ctx.portfolio.available_qty(leg.instrument_id) for leg in legs)
        bids = [b.best_bid() for b in books]  # type: ignore[union-attr]
        if held <= 0 or any(b is None for b in bids):
            return
        size = floor_lot(
            min([held] + [ctx.available(leg.instrument_id, Side.BUY, p) for leg, p in zip(legs, bids)])  # type: ignore[arg-type]
        )
        if size < max(leg.min_size for leg in legs):
            return
        proceeds = sum(
            notional(size, p) - taker_fee(size, p, leg.fees.rate, leg.fees.exponent)
            for leg, p in zip(legs, bids)  # type: ignore[arg-type]
        )
        if proceeds - size >= notional(size, self._edge):
            self._cool[key] = now + self.params.cooldown_s
            reason = f"bids sum {sum(bids) / MICRO:.4f} > 1 + fees + margin: sell the bundle"  # type: ignore[arg-type]
            for leg, p in zip(legs, bids):
                ctx.sell(leg.instrument_id, size, p, tif=TimeInForce.FAK, reason=reason)


def _yes_first(inst: Instrument | None) -> int:
    return 0 if inst is not None and inst.outcome.lower() == "yes" else 1


