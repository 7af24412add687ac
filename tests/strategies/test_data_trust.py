"""Strategies skip entries the data gate would refuse (``StrategyContext.trusted``), and exits on a
book that is only thin still go out (issue 10: 2,884 refused exits of one strategy in a default
6-hour run)."""

from __future__ import annotations

from services.instruments import Side
from services.risk.data_guard import DataGuard
from services.strategies.complement_arb import ComplementArbitrage
from services.strategies.market_maker import MarketMaker
from services.strategies.mean_reversion import MeanReversion
from tests.strategies.directional_helpers import path, step
from tests.strategies.harness import Harness, binary, with_params


class Refusing:
    """A validator that refuses the instruments in ``blocked`` with ``reason``."""

    def __init__(self, reason: str = "stale_book") -> None:
        self.blocked: set[str] = set()
        self.reason = reason
        self.asked = 0

    def can_trade(self, instrument_id: str, now: float) -> tuple[bool, str | None]:
        self.asked += 1
        return (False, self.reason) if instrument_id in self.blocked else (True, None)


def guarded(h: Harness, reason: str = "stale_book") -> Refusing:
    guard = DataGuard()
    guard.validator = v = Refusing(reason)
    h.engine.data_guard = guard  # what the safety layer attaches in a full node
    return v


def test_a_directional_strategy_skips_an_entry_on_untrusted_data_and_takes_it_after() -> None:
    h = Harness(with_params(MeanReversion, "s", window_s=60, sample_interval_s=1))
    v = guarded(h)
    h.list(*binary())
    path(h, [50, 51] * 31)
    v.blocked = {"Y1"}
    step(h, 44)  # a signal, but the YES book is not trusted
    assert h.orders() == []
    assert v.asked > 0
    v.blocked = set()
    step(h, 44)
    assert [o.side for o in h.orders()] == [Side.BUY]


def test_a_maker_pulls_its_quotes_while_the_data_is_untrusted_and_requotes_after() -> None:
    h = Harness(with_params(MarketMaker, "s", half_spread_ticks=1))
    v = guarded(h)
    y, n = binary()
    h.list(y, n)
    quote = (("Y1", [(0.48, 200)], [(0.52, 200)]), ("N1", [(0.48, 200)], [(0.52, 200)]))
    h.books(*quote)
    h.wait(1)
    assert len(h.active()) == 2
    v.blocked = {"N1"}
    h.books(*quote, dt=1)
    h.wait(5)  # held quotes are checked every 5 s of event time
    assert h.active() == []
    assert all("not trusted" in (o.reject_reason or "") for o in h.orders())
    v.blocked = set()
    h.books(*quote, dt=1)
    h.wait(1)
    assert len(h.active()) == 2


def test_an_arbitrage_leaves_a_bundle_with_an_untrusted_leg_alone() -> None:
    h = Harness(with_params(ComplementArbitrage, "s"))
    v = guarded(h, "thin_depth")
    v.blocked = {"N1"}
    h.list(*binary())
    h.books(("Y1", [(0.43, 300)], [(0.45, 200)]), ("N1", [(0.48, 300)], [(0.50, 200)]))
    assert h.orders() == []
    v.blocked = set()
    h.books(("Y1", [(0.43, 300)], [(0.45, 200)]), ("N1", [(0.48, 300)], [(0.50, 200)]), dt=1)
    assert len(h.orders()) == 2
