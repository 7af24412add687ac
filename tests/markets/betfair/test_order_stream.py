"""Fills from Betfair's ORDER stream (``orderSubscription``/``ocm``), polling as the fallback.

The real betfairlightweight stream client talks TLS to the fake Stream API, which pushes an
``ocm`` (``oc`` -> ``orc`` -> ``uo`` with cumulative ``sm``/``avp``/``status``) for every change
of a bet at the fake Betting API. The order stream is dropped and a bet matched while nobody
listens: the fill arrives once (from the fallback poll or the resubscription's image, never
twice), and the stream resubscribes with its last ``clk``.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.execution.orders import OrderStatus
from services.markets.betfair.execution import BetfairExecutionClient
from services.markets.betfair.order_stream import BetfairOrderStream
from services.money import MICRO
from tests.markets.betfair.fake_betfair import FakeBetfair, serve
from tests.markets.betfair.test_live_client import R1, Live

pytest.importorskip("betfairlightweight")
pytest.importorskip("cryptography")
from tests.markets.betfair.fake_stream import FakeStream  # noqa: E402

LIST = "SportsAPING/v1.0/listCurrentOrders"


class Wired:
    """The Live harness with an order stream feeding its client (as the runtime does)."""

    def __init__(self, venue: FakeBetfair, url: str, tmp: Path) -> None:
        self.live = Live(venue, url)
        self.client: BetfairExecutionClient = self.live.clients[0]
        self.server = FakeStream([], tmp, app_key="key", session=venue.session_token)
        self.server.orders = venue
        self.inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.states: list[bool] = []
        self.stream = BetfairOrderStream(
            self.live.trading,
            f"127.0.0.1:{self.server.port}",
            lambda m: self.inbox.put(("ocm", m)),
            lambda up, why: self.inbox.put(("state", up)),
            backoff_max_s=1.0,
        )
        self.stream.start()
        self.until(lambda: self.states == [True], "the order stream")

    def until(self, cond: Any, what: str) -> None:
        def step() -> bool:
            while not self.inbox.empty():
                kind, x = self.inbox.get()
                if kind == "ocm":
                    self.client.on_order_change(x, self.live.t)
                else:
                    self.states.append(x)
                    self.client.set_stream(x)
            self.live.node.engine.process_batch([])  # apply the events the client emitted
            return bool(cond())

        self.live.until(step, what)

    def close(self) -> None:
        self.stream.stop()
        self.server.close()


@pytest.fixture
def wired(tmp_path: Path) -> Iterator[tuple[FakeBetfair, Wired]]:
    venue = FakeBetfair()
    server, url = serve(venue)
    w = Wired(venue, url, tmp_path)
    yield venue, w
    w.close()
    server.shutdown()


def test_a_fill_arrives_on_the_order_stream_without_polling(
    wired: tuple[FakeBetfair, Wired],
) -> None:
    venue, w = wired
    o = w.live.ctx.back(R1, 10 * MICRO, int(2.6 * MICRO), persist=True)
    assert o is not None
    w.until(lambda: o.status is OrderStatus.OPEN, "the acceptance")
    polls = venue.calls.count(LIST)
    (bet,) = venue.bets.values()
    venue.match(bet.bet_id, 4.0)
    w.until(lambda: o.filled == 4 * MICRO, "the streamed fill")
    venue.match(bet.bet_id, 6.0)
    w.until(lambda: o.status is OrderStatus.FILLED, "the rest, streamed")
    assert venue.calls.count(LIST) == polls  # the stream said it all
    assert o.filled_notional == 26 * MICRO
    pf = w.live.node.engine.runners["s"].portfolio
    assert pf.qty(R1) == 26 * MICRO
    pf.check_ledger()


def test_a_dropped_stream_falls_back_to_polling_and_a_fill_while_disconnected_counts_once(
    wired: tuple[FakeBetfair, Wired],
) -> None:
    venue, w = wired
    o = w.live.ctx.back(R1, 10 * MICRO, int(2.6 * MICRO), persist=True)
    assert o is not None
    w.until(lambda: o.status is OrderStatus.OPEN, "the acceptance")
    (bet,) = venue.bets.values()
    venue.match(bet.bet_id, 2.0)
    w.until(lambda: o.filled == 2 * MICRO, "the streamed fill")
    w.server.drop_orders()
    w.until(lambda: w.states[-1] is False, "the drop noticed")
    assert w.client.stream_up is False
    venue.match(bet.bet_id, 3.0)  # matched while the stream is down
    w.until(lambda: o.filled == 5 * MICRO, "the fill while disconnected (polled)")
    assert venue.calls.count(LIST) >= 1
    w.until(lambda: w.states[-1] is True, "the reconnection")
    first, second = w.server.order_subscriptions
    assert first.get("clk") is None and second["clk"] and second["initialClk"] == "init-orders"
    # The resubscription's image repeats the cumulative 5.0 matched: nothing is added twice.
    w.until(lambda: w.inbox.empty(), "the image applied")
    assert o.filled == 5 * MICRO and o.taker_fills == 2
    pf = w.live.node.engine.runners["s"].portfolio
    assert pf.qty(R1) == 13 * MICRO
    pf.check_ledger()


def test_the_stream_reports_a_bet_before_its_place_answer(
    wired: tuple[FakeBetfair, Wired],
) -> None:
    """The ``uo`` may beat the placeOrders answer: the bet is found by its ``rfo``."""
    venue, w = wired
    venue.match_at_once = 1.0
    venue.lose_answers = 1  # the HTTP answer is lost; the stream still tells
    o = w.live.ctx.back(R1, 3 * MICRO, int(2.5 * MICRO))
    assert o is not None
    w.until(lambda: o.status is OrderStatus.FILLED, "the fill from the stream")
    assert o.filled == 3 * MICRO and o.venue_order_id == next(iter(venue.bets))
    w.live.node.engine.runners["s"].portfolio.check_ledger()
