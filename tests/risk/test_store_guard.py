"""The store gate: no new positions while the database cannot be written (issue 12)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.portfolio import Portfolio
from services.risk.store_guard import StoreGuard, StoreGuardControl
from tests.risk.conftest import CAPITAL, intent, view


@dataclass
class FakeWriter:
    healthy: bool = True
    degraded_for_s: float = 0.0
    last_store_error: str = ""


class RecordingSink:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.states: list[tuple[str, Any]] = []

    def event(self, ts: float, kind: str, message: str, **kw: Any) -> None:
        self.events.append((kind, message))

    def state(self, key: str, value: Any, ts: float) -> None:
        self.states.append((key, value))


def test_control_refuses_entries_but_lets_exits_through_while_the_store_fails() -> None:
    w = FakeWriter()
    control = StoreGuardControl(w)
    pf = Portfolio("s1", CAPITAL)
    buy = intent()
    assert control.check(buy, view(buy, pf)) is None
    w.healthy, w.degraded_for_s, w.last_store_error = False, 12.0, "OperationalError: locked"
    rej = control.check(buy, view(buy, pf))
    assert rej is not None and rej.control == "store"
    assert "cannot be written" in rej.message and "no new positions" in rej.message
    assert (rej.value, rej.limit) == ("degraded", "healthy")
    exit_ = intent(reduce_only=True)
    assert control.check(exit_, view(exit_, pf)) is None


def test_guard_records_changes_once_and_gives_up_after_the_limit() -> None:
    w = FakeWriter()
    sink = RecordingSink()
    guard = StoreGuard(w, sink, lambda: 5.0, max_outage_s=30, spool_path="/x/bot.db.spool")  # type: ignore[arg-type]
    assert guard.poll() is None and sink.events == []
    w.healthy, w.degraded_for_s, w.last_store_error = False, 1.0, "OperationalError: disk is full"
    assert guard.poll() is None
    assert guard.poll() is None
    assert [k for k, _ in sink.events] == ["store_degraded"]
    assert "disk is full" in sink.events[0][1]
    w.healthy, w.degraded_for_s = True, 0.0
    assert guard.poll() is None
    assert [k for k, _ in sink.events] == ["store_degraded", "store_recovered"]
    w.healthy, w.degraded_for_s = False, 31.0
    message = guard.poll()
    assert message is not None
    assert "store_outage_max_s = 30" in message and "/x/bot.db.spool" in message
    assert "start the bot again" in message
    assert [v["status"] for k, v in sink.states if k == "store_health"] == [
        "degraded",
        "healthy",
        "degraded",
    ]


def test_guard_publishes_on_the_bus_when_given_one() -> None:
    # Issue 17: the outage events reach notifications and metrics through the one event path.
    from services.bus import AuditEvent, EventBus

    w = FakeWriter()
    sink = RecordingSink()
    bus = EventBus()
    seen: list[AuditEvent] = []
    bus.subscribe(seen.append)
    guard = StoreGuard(w, sink, lambda: 5.0, 30, "/x/bot.db.spool", bus=bus)  # type: ignore[arg-type]
    w.healthy, w.degraded_for_s, w.last_store_error = False, 1.0, "OperationalError: disk is full"
    guard.poll()
    w.healthy, w.degraded_for_s = True, 0.0
    guard.poll()
    assert [(e.kind, e.severity) for e in seen] == [
        ("store_degraded", "critical"),
        ("store_recovered", "warning"),
    ]
    assert sink.events == []  # the bus's database subscriber writes the rows instead
