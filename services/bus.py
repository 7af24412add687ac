"""The one event path: every audit event (kill switch, breaker trip, auto-disable, risk
rejection, order failure, stage change, ...) is published here, and whoever records or forwards
events subscribes here: the database sink (``events`` rows) today, notifications and metrics later.

Publishing is synchronous and in order; a subscriber that raises is logged and counted, and never
stops trading or the other subscribers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

log = logging.getLogger(__name__)


class Severity(IntEnum):
    """How much an event matters (ordered, so subscribers can ask for "warning and up")."""

    INFO = 10
    WARNING = 20
    CRITICAL = 30

    @classmethod
    def of(cls, name: str) -> Severity:
        """Return the severity named ``"info"``, ``"warning"`` or ``"critical"``."""
        return cls[name.upper()]


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One audit event, as it becomes an ``events`` row."""

    ts: float
    kind: str
    message: str
    severity: str = "info"
    strategy: str | None = None
    instrument_id: str | None = None
    value: str | None = None
    limit: str | None = None
    data: dict[str, Any] | None = None


Subscriber = Callable[[AuditEvent], None]


class EventBus:
    """Fan audit events out to subscribers, each filtered by kind and minimum severity."""

    def __init__(self) -> None:
        self._subs: list[tuple[Subscriber, frozenset[str] | None, Severity]] = []
        self.published = 0
        self.subscriber_errors = 0

    def subscribe(
        self,
        fn: Subscriber,
        kinds: Iterable[str] | None = None,
        min_severity: str = "info",
    ) -> None:
        """Call ``fn`` for every later event of these ``kinds`` (all if None) and severity."""
        self._subs.append(
            (fn, frozenset(kinds) if kinds is not None else None, Severity.of(min_severity))
        )

    def publish(self, ev: AuditEvent) -> None:
        """Deliver one event to every matching subscriber, in subscription order."""
        self.published += 1
        sev = Severity.of(ev.severity)
        for fn, kinds, floor in self._subs:
            if (kinds is not None and ev.kind not in kinds) or sev < floor:
                continue
            try:
                fn(ev)
            except Exception:  # noqa: BLE001 - a broken subscriber must not stop trading
                self.subscriber_errors += 1
                log.exception(
                    "Event subscriber %r failed on a %s event.",
                    fn,
                    ev.kind,
                    extra={"kind": ev.kind},
                )

    def event(
        self,
        ts: float,
        kind: str,
        message: str,
        *,
        severity: str = "info",
        strategy: str | None = None,
        instrument_id: str | None = None,
        value: str | None = None,
        limit: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> AuditEvent:
        """Build and publish an event; return it."""
        ev = AuditEvent(ts, kind, message, severity, strategy, instrument_id, value, limit, data)
        self.publish(ev)
        return ev
