"""User alerts, evaluated by the bot on the engine clock; each firing becomes an ``alert_triggers``
row the dashboard shows live.

The dashboard writes the ``alerts`` table; the bot re-reads it every ``alerts_reload_s`` (wall
seconds, off the event loop) and evaluates every ``alerts_interval_s``. Evaluation is pure
(:class:`AlertEvaluator`: alert specs and an :class:`Observation` in, triggers out) and
edge-triggered, so an alert fires once per crossing, not on every check:

* ``price`` ``above`` / ``below``: fires when the mid goes past the level (also on the first
  check if it already is past it); ``cross``: fires on every change of side (not on the first
  check);
* ``portfolio_equity`` ``above`` / ``below``: the same on the summed equity of all strategies;
* ``strategy_drawdown``: fires when the current drawdown goes over ``level_pct``;
* ``strategy_status``: fires when the leaderboard status (WINNING / MARGINAL / LOSING / PAUSED /
  DISABLED) changes, optionally only to ``status_to``.

Edge memory lives in the process: after a restart an alert whose condition already holds fires
again (``above``/``below``/drawdown), and a crossing that happened while the bot was down is
missed (``cross``, status).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from database.models import TABLES
from services.bus import EventBus
from services.money import MICRO

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AlertSpec:
    """One enabled alert as stored in ``alerts`` (levels in micro-units, see the model)."""

    id: int
    kind: str
    direction: str
    instrument_id: str | None = None
    strategy: str | None = None
    level: int | None = None
    level_pct: float | None = None
    status_to: str | None = None


@dataclass(frozen=True, slots=True)
class Observation:
    """What the alerts look at, sampled at one instant of the engine clock.

    Attributes
    ----------
    ts : float
        Engine (event) time, epoch seconds.
    prices : Mapping[str, int | None]
        Mid per instrument, micro-USDC per share (None: no two-sided book).
    statuses : Mapping[str, str]
        Leaderboard status per strategy.
    drawdowns : Mapping[str, float]
        Current drawdown per strategy, percent.
    total_equity : int | None
        Summed equity of all strategies, micro-USDC.
    """

    ts: float
    prices: Mapping[str, int | None] = field(default_factory=dict)
    statuses: Mapping[str, str] = field(default_factory=dict)
    drawdowns: Mapping[str, float] = field(default_factory=dict)
    total_equity: int | None = None


@dataclass(frozen=True, slots=True)
class Trigger:
    """One firing: which alert, a sentence for the user and the observed value as text."""

    alert_id: int
    message: str
    value: str


def _side(value: float, level: float, previous: str | None) -> str:
    if value > level:
        return "above"
    if value < level:
        return "below"
    return previous or "below"  # touching the level keeps the side it came from


class AlertEvaluator:
    """Edge-triggered evaluation of alerts; remembers each alert's last observed state."""

    def __init__(self) -> None:
        self._last: dict[int, Any] = {}

    def evaluate(self, alerts: Iterable[AlertSpec], obs: Observation) -> list[Trigger]:
        """Return the alerts that fire at ``obs``, updating the edge memory.

        Parameters
        ----------
        alerts : Iterable[AlertSpec]
            The enabled alerts (memory of alerts no longer listed is dropped).
        obs : Observation
            The current state.
        """
        out: list[Trigger] = []
        seen: set[int] = set()
        for a in alerts:
            seen.add(a.id)
            trig = self._one(a, obs)
            if trig is not None:
                out.append(trig)
        for gone in set(self._last) - seen:
            del self._last[gone]
        return out

    def _one(self, a: AlertSpec, obs: Observation) -> Trigger | None:
        if a.kind in ("price", "portfolio_equity"):
            return self._level(a, obs)
        if a.kind == "strategy_drawdown":
            dd = obs.drawdowns.get(a.strategy or "")
            if dd is None or a.level_pct is None:
                return None
            over = dd > a.level_pct
            was = self._last.get(a.id)
            self._last[a.id] = over
            if over and was is not True:
                return Trigger(
                    a.id, f"{a.strategy} drawdown {dd:.2f}% is over {a.level_pct:.2f}%", f"{dd:.4f}"
                )
            return None
        if a.kind == "strategy_status":
            status = obs.statuses.get(a.strategy or "")
            if status is None:
                return None
            was = self._last.get(a.id)
            self._last[a.id] = status
            if was is not None and status != was and (a.status_to in (None, status)):
                return Trigger(a.id, f"{a.strategy} status changed from {was} to {status}", status)
            return None
        return None

    def _level(self, a: AlertSpec, obs: Observation) -> Trigger | None:
        if a.level is None:
            return None
        if a.kind == "price":
            raw = obs.prices.get(a.instrument_id or "")
            what, fmt = f"price of {a.instrument_id}", (lambda m: f"{m / MICRO:.3f}")
        else:
            raw = obs.total_equity
            what, fmt = "total equity", (lambda m: f"${m / MICRO:,.2f}")
        if raw is None:
            return None
        was = self._last.get(a.id)
        side = _side(raw, a.level, was)
        self._last[a.id] = side
        if a.direction == "cross":
            fired = was is not None and side != was
            verb = f"crossed {'up' if side == 'above' else 'down'} through"
        else:
            fired = side == a.direction and was != side
            verb = f"went {a.direction}"
        if not fired:
            return None
        return Trigger(a.id, f"{what} {verb} {fmt(a.level)} (now {fmt(raw)})", fmt(raw))


def load_alerts(session: Session) -> list[AlertSpec]:
    """Return the enabled alerts, by id."""
    tb = TABLES["alerts"]
    rows = session.execute(select(tb).where(tb.c.enabled.is_(True)).order_by(tb.c.id)).mappings()
    return [
        AlertSpec(
            id=int(r["id"]),
            kind=r["kind"],
            direction=r["direction"],
            instrument_id=r["instrument_id"],
            strategy=r["strategy"],
            level=r["level"],
            level_pct=r["level_pct"],
            status_to=r["status_to"],
        )
        for r in rows
    ]


class EngineView(Protocol):
    """What :func:`observe_engine` reads from the engine (duck-typed)."""

    clock: Any
    tracker: Any

    # Read-only, so an engine's ``dict[str, StrategyRunner]`` satisfies it (Mapping is covariant).
    @property
    def runners(self) -> Mapping[str, Any]: ...

    def mark(self, iid: str) -> int | None: ...


def observe_engine(engine: EngineView, instrument_ids: Iterable[str]) -> Observation:
    """Sample the engine for the alerts: mids of ``instrument_ids``, statuses, drawdowns and
    the summed equity (cash plus positions at the mid, exact micro-units)."""
    prices = {iid: engine.mark(iid) for iid in instrument_ids}
    statuses: dict[str, str] = {}
    drawdowns: dict[str, float] = {}
    for row in getattr(engine.tracker, "latest", []) or []:
        statuses[row.strategy] = row.status
        drawdowns[row.strategy] = float(row.drawdown_pct)
    total = 0
    for r in engine.runners.values():
        pf = r.portfolio
        total += pf.cash + pf.market_value(engine.mark)
    return Observation(
        ts=engine.clock.now(),
        prices=prices,
        statuses=statuses,
        drawdowns=drawdowns,
        total_equity=total,
    )


class TriggerWriter(Protocol):
    """The subset of ``DbWriter`` the monitor uses."""

    def insert(self, table: str, row: dict[str, Any]) -> None: ...


class AlertMonitor:
    """The bot's alert task: reload alerts, sample the engine, record triggers.

    Parameters
    ----------
    engine : EngineView
        The running engine (sampled on the event loop, between batches).
    sessions : sessionmaker[Session]
        Read sessions (alerts are loaded in a worker thread).
    writer : TriggerWriter
        The database writer (``alert_triggers`` rows).
    interval_s : float
        Wall seconds between evaluations.
    reload_s : float
        Wall seconds between re-reads of the alert list.
    wall : Callable[[], float]
        Wall clock for the triggers' ``wall_ts`` (display only).
    bus : EventBus, optional
        Where each trigger is also published as an ``alert`` event (notifications subscribe).
    """

    def __init__(
        self,
        engine: EngineView,
        sessions: sessionmaker[Session],
        writer: TriggerWriter,
        *,
        interval_s: float,
        reload_s: float,
        wall: Callable[[], float] = time.time,
        bus: EventBus | None = None,
    ) -> None:
        self.engine = engine
        self.sessions = sessions
        self.writer = writer
        self.bus = bus
        self.interval_s = interval_s
        self.reload_s = reload_s
        self.wall = wall
        self.evaluator = AlertEvaluator()
        self.alerts: list[AlertSpec] = []
        self.fired = 0

    def _load(self) -> list[AlertSpec]:
        with self.sessions() as session:
            return load_alerts(session)

    async def reload(self) -> None:
        """Re-read the enabled alerts (in a worker thread)."""
        self.alerts = await asyncio.to_thread(self._load)

    def check(self) -> list[Trigger]:
        """Evaluate once now and queue a row per trigger; return the triggers."""
        if not self.alerts:
            return []
        iids = {a.instrument_id for a in self.alerts if a.kind == "price" and a.instrument_id}
        obs = observe_engine(self.engine, iids)
        triggers = self.evaluator.evaluate(self.alerts, obs)
        wall = self.wall()
        for trig in triggers:
            self.writer.insert(
                "alert_triggers",
                {
                    "alert_id": trig.alert_id,
                    "ts": obs.ts,
                    "wall_ts": wall,
                    "message": trig.message,
                    "value": trig.value[:64],
                },
            )
            log.info("Alert #%d fired: %s.", trig.alert_id, trig.message)
            if self.bus is not None:  # the one event path: audit row, notifications, metrics
                self.bus.event(
                    obs.ts,
                    "alert",
                    f"Alert #{trig.alert_id} fired: {trig.message}",
                    severity="warning",
                    value=trig.value[:64],
                    data={"alert_id": trig.alert_id},
                )
        self.fired += len(triggers)
        return triggers

    async def run(self) -> None:
        """Loop until cancelled. A failing reload keeps the previous alert list."""
        next_reload = 0.0
        loop = asyncio.get_running_loop()
        while True:
            if loop.time() >= next_reload:
                try:
                    await self.reload()
                except (SQLAlchemyError, OSError) as exc:
                    log.warning(
                        "Could not reload alerts (%s: %s); keeping %d loaded.",
                        type(exc).__name__,
                        exc,
                        len(self.alerts),
                    )
                next_reload = loop.time() + self.reload_s
            try:
                self.check()
            except Exception:  # noqa: BLE001 - alerts are advisory: never stop trading for them
                log.exception("Alert evaluation failed; alerts stay checked on the next tick.")
            await asyncio.sleep(self.interval_s)
