"""Fail closed when the database cannot be written.

The DB writer (:class:`database.writer.DbWriter`) never drops a row: while the store refuses
writes it holds and spools them and reports ``healthy == False``. This module turns that state into
trading decisions:

* :class:`StoreGuardControl`, a risk-chain control: no new positions while the store is failing
  (reducing intents and cancels still pass, so exits keep working);
* :class:`StoreGuard`, polled by the bot every ``STORE_POLL_S``: logs and records an event on every
  change (``store_degraded`` / ``store_recovered``), keeps ``bot_state["store_health"]`` current,
  and once the store has failed for longer than ``bot.store_outage_max_s`` asks the bot to stop
  trading and exit with :data:`EXIT_STORE` and a message that says what to do.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from services.intents import Intent
from services.risk.chain import Rejection, RiskView

if TYPE_CHECKING:
    from services.bus import EventBus
    from services.persistence import Sink

log = logging.getLogger(__name__)

EXIT_STORE = 3
"""Exit code of a bot that stopped because its database stayed unwritable."""

STORE_POLL_S = 0.25
"""Wall seconds between two looks at the writer's state."""


class StoreState(Protocol):
    """What the guard reads from the writer (``DbWriter`` provides it)."""

    @property
    def healthy(self) -> bool:
        """False while the store refuses writes."""
        ...

    @property
    def degraded_for_s(self) -> float:
        """Seconds the store has been failing (0.0 when healthy)."""
        ...

    @property
    def last_store_error(self) -> str:
        """The store's last error message."""
        ...


class AlwaysWritable:
    """The store state of a node without a database (tests, benchmarks): always healthy."""

    healthy = True
    degraded_for_s = 0.0
    last_store_error = ""


def store_state_of(writer: object) -> StoreState:
    """Return ``writer`` if it reports its health (``DbWriter``), else :class:`AlwaysWritable`."""
    if all(hasattr(writer, a) for a in ("healthy", "degraded_for_s", "last_store_error")):
        return writer  # type: ignore[return-value]
    return AlwaysWritable()


class StoreGuardControl:
    """Refuse new positions while the database cannot be written (reducing intents pass)."""

    name = "store"

    def __init__(self, writer: StoreState) -> None:
        self.writer = writer

    def check(self, intent: Intent, view: RiskView) -> Rejection | None:
        """Return a rejection for a non-reducing intent while the store is failing."""
        w = self.writer
        if w.healthy or intent.reduce_only:
            return None
        return Rejection(
            self.name,
            f"the database cannot be written for {w.degraded_for_s:.0f} s "
            f"({w.last_store_error or 'store failing'}): no new positions",
            "degraded",
            "healthy",
        )


class StoreGuard:
    """Watch the writer; record changes; give up after ``max_outage_s``.

    Parameters
    ----------
    writer : StoreState
        The DB writer.
    sink : Sink
        Where the ``store_*`` events and ``bot_state["store_health"]`` go (they wait in the
        writer with everything else while the store is down).
    now : Callable[[], float]
        The engine's clock (event timestamps).
    max_outage_s : float
        Longest outage before :meth:`poll` returns a stop message, seconds.
    spool_path : str
        Where held rows are spooled (for the messages).
    bus : EventBus, optional
        Publish the ``store_*`` events here instead (its database subscriber writes the same
        row; notifications and metrics see them too).
    """

    def __init__(
        self,
        writer: StoreState,
        sink: Sink,
        now: Callable[[], float],
        max_outage_s: float,
        spool_path: str,
        bus: EventBus | None = None,
    ) -> None:
        self.writer = writer
        self.sink = sink
        self.events: Any = bus if bus is not None else sink
        self.now = now
        self.max_outage_s = max_outage_s
        self.spool_path = spool_path
        self.degraded = False
        self.outages = 0
        self.stop_message: str | None = None

    def poll(self) -> str | None:
        """Look at the writer once; return the stop message when the outage lasted too long."""
        w = self.writer
        healthy = w.healthy
        if not healthy and not self.degraded:
            self.degraded = True
            self.outages += 1
            msg = (
                f"The database cannot be written ({w.last_store_error or 'store failing'}): "
                "no new positions until it is back; rows are held and spooled to "
                f"{self.spool_path}."
            )
            log.error(msg, extra={"store": "degraded"})
            self.events.event(self.now(), "store_degraded", msg, severity="critical")
            self._state("degraded", w.last_store_error)
        elif healthy and self.degraded:
            self.degraded = False
            msg = "The database is writable again; held rows were committed; trading resumes."
            log.warning(msg, extra={"store": "healthy"})
            self.events.event(self.now(), "store_recovered", msg, severity="warning")
            self._state("healthy", "")
        if not healthy and self.stop_message is None and w.degraded_for_s >= self.max_outage_s:
            self.stop_message = (
                f"The database could not be written for {w.degraded_for_s:.0f} s "
                f"(bot.store_outage_max_s = {self.max_outage_s:g}); last error: "
                f"{w.last_store_error or 'unknown'}. The bot stopped trading. Rows not yet "
                f"written are kept in {self.spool_path} and are written at the next start. "
                "Make the database writable (free disk space, stop the process that holds its "
                "lock, fix its permissions), then start the bot again."
            )
            log.critical(self.stop_message, extra={"store": "gave_up"})
        return self.stop_message

    def _state(self, status: str, error: str) -> None:
        self.sink.state(
            "store_health",
            {"status": status, "error": error, "outages": self.outages},
            self.now(),
        )

    async def run(self, on_give_up: Callable[[str], None]) -> None:
        """Poll forever; call ``on_give_up(message)`` once when the outage lasted too long."""
        while True:
            message = self.poll()
            if message is not None:
                on_give_up(message)
                return
            await asyncio.sleep(STORE_POLL_S)
