"""Betfair-shaped back and lay through the real Engine and the simulated exchange, ledger exact.

One WIN market (``1.200``) in GBP with a 5% base rate, two runners on Betfair's odds ladder. A
strategy backs runner A (taker and maker), lays it (taker and maker, ending short), backs runner
B, and the market settles. Every figure below is worked out by hand from the bets themselves
(back ``S`` at ``O``: wins ``S * (O - 1)`` or loses ``S``; lay: the opposite), to the micro-unit.

Prices on an odds ladder are decimal odds; a back is the SELL side (it takes "available to back",
the bid side, and rests among "available to lay", the ask side) and a lay the BUY side.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.clock import SimClock
from services.events import BookSnapshot, MarketListed, MarketResolved, TradePrint
from services.execution.orders import Fill, Order, OrderStatus, Settlement, TimeInForce
from services.fees import NetWinningsCommission
from services.instruments import Instrument, Side
from services.ladder import BETFAIR_ODDS, Quote
from services.money import MICRO, to_micro
from services.node import build_node
from services.persistence import NullSink, Sink
from services.portfolio import Portfolio
from services.risk.chain import RiskChain, TradingStatusControl
from services.risk.sanity import FundsControl, PostOnlyControl, PriceControl, SizeControl
from services.strategies.base import Intent, Strategy, StrategyContext, StrategyParams
from utils.config import AppConfig, parse_config
from utils.errors import ConfigError

MARKET = "1.200"
A, B = "1.200:101", "1.200:102"
T0 = 1_700_000_000.0


def m(x: str) -> int:
    """Decimal string (odds or GBP) to micro."""
    return to_micro(Decimal(x))


def runner(iid: str, name: str) -> Instrument:
    """A Betfair-shaped runner: odds ladder, GBP, stake lot 0.01, minimum stake 1, 5% commission."""
    return Instrument(
        instrument_id=iid,
        venue="betfair",
        market_id=MARKET,
        outcome=name,
        tick=BETFAIR_ODDS.min_increment,
        min_size=m("1"),
        fees=NetWinningsCommission(Decimal("0.05")),
        question="2:30 Ascot - WIN",
        category="horse racing",
        ladder=BETFAIR_ODDS,
        lot=m("0.01"),
        currency="GBP",
        allows_short=True,
    )


class Hand(Strategy):
    """A strategy whose decisions the test makes (through its own context)."""

    Params = StrategyParams
    quotes = frozenset({Quote.ODDS})

    def on_start(self, ctx: StrategyContext) -> None:
        self.ctx = ctx


class Recorder(NullSink):
    def __init__(self) -> None:
        super().__init__()
        self.fills: list[Fill] = []
        self.settlements: list[Settlement] = []

    def fill(self, f: Fill) -> None:
        self.fills.append(f)

    def settlement(self, s: Settlement) -> None:
        self.settlements.append(s)


def ladder(pairs: list[tuple[str, str]]) -> tuple[tuple[int, int], ...]:
    return tuple((m(o), m(s)) for o, s in pairs)


def gbp_config(currency: str = "GBP") -> AppConfig:
    """A config whose strategy ``s`` holds 1000 in ``currency`` (``strategies[].currency``)."""
    entry = {"name": "s", "class": "MarketMaker", "currency": currency}
    return parse_config(
        {"competition": {"starting_capital_usd": 1000}, "strategies": [entry]}, "test"
    )


class Session:
    def __init__(self, sink: Sink | None = None, currency: str = "GBP") -> None:
        cfg = gbp_config(currency)
        self.sink = Recorder()
        self.stored = sink is not None  # a real sink instead of the recorder
        self.strat = Hand("s", StrategyParams())
        chain = RiskChain(
            [
                TradingStatusControl(),
                PriceControl(),
                SizeControl(),
                PostOnlyControl(),
                FundsControl(),
            ]
        )
        node = build_node(cfg, [self.strat], sink or self.sink, clock=SimClock(T0), safety=False)
        self.engine = node.engine
        self.engine.risk = chain
        self.engine.start()
        self.t = T0

    @property
    def pf(self) -> Portfolio:
        return self.engine.runners["s"].portfolio

    @property
    def ctx(self) -> StrategyContext:
        return self.strat.ctx

    def send(self, ev: object) -> None:
        self.engine.process_batch([ev])  # type: ignore[list-item]

    def at(self) -> float:
        self.t += 1.0
        return self.t

    def book(self, iid: str, back: list[tuple[str, str]], lay: list[tuple[str, str]]) -> None:
        """``back``: available to back (bids, best = highest odds); ``lay``: available to lay."""
        self.send(BookSnapshot(self.at(), iid, ladder(back), ladder(lay)))


def trade_out(s: Session) -> None:
    """The shared script: two backs and two lays on A (ending short), one back on B."""
    s.send(MarketListed(s.at(), (runner(A, "Alpha"), runner(B, "Bravo"))))
    s.book(A, back=[("3", "50"), ("2.98", "100")], lay=[("3.1", "40"), ("3.15", "100")])
    s.book(B, back=[("4", "20")], lay=[("4.1", "20")])

    # 1. Taker back: 20 GBP at 3.0 takes the best "available to back".
    o1 = s.ctx.back(A, m("20"), m("3"), tif=TimeInForce.FAK)
    assert o1 is not None and o1.status is OrderStatus.FILLED, o1
    assert o1.side is Side.SELL and o1.liquidity == "taker" and o1.fees == 0
    pos = s.pf.positions[A]
    assert (pos.qty, pos.cost_basis) == (m("60"), m("20"))
    assert s.pf.cash == m("980")

    # 2. Maker back: 10 GBP at 3.15 rests among "available to lay" behind 100.
    o2 = s.ctx.back(A, m("10"), m("3.15"), post_only=True)
    assert o2 is not None and o2.status is OrderStatus.OPEN and o2.queue_ahead == m("100")
    assert o2.reserved == m("10")  # a back holds its stake
    assert s.pf.available_cash == m("970")
    # A layer takes 110 at 3.15: the 100 ahead, then our 10.
    s.send(TradePrint(s.at(), A, m("3.15"), m("110"), Side.BUY))
    assert o2.status is OrderStatus.FILLED and o2.liquidity == "maker"
    assert (pos.qty, pos.cost_basis) == (m("91.5"), m("30"))
    assert (s.pf.cash, s.pf.reserved_cash) == (m("970"), 0)

    # Runner B: a taker back of 5 at 4.0.
    o3 = s.ctx.back(B, m("5"), m("4"), tif=TimeInForce.FAK)
    assert o3 is not None and o3.status is OrderStatus.FILLED
    assert s.pf.cash == m("965")

    # The horse shortens.
    s.book(A, back=[("2.5", "30"), ("2.48", "100")], lay=[("2.52", "40"), ("2.54", "80")])

    # 3. Taker lay: 10 GBP (backer's stake) at up to 2.54 takes 2.52 first.
    o4 = s.ctx.lay(A, m("10"), m("2.54"), tif=TimeInForce.FAK)
    assert o4 is not None and o4.status is OrderStatus.FILLED and o4.avg_price == m("2.52")
    assert o4.side is Side.BUY and o4.liquidity == "taker"
    # 25.2 of 91.5 units closed: basis 30 * 25.2 / 91.5 = 8.262295 (floored), proceeds 10.
    assert (pos.qty, pos.cost_basis) == (m("66.3"), m("30") - 8_262_295)
    assert pos.realized_pnl == m("10") - 8_262_295
    assert s.pf.cash == m("975")

    # 4. Maker lay: 40 at 2.5 joins "available to back" behind 30; it holds its liability.
    o5 = s.ctx.lay(A, m("40"), m("2.5"), post_only=True)
    assert o5 is not None and o5.status is OrderStatus.OPEN and o5.queue_ahead == m("30")
    assert o5.reserved == m("60")  # 40 * (2.5 - 1)
    assert s.pf.available_cash == m("915")
    # A backer takes 70 at 2.5: the 30 ahead, then our 40.
    s.send(TradePrint(s.at(), A, m("2.5"), m("70"), Side.SELL))
    assert o5.status is OrderStatus.FILLED and o5.liquidity == "maker"
    # 100 units given: 66.3 close the long (proceeds 40 * 66.3 / 100 = 26.52), 33.7 go short.
    assert pos.qty == -m("33.7")
    assert pos.cost_basis == -(m("40") - m("26.52"))
    assert pos.realized_pnl == m("10") - 8_262_295 + m("26.52") - (m("30") - 8_262_295)
    assert pos.realized_pnl == m("6.52")
    assert s.pf.cash == m("1015")
    assert s.pf.short_liability == m("33.7")  # owed if Alpha wins
    assert s.pf.reserved_cash == 0
    assert s.pf.available_cash == m("1015") - m("33.7")
    s.pf.check_ledger()
    if not s.stored:
        assert [f.fee for f in s.sink.fills] == [0] * 5


def test_back_and_lay_then_runner_wins_net_loss_pays_no_commission() -> None:
    s = Session()
    trade_out(s)
    s.send(MarketResolved(s.at(), MARKET, ((A, MICRO), (B, 0))))
    pf = s.pf
    # Bets: back 20@3 +40, back 10@3.15 +21.5, lay 10@2.52 -15.2, lay 40@2.5 -60, back B -5.
    assert pf.cash == m("1000") + m("40") + m("21.5") - m("15.2") - m("60") - m("5")
    assert pf.cash == m("981.3")
    assert pf.fees == 0 and pf.commission == 0
    assert pf.positions == {} and pf.short_liability == 0
    assert pf.available_cash == pf.cash
    assert pf.payouts == -m("33.7")  # the short paid out; B's back paid nothing
    assert pf.realized_pnl == -m("18.7")
    assert [(st.instrument_id, st.size, st.amount, st.fee) for st in s.sink.settlements] == [
        (A, -m("33.7"), -m("33.7"), 0),
        (B, m("20"), 0, 0),
    ]
    pf.check_ledger()
    assert pf.losses == 1 and pf.wins == 0


def test_back_and_lay_then_runner_loses_net_win_pays_commission() -> None:
    s = Session()
    trade_out(s)
    s.send(MarketResolved(s.at(), MARKET, ((A, 0), (B, MICRO))))
    pf = s.pf
    # Bets: A's backs lose 20 and 10, its lays win 10 and 40; B's back wins 5 * 3 = 15.
    net = -m("20") - m("10") + m("10") + m("40") + m("15")
    assert net == m("35")
    commission = m("1.75")  # 5% of the market's net winnings, both runners together
    assert pf.cash == m("1000") + net - commission == m("1033.25")
    assert pf.fees == commission and pf.commission == commission
    assert pf.payouts == m("20")
    assert pf.realized_pnl == net
    assert [(st.instrument_id, st.size, st.amount, st.fee) for st in s.sink.settlements] == [
        (A, -m("33.7"), 0, 0),
        (B, m("20"), m("20"), 0),
        (A, 0, 0, commission),
    ]
    assert pf.positions == {} and pf.short_liability == 0
    pf.check_ledger()


def test_commission_when_greened_up_before_the_off() -> None:
    """Flat before settlement (no settlement rows) still pays commission on the trading profit."""
    s = Session()
    s.send(MarketListed(s.at(), (runner(A, "Alpha"),)))
    s.book(A, back=[("3", "50")], lay=[("3.05", "50")])
    assert s.ctx.back(A, m("10"), m("3"), tif=TimeInForce.FAK) is not None
    s.book(A, back=[("2", "50")], lay=[("2.02", "50")])
    # Lay 15 at 2.0 gives exactly the 30 units held: flat, profit 15 - 10 = 5.
    o = s.ctx.lay(A, m("15"), m("2.02"), tif=TimeInForce.FAK)
    assert o is not None and o.status is OrderStatus.FILLED and o.avg_price == m("2.02")
    # 15 at 2.02 gives 30.3 units: 30 close the long (proceeds 15 * 30 / 30.3), 0.3 go short.
    assert s.pf.qty(A) == -m("0.3")
    s.send(MarketResolved(s.at(), MARKET, ((A, 0),)))
    # Bets: back 10@3 loses 10, lay 15@2.02 wins 15: net 5, commission 0.25.
    assert s.pf.cash == m("1000") + m("5") - m("0.25")
    assert s.pf.commission == m("0.25")
    s.pf.check_ledger()


def test_lay_liability_beyond_cash_is_refused_before_it_reaches_the_venue() -> None:
    s = Session()
    s.send(MarketListed(s.at(), (runner(A, "Alpha"),)))
    s.book(A, back=[("10", "500")], lay=[("10.5", "500")])
    # A lay of 120 at 10 risks 120 * 9 = 1080 > 1000.
    assert s.ctx.lay(A, m("120"), m("10"), post_only=True) is None
    o = s.ctx.lay(A, m("111.11"), m("10"), post_only=True)  # 999.99 liability fits
    assert o is not None and o.status is OrderStatus.OPEN
    assert s.pf.available_cash == m("1000") - m("999.99")


@pytest.mark.parametrize(
    ("odds", "stake", "why"),
    [
        ("3.02", "5", "not on the odds ladder"),  # 0.05 steps between 3 and 4
        ("1000.5", "5", "not on the odds ladder"),
        ("2.5", "0.5", "below the market minimum"),
        ("2.5", "5.005", "not a positive multiple of 0.01 GBP"),
    ],
)
def test_off_ladder_or_off_lot_orders_are_refused(odds: str, stake: str, why: str) -> None:
    s = Session()
    s.send(MarketListed(s.at(), (runner(A, "Alpha"),)))
    s.book(A, back=[("2.5", "50")], lay=[("2.52", "50")])
    events: list[str] = []
    s.sink.event = lambda ts, kind, message, **kw: events.append(message)  # type: ignore[method-assign]
    assert s.ctx.back(A, to_micro(Decimal(stake)), m(odds)) is None
    assert why in events[-1], events


def test_the_simulated_venue_itself_refuses_odds_off_the_ladder() -> None:
    s = Session()
    s.engine.risk = RiskChain()  # no sanity controls: the order reaches the venue
    s.send(MarketListed(s.at(), (runner(A, "Alpha"),)))
    s.book(A, back=[("2.5", "50")], lay=[("2.52", "50")])
    o = s.ctx.lay(A, m("5"), m("3.02"))
    assert o is not None and o.status is OrderStatus.REJECTED
    assert o.reject_reason == "odds 3.02 are not on the odds ladder [1.01, 1000]"
    o = s.ctx.lay(A, m("5.005"), m("3.05"))
    assert o is not None and o.reject_reason == "size 5.005 is not a multiple of 0.01 GBP"
    assert s.pf.reserved_cash == 0 and s.pf.available_cash == m("1000")


def test_market_back_and_lay_use_the_ends_of_the_ladder() -> None:
    s = Session()
    s.send(MarketListed(s.at(), (runner(A, "Alpha"),)))
    s.book(A, back=[("2.5", "50")], lay=[("2.52", "50")])
    # A market lay holds the liability at 1000: 2 * 999 is more than the 1000 GBP held.
    assert s.ctx.lay(A, m("2")) is None
    lay = s.ctx.lay(A, m("1"))
    back = s.ctx.back(A, m("2"))
    assert isinstance(back, Order) and isinstance(lay, Order)
    assert (lay.price, lay.avg_price, lay.tif) == (m("1000"), m("2.52"), TimeInForce.FAK)
    assert (back.price, back.avg_price) == (m("1.01"), m("2.5"))
    # Lay 1 at 2.52 (-2.52 units, +1), back 2 at 2.5 (+5 units, -2): long 2.48.
    assert s.pf.qty(A) == m("2.48")
    assert s.pf.positions[A].cost_basis == m("2") - m("1.008")
    assert s.pf.realized_pnl == m("1") - m("1.008")
    s.pf.check_ledger()


def test_the_strategy_currency_comes_from_the_config() -> None:
    assert Session().pf.currency == "GBP"
    assert (Session().pf.starting_cash, Session(currency="USDC").pf.currency) == (m("1000"), "USDC")
    with pytest.raises(ConfigError, match=r"strategies\[0\]\.currency"):
        gbp_config("gbp")


def test_a_gbp_instrument_is_refused_by_a_usdc_portfolio() -> None:
    s = Session(currency="USDC")
    s.send(MarketListed(s.at(), (runner(A, "Alpha"),)))
    assert A not in s.engine.runners["s"].subscribed  # it is not offered the instrument
    s.book(A, back=[("2.5", "50")], lay=[("2.52", "50")])
    o = s.ctx.back(A, m("2"), m("2.5"))
    assert o is not None and o.status is OrderStatus.REJECTED
    assert o.reject_reason == "instrument 1.200:101 trades in GBP, the portfolio holds USDC"


def test_a_reduce_only_sell_cannot_add_to_a_back() -> None:
    """Closing by "selling at market" (the safety layer's close) must not back more on odds."""
    s = Session()
    s.send(MarketListed(s.at(), (runner(A, "Alpha"),)))
    s.book(A, back=[("2.5", "50")], lay=[("2.52", "50")])
    assert s.ctx.back(A, m("10"), m("2.5"), tif=TimeInForce.FAK) is not None
    held = s.pf.qty(A)
    assert held == m("25")
    o = s.ctx.sell(A, held)  # reduce-only SELL = a back at market: it would add 25 * 1.01
    assert o is not None and o.status is OrderStatus.REJECTED
    assert o.reject_reason is not None and "would not reduce the position" in o.reject_reason
    assert s.pf.qty(A) == held
    # A reduce-only lay of at most what is held goes through: lay 9.92 at 2.52 gives 24.9984.
    o = s.engine.submit(
        Intent("s", A, Side.BUY, m("9.92"), m("2.52"), TimeInForce.FAK, False, "", True)
    )
    assert o is not None and o.status is OrderStatus.FILLED
    assert s.pf.qty(A) == held - m("24.9984")


def test_a_strategy_written_for_probabilities_is_not_subscribed_to_odds() -> None:
    s = Session()
    plain = Strategy("plain", StrategyParams())
    assert plain.quotes == frozenset({Quote.PROBABILITY})
    assert Hand.quotes == frozenset({Quote.ODDS})
    s.send(MarketListed(s.at(), (runner(A, "Alpha"),)))
    assert A in s.engine.runners["s"].subscribed
    node = build_node(
        parse_config({}, "test"), [plain], NullSink(), clock=SimClock(T0), safety=False
    )
    node.engine.process_batch([MarketListed(T0, (runner(A, "Alpha"),))])
    assert node.engine.runners["plain"].subscribed == {}
