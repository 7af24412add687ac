"""The simulator's event stream is pinned: optimising it must not change one event (issue 18).

The expected digests were computed on the code before the simulator's generation was optimised
(commit 366b544) with ``tests/markets/sim_stream.py``; any change of an event's value or type, of
the batches, or of the order of random draws changes them. If the simulator's behaviour is ever
changed on purpose, recompute them (``python -m tests.markets.sim_stream``) and say so in the
commit: every seeded run of the bot changes with them.
"""

from __future__ import annotations

import pytest

from tests.markets.sim_stream import WORKLOADS, stream_digest

EXPECTED = {
    "default-seed7-240s": (
        "8e1d94f07a458b92b34eca6b1e94ed89ccc77022449a79e3257ed7a2030a84be",
        4337,
        44928,
    ),
    "default-seed11-120s": (
        "dc7ed19d83f1a5ca2a103eb5ba382b0a1169f091a262273b54a8d1af8e3a7e73",
        2175,
        23675,
    ),
    "busy-seed3-200s": (
        "5d798a20a958f13c8e0806d4b7f310b179ba64a37110bfb4db5dcdd9a36cc7ff",
        3534,
        33403,
    ),
    "adopted-seed5-300s": (
        "47358f682ad83e2b4c9e22e7e3dc9a6dd83d854d5888cd8a6dd410991db9b683",
        4355,
        15990,
    ),
}


@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_generated_stream_is_byte_identical_to_the_pinned_one(name: str) -> None:
    digest, batches, events = stream_digest(WORKLOADS[name]())
    want_digest, want_batches, want_events = EXPECTED[name]
    assert (batches, events) == (want_batches, want_events)
    assert digest == want_digest
