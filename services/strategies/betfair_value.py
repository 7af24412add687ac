"""Betfair value backer: back a runner when its best back odds beat the market's own fair odds,
staked with fractional Kelly.

Fair probabilities come from the whole market: each runner's mid odds (between best back and best
lay) give an implied probability ``1 / mid``; dividing by their sum removes the overround, so the
fair probabilities of a market with ``numberOfWinners = k`` sum to ``k`` (WIN and PLACE markets).
A runner whose best available back odds ``O`` give an edge ``p * O - 1`` of at least
``min_edge`` is backed at ``O`` (fill-and-kill: it takes what is displayed, nothing rests) with
the Kelly stake ``kelly_fraction * (p * O - 1) / (O - 1)`` of the strategy's free cash, capped by
``max_stake`` and ``max_bankroll_fraction``. A stake below the instrument's minimum (Betfair: 1
GBP) is not placed. Each runner is backed at most ``max_bets_per_runner`` times.

Risk: the fair price is the market's own; the strategy bets that a runner whose back odds drift
above the consensus is mispriced, which a stale or one-sided book can fake. The fraction and the
caps keep every bet small.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from services.enums import StrategyKind
from services.events import MarketResolved
from services.execution.orders import TimeInForce
from services.instruments import Instrument, Side
from services.ladder import Quote
from services.money import MICRO
from services.orderbook import OrderBook
from services.strategies.base import Strategy, StrategyContext, StrategyParams


class BetfairValueBackerParams(StrategyParams):
    """Parameters of :class:`BetfairValueBacker`."""

    kelly_fraction: Decimal = Field(
        Decimal("0.25"), gt=0, le=1, description="Fraction of the full Kelly stake, 0-1"
    )
    min_edge: Decimal = Field(
        Decimal("0.03"), gt=0, le=10, description="Back when p * odds - 1 is at least this"
    )
    max_stake: Decimal = Field(
        Decimal("50"), gt=0, description="Largest stake of one bet, units of the currency"
    )
    max_bankroll_fraction: Decimal = Field(
        Decimal("0.05"), gt=0, le=1, description="Largest stake as a fraction of free cash, 0-1"
    )
    max_odds: Decimal = Field(
        Decimal("30"), gt=1, le=1000, description="Never back above these decimal odds"
    )
    max_bets_per_runner: int = Field(1, ge=1, le=100, description="Bets per runner, count")
    max_spread_ticks: int = Field(
        5, ge=1, le=350, description="Skip runners whose back-lay spread is wider, ladder ticks"
    )


def fair_probabilities(ctx: StrategyContext, market: list[Instrument]) -> dict[str, float] | None:
    """Return each runner's overround-free probability from mid odds, or None if a book is empty.

    The probabilities sum to the market's number of winners, taken as the nearest whole number
    to the sum of implied probabilities (about 1.05 on a WIN market, 3.1 on a 3-place market:
    the overround is far smaller than one winner).
    """
    implied: dict[str, float] = {}
    for inst in market:
        book = ctx.book(inst.instrument_id)
        if book is None:
            return None
        bb, ba = book.best_bid(), book.best_ask()
        if bb is None or ba is None or ba <= bb:
            return None
        implied[inst.instrument_id] = 2 * MICRO / (bb + ba)
    total = sum(implied.values())
    if total <= 0:
        return None
    winners = max(1, round(total))
    return {k: winners * v / total for k, v in implied.items()}


def kelly_back_fraction(prob: float, odds: float) -> float:
    """Return the full-Kelly fraction of bankroll for a back at decimal ``odds`` (0 if no edge)."""
    if odds <= 1:
        return 0.0
    return max(0.0, (prob * odds - 1) / (odds - 1))


class BetfairValueBacker(Strategy):
    """Back runners whose back odds beat the market's fair odds, with fractional Kelly stakes."""

    Params = BetfairValueBackerParams
    params: BetfairValueBackerParams
    kind = StrategyKind.DIRECTIONAL
    description = "Betfair: back value against the market's overround-free odds, 1/4 Kelly"
    quotes = frozenset({Quote.ODDS})

    def __init__(self, name: str, params: BetfairValueBackerParams) -> None:  # type: ignore[override]
        super().__init__(name, params)
        self._markets: dict[str, list[Instrument]] = {}
        self._bets: dict[str, int] = {}

    def on_instruments(self, ctx: StrategyContext, instruments: list[Instrument]) -> None:
        """Group the runners by market."""
        for inst in instruments:
            group = self._markets.setdefault(inst.market_id, [])
            if all(i.instrument_id != inst.instrument_id for i in group):
                group.append(inst)

    def on_resolution(self, ctx: StrategyContext, event: MarketResolved) -> None:
        """Forget a settled market."""
        for iid, _ in event.payouts:
            self._bets.pop(iid, None)
        self._markets.pop(event.market_id, None)

    def on_book(self, ctx: StrategyContext, book: OrderBook) -> None:
        """Look for value on the market of the runner whose book changed."""
        inst = ctx.instrument(book.instrument_id)
        if inst is None or ctx.status() != "active":
            return
        market = self._markets.get(inst.market_id)
        if not market:
            return
        fair = fair_probabilities(ctx, market)
        if fair is None:
            return
        p = self.params
        iid = inst.instrument_id
        if self._bets.get(iid, 0) >= p.max_bets_per_runner or ctx.open_orders(iid):
            return
        if not ctx.trusted(iid):  # the data gate would refuse the entry
            return
        back = book.best_bid()  # best available to back
        lay = book.best_ask()
        if back is None or lay is None or back > int(p.max_odds * MICRO):
            return
        if inst.ladder.ticks_between(back, lay) > p.max_spread_ticks:
            return
        odds = back / MICRO
        prob = fair[iid]
        if prob * odds - 1 < float(p.min_edge):
            return
        stake = self.stake(ctx, inst, prob, odds)
        if stake is None:
            return
        stake = min(stake, ctx.available(iid, Side.BUY, back))
        stake = inst.floor_lot(stake)
        if stake < inst.min_size:
            return
        self._bets[iid] = self._bets.get(iid, 0) + 1
        ctx.back(
            iid,
            stake,
            back,
            tif=TimeInForce.FAK,
            reason=f"value: fair p {prob:.3f} x odds {odds:.2f} = edge {prob * odds - 1:+.3f}",
        )

    def stake(self, ctx: StrategyContext, inst: Instrument, prob: float, odds: float) -> int | None:
        """Return the fractional-Kelly stake (micro), or None when below the minimum stake."""
        p = self.params
        cash = ctx.portfolio.available_cash
        frac = float(p.kelly_fraction) * kelly_back_fraction(prob, odds)
        frac = min(frac, float(p.max_bankroll_fraction))
        stake = min(int(cash * frac), int(p.max_stake * MICRO))
        stake = inst.floor_lot(stake)
        return stake if stake >= inst.min_size else None
