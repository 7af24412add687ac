"""Market maker on crafted books: two-sided post-only quotes, requotes, skew, limits, exits."""

from __future__ import annotations

from services.instruments import Side
from services.money import LOT
from services.strategies.market_maker import MarketMaker
from tests.strategies.harness import START, Harness, binary, px, sh, with_params


def mm(**params: object) -> MarketMaker:
    return with_params(MarketMaker, **{"half_spread_ticks": 1, **params})  # type: ignore[return-value]


def market(h: Harness, yes_bid: float, yes_ask: float, n: int = 1, **kw: object) -> None:
    y, no = binary(n, **kw)  # type: ignore[arg-type]
    h.list(y, no)
    quote(h, yes_bid, yes_ask, n)
    h.wait(1)  # the NO book arrived after the YES book: the timer quotes the market


def quote(h: Harness, yes_bid: float, yes_ask: float, n: int = 1, dt: float = 0.0) -> None:
    h.books(
        (f"Y{n}", [(yes_bid, 200)], [(yes_ask, 200)]),
        (f"N{n}", [(round(1 - yes_ask, 3), 200)], [(round(1 - yes_bid, 3), 200)]),
        dt=dt,
    )


def working(h: Harness) -> set[tuple[str, Side, int, int]]:
    return {(o.instrument_id, o.side, o.price, o.size) for o in h.active()}


def test_quotes_both_sides_post_only_around_the_mid() -> None:
    h = Harness(mm())
    market(h, 0.48, 0.52)
    assert working(h) == {("Y1", Side.BUY, px(0.49), sh(25)), ("N1", Side.BUY, px(0.49), sh(25))}
    assert all(o.post_only for o in h.active())
    reasons = sorted(o.reason for o in h.active())
    assert "bid NO 0.490 (= offer YES 0.510)" in reasons[0]
    assert "bid YES 0.490, mid 0.500" in reasons[1]


def test_requotes_when_the_mid_moves_and_not_otherwise() -> None:
    h = Harness(mm())
    market(h, 0.48, 0.52)
    first = {o.order_id for o in h.active()}
    quote(h, 0.48, 0.52, dt=1)  # same book: keep the quotes
    h.delta("Y1", (Side.BUY, 0.48, 350), dt=1)  # size only
    assert {o.order_id for o in h.active()} == first
    quote(h, 0.52, 0.56, dt=1)
    assert working(h) == {("Y1", Side.BUY, px(0.53), sh(25)), ("N1", Side.BUY, px(0.45), sh(25))}
    assert all(o.order_id not in first for o in h.active())
    assert any("requote" in (o.reject_reason or "") for o in h.orders() if o.order_id in first)


def test_a_stale_quote_the_book_moves_through_fills_as_maker() -> None:
    h = Harness(mm())
    market(h, 0.48, 0.52)
    h.books(("N1", [(0.44, 200)], [(0.48, 200)]), dt=1)  # NO offered below our 0.49 NO bid
    assert h.qty("N1") == sh(25)
    assert {f.liquidity for f in h.fills()} == {"maker"} and h.pf().fees == 0


def test_inventory_skews_quotes_and_is_offered_back() -> None:
    h = Harness(mm(max_inventory_shares=100, skew_ticks=4))
    market(h, 0.48, 0.52)
    h.trade("Y1", 0.48, 25, Side.SELL, dt=1)  # a seller trades through our 0.49 bid
    assert h.qty("Y1") == sh(25)
    # net +25 of 100 -> shift down one tick: bid 0.48, offer the YES we hold at 0.50
    assert working(h) == {("Y1", Side.BUY, px(0.48), sh(25)), ("Y1", Side.SELL, px(0.50), sh(25))}
    sell = next(o for o in h.active() if o.side is Side.SELL)
    assert "offer YES 0.500 from inventory" in sell.reason


def test_stops_buying_at_max_inventory() -> None:
    h = Harness(mm(max_inventory_shares=25, skew_ticks=0))
    market(h, 0.48, 0.52)
    h.trade("Y1", 0.48, 30, Side.SELL, dt=1)
    assert h.qty("Y1") == sh(25)
    sides = {(o.instrument_id, o.side) for o in h.active()}
    assert sides == {("Y1", Side.SELL)}  # no more YES bids at the limit


def test_stays_out_of_wide_books_and_cancels_when_they_widen() -> None:
    h = Harness(mm(max_spread_ticks=10))
    market(h, 0.30, 0.60)
    assert h.orders() == []
    quote(h, 0.45, 0.50, dt=1)
    assert len(h.active()) == 2
    quote(h, 0.30, 0.60, dt=1)
    assert h.active() == []


def test_cancels_and_stops_before_the_market_ends() -> None:
    h = Harness(mm(stop_before_end_s=60))
    market(h, 0.48, 0.52, end_ts=START + 100)
    assert len(h.active()) == 2
    h.wait(45)
    assert h.active() == []
    assert all("ends soon" in (o.reject_reason or "") for o in h.orders())
    quote(h, 0.40, 0.44, dt=1)
    assert h.active() == []
    h2 = Harness(mm(stop_before_end_s=60))
    market(h2, 0.48, 0.52, end_ts=START + 30)  # listed already inside the window
    assert h2.orders() == []


def test_max_markets_and_universe() -> None:
    h = Harness(mm(max_markets=1))
    market(h, 0.48, 0.52, n=1)
    market(h, 0.38, 0.42, n=2)
    assert {o.instrument_id for o in h.active()} == {"Y1", "N1"}
    h2 = Harness(mm(universe={"mode": "categories", "categories": ["sports"]}))
    market(h2, 0.48, 0.52, n=1, category="politics")
    market(h2, 0.48, 0.52, n=2, category="sports")
    assert {o.instrument_id for o in h2.active()} == {"Y2", "N2"}
    h3 = Harness(mm(universe={"mode": "filter", "min_top_depth_shares": 1000}))
    market(h3, 0.48, 0.52)  # 400 shares at the top: too thin for this filter
    assert h3.orders() == []


def test_fine_tick_grid_and_minimum_size() -> None:
    h = Harness(mm(half_spread_ticks=2))
    y, n = binary(tick=1_000)
    h.list(y, n)
    h.books(("N1", [(0.511, 200)], [(0.519, 200)]), ("Y1", [(0.481, 200)], [(0.489, 200)]))
    assert len(h.active()) == 2  # NO book first: quoted at once
    assert working(h) == {("Y1", Side.BUY, px(0.483), sh(25)), ("N1", Side.BUY, px(0.513), sh(25))}
    assert all(o.price % 1_000 == 0 and o.size % LOT == 0 for o in h.active())
    h2 = Harness(mm(sizing={"shares": 2}))  # below the market's 5-share minimum
    market(h2, 0.48, 0.52)
    assert h2.orders() == []
