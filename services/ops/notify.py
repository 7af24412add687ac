"""Outbound notifications: audit events from the one event path, sent through apprise.

The :class:`Notifier` subscribes to :class:`services.bus.EventBus` (no hook in the engine). Its
subscriber only decides and enqueues (microseconds, on the event loop); a named background thread
does the network work, so a slow or dead notification service never slows trading. A failed send
is retried ``retries`` times with a doubling backoff, then logged and counted.

What is sent is decided by :class:`NotifyPolicy` (pure; wall time passed in):

* kinds and minimum severity from ``notifications.kinds`` / ``min_severity``;
* identical events (kind, strategy, message) within ``dedup_window_s`` fold into one; the next one
  sent says how many were folded;
* at most ``rate_limit_per_kind`` notifications of one kind per ``rate_window_s``; the next one
  sent after the window says how many were held back;
* inside ``quiet_hours`` (UTC) only critical events are sent.

apprise: ``Apprise.add(url)`` then ``Apprise.notify(body=, title=, notify_type=)`` returns True when
every service accepted it (https://github.com/caronc/apprise/wiki/Development_API).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from services.bus import AuditEvent, EventBus, Severity
from utils.ops_config import NotificationsConfig, QuietHours
from utils.redact import redact_secrets

log = logging.getLogger(__name__)

Sender = Callable[[str, str, str], bool]
"""``send(title, body, severity) -> delivered``."""


@dataclass(frozen=True, slots=True)
class Notification:
    """One message to send."""

    title: str
    body: str
    severity: str = "info"
    kind: str = "message"


def _minute_of_day(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def in_quiet_hours(q: QuietHours, wall: float) -> bool:
    """Return True when wall time ``wall`` (epoch s) falls in the daily UTC window ``q``."""
    t = datetime.fromtimestamp(wall, UTC)
    now = t.hour * 60 + t.minute
    start, end = _minute_of_day(q.start), _minute_of_day(q.end)
    if start == end:
        return False
    if start < end:
        return start <= now < end
    return now >= start or now < end  # wraps midnight


@dataclass
class PolicyCounters:
    """What the policy held back, since start."""

    folded: int = 0
    rate_limited: int = 0
    quiet: int = 0


@dataclass
class NotifyPolicy:
    """Decide which events become notifications (pure apart from its own memory)."""

    cfg: NotificationsConfig
    counters: PolicyCounters = field(default_factory=PolicyCounters)
    _seen: dict[tuple[str, str | None, str], float] = field(default_factory=dict)
    _folded: dict[tuple[str, str | None, str], int] = field(default_factory=dict)
    _sent: dict[str, deque[float]] = field(default_factory=dict)
    _held: dict[str, int] = field(default_factory=dict)

    def wants(self, ev: AuditEvent) -> bool:
        """Return True if the event's kind and severity are subscribed."""
        return ev.kind in self.cfg.kinds and Severity.of(ev.severity) >= Severity.of(
            self.cfg.min_severity
        )

    def decide(self, ev: AuditEvent, wall: float) -> Notification | None:
        """Return the notification to send for ``ev`` at wall time ``wall``, or None."""
        if not self.wants(ev):
            return None
        critical = Severity.of(ev.severity) >= Severity.CRITICAL
        q = self.cfg.quiet_hours
        if q is not None and not critical and in_quiet_hours(q, wall):
            self.counters.quiet += 1
            return None
        key = (ev.kind, ev.strategy, ev.message)
        last = self._seen.get(key)
        if last is not None and wall - last < self.cfg.dedup_window_s:
            self._folded[key] = self._folded.get(key, 0) + 1
            self.counters.folded += 1
            return None
        sent = self._sent.setdefault(ev.kind, deque())
        while sent and wall - sent[0] >= self.cfg.rate_window_s:
            sent.popleft()
        if len(sent) >= self.cfg.rate_limit_per_kind:
            self._held[ev.kind] = self._held.get(ev.kind, 0) + 1
            self.counters.rate_limited += 1
            return None
        sent.append(wall)
        self._seen[key] = wall
        if len(self._seen) > 10_000:  # forget old keys (bounded memory)
            cutoff = wall - self.cfg.dedup_window_s
            self._seen = {k: t for k, t in self._seen.items() if t >= cutoff}
        notes = []
        folded = self._folded.pop(key, 0)
        if folded:
            notes.append(f"{folded} identical event(s) folded since the last notice")
        held = self._held.pop(ev.kind, 0)
        if held:
            notes.append(f"{held} other {ev.kind} event(s) held back by the rate limit")
        return Notification(
            title=f"{self.cfg.title_prefix} {ev.severity.upper()} {ev.kind}".strip(),
            body=format_event(ev) + "".join(f"\n({n})" for n in notes),
            severity=ev.severity,
            kind=ev.kind,
        )


def format_event(ev: AuditEvent) -> str:
    """Return the body text of an event notification."""
    lines = [ev.message]
    if ev.strategy:
        lines.append(f"strategy: {ev.strategy}")
    if ev.instrument_id:
        lines.append(f"instrument: {ev.instrument_id}")
    if ev.value is not None:
        lines.append(f"value: {ev.value}" + (f" (limit {ev.limit})" if ev.limit else ""))
    lines.append(f"event time: {datetime.fromtimestamp(ev.ts, UTC):%Y-%m-%d %H:%M:%S} UTC")
    return "\n".join(lines)


def apprise_sender(urls: list[str], timeout_s: float = 10.0) -> Sender:
    """Return a sender that posts to every apprise URL in ``urls``."""
    import apprise

    ap = apprise.Apprise()
    for u in urls:
        if not ap.add(u):
            # The URL itself may carry a secret: name it redacted.
            raise ValueError(f"apprise does not understand the URL {redact_secrets(u)!r}")
    types = {
        "info": apprise.NotifyType.INFO,
        "warning": apprise.NotifyType.WARNING,
        "critical": apprise.NotifyType.FAILURE,
    }

    def send(title: str, body: str, severity: str) -> bool:
        return bool(
            ap.notify(
                body=body, title=title, notify_type=types.get(severity, apprise.NotifyType.INFO)
            )
        )

    return send


@dataclass
class DeliveryCounters:
    """Delivery outcomes, since start."""

    queued: int = 0
    sent: int = 0
    failed: int = 0
    retries: int = 0
    dropped: int = 0


class Notifier:
    """Subscribe to the bus, decide with :class:`NotifyPolicy`, deliver off the event loop.

    Parameters
    ----------
    cfg : NotificationsConfig
        The ``notifications`` section.
    send : Sender, optional
        Delivery function (default: apprise with ``cfg.urls``).
    wall : callable, default time.time
        Wall clock (epoch s) for folding, rate limits and quiet hours.
    sleep : callable, optional
        Backoff wait (default: waits on the stop event, so ``stop()`` interrupts it).
    """

    def __init__(
        self,
        cfg: NotificationsConfig,
        send: Sender | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.cfg = cfg
        self.policy = NotifyPolicy(cfg)
        self.counters = DeliveryCounters()
        self._send = send if send is not None else apprise_sender(cfg.url_values())
        self._wall = wall
        self._q: queue.Queue[Notification | None] = queue.Queue(maxsize=cfg.queue_max)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.on_outcome: Callable[[str, Notification], None] | None = None
        """Called with ("sent" | "failed" | "dropped", notification) (metrics)."""

    def subscribe(self, bus: EventBus) -> None:
        """Receive the subscribed kinds from ``bus``."""
        bus.subscribe(self.on_event, kinds=self.cfg.kinds, min_severity=self.cfg.min_severity)

    def on_event(self, ev: AuditEvent) -> None:
        """Bus subscriber: decide and enqueue (never blocks)."""
        n = self.policy.decide(ev, self._wall())
        if n is not None:
            self.submit(n)

    def submit(self, n: Notification) -> bool:
        """Queue ``n`` for delivery; return False (and count it) if the queue is full."""
        try:
            self._q.put_nowait(n)
        except queue.Full:
            self.counters.dropped += 1
            self._outcome("dropped", n)
            log.error("Notification queue full (%d): dropped %r.", self.cfg.queue_max, n.title)
            return False
        self.counters.queued += 1
        return True

    def start(self) -> None:
        """Start the delivery thread."""
        self._thread = threading.Thread(target=self._run, name="notifier", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Send what is queued (up to ``timeout_s``), then stop the thread."""
        if self._thread is None:
            return
        self._q.put(None)
        self._thread.join(timeout_s)
        self._stop.set()
        self._thread.join(1.0)
        if self._thread.is_alive():
            log.warning(
                "Notifier did not stop within %.1f s; %d queued.", timeout_s, self._q.qsize()
            )
        self._thread = None

    def drain(self, timeout_s: float = 10.0) -> bool:
        """Wait until the queue is empty and the last message handled (tests, ``notify test``)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._q.unfinished_tasks == 0:
                return True
            time.sleep(0.01)
        return False

    def _outcome(self, what: str, n: Notification) -> None:
        if self.on_outcome is not None:
            try:
                self.on_outcome(what, n)
            except Exception:  # noqa: BLE001 - metrics must never break delivery
                log.exception("Notification outcome hook failed.")

    def _run(self) -> None:
        while True:
            n = self._q.get()
            try:
                if n is None:
                    return
                self._deliver(n)
            finally:
                self._q.task_done()

    def deliver_now(self, n: Notification) -> bool:
        """Send ``n`` in the calling thread with the retry policy; return True if delivered."""
        return self._deliver(n)

    def _deliver(self, n: Notification) -> bool:
        backoff = self.cfg.retry_backoff_s
        for attempt in range(self.cfg.retries + 1):
            if attempt:
                self.counters.retries += 1
                if self._stop.wait(backoff):
                    break
                backoff *= 2
            try:
                if self._send(n.title, n.body, n.severity):
                    self.counters.sent += 1
                    self._outcome("sent", n)
                    return True
                err = "the service did not accept it"
            except Exception as exc:  # noqa: BLE001 - any failure of a send is retried
                err = redact_secrets(f"{type(exc).__name__}: {exc}")
            log.warning(
                "Notification %r not delivered (attempt %d of %d): %s.",
                n.title,
                attempt + 1,
                self.cfg.retries + 1,
                err,
                extra={"kind": n.kind},
            )
        self.counters.failed += 1
        self._outcome("failed", n)
        log.error("Notification %r given up after %d attempt(s).", n.title, self.cfg.retries + 1)
        return False
