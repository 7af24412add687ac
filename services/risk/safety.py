"""The safety layer: wires the risk chain, kill switch, breakers, health monitor and exit manager
into an engine, and offers the actions that control commands, signals and config call.

Timing: the risk chain runs inside ``Engine.submit`` (synchronous); breakers, health and exits run
from ``Engine.on_clock`` (event time); commands arrive from ``services.control`` between batches.
Every refusal, trip, disable, kill-switch change and exit is an ``events`` row; the states that
must survive a restart are ``bot_state`` keys (``kill_switch``, ``breakers``, ``risk_metrics``,
``health``, ``exits``; ``risk_limits`` publishes the limits in force for the dashboard).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from services.execution.orders import Order
from services.instruments import Side
from services.money import fmt_usd
from services.monitors.health import HealthMonitor, HealthVerdict
from services.portfolio import Portfolio
from services.risk.actions import CloseWatch, CommandError, SafetyActions, when
from services.risk.breakers import BreakerAction, BreakerBoard
from services.risk.chain import Rejection
from services.risk.controls import LimitsBook, build_chain, kelly_rejection
from services.risk.data_guard import DataGuard
from services.risk.exits import ExitDecision, ExitManager
from services.risk.kill_switch import KillSwitch, TradingState
from services.risk.metrics import RiskMetrics, StrategyMeasure
from services.risk.store_guard import AlwaysWritable, StoreState

if TYPE_CHECKING:
    from services.engine import Engine
    from utils.config import AppConfig

log = logging.getLogger("bot.safety")

PERSIST_INTERVAL_S = 60.0

DAILY_LOSS_STOP = "risk max_daily_loss"
"""Start of the status reason of a strategy paused for its daily loss limit (resumes next day)."""  # event-time seconds between saves of slowly changing measures


class SafetyLayer(SafetyActions):
    """Everything that can stop, limit or unwind trading, attached to one engine.

    Parameters
    ----------
    engine : Engine
        The engine to guard; its ``risk`` chain, ``risk_env`` and ``safety`` are set here.
    cfg : AppConfig
        The running configuration (safety sections are replaced by :meth:`apply_config`).
    data_guard : DataGuard | None
        The data gate's state (the live feed's health task updates it); a fresh one passes all.
    store : StoreState | None
        The database writer's health (no new positions while it cannot write); None: healthy.
    wall : Callable[[], float]
        Wall clock, used only to measure the kill switch's latency (never for decisions).
    """

    def __init__(
        self,
        engine: Engine,
        cfg: AppConfig,
        *,
        data_guard: DataGuard | None = None,
        store: StoreState | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.data_guard = data_guard if data_guard is not None else DataGuard()
        self.store: StoreState = store if store is not None else AlwaysWritable()
        self.closing: dict[int, CloseWatch] = {}
        self.cfg = cfg
        self.sink = engine.sink
        self.bus = engine.bus
        self.wall = wall
        self.limits = LimitsBook(cfg.risk)
        self.kill = KillSwitch()
        self.board = BreakerBoard(cfg.breakers)
        self.health = HealthMonitor(cfg.health)
        self.exits = ExitManager(cfg.exits)
        self.metrics = RiskMetrics(cfg.risk.day_reset_timezone)
        # What observe-mode rules would have done: "breaker NAME[:strategy]" / "health RULE:strategy"
        # -> count (bot_state["observed"]); ``_health_seen`` keeps one report per ongoing breach.
        self.observed: dict[str, int] = {}
        self._health_seen: set[tuple[str, str]] = set()
        self.next_measure = float("-inf")
        self.next_persist = float("-inf")
        self.flatten_next = float("-inf")
        self._rej_last: dict[tuple[str, str], tuple[float, int]] = {}
        # Last measure of each strategy with the values it was built from (see _measure).
        self._measures: dict[str, tuple[tuple[Any, ...], StrategyMeasure]] = {}
        self._attach()

    def _attach(self) -> None:
        self.engine.risk = build_chain(
            self.limits, self.kill, self.board, self.data_guard, self.store
        )
        self.engine.risk_env = self
        self.engine.safety = self
        self.engine.data_guard = self.data_guard
        if self.on_order not in self.engine.order_listeners:
            self.engine.order_listeners.append(self.on_order)

    # ================================================================== RiskEnv
    def open_orders(self, strategy: str, instrument_id: str | None) -> list[Order]:
        """Return a strategy's working orders, optionally on one instrument."""
        return self.engine.open_orders(strategy, instrument_id)

    def mark(self, instrument_id: str) -> int | None:
        """Return the engine's mark (mid) of an instrument."""
        return self.engine.mark(instrument_id)

    def market_value(self, pf: Portfolio) -> int:
        """Return a portfolio's positions at the marks (the engine's cached valuation)."""
        return int(self.engine.market_value(pf))

    def portfolios(self) -> Iterable[Portfolio]:
        """Return every strategy's portfolio."""
        return [r.portfolio for r in self.engine.runners.values()]

    def day_start_equity(self, strategy: str) -> int | None:
        """Return the strategy's equity at the start of the risk day."""
        return self.metrics.day_start.get(strategy)

    def peak_equity(self, strategy: str) -> int | None:
        """Return the strategy's peak equity since its last rebase."""
        return self.metrics.peak.get(strategy)

    def rejection_gate(self, strategy: str, rej: Rejection, now: float) -> int | None:
        """Return None to skip recording a repeated refusal, else how many were skipped."""
        interval = self.cfg.risk.rejection_event_interval_s
        key = (strategy, rej.control)
        last = self._rej_last.get(key)
        if interval > 0 and last is not None and now - last[0] < interval:
            self._rej_last[key] = (last[0], last[1] + 1)
            return None
        self._rej_last[key] = (now, 0)
        return 0 if last is None else last[1]

    # ================================================================== start / persistence
    def restore(self, load: Callable[[str], Any]) -> None:
        """Load persisted states (``load(key)`` returns the decoded ``bot_state`` value or None)."""
        self.kill = KillSwitch.from_dict(load("kill_switch"))
        self.board.load(load("breakers"))
        m = load("risk_metrics")
        if isinstance(m, dict):
            self.metrics = RiskMetrics.from_dict(m, self.cfg.risk.day_reset_timezone)
        self.health.load(load("health"))
        self.exits.load(load("exits"))
        obs = load("observed")
        if isinstance(obs, dict):
            self.observed = {str(k): int(v) for k, v in obs.items()}
        self._attach()

    def startup(self) -> None:
        """Apply persisted and configured stops once the engine has started."""
        now = self.engine.clock.now()
        self._measure(now)
        self._check_kelly(now)
        if self.kill.active:
            log.warning(
                "Kill switch is active (%s since %s, source %s: %s): trading stays halted. "
                "Deactivate it with: python bot.py control kill-switch deactivate --reason ... "
                "--confirm CONFIRM",
                self.kill.state.value,
                when(self.kill.since_ts),
                self.kill.source,
                self.kill.reason,
            )
            halted = self._halt_everything(now, f"kill switch active at start: {self.kill.reason}")
            self.bus.event(
                now,
                "kill_switch",
                f"Bot started with the kill switch active ({self.kill.state.value}): trading "
                f"stays halted ({halted[0]} strategies disabled, {halted[1]} orders cancelled).",
                severity="critical",
                value=self.kill.state.value,
                data={"state": self.kill.state.value, "at_start": True},
            )
        elif self.cfg.kill_switch:
            self.activate_kill_switch("config.yaml kill_switch: true", "config")
        self._persist_all(now)
        self._publish_limits(now)

    def finish(self) -> None:
        """Persist the measures at shutdown."""
        self._persist_all(self.engine.clock.now())

    def _persist_all(self, now: float) -> None:
        self._save("kill_switch", self.kill.to_dict(), now)
        self._save("breakers", self.board.to_dict(), now)
        self._save("risk_metrics", self.metrics.to_dict(), now)
        self._save("health", self.health.to_dict(), now)
        self._save("exits", self.exits.to_dict(), now)
        self._save("observed", dict(sorted(self.observed.items())), now)
        self.next_persist = now + PERSIST_INTERVAL_S

    def _publish_limits(self, now: float) -> None:
        c = self.cfg
        self._save(
            "risk_limits",
            {
                "limits": {
                    name: c.risk.limits_for(name).model_dump(mode="json")
                    for name in self.engine.runners
                },
                "enabled": c.risk.enabled,
                "global_max_exposure_usd": c.risk.model_dump(mode="json")[
                    "global_max_exposure_usd"
                ],
                "zones": c.risk.zones.model_dump(mode="json"),
                "breakers": c.breakers.model_dump(mode="json"),
                "health": c.health.model_dump(mode="json"),
                "exits": c.exits.model_dump(mode="json"),
                "flatten_on_kill": c.kill_switch_options.flatten_on_kill,
            },
            now,
        )

    # ================================================================== clock
    def on_clock(self, now: float) -> None:
        """Run what is due: flatten retries, breakers, health checks, exits, persistence."""
        if self.closing:
            self._expire_closes(now)
        if self.kill.state is TradingState.REDUCING:
            self._flatten_step(now, send=now >= self.flatten_next)
        measures: list[StrategyMeasure] | None = None
        if now >= self.next_measure:
            self.next_measure = now + self.cfg.breakers.check_interval_s
            measures = self._measure(now)
            if self.cfg.breakers.enabled:
                total = sum([m.equity for m in measures])
                self._apply(
                    self.board.evaluate(
                        now, measures, total, self.metrics.day_start_total, self.metrics.peak_total
                    ),
                    now,
                )
            if self.cfg.risk.enabled:
                self._daily_loss_stops(measures, now)
        if self.health.due(now):
            for m in measures if measures is not None else self._measure(now):
                r = self.engine.runners[m.name]
                if r.status == "disabled":
                    continue
                self._health_step(m, now)
        if self.kill.state is not TradingState.HALTED and self.exits.due(now):
            self._run_exits(now)
        if now >= self.next_persist:
            self._persist_all(now)

    def stage_of(self, name: str) -> str:
        """Return a strategy's lifecycle stage (every strategy is ``paper`` until graduation)."""
        return str(getattr(self.engine.runners[name], "stage", "paper"))

    def _measure(self, now: float) -> list[StrategyMeasure]:
        eng = self.engine
        runners = eng.runners
        market_value = eng.market_value
        equities = {
            name: r.portfolio.cash + market_value(r.portfolio) for name, r in runners.items()
        }
        metrics = self.metrics
        if metrics.update(now, equities):
            log.info("New risk day %s: day-start equities recorded.", metrics.day)
            self._save("risk_metrics", metrics.to_dict(), now)
            self._apply(self.board.new_day(now, metrics.day), now)
            self._new_day_resume(now)
        peak, day_start = metrics.peak, metrics.day_start
        cache = self._measures
        out = []
        for name, r in runners.items():
            pf = r.portfolio
            equity = equities[name]
            # StrategyMeasure's fields after the name, in order; an unchanged strategy gets the
            # same (frozen) measure as at the last check instead of a new one every second.
            fields = (
                r.status,
                equity,
                peak.get(name, equity),
                day_start.get(name, equity),
                pf.wins,
                pf.losses,
                pf.consecutive_losses,
                str(getattr(r.strategy, "kind", "directional")),
                str(getattr(r, "stage", "paper")),  # stage_of(name), inlined
                pf.starting_cash,
            )
            hit = cache.get(name)
            if hit is None or hit[0] != fields:
                hit = cache[name] = (fields, StrategyMeasure(name, *fields))
            out.append(hit[1])
        return out

    def _daily_loss_stops(self, measures: list[StrategyMeasure], now: float) -> None:
        """Pause a strategy whose day loss reached ``risk.limits.max_daily_loss_usd`` until the
        next risk day, instead of refusing each of its entries all day (one rejection a second)."""
        for m in measures:
            if m.status != "active":
                continue
            lim = self.limits.for_strategy(m.name).max_daily_loss
            if lim is None or m.day_loss < lim:
                continue
            self._auto_pause(
                m.name,
                f"{DAILY_LOSS_STOP}: daily loss {fmt_usd(m.day_loss)} reached "
                f"max_daily_loss_usd {fmt_usd(lim)}; entries stop until the next risk day",
                now,
            )

    def _new_day_resume(self, now: float) -> None:
        if self.kill.active:
            return
        for name, r in self.engine.runners.items():
            if r.status == "paused" and (r.status_reason or "").startswith(DAILY_LOSS_STOP):
                # Only the day's loss starts again; the peak (drawdown rules) is kept.
                self.engine.set_status(name, "active", f"new risk day {self.metrics.day}")
                log.info("Strategy %s resumed: new risk day %s.", name, self.metrics.day)
                self.sink.event(
                    now,
                    "auto_resume",
                    f"{name} resumed: new risk day {self.metrics.day} (daily loss limit re-armed)",
                    strategy=name,
                )

    def _health_step(self, m: StrategyMeasure, now: float) -> None:
        """Disable on the first enforced health rule broken; record observed ones once each."""
        verdicts = self.health.check_all(m)
        rules = {v.rule for v in verdicts}
        self._health_seen = {k for k in self._health_seen if k[0] != m.name or k[1] in rules}
        for v in verdicts:
            if getattr(self.cfg.health.modes, v.rule).mode(m.stage) == "enforce":
                self._auto_disable(m.name, v, now)
                return
            if (m.name, v.rule) in self._health_seen:
                continue
            self._health_seen.add((m.name, v.rule))
            self._record_observed(
                now,
                f"health {v.rule}:{m.name}",
                f"Health rule {v.rule} would have disabled {m.name} (observe mode at stage "
                f"{m.stage}): {v.message}",
                strategy=m.name,
                value=v.value,
                limit=v.limit,
                data={"rule": v.rule, "stage": m.stage, "effect": "disable"},
            )

    def _record_observed(
        self,
        now: float,
        key: str,
        message: str,
        *,
        strategy: str | None,
        value: str | None,
        limit: str | None,
        data: dict[str, Any],
    ) -> None:
        self.observed[key] = self.observed.get(key, 0) + 1
        log.info("%s", message)
        self.sink.event(
            now,
            "observed",
            message,
            severity="info",
            strategy=strategy,
            value=value,
            limit=limit,
            data={**data, "key": key, "count": self.observed[key]},
        )
        self._save("observed", dict(sorted(self.observed.items())), now)

    def on_failure(self, now: float, source: str, strategy: str | None, message: str) -> None:
        """Count a strategy or execution error for the system-failure breaker."""
        what = f"{source} error in {strategy}: {message}" if strategy else f"{source}: {message}"
        if self.cfg.breakers.enabled:
            self._apply(self.board.record_failure(now, what[:200]), now)

    # ================================================================== breakers / health
    def _apply(self, actions: list[BreakerAction], now: float) -> None:
        if not actions:
            return
        for a in actions:
            b = a.breaker
            if a.kind == "observe":
                self._record_observed(
                    now,
                    f"breaker {b.key}",
                    f"Breaker {b.key} would have tripped ({a.effect}; observe mode): "
                    f"{b.reason.removeprefix('observe mode: ') if b.reason else ''}",
                    strategy=b.strategy,
                    value=b.value,
                    limit=b.limit,
                    data={"breaker": b.name, "effect": a.effect},
                )
                continue
            if a.kind == "trip":
                severe = a.effect in ("kill_switch", "halt_all", "block_entries")
                log.warning("Breaker %s tripped: %s.", b.key, b.reason)
                self.bus.event(
                    now,
                    "breaker_trip",
                    f"Breaker {b.key} tripped: {b.reason}",
                    severity="critical" if severe else "warning",
                    strategy=b.strategy,
                    value=b.value,
                    limit=b.limit,
                    data={"breaker": b.to_dict(), "effect": a.effect},
                )
                self._trip_effect(a, now)
            else:
                log.info("Breaker %s is %s: %s.", b.key, b.state.value, b.reason)
                self.bus.event(
                    now,
                    "breaker_reset",
                    f"Breaker {b.key} is {b.state.value}: {b.reason}",
                    strategy=b.strategy,
                    data={"breaker": b.to_dict(), "effect": a.effect},
                )
                if a.effect == "resume_strategy" and b.strategy:
                    r = self.engine.runners.get(b.strategy)
                    if (
                        r is not None
                        and r.status == "paused"
                        and (r.status_reason or "").startswith(f"breaker {b.name}")
                    ):
                        self.engine.set_status(
                            b.strategy, "active", f"breaker {b.name}: {b.reason}"
                        )
                elif a.effect == "resume_all" and not self.kill.active:
                    for name, r in self.engine.runners.items():
                        if r.status == "paused" and (r.status_reason or "").startswith(
                            f"breaker {b.name}"
                        ):
                            self._set_active(name, f"breaker {b.name}: {b.reason}", now)
        self._save("breakers", self.board.to_dict(), now)

    def _trip_effect(self, a: BreakerAction, now: float) -> None:
        b = a.breaker
        why = f"breaker {b.name}: {b.reason}"
        if a.effect in ("pause_strategy", "halt_strategy") and b.strategy:
            self._auto_pause(b.strategy, why, now)
        elif a.effect == "halt_all":
            for name in list(self.engine.runners):
                if self.board.mode(b.name, self.stage_of(name)) == "enforce":
                    self._auto_pause(name, why, now)
        elif a.effect == "kill_switch":
            self.activate_kill_switch(why, "breaker")
        elif a.effect == "block_entries":
            self._cancel_orders(now, why, side=Side.BUY)

    def _auto_pause(self, name: str, reason: str, now: float) -> None:
        r = self.engine.runners[name]
        if r.status != "active":
            return
        self.engine.set_status(name, "paused", reason)
        self._cancel_orders(now, f"strategy paused: {reason}", strategy=name, side=Side.BUY)
        log.warning("Strategy %s paused: %s.", name, reason, extra={"strategy": name})
        self.bus.event(
            now, "auto_pause", f"{name} paused: {reason}", severity="warning", strategy=name
        )

    def _auto_disable(self, name: str, v: HealthVerdict, now: float) -> None:
        reason = f"health {v.rule}: {v.message}"
        self.engine.set_status(name, "disabled", reason)
        log.error(
            "Strategy %s disabled by the health monitor: %s.",
            name,
            v.message,
            extra={"strategy": name, "rule": v.rule},
        )
        self.bus.event(
            now,
            "auto_disable",
            f"{name} disabled: {reason}",
            severity="critical",
            strategy=name,
            value=v.value,
            limit=v.limit,
            data={"rule": v.rule},
        )

    def _check_kelly(self, now: float) -> None:
        for name, r in self.engine.runners.items():
            rej = kelly_rejection(name, r.strategy.params, self.cfg.risk)
            if rej is None or r.status == "disabled":
                continue
            self.engine.set_status(name, "disabled", f"risk kelly: {rej.message}")
            log.error("Strategy %s disabled: %s.", name, rej.message)
            self.bus.event(
                now,
                "risk_rejection",
                rej.message,
                severity="critical",
                strategy=name,
                value=rej.value,
                limit=rej.limit,
                data={"control": rej.control},
            )

    def set_all_strategies(self, action: str, reason: str, source: str) -> str:
        """PAUSE ALL (every active strategy) or RESUME ALL (every paused one that no OPEN breaker
        holds; those are listed with the breaker's name). Disabled strategies are left alone."""
        if action not in ("pause", "resume"):
            raise CommandError(f"unknown action {action!r} for every strategy")
        reason = (reason or "").strip() or f"{action} all by {source}"
        want = "active" if action == "pause" else "paused"
        done: list[str] = []
        refused: list[str] = []
        for name, r in self.engine.runners.items():
            if r.status != want:
                continue
            try:
                self.set_strategy(action, name, reason, source)
                done.append(name)
            except CommandError as exc:
                refused.append(f"{name} ({exc})")
        verb = "paused" if action == "pause" else "resumed"
        msg = f"{verb.capitalize()} {len(done)} strategies" + (
            f": {', '.join(done)}" if done else ""
        )
        if refused:
            msg += f"; not resumed: {'; '.join(refused)}"
        if not done and not refused:
            raise CommandError(f"no {want} strategy to {action}")
        return msg

    # ================================================================== exits / closing
    def _run_exits(self, now: float) -> None:
        eng = self.engine
        if not self.exits.high and not any(r.portfolio.positions for r in eng.runners.values()):
            return  # nothing held and no high-water mark to forget: the loops below do nothing
        in_flight = self._closing_keys()
        exits = self.exits
        overrides = exits.overrides
        for name, r in eng.runners.items():
            if r.status == "disabled" or (r.status == "paused" and not self.cfg.exits.when_paused):
                continue
            idle = exits.skip_idle and exits.idle_for(name)
            for iid, pos in list(r.portfolio.positions.items()):
                if (name, iid) in in_flight:
                    continue  # its closing order is still working: wait for the outcome
                if idle and (name, iid) not in overrides:
                    # No rule applies: decide() would return None and change nothing; only the
                    # mark it is given refreshes the instrument's last known mid (issue 18).
                    eng.mark(iid)
                    continue
                d = exits.decide(now, name, pos, eng.instruments.get(iid), eng.mark(iid))
                if d is not None:
                    self._execute_exit(d, now)
        if not exits.high:
            return  # no high-water mark to forget
        held = {(n, i) for n, r in eng.runners.items() for i in r.portfolio.positions}
        for key in [k for k in exits.high if k not in held]:
            exits.forget(*key)

    def _execute_exit(self, d: ExitDecision, now: float) -> None:
        order, result = self._close(
            d.strategy,
            d.instrument_id,
            f"exit {d.rule}: {d.message}",
            now,
            lambda o, text: self._exit_event(d, o, text, self.engine.clock.now()),
        )
        if order is None or not order.active:
            self._exit_event(d, order, result, now)

    def _exit_event(self, d: ExitDecision, order: Order | None, result: str, now: float) -> None:
        log.info(
            "Exit %s %s: %s -> %s.",
            d.strategy,
            d.instrument_id,
            d.message,
            result,
            extra={
                "strategy": d.strategy,
                "market": d.instrument_id,
                "order": order.order_id if order else None,
            },
        )
        self.bus.event(
            now,
            "exit",
            f"{d.strategy} exits {d.instrument_id}: {d.message}; {result}",
            strategy=d.strategy,
            instrument_id=d.instrument_id,
            value=d.value,
            limit=d.limit,
            data={"rule": d.rule, "order_id": order.order_id if order else None},
        )

    # ================================================================== config
    def apply_config(self, new: AppConfig) -> None:
        """Use the new safety sections from now on (hot reload)."""
        old = self.cfg
        now = self.engine.clock.now()
        self.cfg = new
        self.limits.update(new.risk)
        self.board.cfg = new.breakers
        self.health.cfg = new.health
        self.exits.cfg = new.exits
        if new.risk.day_reset_timezone != self.metrics.timezone:
            self.metrics.timezone = new.risk.day_reset_timezone
        if new.health.check_interval_s != old.health.check_interval_s:
            self.health.next_check = now
        if new.exits.check_interval_s != old.exits.check_interval_s:
            self.exits.next_check = now
        if new.breakers.check_interval_s != old.breakers.check_interval_s:
            self.next_measure = now
        self._check_kelly(now)
        if new.kill_switch and not old.kill_switch and not self.kill.active:
            self.activate_kill_switch("config.yaml kill_switch: true (reloaded)", "config")
        self._publish_limits(now)

    def status(self) -> dict[str, Any]:
        """Return a summary of the trading state, breakers and strategy statuses."""
        return {
            "kill_switch": self.kill.to_dict(),
            "breakers": [b.to_dict() for b in self.board.not_closed()],
            "observed": dict(sorted(self.observed.items())),
            "strategies": {
                n: {"status": r.status, "reason": r.status_reason, "since": r.status_since}
                for n, r in self.engine.runners.items()
            },
        }
