"""Tail value on crafted thin, extreme books: acts on dips below the recent mid, exits."""

from __future__ import annotations

from services.instruments import Side
from services.strategies.tail_value import TailValue
from tests.strategies.harness import Harness, binary, px, sh, with_params


def thin_market(h: Harness, bid: float, ask: float, size: float = 250, dt: float = 1.0) -> None:
    h.books(
        ("Y1", [(bid, size)], [(ask, size)]),
        ("N1", [(round(1 - ask, 3), size)], [(round(1 - bid, 3), size)]),
        dt=dt,
    )


def setup(size: float = 250, **params: object) -> Harness:
    h = Harness(with_params(TailValue, **params))
    h.list(*binary(tick=1_000))
    for _ in range(25):
        thin_market(h, 0.049, 0.051, size)
    return h


def test_buys_a_dip_in_a_thin_extreme_book_and_sells_when_it_recovers() -> None:
    h = setup()
    assert h.orders() == []
    thin_market(h, 0.040, 0.045)  # the ask dips 5 ticks under the ~0.050 recent mid
    buy = h.orders()[0]
    assert (buy.instrument_id, buy.side, buy.price) == ("Y1", Side.BUY, px(0.045))
    assert buy.size == sh("222.22")  # 10 USD at 0.045: a small position
    assert "tail value" in buy.reason and "below its recent mid" in buy.reason
    thin_market(h, 0.049, 0.051)  # bid 0.049 is still under the average: hold
    assert len(h.orders()) == 1
    thin_market(h, 0.050, 0.052)
    sell = h.orders()[1]
    assert sell.side is Side.SELL and "mispricing closed" in sell.reason
    assert h.pnl() == sh("222.22") * 5 // 1000  # 0.045 -> 0.050


def test_stays_out_of_deep_books_mid_prices_and_small_dips() -> None:
    h = setup(size=500)  # 1000 shares at the top: not thin
    thin_market(h, 0.040, 0.045, size=500)
    assert h.orders() == []
    h2 = Harness(with_params(TailValue))
    h2.list(*binary(tick=1_000))
    for _ in range(25):
        thin_market(h2, 0.499, 0.501)
    thin_market(h2, 0.480, 0.485)  # a dip, but not an extreme price
    assert h2.orders() == []
    h3 = setup()
    thin_market(h3, 0.047, 0.048)  # only 2 ticks under the average
    assert h3.orders() == []


def test_buys_no_when_the_no_side_dips_and_stop_loss() -> None:
    h = Harness(with_params(TailValue, stop_loss_ticks=5))
    h.list(*binary(tick=1_000))
    for _ in range(25):
        thin_market(h, 0.949, 0.951)  # YES near 0.95: NO near 0.05
    h.books(("N1", [(0.040, 100)], [(0.044, 100)]), dt=1)
    buy = h.orders()[0]
    assert (buy.instrument_id, buy.price) == ("N1", px(0.044)) and "thin NO ask" in buy.reason
    h.books(("N1", [(0.030, 100)], [(0.034, 100)]), dt=1)  # it keeps falling: stop out
    sell = h.orders()[1]
    assert sell.instrument_id == "N1" and "stop loss" in sell.reason
