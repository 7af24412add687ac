"""The engine writes a market's top row only when the top changed (issue 18: the same 60 rows were
upserted every second, 105k writer operations in a default 30-minute run)."""

from __future__ import annotations

from typing import Any

from services.instruments import Side
from tests.strategies.harness import Harness, binary


def test_a_top_row_is_written_when_the_top_changes_and_not_otherwise() -> None:
    h = Harness()
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
