"""The strategy API: a base class with typed parameters, event hooks and a context.

A strategy sees the market only through its :class:`StrategyContext`: books, instruments, its own
portfolio and orders, the clock, and the ``buy``/``sell``/``cancel`` intents. It never touches the
database, the network or wall time, so the same class runs in backtests, paper and live sessions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, model_validator

from services.enums import StrategyKind
from services.events import MarketResolved, TradePrint
from services.execution.orders import Fill, Order, TimeInForce
from services.instruments import Instrument, Side
from services.intents import Intent
from services.ladder import Quote
from services.orderbook import OrderBook

if TYPE_CHECKING:
    from services.portfolio import Portfolio


class StrategyParams(BaseModel):
    """Base of every strategy's parameter model (frozen, unknown keys rejected).

    A nested model field (``sizing``, ``universe``) given partly in the config is merged with the
    strategy's own default for that field, so ``sizing: {kelly_fraction: 0.25}`` changes one key
    and keeps the strategy's other sizing defaults.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _merge_nested_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for name, field in cls.model_fields.items():
            given = out.get(name)
            if not isinstance(given, dict):
                continue
            default = field.get_default(call_default_factory=True)
            if isinstance(default, BaseModel):
                out[name] = {**default.model_dump(exclude_unset=False), **given}
        return out


class StrategyContext:
    """A strategy's window on the engine (built by the engine, one per strategy)."""

    def __init__(self, strategy_name: str, gateway: Gateway) -> None:
        self.strategy_name = strategy_name
        self._gw = gateway
        self._pf: Portfolio | None = None

    def bind_shortcuts(
        self,
        now: Callable[[], float],
        book: Callable[[str], OrderBook | None],
        portfolio: Portfolio,
        instrument: Callable[[str], Instrument | None] | None = None,
    ) -> None:
        """Answer :meth:`now`, :meth:`book`, :attr:`portfolio` and (when given)
        :meth:`instrument` without a call through the gateway (issue 18: strategies read them on
        most book updates).

        The engine binds its clock's ``now``, its book store's ``find``, the strategy's own
        portfolio and its instrument registry's ``get``: exactly what its ``now()``, ``book()``,
        ``portfolio()`` and ``instrument()`` return.
        """
        self.__dict__["now"] = now
        self.__dict__["book"] = book
        if instrument is not None:
            self.__dict__["instrument"] = instrument
        self._pf = portfolio

    # -------------------------------------------------------------- market state
    def now(self) -> float:
        """Return the current time (event time in backtests and simulation), epoch seconds."""
        return self._gw.now()

    def book(self, instrument_id: str) -> OrderBook | None:
        """Return the current book of an instrument, or None if none was seen."""
        return self._gw.book(instrument_id)

    def instrument(self, instrument_id: str) -> Instrument | None:
        """Return an instrument's metadata (tick, min size, fees, end time, complement)."""
        return self._gw.instrument(instrument_id)

    def instruments(self) -> Iterable[Instrument]:
        """Return the live instruments this strategy subscribed to."""
        return self._gw.subscribed(self.strategy_name)

    def event_instruments(self, event_id: str) -> list[Instrument]:
        """Return the live instruments of a neg-risk event (YES and NO tokens of each outcome)."""
        return self._gw.event_instruments(event_id)

    def available(self, instrument_id: str, side: Side, price: int) -> int:
        """Return the size at a book level still available to this strategy (micro-shares).

        Paper orders do not remove liquidity from the displayed book, so a level this strategy
        already took stays visible until the feed refreshes it; this is what is left for it.
        ``side`` is the book side (``Side.SELL`` for asks).
        """
        return self._gw.available(self.strategy_name, instrument_id, side, price)

    def trusted(self, instrument_id: str) -> bool:
        """Return whether the data gate would accept a new position on the instrument now.

        False while its data fails validation (stale, crossed, off-grid, thin, ...) or the data
        pipeline is critical: the risk chain would refuse the entry, so skip it. Exits need not
        check: a reducing order on a book that is only thin still passes.
        """
        return self._gw.trusted(instrument_id)

    # -------------------------------------------------------------- own state
    def status(self) -> str:
        """Return this strategy's status: ``active``, ``paused`` (no new entries; exits and
        reducing orders still pass) or ``disabled``. Check it to avoid intents that the risk
        chain would refuse anyway."""
        return self._gw.status(self.strategy_name)

    @property
    def portfolio(self) -> Portfolio:
        """Return this strategy's portfolio (read it; never mutate it)."""
        pf = self._pf
        return pf if pf is not None else self._gw.portfolio(self.strategy_name)

    def position(self, instrument_id: str) -> int:
        """Return shares held in an instrument (micro-shares)."""
        return self.portfolio.qty(instrument_id)

    def open_orders(self, instrument_id: str | None = None) -> list[Order]:
        """Return this strategy's active orders, optionally on one instrument."""
        return self._gw.open_orders(self.strategy_name, instrument_id)

    # -------------------------------------------------------------- intents
    def buy(
        self,
        instrument_id: str,
        size: int,
        price: int | None = None,
        *,
        tif: TimeInForce = TimeInForce.GTC,
        post_only: bool = False,
        reason: str = "",
        expire_ts: float | None = None,
    ) -> Order | None:
        """Ask to buy ``size`` micro-shares at ``price`` (micro) or at market (``price=None``).

        Returns the order (check ``order.status``; it may be rejected with ``reject_reason``) or
        None if the intent was refused before becoming an order (risk check; recorded as event).

        ``tif=TimeInForce.GTD`` with ``expire_ts=ctx.now() + lifetime_s`` (engine-clock seconds)
        rests the order until then; the venue expires it (an ``expired`` order event, its
        reservation released). Post-only is allowed with GTC and GTD only. Polymarket live
        needs a lifetime of at least 120 s (docs/STRATEGIES.md, "Order types").
        """
        return self._gw.submit(
            Intent(
                self.strategy_name,
                instrument_id,
                Side.BUY,
                size,
                price,
                tif,
                post_only,
                reason,
                expire_ts=expire_ts,
            )
        )

    def sell(
        self,
        instrument_id: str,
        size: int,
        price: int | None = None,
        *,
        tif: TimeInForce = TimeInForce.GTC,
        post_only: bool = False,
        reason: str = "",
        expire_ts: float | None = None,
    ) -> Order | None:
        """Ask to sell shares held (no naked shorts); same semantics as :meth:`buy`."""
        return self._gw.submit(
            Intent(
                self.strategy_name,
                instrument_id,
                Side.SELL,
                size,
                price,
                tif,
                post_only,
                reason,
                reduce_only=True,
                expire_ts=expire_ts,
            )
        )

    def back(
        self,
        instrument_id: str,
        stake: int,
        odds: int | None = None,
        *,
        tif: TimeInForce = TimeInForce.GTC,
        post_only: bool = False,
        reason: str = "",
        persist: bool = False,
        expire_ts: float | None = None,
    ) -> Order | None:
        """Back an outcome on an odds ladder: ``stake`` micro-units of cash at ``odds`` or better.

        Prices on an odds ladder are decimal odds, and a backer wants them high, so a back is an
        order on the SELL side (it rests among "available to lay" and takes "available to back").
        Economically it is a long of ``stake * odds`` payout units (see ``docs/ENGINE.md``).
        ``persist=True`` keeps the unmatched part resting when the market suspends (Betfair's
        persistence PERSIST); by default it lapses (LAPSE).
        """
        return self._gw.submit(
            Intent(
                self.strategy_name,
                instrument_id,
                Side.SELL,
                stake,
                odds,
                tif,
                post_only,
                reason,
                persist=persist,
                expire_ts=expire_ts,
            )
        )

    def lay(
        self,
        instrument_id: str,
        stake: int,
        odds: int | None = None,
        *,
        tif: TimeInForce = TimeInForce.GTC,
        post_only: bool = False,
        reason: str = "",
        persist: bool = False,
        expire_ts: float | None = None,
    ) -> Order | None:
        """Lay an outcome on an odds ladder: the backer's ``stake`` at ``odds`` or lower.

        A lay is an order on the BUY side; it holds the liability ``stake * (odds - 1)`` and is
        economically a short of ``stake * odds`` payout units. Only instruments with
        ``allows_short`` accept it when nothing is held. ``persist`` as for :meth:`back`.
        """
        return self._gw.submit(
            Intent(
                self.strategy_name,
                instrument_id,
                Side.BUY,
                stake,
                odds,
                tif,
                post_only,
                reason,
                persist=persist,
                expire_ts=expire_ts,
            )
        )

    def pause_books(self, instrument_ids: Iterable[str], paused: bool = True) -> None:
        """Stop (``paused``) or resume (``paused=False``) ``on_book`` calls for instruments.

        For a strategy whose ``on_book`` returns at once for an instrument until something in
        its own state changes (a market maker without a free quoting slot): each skipped call
        is saved (issue 18). Resume it in the hook that changes that state, before the next
        book update. Only ``on_book`` is paused; a gateway that cannot pause ignores this.
        """
        fn = getattr(self._gw, "pause_books", None)
        if fn is not None:
            fn(self.strategy_name, instrument_ids, paused)

    def cancel(self, order_id: int, reason: str = "") -> bool:
        """Ask to cancel one of this strategy's orders; False if unknown or already done."""
        return self._gw.cancel(self.strategy_name, order_id, reason)

    def cancel_all(self, instrument_id: str | None = None, reason: str = "") -> int:
        """Cancel all this strategy's active orders (optionally on one instrument)."""
        n = 0
        for o in self.open_orders(instrument_id):
            n += self.cancel(o.order_id, reason)
        return n


class Gateway:
    """What the engine offers a context (an interface; the engine implements it)."""

    def now(self) -> float:  # pragma: no cover - interface
        raise NotImplementedError

    def book(self, instrument_id: str) -> OrderBook | None:  # pragma: no cover
        raise NotImplementedError

    def instrument(self, instrument_id: str) -> Instrument | None:  # pragma: no cover
        raise NotImplementedError

    def subscribed(self, strategy: str) -> Iterable[Instrument]:  # pragma: no cover
        raise NotImplementedError

    def event_instruments(self, event_id: str) -> list[Instrument]:  # pragma: no cover
        raise NotImplementedError

    def portfolio(self, strategy: str) -> Portfolio:  # pragma: no cover
        raise NotImplementedError

    def status(self, strategy: str) -> str:  # pragma: no cover
        raise NotImplementedError

    def trusted(self, instrument_id: str) -> bool:
        """Return whether the data gate accepts new positions on the instrument (default yes)."""
        return True

    def available(
        self, strategy: str, instrument_id: str, side: Side, price: int
    ) -> int:  # pragma: no cover
        raise NotImplementedError

    def open_orders(
        self, strategy: str, instrument_id: str | None
    ) -> list[Order]:  # pragma: no cover
        raise NotImplementedError

    def submit(self, intent: Intent) -> Order | None:  # pragma: no cover
        raise NotImplementedError

    def cancel(self, strategy: str, order_id: int, reason: str) -> bool:  # pragma: no cover
        raise NotImplementedError


class Strategy:
    """Base class of every strategy.

    Subclasses set ``Params`` (a :class:`StrategyParams` model), ``kind`` (``"market_making"``,
    ``"arbitrage"`` or ``"directional"``; the risk layer treats them differently) and a one-line
    ``description``, and override the hooks they need. Hooks receive the strategy's context.
    """

    Params: ClassVar[type[StrategyParams]] = StrategyParams
    kind: ClassVar[str] = StrategyKind.DIRECTIONAL  # a StrategyKind value
    description: ClassVar[str] = ""
    timer_interval_s: ClassVar[float] = 1.0
    quotes: ClassVar[frozenset[Quote]] = frozenset({Quote.PROBABILITY})
    """Price conventions the strategy understands. The engine subscribes it only to instruments
    quoted that way, so a strategy written for probabilities never sees decimal odds; a strategy
    for an odds ladder (Betfair) sets ``frozenset({Quote.ODDS})``."""

    def __init__(self, name: str, params: StrategyParams) -> None:
        self.name = name
        self.params = params

    def wants(self, instrument: Instrument) -> bool:
        """Return whether this strategy wants events for an instrument (default: all)."""
        return True

    def on_start(self, ctx: StrategyContext) -> None:
        """Run once before the first event."""

    def on_instruments(self, ctx: StrategyContext, instruments: list[Instrument]) -> None:
        """Handle newly listed instruments this strategy wants."""

    def on_book(self, ctx: StrategyContext, book: OrderBook) -> None:
        """Handle a change of a subscribed instrument's book."""

    def on_trade(self, ctx: StrategyContext, trade: TradePrint) -> None:
        """Handle a venue trade print on a subscribed instrument."""

    def on_fill(self, ctx: StrategyContext, fill: Fill) -> None:
        """Handle a fill of one of this strategy's orders."""

    def on_fill_reversed(self, ctx: StrategyContext, fill: Fill) -> None:
        """Handle the reversal of an earlier fill (live: its trade MATCHED, then FAILED).

        ``fill`` is the reversing ledger row: the opposite side of the original fill, same size
        and price, fee refunded (negative), ``venue_fill_id`` ``<trade id>:reversal``. The
        portfolio has already undone the original fill; ``on_fill`` is not called for it.
        Default: nothing.
        """

    def on_timer(self, ctx: StrategyContext) -> None:
        """Run every ``timer_interval_s`` seconds of (event) time."""

    def on_resolution(self, ctx: StrategyContext, event: MarketResolved) -> None:
        """Handle a market resolution (positions are already settled)."""

    def on_stop(self, ctx: StrategyContext) -> None:
        """Run once when the engine stops."""
