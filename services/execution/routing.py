"""Pinning strategies to a live execution client at start (shared by the venues' live runtimes)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def pin_live_routes(
    engine: Any,
    names: Iterable[str],
    route: str,
    lifecycle: Any = None,
    key: str = "live.strategies",
) -> None:
    """Route each strategy in ``names`` (the venue's config list ``key``) to the client ``route``.

    An explicit override of graduation's stage route: the lifecycle manager's pending route
    change for the strategy is dropped, and each move is a ``live_route`` warning event. A
    strategy with orders still working on its old client stays there (the engine refuses to
    move it), which is also an event.
    """
    now = engine.clock.now()
    for name in names:
        if lifecycle is not None:
            lifecycle.route_target.pop(name, None)
        old = engine.client_of(name).name
        if old == route:
            continue
        try:
            engine.set_route(name, route)
        except ValueError as exc:  # orders still working on paper: stay there
            engine.bus.event(
                now, "live_route", f"{name} stays on {old}: {exc}", severity="warning",
                data={"from": old, "to": route}, strategy=name,
            )  # fmt: skip
            continue
        engine.bus.event(
            now, "live_route",
            f"{name} routes orders to {route} (was {old}): named in {key}",
            severity="warning", data={"from": old, "to": route}, strategy=name,
        )  # fmt: skip
