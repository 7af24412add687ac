"""Favorite-longshot / endgame on crafted books: window, thresholds, kelly sizing, exits."""

from __future__ import annotations

from services.instruments import Side
from services.money import MICRO, floor_lot
from services.strategies.favorite_longshot import FavoriteLongshot
from tests.strategies.directional_helpers import path
from tests.strategies.harness import START, Harness, binary, px, sh, with_params

END = START + 2000.0


def setup(**params: object) -> Harness:
    h = Harness(with_params(FavoriteLongshot, **params))
    h.list(*binary(end_ts=END))
    return h


def test_buys_the_favorite_only_inside_the_window_and_holds_to_resolution() -> None:
    h = setup()
    path(h, [90] * 10, dt=5)  # still 1950 s from the end, outside the 900 s window
    h.wait(1040)
    path(h, [90], dt=5)  # 905 s from the end: not yet
    assert h.orders() == []
    path(h, [90], dt=5, size=1000)  # now 900 s from the end
    buy = h.orders()[0]
    assert (buy.instrument_id, buy.side, buy.price) == ("Y1", Side.BUY, px(0.91))
    # Quarter Kelly with p = 0.91 + 0.02: f* = 0.02 / 0.09, a quarter of it of 10,000 USD is
    # 555.56 USD, capped by the 200 USD of max_notional_usd: 219.78 shares at 0.91.
    assert buy.size == sh("219.78")
    assert "endgame: favorite YES" in buy.reason and "longshot NO" in buy.reason
    path(h, [90] * 50, dt=5)
    assert len(h.orders()) == 1  # one position per market, held
    h.resolve("M1", ("Y1", 1), ("N1", 0), dt=1)
    assert h.pnl() == sh("219.78") * 9 // 100


def test_buys_no_when_no_is_the_favorite_and_respects_max_price() -> None:
    h = setup(window_s=1999)
    path(h, [8], dt=5)  # YES at 0.08: NO is the favorite at 0.92
    assert [(o.instrument_id, o.price) for o in h.orders()] == [("N1", px(0.93))]
    h2 = setup(window_s=1999)
    path(h2, [97], dt=5)  # favorite ask 0.98 > max_price 0.97
    assert h2.orders() == []
    h3 = setup(window_s=1999)
    path(h3, [75], dt=5)  # 0.75 < min_prob 0.80
    assert h3.orders() == []


def test_no_entry_in_the_last_seconds_and_stop_loss_exit() -> None:
    h = setup(window_s=1999)
    h.wait(1985)  # 10 s before the end: inside no_entry_before_end_s
    path(h, [90], dt=5)
    assert h.orders() == []
    h2 = setup(window_s=1999)
    path(h2, [90], dt=5)
    assert len(h2.orders()) == 1
    path(h2, [52], dt=5)  # the favorite collapsed: its bid 0.51 < stop 0.55
    sell = h2.orders()[1]
    assert sell.side is Side.SELL and "favorite collapsed" in sell.reason
    assert h2.qty("Y1") == 0 and h2.pnl() < 0


def test_kelly_sizing_with_fees_and_fixed_sizing() -> None:
    h = setup(window_s=1999, sizing={"max_notional_usd": 100000, "max_cash_fraction": 1})
    path(h, [90], dt=5, size=1000)
    # uncapped quarter Kelly: 0.25 * (0.93 - 0.91) / 0.09 of 10,000 USD = 555.56 USD at 0.91
    stake = int(0.25 * (0.93 - 0.91) / (1 - 0.91) * 10_000 * MICRO)
    assert h.orders()[0].size == floor_lot(stake * MICRO // px(0.91)) == sh("610.5")
    h2 = setup(window_s=1999, sizing={"mode": "fixed_shares", "shares": 12})
    path(h2, [90], dt=5)
    assert h2.orders()[0].size == sh(12)
