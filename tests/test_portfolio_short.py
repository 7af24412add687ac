"""Back/lay (short-capable, odds-quoted) accounting in services/portfolio.py, and the proof that
the long-only path is unchanged.

References are computed from the bets themselves: a back of stake ``S`` at odds ``O`` wins
``S * (O - 1)`` or loses ``S``; a lay wins ``S`` or loses ``S * (O - 1)``. Betfair charges
commission on the market's net winnings only.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.execution.orders import Fill, Order
from services.fees import FeeSchedule, NetWinningsCommission
from services.instruments import Instrument, Side
from services.ladder import BETFAIR_ODDS
from services.money import LOT, MICRO, notional, split_cost, to_micro
from services.portfolio import LedgerError, Portfolio

BACK, LAY = Side.SELL, Side.BUY
RATE = Decimal("0.05")


def m(x: str) -> int:
    return to_micro(Decimal(x))


def runner(iid: str = "r1", market: str = "1.1") -> Instrument:
    return Instrument(
        iid,
        "betfair",
        market,
        iid,
        BETFAIR_ODDS.min_increment,
        MICRO,
        fees=NetWinningsCommission(RATE),
        ladder=BETFAIR_ODDS,
        currency="GBP",
        allows_short=True,
    )


R1 = runner()


class Bets:
    def __init__(self) -> None:
        self.pf = Portfolio("s", m("100000"), currency="GBP")
        self.n = 0

    def bet(self, side: Side, stake: int, odds: int, inst: Instrument = R1) -> int:
        self.n += 1
        f = Fill(self.n, self.n, "s", inst.instrument_id, side, odds, stake, 0, "taker", 0.0)
        return self.pf.apply_fill(f, inst)

    def settle(self, inst: Instrument, won: bool) -> None:
        self.pf.settle(inst.instrument_id, MICRO if won else 0, 1.0, 1)
        self.pf.settle_commission(inst, 1.0, 2)


def profit(side: Side, stake: int, odds: int, won: bool) -> int:
    """A bet's profit in micro (exact: stakes in pennies, odds in hundredths)."""
    win = notional(stake, odds) - stake  # S * (O - 1)
    if side is BACK:
        return win if won else -stake
    return -win if won else stake


def commission(net: int) -> int:
    if net <= 0:
        return 0
    return int((Decimal(net) * RATE / 10_000).quantize(Decimal(1), ROUND_HALF_UP)) * 10_000


stakes = st.integers(1, 50_000).map(lambda pennies: pennies * LOT)  # 0.01 to 500 GBP
odds = st.integers(0, BETFAIR_ODDS.size - 1).map(BETFAIR_ODDS.price_at)
bets = st.lists(st.tuples(st.sampled_from([BACK, LAY]), stakes, odds), min_size=1, max_size=12)


@given(bets, st.booleans())
def test_property_back_lay_cash_equals_the_bets_profits_minus_commission(
    seq: list[tuple[Side, int, int]], won: bool
) -> None:
    b = Bets()
    units = 0
    for side, stake, o in seq:
        b.bet(side, stake, o)
        units += notional(stake, o) if side is BACK else -notional(stake, o)
        b.pf.check_ledger()
        assert b.pf.qty(R1.instrument_id) == units
        assert b.pf.short_liability == max(0, -units)
        # Whatever happens next, cash never has to go below what is available now.
        worst = min(units, 0)
        assert b.pf.available_cash == b.pf.cash + worst
    net = sum(profit(side, stake, o, won) for side, stake, o in seq)
    b.settle(R1, won)
    assert b.pf.realized_pnl == net
    assert b.pf.cash == m("100000") + net - commission(net)
    assert b.pf.commission == commission(net)
    assert b.pf.positions == {} and b.pf.short_liability == 0
    b.pf.check_ledger()


@given(stakes, odds, st.booleans())
def test_property_a_lay_undoes_a_back_at_the_same_odds(stake: int, o: int, won: bool) -> None:
    b = Bets()
    assert b.bet(BACK, stake, o) == 0
    assert b.bet(LAY, stake, o) == 0
    assert R1.instrument_id not in b.pf.positions
    b.settle(R1, won)
    assert b.pf.cash == m("100000") and b.pf.fees == 0


@given(stakes, odds)
def test_property_back_and_lay_are_mirror_images(stake: int, o: int) -> None:
    back, lay = Bets(), Bets()
    back.bet(BACK, stake, o)
    lay.bet(LAY, stake, o)
    assert back.pf.qty("r1") == -lay.pf.qty("r1") == notional(stake, o)
    # A back pays its stake now; a lay receives it and holds the payout it may owe.
    assert back.pf.available_cash == m("100000") - stake
    assert lay.pf.available_cash == m("100000") - (notional(stake, o) - stake)
    for won in (True, False):
        assert profit(BACK, stake, o, won) == -profit(LAY, stake, o, won)


def test_commission_nets_runners_of_one_market_but_not_markets() -> None:
    b = Bets()
    r2 = runner("r2")
    other = runner("x1", market="1.2")
    b.bet(BACK, m("10"), m("3"))  # r1 loses: -10
    b.bet(BACK, m("10"), m("5"), r2)  # r2 wins: +40
    b.bet(BACK, m("10"), m("2"), other)  # other market, loses: -10
    b.pf.settle("r1", 0, 1.0, 1)
    b.pf.settle("r2", MICRO, 1.0, 2)
    st1 = b.pf.settle_commission(R1, 1.0, 3)
    assert st1 is not None and st1.fee == m("1.5")  # 5% of 30
    assert b.pf.settle_commission(r2, 1.0, 4) is None  # the market was charged once
    b.pf.settle("x1", 0, 1.0, 5)
    assert b.pf.settle_commission(other, 1.0, 6) is None  # net loss: nothing
    assert b.pf.cash == m("100000") + m("30") - m("10") - m("1.5")
    b.pf.check_ledger()


def test_commission_rounds_half_up_to_the_penny() -> None:
    c = NetWinningsCommission(Decimal("0.05"))
    assert c.commission(m("0.1")) == m("0.01")  # 0.005 -> 0.01
    assert c.commission(m("0.09")) == 0  # 0.0045 -> 0.00
    assert c.commission(-m("100")) == 0
    assert NetWinningsCommission(Decimal("0.05"), Decimal("0.5")).commission(m("10")) == m("0.25")
    assert c.fill_fee(m("10"), m("2"), maker=False) == 0
    with pytest.raises(ValueError, match="fractions"):
        NetWinningsCommission(Decimal("5"))


def test_long_only_instrument_still_refuses_naked_sells() -> None:
    pm = Instrument("y", "polymarket", "m", "Yes", 10_000, LOT, fees=FeeSchedule(Decimal("0.02")))
    pf = Portfolio("s", m("1000"))
    order = Order(1, "s", "y", Side.SELL, m("0.5"), m("10"))
    assert pf.check_order(order, pm) == "insufficient shares: selling 10.00, available 0.00"
    with pytest.raises(LedgerError, match="exceeds position"):
        pf.apply_fill(Fill(1, 1, "s", "y", Side.SELL, m("0.5"), m("1"), 0, "taker", 0.0), pm)


# ------------------------------------------------- long-only path: unchanged, fill by fill
class _OldPortfolio:
    """The pre-ladder long-only ledger, kept here as the reference."""

    def __init__(self) -> None:
        self.cash = 0
        self.qty: dict[str, int] = {}
        self.cost: dict[str, int] = {}
        self.realized = 0

    def apply(self, side: Side, iid: str, size: int, price: int, fee: int) -> int:
        value = notional(size, price)
        if side is Side.BUY:
            self.cash -= value + fee
            self.qty[iid] = self.qty.get(iid, 0) + size
            self.cost[iid] = self.cost.get(iid, 0) + value
            return 0
        part = split_cost(self.cost[iid], size, self.qty[iid])
        self.cash += value - fee
        self.qty[iid] -= size
        self.cost[iid] -= part
        self.realized += value - part
        return value - part


pm_ops = st.lists(
    st.tuples(st.booleans(), st.integers(1, 500), st.integers(1, 99), st.integers(0, 50)),
    min_size=1,
    max_size=30,
)


@given(pm_ops)
def test_property_long_only_fills_match_the_old_ledger_exactly(
    ops: list[tuple[bool, int, int, int]],
) -> None:
    pm = Instrument("y", "polymarket", "m", "Yes", 10_000, LOT, fees=FeeSchedule(Decimal("0.02")))
    pf, old = Portfolio("s", 0), _OldPortfolio()
    for n, (buy, lots, cents, fee) in enumerate(ops):
        held = old.qty.get("y", 0)
        size = lots * LOT if buy else min(lots * LOT, held)
        if size == 0:
            continue
        side = Side.BUY if buy else Side.SELL
        price = cents * 10_000
        got = pf.apply_fill(Fill(n, n, "s", "y", side, price, size, fee * 10, "taker", 0.0), pm)
        assert got == old.apply(side, "y", size, price, fee * 10)
        assert pf.cash == old.cash and pf.realized_pnl == old.realized
        pos = pf.positions.get("y")
        assert ((pos.qty, pos.cost_basis) if pos else (0, 0)) == (old.qty["y"], old.cost["y"])
        assert pf.short_liability == 0
