"""Neg-risk (multi-outcome) arbitrage on crafted books: the whole set, limits, leg risk, P&L."""

from __future__ import annotations

from services.execution.orders import TimeInForce
from services.instruments import Side
from services.money import MICRO
from services.strategies.neg_risk_arb import NegRiskArbitrage
from tests.strategies.harness import Harness, binary, px, sh, with_params


def event(h: Harness, asks: list[tuple[float, float]], fee_rate: str = "0") -> None:
    insts = []
    for i in range(1, len(asks) + 1):
        insts.extend(binary(i, event_id="E1", fee_rate=fee_rate))
    h.list(*insts)
    h.books(*[(f"Y{i}", [(round(a - 0.02, 2), 500)], [(a, q)]) for i, (a, q) in enumerate(asks, 1)])


def test_buys_every_outcome_sized_to_the_thinnest_book() -> None:
    h = Harness(with_params(NegRiskArbitrage))
    event(h, [(0.30, 400), (0.25, 80), (0.40, 300)])  # sums to 0.95
    buys = h.orders()
    assert sorted((o.instrument_id, o.price, o.size, o.tif) for o in buys) == [
        ("Y1", px(0.30), sh(80), TimeInForce.FAK),
        ("Y2", px(0.25), sh(80), TimeInForce.FAK),
        ("Y3", px(0.40), sh(80), TimeInForce.FAK),
    ]
    assert buys[0].instrument_id == "Y2"  # the thinnest leg goes first
    assert "all 3 YES of event E1" in buys[0].reason
    for i in (1, 2, 3):
        h.resolve(f"M{i}", (f"Y{i}", 1 if i == 2 else 0), (f"N{i}", 0 if i == 2 else 1))
    assert h.pnl() == 4 * MICRO  # 80 sets * (1 - 0.95)
    assert h.pf().wins == 1 and h.pf().losses == 0  # one bet: the event


def test_stays_out_when_the_set_costs_too_much_or_is_incomplete() -> None:
    h = Harness(with_params(NegRiskArbitrage, min_edge=0.02))
    event(h, [(0.35, 400), (0.30, 400), (0.34, 400)])  # 0.99: pays 0.01 < the 0.02 margin
    assert h.orders() == []
    h1 = Harness(with_params(NegRiskArbitrage))
    event(h1, [(0.35, 400), (0.30, 400), (0.35, 400)])  # exactly 1: nothing to lock
    assert h1.orders() == []
    h2 = Harness(with_params(NegRiskArbitrage))
    insts = [*binary(1, event_id="E1"), *binary(2, event_id="E1"), *binary(3, event_id="E1")]
    h2.list(*insts)
    h2.books(("Y1", [(0.2, 100)], [(0.3, 100)]), ("Y2", [(0.2, 100)], [(0.3, 100)]))
    assert h2.orders() == []  # the third outcome has no ask yet: not a complete set
    h3 = Harness(with_params(NegRiskArbitrage, min_outcomes=4))
    event(h3, [(0.30, 400), (0.25, 400), (0.40, 400)])
    assert h3.orders() == []
    h4 = Harness(with_params(NegRiskArbitrage))
    event(h4, [(0.30, 400), (0.26, 400), (0.40, 400)], fee_rate="0.07")  # 0.96 + 0.045 fees > 1
    assert h4.orders() == []


def test_ignores_binary_markets_and_no_tokens() -> None:
    s = with_params(NegRiskArbitrage)
    h = Harness(s)
    y, n = binary(9)
    h.list(y, n, *binary(1, event_id="E1"), *binary(2, event_id="E1"))
    subscribed = set(h.engine.runners["s"].subscribed)
    assert subscribed == {"Y1", "Y2"}


def test_leg_risk_repair_on_a_three_leg_set() -> None:
    h = Harness(with_params(NegRiskArbitrage), latency_ms=100)
    event(h, [(0.30, 100), (0.25, 100), (0.40, 100)])
    assert len(h.orders()) == 3
    h.delta("Y3", (Side.SELL, 0.40, 20), (Side.SELL, 0.41, 500), dt=0.05)
    h.wait(0.1)
    assert sorted(o.filled for o in h.orders()[:3]) == [sh(20), sh(100), sh(100)]
    h.wait(0.2)
    repair = h.orders()[3]
    assert (repair.instrument_id, repair.side, repair.size, repair.price) == (
        "Y3",
        Side.BUY,
        sh(80),
        px(0.41),
    )
    assert {h.qty(f"Y{i}") for i in (1, 2, 3)} == {sh(100)}
    for i in (1, 2, 3):
        h.resolve(f"M{i}", (f"Y{i}", 1 if i == 1 else 0), (f"N{i}", 0 if i == 1 else 1))
    # Paid 30 + 25 + (20 * 0.40 + 80 * 0.41) = 95.8 for 100 sets paying 100.
    assert h.pnl() == sh("4.2")
