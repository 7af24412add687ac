"""A probability view of Betfair runners for the directional strategies (Momentum, MeanReversion).

The directional machinery (:mod:`services.strategies.directional`) follows a binary market's YES
mid in probability and buys YES or NO. A Betfair runner is shown to the same ``signal`` /
``exit_signal`` code as a binary market:

* YES ask = ``1 / best back odds`` (backing takes "available to back"), YES bid = ``1 / best lay
  odds``; the signal sees their mid, in probability micro-units, and ticks of 0.001 probability
  (:data:`PROB_TICK`), whatever the odds ladder's step at that price;
* "buy YES" is a fill-and-kill **back** at the best back odds, staking ``sizing.notional_usd``
  (units of the strategy's currency); "buy NO" is a fill-and-kill **lay** at the best lay odds whose
  liability is that amount (``stake = amount / (odds - 1)``);
* an exit closes the payout units held with the opposite bet at the best odds (a lay of
  ``units / odds`` for a back, a back for a lay); what the minimum stake cannot close is held to
  settlement.

Positions are already in payout units (``docs/ENGINE.md``), so the ledger, the risk layer and
settlement are unchanged. Only the sizing mode ``fixed_notional`` applies on Betfair (the stake).
"""

from __future__ import annotations

from typing import Any

from services.events import MarketResolved
from services.execution.orders import Fill, TimeInForce
from services.instruments import Instrument
from services.ladder import Quote
from services.money import MICRO
from services.strategies.base import StrategyContext
from services.strategies.directional import DirectionalStrategy, Held, Market

PROB_TICK = 1_000
"""One tick of the probability view: 0.001 (the odds ladder's steps are 0.004 to 0.005 in
probability across the common prices: 0.02 at odds 2, 0.01 at 1.5, 0.2 at 7)."""


class _TickView:
    """An instrument as the signal code reads it: the probability tick."""

    def __init__(self, inst: Instrument) -> None:
        self._inst = inst
        self.tick = PROB_TICK

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inst, name)


class _ProbCtx:
    """The strategy context with instruments seen through :class:`_TickView`."""

    def __init__(self, ctx: StrategyContext) -> None:
        self._ctx = ctx

    def instrument(self, iid: str) -> Any:
        inst = self._ctx.instrument(iid)
        return _TickView(inst) if inst is not None else None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)


def prob_quotes(ctx: StrategyContext, iid: str) -> tuple[int, int, int, int] | None:
    """Return (YES bid, YES ask, best back odds, best lay odds) of a runner, or None."""
    book = ctx.book(iid)
    if book is None:
        return None
    back, lay = book.best_bid(), book.best_ask()  # odds: available to back / to lay
    if back is None or lay is None or back >= lay:
        return None
    return MICRO * MICRO // lay, MICRO * MICRO // back, back, lay


class OddsDirectionalMixin(DirectionalStrategy):
    """Adds Betfair runners (decimal odds) to a directional strategy, through the probability
    view above; binary probability markets keep the inherited behaviour."""

    quotes = frozenset({Quote.PROBABILITY, Quote.ODDS})

    def __init__(self, name: str, params: Any) -> None:
        super().__init__(name, params)
        self._runners: dict[str, Market] = {}

    def wants(self, instrument: Instrument) -> bool:
        """Every runner of an odds market; binary markets as the base class decides."""
        if instrument.quote is not Quote.ODDS:
            return super().wants(instrument)
        iid = instrument.instrument_id
        self._runners.setdefault(
            iid,
            Market(
                instrument.market_id,
                iid,
                iid,
                self.history_len(),
                summed=self.summed_history,
                ranged=self.ranged_history,
            ),  # fmt: skip
        )
        return True

    def on_timer(self, ctx: StrategyContext) -> None:
        """Binary markets first (inherited), then each runner through the probability view."""
        if self._markets:
            super().on_timer(ctx)
        if not self._runners:
            return
        now = ctx.now()
        view: Any = _ProbCtx(ctx)
        held = sum(1 for m in self._markets.values() if m.held is not None)
        held += sum(1 for m in self._runners.values() if m.held is not None)
        for m in self._runners.values():
            q = prob_quotes(ctx, m.yes)
            if q is None:
                continue
            mid = (q[0] + q[1]) // 2
            entry = self.signal(view, m, mid, now)
            m.hist.append(mid)
            if m.held is not None:
                if self._manage_odds(ctx, view, m, q, now):
                    held -= 1
            elif (
                entry is not None
                and held < self.params.max_positions
                and now >= m.cool_until
                and not self.orders.active(m.yes)
                and ctx.portfolio.qty(m.yes) == 0
                and self._enter_odds(ctx, m, entry.token, entry.reason, q, now)
            ):
                held += 1

    def on_fill(self, ctx: StrategyContext, fill: Fill) -> None:
        """Binary markets only (a runner's entry price is the probability at entry)."""
        if fill.instrument_id not in self._runners:
            super().on_fill(ctx, fill)

    def on_resolution(self, ctx: StrategyContext, event: MarketResolved) -> None:
        """Forget the market's runners (and a binary market as the base class does)."""
        super().on_resolution(ctx, event)
        for iid, _ in event.payouts:
            if self._runners.pop(iid, None) is not None:
                self.orders.forget(iid)

    # ------------------------------------------------------------------ internals
    def _enter_odds(
        self,
        ctx: StrategyContext,
        m: Market,
        token: str,
        reason: str,
        q: tuple[int, int, int, int],
        now: float,
    ) -> bool:
        inst = ctx.instrument(m.yes)
        if inst is None or not self.can_enter(inst, now) or ctx.status() != "active":
            return False
        if not ctx.trusted(m.yes):
            return False
        bid, ask, back, lay = q
        if ask - bid > self.params.max_entry_spread_ticks * PROB_TICK:
            return False
        amount = int(self.params.sizing.notional_usd * MICRO)
        amount = min(amount, ctx.portfolio.available_cash)
        if token == "YES":
            stake = amount
            o = ctx.back(m.yes, _lot(stake, inst), back, tif=TimeInForce.FAK, reason=reason)
            price = ask
        else:
            stake = amount * MICRO // (lay - MICRO)  # the liability is the amount
            o = ctx.lay(m.yes, _lot(stake, inst), lay, tif=TimeInForce.FAK, reason=reason)
            price = MICRO - bid
        if o is None or (o.filled == 0 and not o.active):
            return False
        self.orders.add(o)
        tok_mid = (bid + ask) // 2 if token == "YES" else MICRO - (bid + ask) // 2
        m.held = Held(m.yes, token, now, price, tok_mid)
        return True

    def _manage_odds(
        self,
        ctx: StrategyContext,
        view: Any,
        m: Market,
        q: tuple[int, int, int, int],
        now: float,
    ) -> bool:
        held = m.held
        assert held is not None
        if self.orders.active(m.yes):
            return False
        units = ctx.portfolio.qty(m.yes)
        inst = ctx.instrument(m.yes)
        bid, ask, back, lay = q
        close = _lot(abs(units) * MICRO // (lay if units > 0 else back), inst) if inst else 0
        if units == 0 or inst is None or close < inst.min_size:
            m.held = None  # flat, or too small to close: held to settlement
            m.cool_until = now + self.params.cooldown_s
            return True
        mid = (bid + ask) // 2
        token_mid = mid if held.label == "YES" else MICRO - mid
        held.peak_mid = max(held.peak_mid, token_mid)
        p = self.params
        reason: str | None = None
        if inst.end_ts is not None and 0 < p.exit_before_end_s >= inst.end_ts - now:
            reason = f"the off (market time) in {inst.end_ts - now:.0f} s: flatten"
        elif p.max_hold_s > 0 and now - held.entry_ts >= p.max_hold_s:
            reason = f"time stop: held {now - held.entry_ts:.0f} s >= {p.max_hold_s:.0f} s"
        elif p.stop_loss_ticks and token_mid <= held.entry_price - p.stop_loss_ticks * PROB_TICK:
            reason = f"stop loss: {held.label} {token_mid / MICRO:.3f} vs entry"
        else:
            reason = self.exit_signal(view, m, held, token_mid, now)
        if reason is None:
            return False
        if units > 0:  # a back held: lay its payout units at the best lay odds
            o = ctx.lay(m.yes, close, lay, tif=TimeInForce.FAK, reason=reason)
        else:
            o = ctx.back(m.yes, close, back, tif=TimeInForce.FAK, reason=reason)
        if o is not None:
            self.orders.add(o)
        return False


def _lot(stake: int, inst: Instrument | None) -> int:
    lot = inst.lot if inst is not None and inst.lot else 10_000
    return stake // lot * lot
