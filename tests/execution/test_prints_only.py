"""Prints-only matching, the trades / price-history fidelity of backtests (issue 13: "no book;
fills only where trades print through the order's price"): the displayed book is an assumption,
so it never fills an order; only trade prints do."""

from __future__ import annotations

from services.execution.orders import OrderStatus
from services.execution.simulated import TAKER_PRINT, SimulatedExchange
from tests.execution.test_simulated_exchange import FAK, FOK, GTC, B, S, Venue, px, sh


def venue(window: float = 60.0) -> Venue:
    v = Venue()
    v.ex = SimulatedExchange(
        v.books, v.instruments, v.listener, v._next_fill, 0.0, prints_only=True,
        print_window_s=window,
    )  # fmt: skip
    # The assumed book of a price point 0.50 with a half spread of 0.01, 50 shares a side.
    v.snapshot([(px("0.49"), sh(50))], [(px("0.51"), sh(50))], ts=0.0)
    return v


def test_a_marketable_order_takes_nothing_from_the_assumed_book() -> None:
    v = venue()
    o = v.submit(B, px("0.52"), sh(10), tif=FAK)
    assert o.filled == 0 and o.status is OrderStatus.OPEN  # the old matcher: filled 10 at 0.51
    v.trade(px("0.51"), sh(4), S, ts=5.0)  # a seller traded at 0.51: through our 0.52
    fills = v.listener.fills_of(o)
    assert [(f.size, f.price, f.liquidity, f.fill_reason) for f in fills] == [
        (sh(4), px("0.52"), "taker", TAKER_PRINT)  # pays its limit, as a taker
    ]
    assert fills[0].fee > 0
    v.at(61.0)  # no more prints within the window: the rest is cancelled
    assert o.status is OrderStatus.CANCELLED and o.filled == sh(4)
    assert "no trade printed through the price within 60 s" in (o.reject_reason or "")


def test_prints_on_the_wrong_side_or_beyond_the_limit_do_not_fill() -> None:
    v = venue()
    o = v.submit(B, px("0.52"), sh(10), tif=FAK)
    v.trade(px("0.53"), sh(50), S, ts=1.0)  # above our limit
    v.trade(px("0.51"), sh(50), B, ts=2.0)  # a buyer lifted the ask: no seller hit a bid
    assert o.filled == 0


def test_fok_fills_only_from_one_print_that_covers_it() -> None:
    v = venue()
    o = v.submit(B, px("0.52"), sh(10), tif=FOK)
    v.trade(px("0.50"), sh(6), S, ts=1.0)
    assert o.filled == 0
    v.trade(px("0.50"), sh(12), S, ts=2.0)
    assert o.filled == sh(10) and o.status is OrderStatus.FILLED


def test_a_book_moving_through_a_resting_order_does_not_fill_it() -> None:
    v = venue()
    o = v.submit(B, px("0.49"), sh(10), tif=GTC)  # rests behind the assumed 50 shares
    v.snapshot([(px("0.47"), sh(50))], [(px("0.48"), sh(50))], ts=1.0)  # the book crosses it
    assert o.filled == 0  # the old matcher: a maker_cross fill
    v.trade(px("0.48"), sh(3), S, ts=2.0)  # a print through its price
    assert o.filled == sh(3) and v.listener.fills_of(o)[0].liquidity == "maker"
    g = v.submit(B, px("0.60"), sh(5), tif=GTC)  # a marketable GTC keeps resting after the window
    v.at(100.0)
    assert g.status is OrderStatus.OPEN
