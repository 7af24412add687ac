"""A book holding an off-grid level is not tradable until the book itself is clean (issue 12).

Real-shaped Polymarket frames (``tests/execution/pm_stream.py``) go through the production
translator into a book and the live feed's validator, wired as ``PolymarketFeed`` wires them.
"""

from __future__ import annotations

import dataclasses

from services.events import BookSnapshot, TickSizeChange
from services.feeds import attach_data_gate
from services.instruments import Instrument, Side
from services.markets.polymarket.feed import apply_to_books
from services.monitors.data_validation import DataValidator
from services.orderbook import BookStore
from tests.execution.pm_stream import TOKEN, Stream, instrument
from tests.monitors import grid_fuzz
from utils.polymarket_config import ValidationConfig


class Healthy:
    """A live connection that has just received a message."""

    def __init__(self) -> None:
        self.last: float | None = None

    def is_healthy(self, instrument_id: str) -> bool:
        return True

    def last_message_ts(self, instrument_id: str) -> float | None:
        return self.last


class Gate:
    """The live feed's translator -> book -> validator path for one Stream."""

    def __init__(self, s: Stream) -> None:
        self.s = s
        self.books = BookStore()
        self.status = Healthy()
        tr = s.translator
        self.v = DataValidator(
            ValidationConfig(),
            self.books,
            status=self.status,
            ticks=tr.ticks,
            venue_top=tr.venue_top,
        )
        tr.sink = self.v

    def __call__(self, events: list) -> tuple[bool, str | None]:  # type: ignore[type-arg]
        t = self.s.ms / 1000
        self.status.last = t
        apply_to_books(self.books, events)
        return self.v.can_trade(TOKEN, t)

    def off_grid(self) -> int | None:
        return grid_fuzz.off_grid_level(self.books, self.s.inst)


def captured_book(s: Stream) -> list:  # type: ignore[type-arg]
    return s.book(
        [(".38", "120"), (".39", "55.5"), (".40", "210.25")],
        [(".42", "150"), (".43", "64.1"), (".44", "80")],
    )


def test_a_clean_update_of_another_level_does_not_make_an_off_grid_book_tradable() -> None:
    s = Stream()  # tick 0.01
    gate = Gate(s)
    assert gate(captured_book(s)) == (True, None)
    assert gate(s.change((Side.BUY, ".405", "300"))) == (False, "bad_data:off_grid")
    # A clean update of other levels lifts the message-level block, but 0.405 is still in the book.
    ok, why = gate(s.change((Side.SELL, ".44", "90")))
    assert gate.off_grid() == 405_000
    assert (ok, why) == (False, "off_grid_book")
    assert gate(s.change((Side.BUY, ".38", "100"), (Side.SELL, ".43", "70"))) == (
        False,
        "off_grid_book",
    )
    failures = gate.v.take_failures()
    assert [f.reason for f in failures] == ["bad_data:off_grid", "off_grid_book"]
    assert "405000" in failures[-1].detail
    # The venue removes the level (size 0 at the off-grid price): the book is clean again.
    assert gate(s.change((Side.BUY, ".405", "0"))) == (True, None)
    assert gate.off_grid() is None


def test_a_clean_snapshot_lifts_the_off_grid_block() -> None:
    s = Stream()
    gate = Gate(s)
    gate(captured_book(s))
    gate(s.change((Side.SELL, ".415", "500")))
    assert gate(s.change((Side.BUY, ".40", "300")))[1] == "off_grid_book"
    assert gate(captured_book(s)) == (True, None)


def test_a_tick_change_from_0_001_to_0_01_blocks_until_the_book_is_on_the_new_grid() -> None:
    s = Stream(tick="0.001")
    gate = Gate(s)
    fine = s.book(
        [(".950", "500"), (".955", "400"), (".957", "300")],
        [(".962", "300"), (".965", "400"), (".97", "500")],
    )
    assert gate(fine) == (True, None)
    # The venue coarsens the grid: 0.955, 0.957, 0.962, 0.965 are now between ticks.
    events = s.tick_change("0.01")
    assert any(isinstance(ev, TickSizeChange) and ev.tick == 10_000 for ev in events)
    assert gate(events) == (False, "off_grid_book")
    assert gate.off_grid() is not None
    # Clean deltas on other levels do not lift it; removing every off-grid level does.
    assert gate(s.change((Side.BUY, ".95", "600")))[1] == "off_grid_book"
    assert gate(
        s.change((Side.BUY, ".955", "0"), (Side.BUY, ".957", "0"), (Side.SELL, ".962", "0"))
    ) == (False, "off_grid_book")
    assert gate(s.change((Side.SELL, ".965", "0"), (Side.SELL, ".96", "400"))) == (True, None)
    assert gate.off_grid() is None


def test_a_finer_tick_keeps_a_clean_book_tradable() -> None:
    s = Stream()
    gate = Gate(s)
    assert gate(captured_book(s)) == (True, None)
    assert gate(s.tick_change("0.001")) == (True, None)
    assert gate(s.change((Side.BUY, ".405", "300"))) == (True, None)  # on the 0.001 grid
    assert gate(s.tick_change("0.01")) == (False, "off_grid_book")


def test_the_simulator_and_replay_gate_reads_the_engine_instruments_ladder() -> None:
    """Without a translator the gate checks the book against the engine's registry."""
    books = BookStore()
    registry: dict[str, Instrument] = {TOKEN: instrument("0.001")}
    _feed, v = attach_data_gate(
        _NoFeed(), ValidationConfig(min_depth_usd=0), books, instruments=registry
    )
    v.status.note(1.0)  # type: ignore[union-attr]
    books.apply_snapshot(
        BookSnapshot(1.0, TOKEN, ((955_000, 10_000_000),), ((962_000, 10_000_000),))
    )
    assert v.can_trade(TOKEN, 1.0) == (True, None)
    # The engine's _on_tick_change replaces the instrument in its registry.
    registry[TOKEN] = dataclasses.replace(registry[TOKEN], tick=10_000)
    assert v.can_trade(TOKEN, 1.0) == (False, "off_grid_book")


class _NoFeed:
    name = "none"


def test_fuzz_off_grid_books_are_never_tradable_and_nothing_crashes() -> None:
    """A few thousand mutated real-shaped frames; the 100,000-frame run is
    ``benchmarks/fuzz_off_grid.py`` (figures in docs/RELIABILITY.md)."""
    for seed, config in ((12, grid_fuzz.PERMISSIVE), (13, ValidationConfig())):
        res = grid_fuzz.run(3_000, seed=seed, config=config)
        assert res.crashes == 0, res.examples
        assert res.off_grid_tradable == 0, res.examples
        # the fuzz reaches both states the invariant is about
        assert res.tradable_checks > 100 and res.off_grid_blocked > 100
