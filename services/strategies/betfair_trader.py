"""Betfair back/lay trader: rest a back above and a lay below each runner's traded price.

The reference is the runner's last traded odds (``TradePrint``). The strategy keeps one lay
(the BUY side on the odds ladder) ``offset_ticks`` ladder steps below the reference and one back
(the SELL side) the same distance above it, both post-only with the same stake, so each pair that
fills earns the spread between them whichever runner wins. When the reference moves by
``requote_ticks`` or more, both orders are cancelled and placed again around the new price.
Inventory is bounded: past ``max_position`` payout units backed (long) it stops backing, past the
same laid (short) it stops laying, so only the side that reduces the position rests.

Resting orders go back to the engine when the market suspends (Betfair lapses them) and the
positions settle with the market. Risk: a runner whose price moves one way fills only one side
(adverse selection); the position limit bounds what that can cost.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from services.enums import StrategyKind
from services.events import MarketResolved, TradePrint
from services.execution.orders import Fill
from services.instruments import Instrument
from services.ladder import Quote
from services.money import MICRO
from services.strategies.base import Strategy, StrategyContext, StrategyParams


class BetfairBackLayTraderParams(StrategyParams):
    """Parameters of :class:`BetfairBackLayTrader`."""

    stake: Decimal = Field(Decimal("2"), gt=0, description="Stake of each back and lay, currency")
    offset_ticks: int = Field(
        2, ge=1, le=50, description="Distance of each order from the traded odds, ladder ticks"
    )
    requote_ticks: int = Field(
        2, ge=1, le=50, description="Move the orders when the traded odds move this far, ticks"
    )
    max_position: Decimal = Field(
        Decimal("100"),
        gt=0,
        description="Largest payout-unit position (backed or laid) before only the reducing side "
        "is quoted, units of the currency",
    )
    max_odds: Decimal = Field(
        Decimal("20"), gt=1, le=1000, description="Do not trade runners traded above these odds"
    )
    min_trades: int = Field(
        3, ge=1, le=10_000, description="Trades seen on a runner before quoting it, count"
    )


class BetfairBackLayTrader(Strategy):
    """Quote a back above and a lay below each runner's last traded odds."""

    Params = BetfairBackLayTraderParams
    params: BetfairBackLayTraderParams
    kind = StrategyKind.MARKET_MAKING
    description = "Betfair: rest a back above and a lay below the traded odds, bounded position"
    quotes = frozenset({Quote.ODDS})

    def __init__(self, name: str, params: BetfairBackLayTraderParams) -> None:  # type: ignore[override]
        super().__init__(name, params)
        self._ref: dict[str, int] = {}
        self._quoted_at: dict[str, int] = {}
        self._trades: dict[str, int] = {}

    def on_trade(self, ctx: StrategyContext, trade: TradePrint) -> None:
        """Follow the traded odds and re-quote when they moved far enough."""
        iid = trade.instrument_id
        self._trades[iid] = self._trades.get(iid, 0) + 1
        self._ref[iid] = trade.price
        inst = ctx.instrument(iid)
        if inst is None or self._trades[iid] < self.params.min_trades:
            return
        quoted = self._quoted_at.get(iid)
        moved = quoted is None or abs(inst.ladder.ticks_between(quoted, trade.price))
        if quoted is not None and ctx.open_orders(iid) and moved < self.params.requote_ticks:
            return
        self.quote(ctx, inst, trade.price)

    def on_fill(self, ctx: StrategyContext, fill: Fill) -> None:
        """Re-quote the runner around the last traded odds after a fill (inventory changed)."""
        iid = fill.instrument_id
        ref = self._ref.get(iid)
        inst = ctx.instrument(iid)
        if ref is not None and inst is not None:
            self.quote(ctx, inst, ref)

    def on_resolution(self, ctx: StrategyContext, event: MarketResolved) -> None:
        """Forget a settled market's runners."""
        for iid, _ in event.payouts:
            self._ref.pop(iid, None)
            self._quoted_at.pop(iid, None)
            self._trades.pop(iid, None)

    def quote(self, ctx: StrategyContext, inst: Instrument, ref: int) -> None:
        """Cancel this runner's orders and rest a lay below and a back above ``ref``."""
        iid = inst.instrument_id
        ctx.cancel_all(iid, reason="re-quote")
        self._quoted_at[iid] = ref
        p = self.params
        if ctx.status() != "active" or ref > int(p.max_odds * MICRO) or not inst.on_grid(ref):
            return
        if not ctx.trusted(
            iid
        ):  # no quotes on data the gate does not trust; back on the next trade
            return
        book = ctx.book(iid)
        if book is None:
            return
        stake = max(inst.min_size, inst.floor_lot(int(p.stake * MICRO)))
        held = ctx.position(iid)
        limit = int(p.max_position * MICRO)
        lay = inst.ladder.next_down(ref, p.offset_ticks)
        back = inst.ladder.next_up(ref, p.offset_ticks)
        best_back, best_lay = book.best_bid(), book.best_ask()
        # Post-only: a lay at or above the best lay odds, or a back at or below the best back
        # odds, would take liquidity instead of resting.
        if lay is not None and held > -limit and (best_lay is None or lay < best_lay):
            ctx.lay(iid, stake, lay, post_only=True, reason=f"lay {p.offset_ticks} ticks under")
        if back is not None and held < limit and (best_back is None or back > best_back):
            ctx.back(iid, stake, back, post_only=True, reason=f"back {p.offset_ticks} ticks over")
