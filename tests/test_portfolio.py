"""Tests for services/portfolio.py: exact ledger, P&L identity, reservations, bets.

Reference totals are computed independently in the tests (from the fills themselves), so the
ledger check cannot pass just because the portfolio agrees with its own counters.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from services.events import BookDelta, BookSnapshot, TradePrint
from services.execution.orders import Fill, Order, OrderStatus, TimeInForce
from services.execution.simulated import SimulatedExchange
from services.instruments import FeeSchedule, Instrument, Side
from services.money import LOT, MICRO, notional, taker_fee, to_micro
from services.orderbook import BookStore
from services.portfolio import LedgerError, Portfolio

B, S = Side.BUY, Side.SELL
RATE = Decimal("0.02")
START = to_micro("1000")


def inst(
    iid: str,
    market: str = "m1",
    complement: str | None = None,
    event: str | None = None,
    rate: Decimal = RATE,
) -> Instrument:
    return Instrument(
        instrument_id=iid,
        venue="sim",
        market_id=market,
        outcome=iid,
        tick=10_000,
        min_size=LOT,
        fees=FeeSchedule(rate=rate),
        complement_id=complement,
        event_id=event,
    )


YES = inst("yes", complement="no")
NO = inst("no", complement="yes")
OTHER = inst("other", market="m2")
EV_A = inst("ev-a", market="ma", event="ev")
EV_B = inst("ev-b", market="mb", event="ev")
EV_C = inst("ev-c", market="mc", event="ev")
INSTRUMENTS = {i.instrument_id: i for i in (YES, NO, OTHER, EV_A, EV_B, EV_C)}


class Fills:
    """Builds fills with taker fees per the instrument schedule, numbered in order."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(
        self, iid: str, side: Side, size: str, price: str, maker: bool = False, ts: float = 0.0
    ) -> Fill:
        self.n += 1
        q, p = to_micro(size), to_micro(price)
        fees = INSTRUMENTS[iid].fees
        fee = 0 if maker else taker_fee(q, p, fees.rate, fees.exponent)
        return Fill(self.n, self.n, "s", iid, side, p, q, fee, "maker" if maker else "taker", ts)


def order(
    side: Side, price: str, size: str, iid: str = "yes", oid: int = 1, filled: int = 0
) -> Order:
    return Order(oid, "s", iid, side, to_micro(price), to_micro(size), filled=filled)


def marks(values: dict[str, str]) -> dict[str, int]:
    return {k: to_micro(v) for k, v in values.items()}


# ============================================================================ ledger
def test_buy_then_partial_sell_then_settle() -> None:
    pf = Portfolio("s", START)
    fill = Fills()
    buy = fill("yes", B, "100", "0.40")
    assert buy.fee == to_micro("0.48")  # 100 * 0.02 * 0.4 * 0.6
    assert pf.apply_fill(buy, YES) == 0
    assert pf.cash == to_micro("959.52")  # 1000 - 40 - 0.48
    assert pf.qty("yes") == to_micro("100")
    assert pf.positions["yes"].cost_basis == to_micro("40")
    assert pf.positions["yes"].avg_price == to_micro("0.40")
    pf.check_ledger()

    sell = fill("yes", S, "30", "0.50")  # fee 30 * 0.02 * 0.25 = 0.15
    realized = pf.apply_fill(sell, YES)
    assert realized == to_micro("3")  # 30 * (0.50 - 0.40)
    assert pf.cash == to_micro("959.52") + to_micro("15") - to_micro("0.15")
    assert pf.positions["yes"].cost_basis == to_micro("28")
    assert pf.realized_pnl == to_micro("3")
    pf.check_ledger()

    st_ = pf.settle("yes", MICRO, ts=5.0, settlement_id=1)
    assert st_ is not None
    assert (st_.size, st_.amount, st_.payout_per_share) == (to_micro("70"), to_micro("70"), MICRO)
    assert pf.realized_pnl == to_micro("3") + to_micro("42")
    assert pf.payouts == to_micro("70")
    assert "yes" not in pf.positions
    assert pf.fees == to_micro("0.63")
    assert pf.cash == START + to_micro("45") - to_micro("0.63")
    pf.check_ledger()
    assert pf.settle("yes", MICRO, ts=6.0, settlement_id=2) is None


def test_losing_settlement_pays_nothing() -> None:
    pf = Portfolio("s", START)
    fill = Fills()
    pf.apply_fill(fill("no", B, "10", "0.30", maker=True), NO)
    st_ = pf.settle("no", 0, ts=1.0, settlement_id=1)
    assert st_ is not None and st_.amount == 0
    assert pf.realized_pnl == -to_micro("3")
    assert pf.cash == START - to_micro("3")
    assert pf.losses == 1
    pf.check_ledger()


def test_check_ledger_detects_a_broken_ledger() -> None:
    pf = Portfolio("s", START)
    pf.apply_fill(Fills()("yes", B, "10", "0.50"), YES)
    pf.check_ledger()
    pf.cash += 1
    with pytest.raises(LedgerError, match="cash"):
        pf.check_ledger()
    pf.cash -= 1
    pf.reserved_cash = -1
    with pytest.raises(LedgerError, match="negative reservation"):
        pf.check_ledger()


def test_selling_more_than_held_is_a_ledger_error() -> None:
    pf = Portfolio("s", START)
    fill = Fills()
    pf.apply_fill(fill("yes", B, "10", "0.50"), YES)
    with pytest.raises(LedgerError, match="exceeds position"):
        pf.apply_fill(fill("yes", S, "10.01", "0.50"), YES)


def test_equity_identity_with_marks_and_unknown_marks() -> None:
    pf = Portfolio("s", START)
    fill = Fills()
    pf.apply_fill(fill("yes", B, "100", "0.40"), YES)
    pf.apply_fill(fill("other", B, "50", "0.70"), OTHER)
    pf.apply_fill(fill("yes", S, "40", "0.45"), YES)
    m = marks({"yes": "0.47"})  # "other" has no mark: valued at cost
    mark = m.get
    assert pf.market_value(mark) == notional(to_micro("60"), to_micro("0.47")) + to_micro("35")
    assert pf.unrealized_pnl(mark) == to_micro("60") * 7 // 100  # 60 * (0.47 - 0.40)
    assert pf.equity(mark) - START == pf.realized_pnl + pf.unrealized_pnl(mark) - pf.fees


# ============================================================================ reservations
@pytest.mark.parametrize(
    ("price", "expected"),
    [
        # fee at the worst price the order can fill at: 0.5 -> 100*0.02*0.25, plus the per-fill
        # rounding margin of half a fee quantum (5 micro) per 0.01-share lot: 0.05 on 100 shares
        ("0.60", "60.55"),
        ("0.30", "30.47"),  # fills at <= 0.30 pay at most the fee at 0.30: 100*0.02*0.21
        ("0.50", "50.55"),
    ],
)
def test_buy_reservation_includes_the_worst_fee(price: str, expected: str) -> None:
    pf = Portfolio("s", START)
    o = order(B, price, "100")
    assert pf.buy_reservation(o, YES) == to_micro(expected)
    o.filled = to_micro("100")
    assert pf.buy_reservation(o, YES) == 0


def test_reserve_and_release_cash() -> None:
    pf = Portfolio("s", START)
    o1 = order(B, "0.60", "100", oid=1)
    o2 = order(B, "0.30", "100", oid=2)
    pf.reserve(o1, YES)
    pf.reserve(o2, YES)
    assert pf.reserved_cash == to_micro("91.02")
    assert pf.available_cash == START - to_micro("91.02")
    pf.reserve(o1, YES)  # re-reserving replaces, never doubles
    assert pf.reserved_cash == to_micro("91.02")
    o1.filled = to_micro("40")
    pf.reserve(o1, YES)
    assert o1.reserved == to_micro("36.33")  # 60 * 0.60 + 60 * 0.02 * 0.25 + 6000 lots * 5 micro
    assert pf.reserved_cash == to_micro("36.33") + to_micro("30.47")
    pf.release(o1)
    pf.release(o1)  # idempotent
    pf.release(o2)
    assert pf.reserved_cash == 0
    assert (o1.reserved, o2.reserved) == (0, 0)
    assert pf.available_cash == START


def test_reserve_and_release_shares() -> None:
    pf = Portfolio("s", START)
    pf.apply_fill(Fills()("yes", B, "100", "0.40"), YES)
    s1 = order(S, "0.50", "60", oid=1)
    pf.reserve(s1, YES)
    assert pf.reserved_shares == {"yes": to_micro("60")}
    assert pf.available_qty("yes") == to_micro("40")
    assert pf.check_order(order(S, "0.50", "40.01", oid=2), YES) is not None
    assert pf.check_order(order(S, "0.50", "40", oid=2), YES) is None
    pf.release(s1)
    assert pf.reserved_shares == {}
    assert pf.available_qty("yes") == to_micro("100")


def test_check_order_rejects_unfunded_buys() -> None:
    pf = Portfolio("s", to_micro("50.55"))
    assert (
        pf.check_order(order(B, "0.50", "100"), YES) is None
    )  # exactly funded incl. fee and rounding margin
    msg = pf.check_order(order(B, "0.50", "100.01"), YES)
    assert msg is not None and msg.startswith("insufficient cash")
    pf.reserve(order(B, "0.10", "10", oid=9), YES)
    assert pf.check_order(order(B, "0.50", "100"), YES) is not None
    free = inst("free", rate=Decimal(0))
    assert Portfolio("s", to_micro("50")).check_order(order(B, "0.50", "100", "free"), free) is None


def test_check_order_rejects_naked_sells() -> None:
    pf = Portfolio("s", START)
    msg = pf.check_order(order(S, "0.50", "1"), YES)
    assert msg is not None and msg.startswith("insufficient shares")
    pf.apply_fill(Fills()("no", B, "5", "0.50"), NO)
    assert pf.check_order(order(S, "0.50", "1"), YES) is not None  # shares of another token
    assert pf.check_order(order(S, "0.50", "5", iid="no"), NO) is None


# ============================================================================ bets
def test_round_trip_win_and_loss_and_consecutive_losses() -> None:
    pf = Portfolio("s", START)
    fill = Fills()
    pf.apply_fill(fill("yes", B, "10", "0.40"), YES)
    pf.apply_fill(fill("yes", S, "5", "0.30"), YES)
    assert pf.round_trips == 0  # still open
    pf.apply_fill(fill("yes", S, "5", "0.30"), YES)
    assert (pf.wins, pf.losses, pf.consecutive_losses) == (0, 1, 1)
    pf.apply_fill(fill("other", B, "10", "0.40"), OTHER)
    pf.settle("other", 0, 1.0, 1)
    assert (pf.wins, pf.losses, pf.consecutive_losses) == (0, 2, 2)
    assert pf.win_rate == 0.0
    pf.apply_fill(fill("yes", B, "10", "0.40"), YES)
    pf.apply_fill(fill("yes", S, "10", "0.60"), YES)
    assert (pf.wins, pf.losses, pf.consecutive_losses) == (1, 2, 0)
    assert pf.win_rate == pytest.approx(1 / 3)
    assert Portfolio("x", START).win_rate is None


def test_fees_turn_a_small_gross_profit_into_a_loss() -> None:
    pricey = inst("pricey", market="mp", rate=Decimal("0.05"))
    pf = Portfolio("s", START)
    fee_buy = taker_fee(to_micro("100"), to_micro("0.50"), pricey.fees.rate)  # 1.25
    fee_sell = taker_fee(to_micro("100"), to_micro("0.51"), pricey.fees.rate)  # 1.2495
    pf.apply_fill(Fill(1, 1, "s", "pricey", B, 500_000, 100 * MICRO, fee_buy, "taker", 0.0), pricey)
    pf.apply_fill(
        Fill(2, 2, "s", "pricey", S, 510_000, 100 * MICRO, fee_sell, "taker", 1.0), pricey
    )
    assert pf.realized_pnl == to_micro("1")
    assert pf.fees == to_micro("2.4995")
    assert (pf.wins, pf.losses, pf.consecutive_losses) == (0, 1, 1)
    pf.check_ledger()


def test_breakeven_bet_counts_as_a_loss() -> None:
    pf = Portfolio("s", START)
    fill = Fills()
    pf.apply_fill(fill("yes", B, "10", "0.50", maker=True), YES)
    pf.apply_fill(fill("yes", S, "10", "0.50", maker=True), YES)
    assert pf.realized_pnl == 0
    assert (pf.wins, pf.losses) == (0, 1)


def test_yes_no_arbitrage_bundle_is_one_win() -> None:
    pf = Portfolio("s", START)
    fill = Fills()
    pf.apply_fill(fill("yes", B, "100", "0.45"), YES)
    pf.apply_fill(fill("no", B, "100", "0.50"), NO)
    pf.settle("no", 0, 2.0, 1)  # the losing leg alone must not count as a loss
    assert (pf.wins, pf.losses) == (0, 0)
    pf.settle("yes", MICRO, 2.0, 2)
    assert (pf.wins, pf.losses, pf.consecutive_losses) == (1, 0, 0)
    assert pf.realized_pnl == to_micro("5")
    pf.check_ledger()


def test_neg_risk_event_positions_form_one_bet() -> None:
    pf = Portfolio("s", START)
    fill = Fills()
    pf.apply_fill(fill("ev-a", B, "10", "0.20", maker=True), EV_A)
    pf.apply_fill(fill("ev-b", B, "10", "0.30", maker=True), EV_B)
    pf.apply_fill(fill("ev-c", B, "10", "0.40", maker=True), EV_C)
    pf.settle("ev-a", 0, 1.0, 1)
    pf.apply_fill(fill("ev-b", S, "10", "0.10", maker=True), EV_B)
    assert pf.round_trips == 0
    # Event as a whole: paid 9, got 1 for ev-b and 10 for ev-c = +2 (ev-a and ev-b lost alone).
    pf.settle("ev-c", MICRO, 3.0, 2)
    assert (pf.wins, pf.losses) == (1, 0)
    assert pf.realized_pnl == to_micro("2")


def test_a_losing_arbitrage_bundle_is_one_loss() -> None:
    pf = Portfolio("s", START)
    fill = Fills()
    pf.apply_fill(fill("yes", B, "100", "0.55"), YES)
    pf.apply_fill(fill("no", B, "100", "0.50"), NO)
    pf.settle("yes", MICRO, 2.0, 1)
    pf.settle("no", 0, 2.0, 2)
    assert (pf.wins, pf.losses, pf.consecutive_losses) == (0, 1, 1)


# ============================================================================ properties
FAST = settings(max_examples=100, deadline=None)

trade_ops = st.lists(
    st.tuples(
        st.sampled_from(["buy", "sell", "settle"]),
        st.sampled_from(["yes", "no", "other", "ev-a", "ev-b"]),
        st.integers(min_value=1, max_value=5_000).map(lambda n: n * LOT),
        st.integers(min_value=1, max_value=99).map(lambda n: n * 10_000),
        st.booleans(),
    ),
    max_size=40,
)


@FAST
@given(trade_ops, st.dictionaries(st.sampled_from(sorted(INSTRUMENTS)), st.integers(0, MICRO)))
def test_property_ledger_identity_after_random_fills_and_settlements(
    script: list[tuple[str, str, int, int, bool]], mark_values: dict[str, int]
) -> None:
    pf = Portfolio("s", START)
    ref_bought = ref_sold = ref_fees = ref_payouts = 0
    ref_qty: dict[str, int] = {}
    n = 0
    for kind, iid, size, price, maker in script:
        n += 1
        instrument = INSTRUMENTS[iid]
        held = ref_qty.get(iid, 0)
        if kind == "settle":
            payout = MICRO if maker else 0
            st_ = pf.settle(iid, payout, float(n), n)
            if held == 0:
                assert st_ is None
            else:
                assert st_ is not None
                assert st_.amount == notional(held, payout)
                ref_payouts += st_.amount
                ref_qty[iid] = 0
        else:
            side = B if kind == "buy" else S
            if side is S:
                size = min(size, held)
                if size == 0:
                    continue
            fee = 0 if maker else taker_fee(size, price, RATE)
            fill = Fill(n, n, "s", iid, side, price, size, fee, "taker", float(n))
            before = pf.realized_pnl
            realized = pf.apply_fill(fill, instrument)
            assert pf.realized_pnl - before == realized
            value = notional(size, price)
            ref_fees += fee
            if side is B:
                assert realized == 0
                ref_bought += value
                ref_qty[iid] = held + size
            else:
                ref_sold += value
                ref_qty[iid] = held - size
        assert pf.cash == START - ref_bought + ref_sold - ref_fees + ref_payouts
        assert (pf.bought, pf.sold, pf.fees, pf.payouts) == (
            ref_bought,
            ref_sold,
            ref_fees,
            ref_payouts,
        )
        pf.check_ledger()
        assert {k: v for k, v in ref_qty.items() if v} == {
            k: p.qty for k, p in pf.positions.items()
        }
        assert all(p.cost_basis >= 0 for p in pf.positions.values())
        mark = mark_values.get
        assert pf.equity(mark) - START == pf.realized_pnl + pf.unrealized_pnl(mark) - pf.fees
        assert pf.wins + pf.losses == pf.round_trips
        assert 0 <= pf.consecutive_losses <= pf.losses
    # Close everything: with no positions left, realized P&L net of fees is the cash change.
    for iid in list(pf.positions):
        pf.settle(iid, MICRO // 2, 999.0, 999)
    assert pf.positions == {}
    assert pf.cash - START == pf.realized_pnl - pf.fees
    pf.check_ledger()


class EngineLikeListener:
    """Applies exchange output to one portfolio the way services/engine.py does."""

    def __init__(self, pf: Portfolio, instruments: dict[str, Instrument]) -> None:
        self.pf = pf
        self.instruments = instruments
        self.fills: list[Fill] = []

    def on_fill(self, order: Order, fill: Fill) -> None:
        instrument = self.instruments[order.instrument_id]
        self.pf.release(order)
        self.pf.apply_fill(fill, instrument)
        if order.active and order.remaining > 0:
            self.pf.reserve(order, instrument)
        self.fills.append(fill)

    def on_order_update(self, order: Order) -> None:
        if not order.active:
            self.pf.release(order)


exchange_ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("order"),
            st.sampled_from([B, B, S]),
            st.sampled_from(["yes", "no"]),
            st.integers(min_value=40, max_value=60).map(lambda n: n * 10_000),
            st.integers(min_value=100, max_value=20_000).map(lambda n: n * LOT),
            st.sampled_from(list(TimeInForce)),
        ),
        st.tuples(
            st.just("delta"),
            st.sampled_from([B, S]),
            st.sampled_from(["yes", "no"]),
            st.integers(min_value=40, max_value=60).map(lambda n: n * 10_000),
            st.integers(min_value=0, max_value=300).map(lambda n: n * MICRO),
        ),
        st.tuples(
            st.just("trade"),
            st.sampled_from(["yes", "no"]),
            st.integers(min_value=40, max_value=60).map(lambda n: n * 10_000),
            st.integers(min_value=1, max_value=300).map(lambda n: n * MICRO),
            st.sampled_from([B, S]),
        ),
        st.tuples(st.just("cancel"), st.integers(min_value=0, max_value=30)),
    ),
    min_size=5,
    max_size=40,
)


@settings(
    max_examples=100,
    deadline=None,
    report_multiple_bugs=False,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),  # long scripts shrink too slowly
)
@given(exchange_ops, st.booleans(), st.integers(min_value=20, max_value=500))
def test_property_reservations_never_negative_and_released(
    script: list[tuple[Any, ...]], yes_wins: bool, start_usdc: int
) -> None:
    instruments = {"yes": YES, "no": NO}
    start = start_usdc * MICRO
    pf = Portfolio("s", start)
    listener = EngineLikeListener(pf, instruments)
    books = BookStore()
    ex = SimulatedExchange(books, instruments, listener, lambda: len(listener.fills) + 1)
    for iid, mid in (("yes", 500_000), ("no", 500_000)):
        ev = BookSnapshot(0.0, iid, ((mid - 10_000, 100 * MICRO),), ((mid + 10_000, 100 * MICRO),))
        ex.on_snapshot(ev, books.apply_snapshot(ev))
    orders: list[Order] = []
    t = 0.0
    for op in script:
        t += 1.0
        ex.now = t
        if op[0] == "order":
            _, side, iid, price, size, tif = op
            o = Order(len(orders) + 1, "s", iid, side, price, size, tif, created_ts=t)
            problem = pf.check_order(o, instruments[iid])
            if side is S and o.size > pf.available_qty(iid):
                assert problem is not None
            if problem is not None:
                continue
            pf.reserve(o, instruments[iid])
            orders.append(o)
            ex.submit(o, t)
        elif op[0] == "delta":
            _, side, iid, price, size = op
            delta = BookDelta(t, iid, ((side, price, size),))
            book = books.get(iid)
            old = [book.set_level(side, price, size)]
            ex.on_delta(delta, book, old)
        elif op[0] == "trade":
            _, iid, price, size, aggressor = op
            ex.on_trade(TradePrint(t, iid, price, size, aggressor))
        elif orders:
            ex.cancel(orders[op[1] % len(orders)].order_id, t)
        # Reservations match the active orders exactly and never go negative.
        active = [o for o in orders if o.active]
        assert all(o.reserved == 0 for o in orders if not o.active)
        assert pf.reserved_cash == sum(o.reserved for o in active if o.side is B)
        for iid in instruments:
            held_back = sum(o.reserved for o in active if o.side is S and o.instrument_id == iid)
            assert pf.reserved_shares.get(iid, 0) == held_back
            assert pf.available_qty(iid) >= 0
        assert pf.reserved_cash >= 0
        assert pf.cash >= 0
        assert pf.available_cash >= 0
        pf.check_ledger()
    # Resolution, in the engine's order: cancel resting orders, then settle.
    ex.on_resolved(["yes", "no"], t + 1)
    assert all(
        o.status in (OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED)
        for o in orders
    )
    pf.settle("yes", MICRO if yes_wins else 0, t + 1, 1)
    pf.settle("no", 0 if yes_wins else MICRO, t + 1, 2)
    assert pf.reserved_cash == 0
    assert pf.reserved_shares == {}
    assert pf.positions == {}
    assert pf.available_cash == pf.cash >= 0
    assert pf.cash - start == pf.realized_pnl - pf.fees
    pf.check_ledger()
