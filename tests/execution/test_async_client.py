"""The engine and the safety layer on a venue whose acks and fills arrive on later batches.

The fake venue (tests/execution/fake_async.py) is what a live client looks like to the engine:
``submit`` returns at once with the order still pending, and everything else is an event on a
later batch. These tests run the strategy harness, the exits and the kill-switch flatten through
it, and check that what the safety layer reports is what really happened.
"""

from __future__ import annotations

import json
from typing import Any

from services.clock import SimClock
from services.execution.orders import OrderStatus, TimeInForce
from services.instruments import Side
from services.markets.sim import SimFeed
from services.node import build_node
from services.persistence import NullSink
from services.risk.kill_switch import TradingState
from services.strategies.base import Strategy, StrategyContext, StrategyParams
from services.strategies.loader import BUILTINS, build_strategies
from tests.execution.fake_async import fake_async
from tests.risk.conftest import T0, make_config, make_harness, sh
from tests.strategies.harness import Harness, binary, px
from utils.config import parse_config


class BuyOnce(Strategy):
    """Buys 10 shares at market on the first book it sees, and records its fills."""

    def __init__(self, name: str, params: StrategyParams) -> None:
        super().__init__(name, params)
        self.sent: list[Any] = []
        self.fills: list[Any] = []

    def on_book(self, ctx: StrategyContext, book: Any) -> None:
        if not self.sent:
            self.sent.append(ctx.buy(book.instrument_id, sh(10), None, reason="once"))

    def on_fill(self, ctx: StrategyContext, fill: Any) -> None:
        self.fills.append(fill)


def test_strategy_harness_on_a_venue_whose_fills_come_later() -> None:
    s = BuyOnce("s", StrategyParams())
    factory = fake_async()
    h = Harness(s, client=factory)  # type: ignore[arg-type]
    yes, no = binary()
    h.list(yes, no)
    h.book("Y1", [(0.49, 100)], [(0.51, 100)])
    order = s.sent[0]
    assert order is not None and order.status is OrderStatus.PENDING and order.route == "test"
    assert order.client_order_id == f"msb-{order.order_id}" and order.venue_order_id is None
    assert h.qty("Y1") == 0 and s.fills == []
    assert h.pf().reserved_cash > 0  # the engine holds the cash while the venue works
    h.wait(1)  # step 1: accepted
    assert order.status is OrderStatus.OPEN and order.venue_order_id == f"fake-{order.order_id}"
    assert h.qty("Y1") == 0
    h.wait(1)  # step 2: filled at the ask, with the ledger's fill id and the venue's trade id
    assert order.status is OrderStatus.FILLED and h.qty("Y1") == sh(10)
    (fill,) = s.fills
    assert fill.fill_id == 1 and fill.venue_fill_id == "fake-trade-1" and fill.price == px(0.51)
    assert h.pf().reserved_cash == 0
    h.pf().check_ledger()


def test_partial_fills_over_several_batches_and_a_venue_rejection() -> None:
    s = BuyOnce("s", StrategyParams())
    factory = fake_async(max_fill_per_step=sh(4))
    h = Harness(s, client=factory)  # type: ignore[arg-type]
    yes, no = binary()
    h.list(yes, no)
    h.book("Y1", [(0.49, 100)], [(0.51, 100)])
    order = s.sent[0]
    h.wait(1)
    h.wait(1)
    assert (order.status, order.filled) == (OrderStatus.PARTIALLY_FILLED, sh(4))
    assert h.qty("Y1") == sh(4) and h.pf().reserved_cash > 0
    h.wait(1)
    h.wait(1)  # 4 + 4 + 2: FAK (a market order) finishes with its last fill
    assert (order.status, order.filled, len(s.fills)) == (OrderStatus.FILLED, sh(10), 3)
    assert h.pf().reserved_cash == 0
    h.pf().check_ledger()
    venue = factory.made[0]  # type: ignore[attr-defined]
    venue.reject_reasons.append("not enough balance / allowance")
    o2 = h.engine.submit(
        __import__("services.intents", fromlist=["Intent"]).Intent(
            "s", "Y1", Side.BUY, sh(5), px(0.40), TimeInForce.GTC, False, "r"
        )
    )
    assert o2 is not None and h.pf().reserved_cash > 0
    h.wait(1)
    assert o2.status is OrderStatus.REJECTED and h.pf().reserved_cash == 0
    assert (
        "order_rejected",
        f"s: order {o2.order_id} rejected by test: not enough balance / allowance",
    ) in h.sink.events


def test_every_builtin_runs_on_the_async_venue_and_the_ledgers_reconcile() -> None:
    entries = [{"name": n.lower(), "class": n} for n in BUILTINS]
    cfg = parse_config(
        {"strategies": entries, "market_data": {"sim": {"markets": 6, "neg_risk_events": 1}}},
        "c.yaml",
    )
    strategies = build_strategies(cfg, "c.yaml")
    factory = fake_async(max_fill_per_step=sh(20))
    node = build_node(
        cfg,
        strategies,
        NullSink(),
        clock=SimClock(cfg.market_data.start_ts),
        extra_clients={"venue": factory},  # type: ignore[dict-item]
        routes={s.name: "venue" for s in strategies},
    )
    eng = node.engine
    eng.start()
    assert node.safety is not None
    node.safety.startup()
    feed = SimFeed(cfg.market_data.sim, seed=5, start_ts=cfg.market_data.start_ts, duration_s=300)
    for batch in feed.iter_batches():
        eng.process_batch(batch)
    eng.finish()  # checks every ledger
    venue = factory.made[0]  # type: ignore[attr-defined]
    assert len(venue.submitted) > 50 and eng.fill_seq > 10
    assert all(r.errors == 0 for r in eng.runners.values())
    for r in eng.runners.values():  # nothing is reserved for orders the venue no longer holds
        held = {o.order_id for o in venue.open_orders(r.name)}
        assert {o.order_id for o in eng.open_orders(r.name, None)} == held


def _async_harness(cfg: Any = None, **venue: Any) -> Any:
    factory = fake_async(**venue)
    h = make_harness(cfg, client=factory)  # type: ignore[arg-type]
    return h, factory


def _fill_now(h: Any, t: float) -> None:
    """Two venue steps: acknowledge, then fill."""
    h.at(t)
    h.at(t + 0.5)


def test_exit_waits_for_the_venue_and_reports_what_was_sold() -> None:
    h, _ = _async_harness(make_config({"exits": {"rules": {"stop_loss_pct": 10}}}))
    h.buy("s1", "Y1", 100, None)
    _fill_now(h, T0 + 0.5)
    assert h.pf("s1").qty("Y1") == sh(100)
    h.set_book("Y1", [(0.44, 1000)], [(0.46, 1000)], T0 + 2)
    h.at(T0 + 3)  # the exit fires: its order is only sent
    assert h.pf("s1").qty("Y1") == sh(100) and h.writer.events("exit") == []
    sells = [o for o in h.engine.orders.values() if o.side is Side.SELL]
    assert len(sells) == 1
    h.at(T0 + 3.2)  # accepted; the exit manager does not send a second order meanwhile
    assert len([o for o in h.engine.orders.values() if o.side is Side.SELL]) == 1
    h.at(T0 + 3.4)  # filled
    assert h.pf("s1").qty("Y1") == 0
    ev = h.writer.events("exit")[-1]
    assert "sold 100.00 of 100.00 shares at 0.4400 (filled)" in ev["message"]
    h.pf("s1").check_ledger()


def test_kill_switch_flatten_stays_reducing_until_the_venue_fills() -> None:
    h, _ = _async_harness()
    h.buy("s1", "Y1", 100, None)
    _fill_now(h, T0 + 0.5)
    assert h.pf("s1").qty("Y1") == sh(100)
    h.safety.activate_kill_switch("risk check", "cli", flatten=True)
    assert h.safety.kill.state is TradingState.REDUCING
    assert h.pf("s1").qty("Y1") == sh(100)  # the closing order is only sent
    h.at(T0 + 6)  # a flatten retry is due, but the close is in flight: no second order
    closes = [o for o in h.engine.orders.values() if o.reduce_only and o.side is Side.SELL]
    assert len(closes) == 1 and h.safety.kill.state is TradingState.REDUCING
    h.at(T0 + 7)  # filled
    assert h.pf("s1").qty("Y1") == 0
    out = h.writer.events("close_outcome")[-1]
    assert "sold 100.00 of 100.00 shares at 0.4900 (filled)" in out["message"]
    h.at(T0 + 12)
    assert h.safety.kill.state is TradingState.HALTED
    assert h.writer.events("kill_switch")[-1]["message"].startswith(
        "Kill switch REDUCING -> HALTED: nothing left to close"
    )
    h.pf("s1").check_ledger()


def test_a_close_the_venue_never_answers_times_out_and_says_so() -> None:
    cfg = make_config({"execution": {"close_timeout_s": 5}})
    h, factory = _async_harness(cfg)
    h.buy("s1", "Y1", 100, None)
    _fill_now(h, T0 + 0.5)
    assert h.pf("s1").qty("Y1") == sh(100)
    venue = factory.made[0]
    venue.silent = True  # the connection hangs: no ack, no fill, no cancel confirmation
    msg = h.safety.close_position("s1", "Y1", "manual", "cli")
    assert "sent to sell 100.00 shares" in msg and "the outcome follows" in msg
    h.at(T0 + 3)
    assert h.writer.events("close_outcome") == []
    h.at(T0 + 7)  # past close_timeout_s: a cancel is requested and the outcome reported
    out = h.writer.events("close_outcome")[-1]
    assert "sold 0.00 of 100.00 shares (pending)" in out["message"]
    assert "timed out after 5 s, cancel of the rest requested" in out["message"]
    assert out["severity"] == "warning" and json.loads(out["data_json"])["order_id"] > 0
    assert h.pf("s1").available_qty("Y1") == 0  # still offered until the venue confirms
    venue.silent = False
    h.at(T0 + 8)  # the venue is back: acknowledges, then honours the cancel
    h.at(T0 + 9)
    assert h.engine.open_orders("s1", "Y1") == []
    assert h.pf("s1").available_qty("Y1") == sh(100)  # nothing stays reserved
    h.pf("s1").check_ledger()


def test_reconciliation_names_every_difference_with_the_venue() -> None:
    h, factory = _async_harness()
    h.buy("s1", "Y1", 10, 0.40)  # rests at the venue
    h.buy("s2", "Y1", 10, None)
    _fill_now(h, T0 + 0.5)
    assert h.engine.reconcile() == []
    venue = factory.made[0]
    resting = next(o for o in venue.open_orders() if o.strategy == "s1")
    # The venue lost an order (a missed cancel), and reports a fill the engine never heard of.
    del venue._orders[resting.order_id]
    filled_order = next(o for o in h.engine.orders.values() if o.strategy == "s2")
    venue.filled[filled_order.order_id] += sh(1)
    diffs = h.engine.reconcile()
    assert diffs == [
        f"test: the engine thinks order {resting.order_id} works; the venue has no such order",
        f"test: order {filled_order.order_id} filled 11.00 at the venue, 10.00 in the engine",
    ]
    paper = make_harness()
    paper.buy("s1", "Y1", 10, 0.40)
    paper.buy("s2", "Y1", 10, None)
    assert paper.engine.reconcile() == []
