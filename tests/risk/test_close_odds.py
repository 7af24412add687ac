"""Closing backed and laid positions on a Betfair-shaped odds ladder: close, exits, kill switch.

A back is the SELL side and a lay the BUY side; positions are in payout units (back ``S`` at
``O``: ``+S*O`` units for ``S`` cash). A back is closed by a lay sized ``units / odds`` at the best
"available to lay" (rounded down to the 0.01 lot: never more units than held), a lay by a back at
the best "available to back". Every figure is worked out by hand, to the micro-unit.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from services.events import MarketListed
from services.execution.orders import OrderStatus, TimeInForce
from services.fees import NetWinningsCommission
from services.instruments import Instrument, Side
from services.intents import Intent
from services.ladder import BETFAIR_ODDS
from services.money import to_micro
from services.risk.actions import close_plan
from services.risk.kill_switch import TradingState
from tests.execution.fake_async import fake_async
from tests.risk.conftest import T0, Harness, make_config, make_harness

A = "1.300:7"


def m(x: str) -> int:
    """Decimal string (odds or GBP) to micro."""
    return to_micro(Decimal(x))


def runner() -> Instrument:
    return Instrument(
        instrument_id=A,
        venue="betfair",
        market_id="1.300",
        outcome="Alpha",
        tick=BETFAIR_ODDS.min_increment,
        min_size=m("1"),
        fees=NetWinningsCommission(Decimal("0.05")),
        end_ts=T0 + 86_400,
        ladder=BETFAIR_ODDS,
        lot=m("0.01"),
        currency="GBP",
        allows_short=True,
    )


def gbp_harness(capital: str = "1000", extra: dict[str, Any] | None = None, **kw: Any) -> Harness:
    """Two idle GBP strategies (``strategies[].currency``) and runner A listed with a book."""
    entries = [
        {"name": n, "class": "MarketMaker", "currency": "GBP", "capital_usd": capital}
        for n in ("s1", "s2")
    ]
    h = make_harness(make_config({"strategies": entries, **(extra or {})}), **kw)
    h.engine.handle(MarketListed(h.clock.now(), (runner(),)))
    h.set_book(A, [(2.5, 500)], [(2.52, 500)])
    return h


def bet(h: Harness, strategy: str, side: Side, stake: str, odds: str) -> None:
    o = h.engine.submit(
        Intent(strategy, A, side, m(stake), m(odds), TimeInForce.FAK, False, "entry")
    )
    assert o is not None and o.status is OrderStatus.FILLED, o


def closes(h: Harness) -> list[Any]:
    return [o for o in h.engine.orders.values() if o.reduce_only]


def test_close_a_back_lays_it_off_at_the_best_lay_odds_without_over_closing() -> None:
    h = gbp_harness()
    bet(h, "s1", Side.SELL, "10", "2.5")  # back 10 at 2.5: +25 units for 10
    pf = h.pf("s1")
    assert (pf.qty(A), pf.cash) == (m("25"), m("990"))
    h.set_book(A, [(2.0, 100)], [(2.02, 100)])  # the horse shortens: the back is in profit
    out = h.safety.close_position("s1", A, "take the profit", "cli")
    (o,) = closes(h)
    # Lay 25 / 2.02 = 12.376... rounded down to 12.37 at 2.02: gives 24.9874 of the 25 units.
    assert (o.side, o.price, o.size, o.tif) == (Side.BUY, m("2.02"), m("12.37"), TimeInForce.FAK)
    assert o.status is OrderStatus.FILLED and o.avg_price == m("2.02")
    assert "laid 12.37 of 12.37 GBP at 2.0200 (filled)" in out
    assert pf.qty(A) == m("25") - m("24.9874") == m("0.0126")
    assert pf.cash == m("990") + m("12.37")
    # Basis of the 24.9874 units closed: 10 * 24.9874 / 25 = 9.99496; proceeds 12.37.
    assert pf.realized_pnl == m("12.37") - m("9.99496")
    assert pf.positions[A].cost_basis == m("10") - m("9.99496")
    assert pf.short_liability == 0
    pf.check_ledger()
    # What is left is below one lot of stake: nothing more can be sent.
    assert not h.safety.closeable("s1", A)


def test_close_a_lay_backs_it_and_a_short_is_not_no_position() -> None:
    h = gbp_harness()
    bet(h, "s1", Side.BUY, "10", "2.52")  # lay 10 at 2.52: -25.2 units, +10 cash
    pf = h.pf("s1")
    assert (pf.qty(A), pf.cash, pf.short_liability) == (-m("25.2"), m("1010"), m("25.2"))
    h.set_book(A, [(3.0, 100)], [(3.05, 100)])  # the horse drifts: the lay is in profit
    out = h.safety.close_position("s1", A, "green up", "cli")
    (o,) = closes(h)
    # Back 25.2 / 3.0 = 8.4 at 3.0: +25.2 units, flat.
    assert (o.side, o.price, o.size) == (Side.SELL, m("3"), m("8.4"))
    assert "backed 8.40 of 8.40 GBP at 3.0000 (filled)" in out
    assert A not in pf.positions and pf.short_liability == 0
    assert pf.cash == m("1010") - m("8.4")
    assert pf.realized_pnl == m("10") - m("8.4")
    pf.check_ledger()


def test_closing_a_back_needs_no_cash_when_it_all_went_into_the_bet() -> None:
    """A lay that closes a back only gives units back: it must not be refused for liability."""
    h = gbp_harness(capital="20")
    bet(h, "s1", Side.SELL, "20", "2.5")  # all 20 GBP backed: +50 units, no cash left
    pf = h.pf("s1")
    assert (pf.cash, pf.available_cash) == (0, 0)
    h.set_book(A, [(2.48, 100)], [(2.5, 100)])
    h.safety.close_position("s1", A, "out", "cli")
    assert A not in pf.positions  # lay 20 at 2.5: -50 units, +20
    assert pf.cash == m("20") and pf.realized_pnl == 0
    pf.check_ledger()


def test_kill_switch_flattens_a_back_and_a_lay_then_halts() -> None:
    h = gbp_harness()
    bet(h, "s1", Side.SELL, "10", "2.5")  # s1 backed: +25 units
    bet(h, "s2", Side.BUY, "10", "2.52")  # s2 laid: -25.2 units
    h.set_book(A, [(2.4, 100)], [(2.5, 100)])
    h.safety.activate_kill_switch("risk check", "cli", flatten=True)
    assert h.safety.kill.state is TradingState.REDUCING
    by = {o.strategy: o for o in closes(h)}
    # s1: lay 25 / 2.5 = 10 at 2.5 (flat). s2: back 25.2 / 2.4 = 10.5 at 2.4 (flat).
    assert (by["s1"].side, by["s1"].size, by["s1"].price) == (Side.BUY, m("10"), m("2.5"))
    assert (by["s2"].side, by["s2"].size, by["s2"].price) == (Side.SELL, m("10.5"), m("2.4"))
    p1, p2 = h.pf("s1"), h.pf("s2")
    assert p1.positions == {} and p2.positions == {}
    assert (p1.cash, p1.realized_pnl) == (m("1000"), 0)  # backed 10 at 2.5, laid 10 at 2.5
    assert (p2.cash, p2.realized_pnl) == (m("1010") - m("10.5"), -m("0.5"))
    assert p2.short_liability == 0
    p1.check_ledger()
    p2.check_ledger()
    h.at(T0 + 1)
    assert h.safety.kill.state is TradingState.HALTED
    assert h.writer.events("kill_switch")[-1]["message"].startswith(
        "Kill switch REDUCING -> HALTED: nothing left to close"
    )


def _exits(rules: dict[str, Any]) -> dict[str, Any]:
    return {"exits": {"enabled": True, "check_interval_s": 1, "rules": rules}}


def test_stop_loss_on_a_back_compares_implied_probabilities() -> None:
    """Entry of a back at 2.5 is 0.4 a unit; a 10 % stop fires at 0.36, mid odds 2.7778."""
    h = gbp_harness(extra=_exits({"stop_loss_pct": 10}))
    bet(h, "s1", Side.SELL, "10", "2.5")
    assert h.pf("s1").positions[A].avg_price == m("0.4")
    h.set_book(A, [(2.7, 100)], [(2.76, 100)])  # mid 2.73: implied 0.3663, 8.4 % down
    h.at(T0 + 2)
    assert closes(h) == []
    h.set_book(A, [(2.76, 100)], [(2.8, 100)])  # mid 2.78: implied 0.3597, 10.07 % down
    h.at(T0 + 4)
    (o,) = closes(h)
    # Lay 25 / 2.8 = 8.928... -> 8.92 at 2.8: gives 24.976 units.
    assert (o.side, o.size, o.price, o.status) == (
        Side.BUY,
        m("8.92"),
        m("2.8"),
        OrderStatus.FILLED,
    )
    ev = h.writer.events("exit")[-1]
    assert ev["message"].startswith("s1 exit stop_loss") or "stop_loss" in ev["message"]
    assert (
        "mid odds 2.78 (implied 0.3597) is 10.07% below entry 2.50 (implied 0.4)" in ev["message"]
    )
    pf = h.pf("s1")
    assert pf.qty(A) == m("25") - m("24.976")
    assert pf.cash == m("990") + m("8.92")
    pf.check_ledger()


def test_stop_loss_on_a_lay_fires_when_the_odds_shorten() -> None:
    """A lay at 2.52 (0.3968 a unit) loses when the implied probability rises above entry."""
    h = gbp_harness(extra=_exits({"stop_loss_pct": 10}))
    bet(h, "s1", Side.BUY, "10", "2.52")
    h.set_book(A, [(2.5, 100)], [(2.6, 100)])  # mid 2.55: the lay is slightly in profit
    h.at(T0 + 2)
    assert closes(h) == []
    h.set_book(A, [(2.24, 100)], [(2.26, 100)])  # mid 2.25: implied 0.4444, 12 % above 0.3968
    h.at(T0 + 4)
    (o,) = closes(h)
    # Back 25.2 / 2.24 = 11.25 at 2.24: +25.2 units, flat; cost 11.25 against 10 received.
    assert (o.side, o.size, o.price) == (Side.SELL, m("11.25"), m("2.24"))
    pf = h.pf("s1")
    assert A not in pf.positions and pf.realized_pnl == -m("1.25")
    pf.check_ledger()


def test_close_plan_on_polymarket_is_a_market_sell_of_what_is_available() -> None:
    h = make_harness()
    plan = close_plan(m("10.005"), m("10.005"), h.yes, None)
    assert not isinstance(plan, str)
    assert (plan.side, plan.size, plan.price) == (Side.SELL, m("10"), None)


def test_no_price_to_close_at_is_reported_and_the_flatten_retries() -> None:
    h = gbp_harness(extra={"kill_switch_options": {"flatten_retry_s": 2}})
    bet(h, "s1", Side.SELL, "10", "2.5")
    h.set_book(A, [(2.4, 100)], [])  # nobody offers a lay
    out = h.safety.close_position("s1", A, "out", "cli")
    assert "no price to lay at" in out
    h.safety.activate_kill_switch("stop", "cli", flatten=True)
    assert h.safety.kill.state is TradingState.REDUCING and closes(h) == []
    h.set_book(A, [(2.4, 100)], [(2.5, 100)], T0 + 1)
    h.at(T0 + 3)
    assert h.pf("s1").positions == {}


def test_kill_switch_flattens_a_back_through_the_asynchronous_venue() -> None:
    make = fake_async()
    h = gbp_harness(client=make)
    h.set_book(A, [(2.5, 500)], [(2.52, 500)], T0)
    o = h.engine.submit(Intent("s1", A, Side.SELL, m("10"), m("2.5"), TimeInForce.FAK, False, "e"))
    assert o is not None and o.status is OrderStatus.PENDING
    h.at(T0 + 1)  # accepted
    h.at(T0 + 2)  # filled: back 10 at 2.5
    pf = h.pf("s1")
    assert pf.qty(A) == m("25")
    h.set_book(A, [(2.48, 100)], [(2.5, 100)], T0 + 2)
    h.safety.activate_kill_switch("venue trouble", "cli", flatten=True)
    (c,) = closes(h)
    assert (c.side, c.size, c.price, c.status) == (Side.BUY, m("10"), m("2.5"), OrderStatus.PENDING)
    assert pf.qty(A) == m("25")  # nothing filled yet
    h.at(T0 + 3)
    h.at(T0 + 4)
    assert c.status is OrderStatus.FILLED
    assert pf.positions == {} and (pf.cash, pf.realized_pnl, pf.fees) == (m("1000"), 0, 0)
    pf.check_ledger()
    events = [e["message"] for e in h.writer.events("close_outcome")]
    assert any("laid 10.00 of 10.00 GBP at 2.5000 (filled)" in e for e in events), events
    h.at(T0 + 6)
    assert h.safety.kill.state is TradingState.HALTED


def test_closing_orders_on_odds_are_not_rate_limited_like_market_exits() -> None:
    h = gbp_harness(extra={"risk": {"limits": {"max_orders_per_s": 1}}})
    bet(h, "s1", Side.SELL, "10", "2.5")  # the one order of this second
    h.set_book(A, [(2.48, 100)], [(2.5, 100)])
    assert (
        h.engine.submit(
            Intent("s1", A, Side.SELL, m("1"), m("2.48"), TimeInForce.FAK, False, "entry")
        )
        is None
    )  # an entry is limited
    h.safety.close_position("s1", A, "out", "cli")
    assert h.pf("s1").positions == {}


def test_two_working_closes_cannot_together_flip_a_back() -> None:
    """On a venue whose fills come later, a second close while the first works is refused:
    each alone reduces the back, both would lay 50 units against 25 (a short with nothing held
    for its liability)."""
    h = gbp_harness(client=fake_async())
    h.set_book(A, [(2.5, 500)], [(2.52, 500)], T0)
    o = h.engine.submit(Intent("s1", A, Side.SELL, m("10"), m("2.5"), TimeInForce.FAK, False, "e"))
    assert o is not None
    h.at(T0 + 1)
    h.at(T0 + 2)
    pf = h.pf("s1")
    assert pf.qty(A) == m("25")
    h.set_book(A, [(2.48, 100)], [(2.5, 100)], T0 + 2)
    first = h.safety.close_position("s1", A, "out", "cli")
    assert "sent to lay 10.00 GBP" in first
    lay = Intent("s1", A, Side.BUY, m("10"), m("2.5"), TimeInForce.FAK, False, "again", True)
    second = h.engine.submit(lay)
    assert second is not None and second.status is OrderStatus.REJECTED
    assert second.reject_reason == (
        "reduce-only order would not reduce the position: -25.00 units against 25.00 held, "
        "of which 25.00 are already being closed by working orders"
    )
    h.at(T0 + 3)
    h.at(T0 + 4)
    assert pf.positions == {} and pf.short_liability == 0 and pf.available_cash == m("1000")
    pf.check_ledger()


def test_trailing_stop_on_a_lay_follows_the_lowest_implied_probability() -> None:
    h = gbp_harness(extra=_exits({"trailing_stop_pct": 10}))
    bet(h, "s1", Side.BUY, "10", "2.52")  # lay: entry 10 / 25.2 = 0.396825 a unit
    h.set_book(A, [(2.98, 100)], [(3.02, 100)])  # mid 3.0: implied 0.333333, the low
    h.at(T0 + 2)
    h.set_book(A, [(2.76, 100)], [(2.8, 100)])  # mid 2.78: 0.359712, 7.9 % above the low
    h.at(T0 + 4)
    assert closes(h) == []
    h.set_book(A, [(2.68, 100)], [(2.72, 100)])  # mid 2.7: 0.370370, 11.1 % above the low
    h.at(T0 + 6)
    (o,) = closes(h)
    # Back 25.2 / 2.68 = 9.402... -> 9.40 at 2.68: +25.192 units, 0.008 stay short.
    assert (o.side, o.size, o.price) == (Side.SELL, m("9.4"), m("2.68"))
    assert "is 11.11% above its low 0.3333" in h.writer.events("exit")[-1]["message"]
    pf = h.pf("s1")
    assert pf.qty(A) == -m("0.008") and pf.short_liability == m("0.008")
    assert pf.cash == m("1010") - m("9.4")
    pf.check_ledger()


def test_take_profit_on_a_back_when_the_odds_shorten() -> None:
    h = gbp_harness(extra=_exits({"take_profit_pct": 20}))
    bet(h, "s1", Side.SELL, "10", "2.5")  # entry 0.4 a unit
    h.set_book(A, [(2.08, 100)], [(2.1, 100)])  # mid 2.09: 0.478468, 19.6 % up
    h.at(T0 + 2)
    assert closes(h) == []
    h.set_book(A, [(2.06, 100)], [(2.08, 100)])  # mid 2.07: 0.483091, 20.8 % up
    h.at(T0 + 4)
    (o,) = closes(h)
    # Lay 25 / 2.08 = 12.019... -> 12.01 at 2.08: gives 24.9808 units for 12.01.
    assert (o.side, o.size, o.price) == (Side.BUY, m("12.01"), m("2.08"))
    pf = h.pf("s1")
    assert pf.qty(A) == m("25") - m("24.9808")
    assert pf.cash == m("990") + m("12.01")
    pf.check_ledger()
