"""Feeding mid-price paths to clock-driven strategies."""

from __future__ import annotations

from tests.strategies.harness import Harness


def step(
    h: Harness,
    mid_ticks: int,
    n: int = 1,
    dt: float = 1.0,
    half: int = 1,
    tick: float = 0.01,
    size: float = 200,
) -> None:
    """Set market ``n`` to a YES mid of ``mid_ticks`` ticks (spread 2 * half ticks); timers run."""
    bid, ask = (mid_ticks - half) * tick, (mid_ticks + half) * tick
    h.books(
        (f"Y{n}", [(round(bid, 4), size)], [(round(ask, 4), size)]),
        (f"N{n}", [(round(1 - ask, 4), size)], [(round(1 - bid, 4), size)]),
        dt=dt,
    )


def path(h: Harness, mids: list[int], **kw: object) -> None:
    """Run :func:`step` for each mid of a path."""
    for m in mids:
        step(h, m, **kw)  # type: ignore[arg-type]
