"""The engine writes a market's top row only when the top changed (issue 18: the same 60 rows were
upserted every second, 105k writer operations in a default 30-minute run)."""

from __future__ import annotations

from typing import Any

from services.instruments import Side
from tests.strategies.harness import Harness, binary


def test_a_top_row_is_written_when_the_top_changes_and_not_otherwise() -> None:
    h = Harness()
    h.engine.tops_wall_interval_s = 0.0  # every tick hands its rows over, as in a live run
    rows: list[dict[str, Any]] = []
    h.sink.top = rows.append  # type: ignore[method-assign]
    y, n = binary()
    h.list(y, n)
    h.book("Y1", [(0.48, 100), (0.47, 50)], [(0.52, 100)])
    h.wait(1.1)
    assert [r["instrument_id"] for r in rows] == ["Y1"]
    h.delta("Y1", (Side.BUY, 0.47, 80), dt=0.1)  # below the touch: the top is unchanged
    h.wait(1.1)
    assert len(rows) == 1
    h.delta("Y1", (Side.BUY, 0.48, 120), dt=0.1)  # size at the best bid changed
    h.wait(1.1)
    assert len(rows) == 2 and rows[-1]["bid_size"] == 120_000_000


def test_at_full_speed_tops_are_handed_over_by_wall_time_newest_row_per_instrument() -> None:
    # A replay at full speed ticks many market seconds per wall second: the rows of one
    # instrument in between would overwrite each other in the table, so only the newest goes.
    h = Harness()
    h.engine.tops_wall_interval_s = 3600.0  # no hand-over during the test but the first
    rows: list[dict[str, Any]] = []
    h.sink.top = rows.append  # type: ignore[method-assign]
    y, n = binary()
    h.list(y, n)
    h.book("Y1", [(0.48, 100)], [(0.52, 100)])
    h.wait(1.1)
    assert [r["best_bid"] for r in rows] == [480_000]  # the first tick hands over at once
    for size in (120, 130, 140):
        h.delta("Y1", (Side.BUY, 0.48, size), dt=0.1)
        h.wait(1.1)
    h.book("N1", [(0.40, 10)], [(0.60, 10)])
    h.wait(1.1)
    assert len(rows) == 1  # held: three tops of Y1 and one of N1 changed since
    h.engine.finish()  # a stop hands everything over
    assert [(r["instrument_id"], r["bid_size"]) for r in rows[1:]] == [
        ("Y1", 140_000_000),
        ("N1", 10_000_000),
    ]


def test_the_hand_over_interval_is_the_config_field() -> None:
    from services.clock import SimClock
    from services.node import build_node
    from services.persistence import NullSink
    from utils.config import parse_config

    cfg = parse_config({"competition": {"tops_write_interval_wall_s": 2.5}}, "c.yaml")
    engine = build_node(cfg, [], NullSink(), clock=SimClock(0.0), safety=False).engine
    assert engine.tops_wall_interval_s == 2.5
