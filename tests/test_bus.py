"""The one event path: every audit event is published on the node's bus; the database sink and
any other subscriber (notifications, metrics) see the same events."""

from __future__ import annotations

from services.bus import AuditEvent, EventBus
from tests.risk.conftest import make_harness


def test_subscribers_filter_by_kind_and_severity_and_a_broken_one_is_isolated() -> None:
    bus = EventBus()
    everything: list[AuditEvent] = []
    critical: list[AuditEvent] = []
    kills: list[AuditEvent] = []

    def broken(ev: AuditEvent) -> None:
        raise RuntimeError("notifier down")

    bus.subscribe(everything.append)
    bus.subscribe(broken)
    bus.subscribe(critical.append, min_severity="critical")
    bus.subscribe(kills.append, kinds=["kill_switch"])
    bus.event(1.0, "risk_rejection", "too big", severity="warning")
    bus.event(2.0, "kill_switch", "stop", severity="critical", data={"state": "HALTED"})
    assert [e.kind for e in everything] == ["risk_rejection", "kill_switch"]
    assert [e.kind for e in critical] == ["kill_switch"] and kills == critical
    assert bus.subscriber_errors == 2 and bus.published == 2


def test_the_engine_and_safety_layer_publish_on_the_nodes_bus() -> None:
    h = make_harness()
    seen: list[AuditEvent] = []
    h.engine.bus.subscribe(seen.append, min_severity="warning")
    h.buy("s1", "Y1", 100_000, 0.5)  # far above the default order limit: a risk rejection
    h.safety.activate_kill_switch("feed looks wrong", "cli")
    kinds = [e.kind for e in seen]
    assert "risk_rejection" in kinds and "kill_switch" in kinds
    # The database sink subscribed to the same bus and stored the same events.
    stored = [e["kind"] for e in h.writer.events()]
    assert [k for k in stored if k in ("risk_rejection", "kill_switch")] == [
        k for k in kinds if k in ("risk_rejection", "kill_switch")
    ]
