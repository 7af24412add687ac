"""Complement arbitrage on crafted books: entries, limits, sell side, leg-risk repair, P&L."""

from __future__ import annotations

from services.execution.orders import OrderStatus, TimeInForce
from services.instruments import Side
from services.money import LOT, MICRO
from services.strategies.complement_arb import ComplementArbitrage
from tests.strategies.harness import Harness, binary, px, sh, with_params


def arb(**params: object) -> ComplementArbitrage:
    return with_params(ComplementArbitrage, **params)  # type: ignore[return-value]


def setup(
    h: Harness,
    yes_ask: float,
    no_ask: float,
    yes_size: float = 200,
    no_size: float = 200,
    **kw: object,
) -> None:
    y, n = binary(**kw)  # type: ignore[arg-type]
    h.list(y, n)
    h.books(
        ("Y1", [(round(yes_ask - 0.02, 3), 300)], [(yes_ask, yes_size)]),
        ("N1", [(round(no_ask - 0.02, 3), 300)], [(no_ask, no_size)]),
    )


def test_buys_both_legs_when_asks_sum_below_one() -> None:
    h = Harness(arb())
    setup(h, 0.45, 0.50, yes_size=120, no_size=300)
    buys = h.orders()
    assert [(o.instrument_id, o.side, o.price, o.tif) for o in buys] == [
        ("Y1", Side.BUY, px(0.45), TimeInForce.FAK),
        ("N1", Side.BUY, px(0.50), TimeInForce.FAK),
    ]
    # Sized to the thinner book (120 shares of YES at the ask), both legs equal.
    assert {o.size for o in buys} == {sh(120)}
    assert all(o.status is OrderStatus.FILLED for o in buys)
    assert h.qty("Y1") == h.qty("N1") == sh(120)
    assert "asks sum 0.9500" in buys[0].reason and "locks 6.00 USDC" in buys[0].reason
    # Resolution pays 1 per pair: 120 * (1 - 0.95) = 6 USDC, no fees on this market.
    h.resolve("M1", ("Y1", 1), ("N1", 0), dt=10)
    assert h.pnl() == 6 * MICRO
    assert h.pf().wins == 1 and h.pf().losses == 0


def test_stays_out_without_edge_or_when_fees_eat_it() -> None:
    h = Harness(arb())
    setup(h, 0.50, 0.498)  # 0.998: below 1 but under the 0.005 margin
    assert h.orders() == []
    h2 = Harness(arb())
    setup(h2, 0.48, 0.50, fee_rate="0.07")  # 0.98 + ~0.035 of fees > 1
    assert h2.orders() == []
    h3 = Harness(arb())
    setup(h3, 0.48, 0.50, fee_rate="0.01")  # 0.98 + ~0.005 of fees: still pays 0.015 > margin
    assert len(h3.orders()) == 2
    y = h3.orders()[0]
    assert y.fees > 0 and "fees" in y.reason


def test_respects_caps_min_size_and_lot_grid() -> None:
    h = Harness(arb(sizing={"max_shares": 37.555}))
    setup(h, 0.40, 0.50)
    assert {o.size for o in h.orders()} == {sh("37.55")}  # floored to the 0.01 lot
    assert all(o.size % LOT == 0 for o in h.orders())
    h2 = Harness(arb())
    setup(h2, 0.40, 0.50, yes_size=3)  # thinnest leg below the 5-share minimum
    assert h2.orders() == []
    h3 = Harness(arb(sizing={"notional_usd": 45}))  # 45 USD / 0.90 per pair = 50 pairs
    setup(h3, 0.40, 0.50)
    assert {o.size for o in h3.orders()} == {sh(50)}


def test_does_not_retake_a_consumed_level_and_buys_each_dislocation_once() -> None:
    h = Harness(arb(cooldown_s=2))
    setup(h, 0.45, 0.50, yes_size=100, no_size=100)
    assert len(h.orders()) == 2
    # Unrelated bid change, same asks: the asks we took are still displayed but not ours to take.
    h.delta("Y1", (Side.BUY, 0.43, 250), dt=3)
    assert len(h.orders()) == 2
    # The feed refreshes the ask levels: still the same dislocation, already captured.
    h.delta("Y1", (Side.SELL, 0.45, 90), dt=1)
    h.delta("N1", (Side.SELL, 0.50, 80))
    assert len(h.orders()) == 2
    # The pair goes back to fair, then a new dislocation appears: buy it (the NO ask we took
    # from now shows 80 more than our 100).
    h.delta("Y1", (Side.SELL, 0.45, 0), (Side.SELL, 0.51, 100), dt=1)
    h.delta("N1", (Side.SELL, 0.50, 180))
    h.delta("Y1", (Side.SELL, 0.46, 70), dt=1)
    assert len(h.orders()) == 4
    assert {o.size for o in h.orders()[2:]} == {sh(70)}


def test_rebuying_refreshed_levels_can_be_allowed_after_the_cooldown() -> None:
    h = Harness(arb(cooldown_s=2, once_per_dislocation=False))
    setup(h, 0.45, 0.50, yes_size=100, no_size=100)
    h.delta("Y1", (Side.SELL, 0.45, 90), dt=1)
    h.delta("N1", (Side.SELL, 0.50, 80))
    assert len(h.orders()) == 2  # refreshed, but inside the cooldown
    # Levels a strategy took from offer it only what they show beyond what it took.
    h.delta("Y1", (Side.SELL, 0.45, 190), dt=2)
    h.delta("N1", (Side.SELL, 0.50, 180))
    assert len(h.orders()) == 4
    assert {o.size for o in h.orders()[2:]} == {sh(80)}


def test_sells_held_pairs_when_bids_sum_above_one() -> None:
    h = Harness(arb())
    setup(h, 0.45, 0.50, yes_size=100, no_size=100)
    assert h.qty("Y1") == sh(100)
    h.books(("Y1", [(0.55, 60)], [(0.57, 100)]), ("N1", [(0.48, 200)], [(0.50, 100)]), dt=5)
    sells = [o for o in h.orders() if o.side is Side.SELL]
    assert {(o.instrument_id, o.price, o.size) for o in sells} == {
        ("Y1", px(0.55), sh(60)),
        ("N1", px(0.48), sh(60)),
    }
    assert "bids sum 1.0300" in sells[0].reason
    assert h.qty("Y1") == h.qty("N1") == sh(40)


def test_leg_risk_completes_the_short_leg_while_still_profitable() -> None:
    """With latency, the NO ask shrinks before our FAK arrives: complete it higher up."""
    h = Harness(arb(), latency_ms=100)
    setup(h, 0.45, 0.50, yes_size=100, no_size=100)
    assert [o.status for o in h.orders()] == [OrderStatus.PENDING] * 2
    # Before the orders land, the NO ask level shrinks to 30 and a new level shows at 0.52.
    h.delta("N1", (Side.SELL, 0.50, 30), (Side.SELL, 0.52, 500), dt=0.05)
    h.wait(0.1)  # orders arrive: YES fills 100, NO only 30
    first = h.orders()[:2]
    assert [o.filled for o in first] == [sh(100), sh(30)]
    h.wait(0.2)  # the repair order travels and fills
    repair = h.orders()[2]
    assert (repair.instrument_id, repair.side, repair.price, repair.size) == (
        "N1",
        Side.BUY,
        px(0.52),
        sh(70),
    )
    assert "leg repair" in repair.reason and "complete" in repair.reason
    assert h.qty("Y1") == h.qty("N1") == sh(100)
    h.resolve("M1", ("Y1", 0), ("N1", 1), dt=5)
    # 100 pairs: paid 45 + 15 + 36.4 = 96.4 for a payout of 100.
    assert h.pnl() == sh("3.6")


def test_leg_risk_sells_the_excess_when_completing_would_lose() -> None:
    h = Harness(arb(), latency_ms=100)
    setup(h, 0.45, 0.50, yes_size=100, no_size=100)
    # The NO offer vanishes; the next one is at 0.60: 0.45 + 0.60 > 1, so completing loses.
    h.delta("N1", (Side.SELL, 0.50, 0), (Side.SELL, 0.60, 500), dt=0.05)
    h.wait(0.1)
    assert [o.filled for o in h.orders()[:2]] == [sh(100), 0]
    h.wait(0.2)
    repair = h.orders()[2]
    assert (repair.instrument_id, repair.side, repair.tif) == ("Y1", Side.SELL, TimeInForce.FAK)
    assert repair.size == sh(100) and "excess" in repair.reason
    assert repair.filled == sh(100) and repair.avg_price == px(0.43)  # the YES bid
    assert h.qty("Y1") == h.qty("N1") == 0


def test_leg_repair_gives_up_below_min_size_and_keeps_working() -> None:
    h = Harness(arb(), latency_ms=100)
    setup(h, 0.45, 0.50, yes_size=100, no_size=100)
    h.delta("N1", (Side.SELL, 0.50, 97), dt=0.05)  # 3 shares short: below the 5-share minimum
    h.wait(0.5)
    assert h.qty("Y1") - h.qty("N1") == sh(3)
    assert len(h.orders()) == 2  # nothing it could legally send
    assert h.errors() == 0
