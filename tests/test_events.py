"""The hot-path events are plain slotted classes (issue 18): they must behave as the frozen
dataclasses they replaced (equality by class and fields, hashing, repr, pickling)."""

from __future__ import annotations

import pickle

import pytest

from services.events import BookDelta, BookSnapshot, TickSizeChange, TradePrint
from services.instruments import Side

EVENTS = [
    BookSnapshot(1.5, "tok", ((400_000, 10_000_000),), ((600_000, 5_000_000),)),
    BookDelta(1.5, "tok", ((Side.BUY, 400_000, 0), (Side.SELL, 610_000, 1_000_000))),
    TradePrint(1.5, "tok", 410_000, 2_000_000, Side.SELL),
    TickSizeChange(1.5, "tok", 1_000),
]


@pytest.mark.parametrize("ev", EVENTS, ids=lambda e: type(e).__name__)
def test_events_compare_hash_print_and_pickle_by_value(ev: object) -> None:
    slots = type(ev).__slots__  # type: ignore[attr-defined]
    fields = {k: getattr(ev, k) for k in slots}
    twin = type(ev)(**fields)
    assert twin == ev and hash(twin) == hash(ev) and len({twin, ev}) == 1
    assert pickle.loads(pickle.dumps(ev)) == ev
    assert (
        repr(ev)
        == f"{type(ev).__name__}(" + ", ".join(f"{k}={v!r}" for k, v in fields.items()) + ")"
    )
    other = type(ev)(**{**fields, "ts": 2.0})
    assert other != ev
    assert not hasattr(ev, "__dict__")  # slotted: no stray attributes


def test_events_of_different_classes_with_equal_fields_differ() -> None:
    assert BookDelta(1.0, "a", ()) != TickSizeChange(1.0, "a", ())  # type: ignore[arg-type]
    assert BookDelta(1.0, "a", ()) != (1.0, "a", ())
