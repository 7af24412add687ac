"""Paper fills stay conservative on real-shaped Polymarket streams (issue 11).

Every scenario is written as the frames the venue sends (``book``, ``price_change``,
``last_trade_price`` in the captured shapes) and translated by the production Translator; the
exchange then sees exactly what the live feed or a replay would give it.
"""

from __future__ import annotations

from collections.abc import Iterable

from hypothesis import given, settings
from hypothesis import strategies as st

from services.events import BookDelta, BookSnapshot, MarketEvent, TradePrint
from services.execution.orders import Order, OrderStatus, TimeInForce
from services.instruments import Side
from services.money import to_micro
from tests.execution.pm_stream import TOKEN, Stream
from tests.execution.test_simulated_exchange import Venue

B, S = Side.BUY, Side.SELL
GTC, FOK, FAK = TimeInForce.GTC, TimeInForce.FOK, TimeInForce.FAK


def sh(x: str) -> int:
    return to_micro(x)


class Paper:
    """A stream and the exchange fed from it, as the engine feeds it."""

    def __init__(self) -> None:
        self.s = Stream()
        self.v = Venue(instruments={TOKEN: self.s.inst})

    def feed(self, events: Iterable[MarketEvent]) -> None:
        v = self.v
        for ev in events:
            v.at(ev.ts)
            if isinstance(ev, BookSnapshot):
                v.ex.on_snapshot(ev, v.books.apply_snapshot(ev))
            elif isinstance(ev, BookDelta):
                book = v.books.get(ev.instrument_id)
                old = [book.set_level(side, p, size) for side, p, size in ev.changes]
                book.ts = ev.ts
                book.updates += 1
                v.ex.on_delta(ev, book, old)
            elif isinstance(ev, TradePrint):
                v.ex.on_trade(ev)

    def book(self, bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> None:
        self.feed(self.s.book(bids, asks))

    def change(self, *changes: tuple[Side, str, str]) -> None:
        self.feed(self.s.change(*changes))

    def trade(self, price: str, size: str, taker: Side) -> None:
        self.feed(self.s.trade(price, size, taker))

    def order(
        self,
        side: Side,
        price: str,
        size: str,
        tif: TimeInForce = GTC,
        strategy: str = "a",
        post_only: bool = False,
    ) -> Order:
        return self.v.submit(
            side, to_micro(price), sh(size), tif, strategy=strategy, post_only=post_only, iid=TOKEN
        )

    def fills(self, o: Order) -> list[tuple[int, int, str, str]]:
        return [(f.price, f.size, f.liquidity, f.fill_reason) for f in self.v.listener.fills_of(o)]


# The captured book: bids .38 x 120, .39 x 55.5, .40 x 210.25; asks .42 x 150, .43 x 64.1, .44 x 80
BIDS = [(".38", "120"), (".39", "55.5"), (".40", "210.25")]
ASKS = [(".42", "150"), (".43", "64.1"), (".44", "80")]


def captured() -> Paper:
    p = Paper()
    p.book(BIDS, ASKS)
    return p


# ============================================================================ 1. crossed books
def test_a_crossing_ask_is_absorbed_by_the_queue_displayed_ahead() -> None:
    p = Paper()
    p.book([(".40", "1000")], ASKS)
    o = p.order(B, ".40", "50")
    assert o.queue_ahead == sh("1000")
    # A seller's 200 at .40 arrives before the venue's removal of the bids it matched.
    p.change((S, ".40", "200"))
    assert o.filled == 0  # the 1,000 shares ahead of us take all of it
    assert o.queue_ahead == sh("1000")
    # The venue then reports the match: the print, the ask gone, the bid level smaller.
    p.trade(".40", "200", S)
    p.change((S, ".40", "0"), (B, ".40", "800"))
    assert o.filled == 0
    assert o.queue_ahead == sh("800")


def test_a_crossing_fills_only_what_the_queue_cannot_absorb_and_prints_confirm_it() -> None:
    p = Paper()
    p.book([(".40", "1000")], ASKS)
    o = p.order(B, ".40", "50")
    p.change((S, ".40", "1030"))  # 30 more than the queue ahead
    assert p.fills(o) == [(400_000, sh("30"), "maker", "maker_cross")]
    assert o.fees == 0
    p.change((S, ".40", "1030"))  # re-sent: nothing new
    assert o.filled == sh("30")
    # The prints of the same 1,030 shares confirm our 30: they do not fill us again.
    p.trade(".40", "1030", S)
    assert o.filled == sh("30")
    p.change((B, ".40", "0"), (S, ".40", "0"))
    assert o.filled == sh("30")
    # A later, genuine sell at .40 reaches us (we are first in line now).
    p.trade(".40", "12", S)
    assert o.filled == sh("42")
    assert p.fills(o)[-1][3] == "maker_print"


def test_a_resting_buy_below_the_displayed_best_bid_does_not_fill_from_a_crossing_ask() -> None:
    p = captured()
    o = p.order(B, ".39", "20")  # behind .40 x 210.25
    p.change((S, ".38", "40"))  # an ask crosses both .40 and our .39
    assert o.filled == 0
    # Only when the better bid is gone does the remaining crossing volume reach our queue.
    p.change((B, ".40", "0"), (S, ".38", "30"))
    assert o.filled == 0  # 55.5 ahead of us at .39 absorb the 30
    p.change((B, ".39", "0"))
    assert o.filled == sh("20")


def test_an_order_alone_on_its_side_fills_from_a_crossing() -> None:
    p = Paper()
    p.book([], ASKS)  # no bids displayed at all: our buy is the whole bid side
    o = p.order(B, ".40", "50")
    assert o.queue_ahead == 0
    p.change((S, ".40", "20"))
    assert p.fills(o) == [(400_000, sh("20"), "maker", "maker_cross")]
    s = p.order(S, ".45", "10")  # the same for a sell with no ask better than it
    p.change((S, ".40", "0"), (S, ".42", "0"), (S, ".43", "0"), (S, ".44", "0"))
    p.change((B, ".46", "4"))
    assert s.filled == sh("4")


def test_a_taker_on_a_crossed_book_gets_only_what_the_displayed_bids_leave() -> None:
    p = captured()
    p.change((S, ".38", "40"))  # crossed: .40 x 210.25 and .39 x 55.5 sit above the .38 ask
    fak = p.order(B, ".39", "20", FAK)
    assert fak.filled == 0
    assert fak.reject_reason == "no liquidity at the limit price"
    fok = p.order(B, ".40", "10", FOK)
    assert fok.filled == 0 and fok.status is OrderStatus.CANCELLED
    p.change((S, ".38", "400"))  # now 400 > 210.25 + 55.5 + 120: 14.25 left for us
    big = p.order(B, ".38", "30", FAK)
    assert big.filled == sh("14.25")


@settings(max_examples=150, deadline=None)
@given(
    queue=st.integers(0, 3000),
    better=st.integers(0, 2000),
    crossing=st.lists(st.tuples(st.integers(35, 40), st.integers(1, 3000)), min_size=1, max_size=4),
    size=st.integers(5, 500),
)
def test_property_a_crossing_never_beats_the_orders_displayed_ahead(
    queue: int, better: int, crossing: list[tuple[int, int]], size: int
) -> None:
    p = Paper()
    bids = [(".38", "100")]
    if queue:
        bids.append((".40", str(queue)))
    if better:
        bids.append((".41", str(better)))
    p.book(bids, ASKS)
    o = p.order(B, ".40", str(size))
    ahead = o.queue_ahead
    # The most crossing volume the book ever showed at or below our price: an order first in
    # line may fill from an earlier, larger crossing that a later update shrinks.
    total = 0
    book = p.v.books.get(TOKEN)
    for cents, qty in crossing:
        p.change((S, f".{cents}", str(qty)))
        total = max(total, sum(s for price, s in book.levels(S) if price <= 400_000))
    if better:
        assert o.filled == 0
    else:
        assert o.filled <= max(0, total - ahead)
    assert all(f.fill_reason == "maker_cross" for f in p.v.listener.fills)


# ============================================================================ 6. smaller cases
def test_post_only_with_fak_or_fok_is_refused_as_the_venue_refuses_it() -> None:
    p = captured()
    for tif in (FAK, FOK):
        o = p.order(B, ".30", "10", tif, post_only=True)  # would not even cross
        assert o.status is OrderStatus.REJECTED
        assert o.reject_reason == f"post-only is not allowed with {tif.value} orders"
    ok = p.order(B, ".30", "10", GTC, post_only=True)
    assert ok.status is OrderStatus.OPEN


def test_two_orders_of_one_strategy_at_one_price_share_a_print_without_starving() -> None:
    p = captured()
    first = p.order(B, ".40", "10")
    second = p.order(B, ".40", "10")
    assert first.queue_ahead == second.queue_ahead == sh("210.25")
    p.trade(".40", "225.25", S)  # 15 beyond the displayed queue
    assert first.filled == sh("10")
    assert second.filled == sh("5")
    p.trade(".40", "7", S)
    assert second.filled == sh("10")


def test_a_level_the_strategy_took_is_not_refilled_by_a_re_sent_update() -> None:
    p = Paper()
    p.book(BIDS, [(".42", "11"), (".43", "64.1")])
    took = 0
    for _ in range(3):
        o = p.order(B, ".42", "30", FAK)
        took += o.filled
        p.change((S, ".42", "11"))  # the venue re-sends the level (another order there moved)
        p.change((S, ".42", "10"))
        p.change((S, ".42", "11"))
    assert took == sh("11")  # never more than the level ever showed
    p.change((S, ".42", "25"))  # 14 more than it showed when we took it
    assert p.order(B, ".42", "30", FAK).filled == sh("14")


def test_a_book_update_before_its_print_does_not_fill_an_order_behind_the_queue() -> None:
    p = captured()
    o = p.order(B, ".40", "50")  # 210.25 ahead
    # The venue reports the level shrinking first, then the trade that shrank it.
    p.change((B, ".40", "60.25"))
    p.trade(".40", "150", S)
    assert o.filled == 0
    assert o.queue_ahead == sh("60.25")
    # The level emptied by a trade reported late: still no fill from that trade.
    p.change((B, ".40", "0"))
    p.trade(".40", "60.25", S)
    assert o.filled == 0
    # A later print at our price is new volume, and we are first.
    p.trade(".40", "20", S)
    assert o.filled == sh("20")


def test_a_removal_long_before_a_print_counts_as_a_cancel() -> None:
    p = captured()
    o = p.order(B, ".40", "50")
    p.change((B, ".40", "10.25"))  # 200 cancelled
    for _ in range(40):  # 4 s of unrelated updates
        p.change((B, ".30", "5"))
    p.trade(".40", "30", S)
    # 200 of 210.25 cancelled, all of it ahead of us in proportion: 10.25 left ahead
    assert o.queue_ahead == 0
    assert o.filled == sh("19.75")
