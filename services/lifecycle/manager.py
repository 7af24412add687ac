"""The lifecycle manager: stages, approvals, demotions, routing and capital on the engine clock.

It is attached to a running node (:meth:`LifecycleManager.attach`): it listens to the engine
clock, subscribes to the event bus for breaker trips and auto-disables, adds the capital gate to
the risk chain and offers the control-command handlers (``strategy.graduate`` and the others).
Its configuration is read from the safety layer's running config, so ``graduation:``,
``selection:`` and ``rebalancing:`` are hot-reloaded with the rest. ``docs/GRADUATION.md`` is
the user's guide.

Storage: ``strategies.stage``, one ``stage_transitions`` row per transition, an audit event
(``graduation``) per transition, proposal and allocation; ``bot_state["graduation"]`` keeps what
a restart needs and ``bot_state["graduation_view"]`` what the dashboard shows.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from services.bus import AuditEvent
from services.enums import Stage
from services.lifecycle.allocation import Allocation, rebalance, select
from services.lifecycle.backtest_evidence import (
    BacktestEvidence,
    no_run_blocker,
    params_key,
    stale_blocker,
)
from services.lifecycle.criteria import Eligibility, Figures, eligibility, next_stage
from services.lifecycle.gate import CapitalGate, next_run
from services.lifecycle.stage_stats import StageStats
from services.lifecycle.twins import TwinKeeper, is_twin
from services.money import MICRO, fmt_usd
from services.risk.actions import CommandError

if TYPE_CHECKING:
    from services.engine import Engine
    from services.risk.safety import SafetyLayer
    from utils.config import AppConfig
    from utils.graduation_config import StageRule

log = logging.getLogger("bot.lifecycle")

STATE_KEY = "graduation"
VIEW_KEY = "graduation_view"
_ORDER_RE = re.compile(r"order (\d+)\b")
VENUE_RECONCILIATION = "live_reconciliation"
"""The live Polymarket runtime's event when its reconciliation with the venue finds differences
(``services/markets/polymarket/live/runtime.py``; ``data.differences``: one line each)."""
VENUE_ROUTE = "polymarket_live"


@dataclass
class Pending:
    """A promotion waiting for an approval."""

    target: str
    since: float
    figures: dict[str, Any] = field(default_factory=dict)


class LifecycleManager:
    """Stages of every strategy of one engine (see the module docstring).

    Parameters
    ----------
    engine : Engine
        The running engine.
    safety : SafetyLayer
        Its safety layer (running config, bus, sink).
    wall : Callable[[], float]
        Wall clock, only to stamp transitions for people (decisions use the engine clock).
    """

    def __init__(
        self, engine: Engine, safety: SafetyLayer, *, wall: Callable[[], float] = time.time
    ) -> None:
        self.engine = engine
        self.safety = safety
        self.wall = wall
        self.stats: dict[str, StageStats] = {}
        self.pending: dict[str, Pending] = {}
        self.rejected_until: dict[str, float] = {}
        self.route_target: dict[str, str] = {}
        self.allocated: dict[str, int] = {}  # strategy -> capital from the applied allocation
        self.allocation: Allocation | None = None
        self.proposal: Allocation | None = None
        self.proposal_id = 0
        self.eligible: dict[str, Eligibility] = {}
        self._demotions: list[tuple[str, str, str]] = []
        self.next_check = float("-inf")
        self.next_sample = float("-inf")
        self.next_reconcile = float("-inf")
        self.next_selection: float | None = None
        self.next_rebalance: float | None = None
        self.gate = CapitalGate(self.capital_of, self.waiting)
        self.transitions = 0
        self.twins = TwinKeeper(engine, ())
        # strategy names -> their latest stored backtest results (set by the app; None: the
        # backtest stage is judged on the stage's own figures)
        self.backtests: Callable[[list[str]], dict[str, BacktestEvidence | None]] | None = None
        self.backtest_seen: dict[str, BacktestEvidence | None] = {}
        self.over_balance: dict[str, bool] = {}
        # trailing-window figures for selection (set by the app; None: all-time figures)
        self.window: Callable[..., dict[str, Figures]] | None = None
        self.next_save = float("-inf")  # live route -> capital over its balance now

    # ------------------------------------------------------------------ wiring
    @property
    def cfg(self) -> AppConfig:
        """Return the running config (hot-reloaded by the safety layer)."""
        return self.safety.cfg

    def rule(self, stage: str) -> StageRule:
        """Return a stage's rule."""
        return self.cfg.graduation.stages.rule(stage)

    def attach(
        self, load: Callable[[str], Any] | None = None, known: set[str] | None = None
    ) -> None:
        """Restore the saved state, subscribe to the bus, add the capital gate, set routes.

        ``known``: strategies the database had before this start (they keep their stored stage);
        the others start at ``graduation.initial_stage``. None: every strategy is new.
        """
        if load is not None:
            self._restore(load(STATE_KEY))
        eng = self.engine
        live = self.cfg.live
        self.twins = TwinKeeper(
            eng,
            live.strategies if live.enabled else (),
            self._twin_maker() if live.enabled else None,
        )
        eng.bus.subscribe(
            self.on_event, kinds=("breaker_trip", "auto_disable", VENUE_RECONCILIATION)
        )
        if self.on_clock not in eng.clock_listeners:
            eng.clock_listeners.append(self.on_clock)
        self._ensure_gate()
        now = eng.clock.now()
        for name, r in eng.runners.items():
            if name not in self.stats:
                known_here = known is not None and name in known
                stage = str(r.stage) if known_here else self.cfg.graduation.initial_stage
                self._enter(name, stage, now)
                self._record(name, None, stage, "initial", "auto", "first start", now, None)
            want = self.rule(str(r.stage)).route
            if eng.client_of(name).name != want and name not in self.route_target:
                self.route_target[name] = want
            self._try_route(name, now)
        for _, line in self.twins.sync():
            log.info("%s.", line)
        self.refresh_backtests()
        self._save(now)

    def _twin_maker(self) -> Callable[[str], str] | None:
        """Return what creates a paper twin at runtime, when twins are wanted (live trading on,
        ``live.paper_twin``, a stage routed to the live client); else None."""
        from services.lifecycle.twins import graduation_routes_live

        if not (self.cfg.live.paper_twin and graduation_routes_live(self.cfg)):
            return None
        from services.markets.polymarket.live.runtime import create_twin

        eng = self.engine
        return lambda name: create_twin(eng, name)

    def _ensure_gate(self) -> None:
        controls = self.engine.risk.controls
        # The gate is appended last and nothing appends after it: one identity test each clock
        # second instead of a search of the chain (issue 18); a rebuilt chain (config reload)
        # or a reordered one falls through to the search.
        if controls and controls[-1] is self.gate:
            return
        if self.gate not in controls:
            controls.append(self.gate)

    def handlers(self) -> dict[str, Callable[[dict[str, Any], dict[str, Any]], str]]:
        """Return the control-command handlers (``services.control.ControlLoop.register``)."""
        return {
            "strategy.graduate": self._cmd_graduate,
            "strategy.graduation_reject": self._cmd_reject,
            "strategy.demote": self._cmd_demote,
            "allocation.approve": self._cmd_alloc_approve,
            "allocation.reject": self._cmd_alloc_reject,
        }

    # ------------------------------------------------------------------ capital gate
    def capital_of(self, name: str) -> tuple[int, str] | None:
        """Return a strategy's capital now (micro) and what it is."""
        r = self.engine.runners.get(name)
        if r is None:
            return None
        if name in self.allocated and str(r.stage) == self.cfg.selection.stage:
            return self.allocated[
                name
            ], f"{self.allocation.kind if self.allocation else 'allocated'} share"
        return int(self.rule(str(r.stage)).capital_usd * MICRO), f"stage {r.stage}"

    def waiting(self, name: str) -> str | None:
        """Return why a strategy's new entries wait for a route change, or None."""
        target = self.route_target.get(name)
        if target is None:
            return None
        return (
            f"moving to route {target}: no new entries until its orders and positions on "
            f"{self.engine.client_of(name).name} are finished"
        )

    # ------------------------------------------------------------------ clock
    def on_clock(self, now: float) -> None:
        """Run what is due at ``now`` (event time)."""
        self._ensure_gate()
        g = self.cfg.graduation
        if self._demotions:
            todo, self._demotions = self._demotions, []
            for name, actor, reason in todo:
                self.demote(name, actor, reason, now)
        if now >= self.next_sample:
            self.next_sample = now + g.sample_interval_s
            self._sample(now)
        wall = self.wall()
        if wall >= self.next_save:  # stage figures survive a kill -9 minus this (wall) interval
            self.next_save = wall + g.save_interval_s
            self._save(now)
        if self.route_target:  # no route change waiting: nothing to try (issue 18)
            for name in list(self.route_target):
                self._try_route(name, now)
        if self.twins.twins:
            self._sync_twins(None, now)
        if now >= self.next_reconcile:
            self.next_reconcile = now + g.reconcile_interval_s
            if g.demote_on_reconciliation_failure:
                self._reconcile(now)
            self._check_balances(now)
        if g.enabled and now >= self.next_check:
            self.next_check = now + g.check_interval_s
            self.check(now)
        self._schedules(now)

    def _sample(self, now: float) -> None:
        eng = self.engine
        for name, r in eng.runners.items():
            st = self.stats.get(name)
            if st is None:
                continue
            pf = r.portfolio
            # The engine's cached valuation: equal to pf.market_value(eng.mark) (issue 18).
            equity = (pf.cash + eng.market_value(pf)) / MICRO
            st.sample(
                now,
                equity,
                bool(pf.positions) or pf.reserved_cash > 0,
                [b.pnl / MICRO for b in pf.closed_bets[st.bets_seen :]],
            )

    def figures(self, name: str) -> Figures:
        """Return a strategy's figures in its current stage."""
        return self.stats[name].figures(self.cfg.competition)

    # ------------------------------------------------------------------ venue balance
    def live_capital(self, route: str, skip: str | None = None) -> tuple[int, list[str]]:
        """Return the capital committed on live client ``route`` (micro) and its parts: every
        live-stage strategy's capital, plus the configured capital of ``live.strategies`` that
        are pinned live without a live stage."""
        eng = self.engine
        total, parts = 0, []
        pinned = set(self.cfg.live.strategies) if self.cfg.live.enabled else set()
        for n, r in eng.runners.items():
            if n == skip or is_twin(n):
                continue
            if r.stage.live and self.rule(str(r.stage)).route == route:
                cap = self.capital_of(n)
                c = cap[0] if cap else 0
                parts.append(f"{n} {r.stage} {fmt_usd(c)}")
            elif n in pinned and eng.client_of(n).name == route:
                c = r.portfolio.starting_cash
                parts.append(f"{n} (live.strategies) {fmt_usd(c)}")
            else:
                continue
            total += c
        return total, parts

    def venue_balance(self, route: str) -> tuple[bool, int | None]:
        """Return (whether client ``route`` reports a balance, its USDC balance in micro).

        Only live clients that read the venue's collateral (``balance``, set by their
        reconciliation) report one; a dry run posts nothing and is not checked."""
        client = self.engine.clients.get(route)
        if client is None or not hasattr(client, "balance"):
            return False, None
        if getattr(getattr(client, "cfg", None), "dry_run", False):
            return False, None
        bal = client.balance
        return True, None if bal is None else int(bal)

    def balance_blocker(self, name: str, target: str) -> str | None:
        """Return why moving ``name`` into live stage ``target`` would commit more capital than
        the venue's USDC balance, or None."""
        route = self.rule(target).route
        checked, bal = self.venue_balance(route)
        if not checked:
            return None
        if bal is None:
            return (
                f"the USDC balance at {route} is not known yet (no reconciliation has read it): "
                "the live capital cannot be checked"
            )
        total, parts = self.live_capital(route, skip=name)
        cap = int(self.rule(target).capital_usd * MICRO)
        if total + cap <= bal:
            return None
        return (
            f"live capital would be {fmt_usd(total + cap)} USD ({name} {target} {fmt_usd(cap)}"
            + "".join(f" + {p}" for p in parts)
            + f"), more than the venue's available USDC balance {fmt_usd(bal)}"
        )

    def _check_balances(self, now: float) -> None:
        """Raise an event when the live capital on a route goes over the venue's balance (and
        when it is covered again)."""
        routes = {
            self.rule(str(r.stage)).route for r in self.engine.runners.values() if r.stage.live
        }
        for route in sorted(routes | set(self.over_balance)):
            checked, bal = self.venue_balance(route)
            if not checked or bal is None:
                continue
            total, parts = self.live_capital(route)
            over = total > bal
            if over == self.over_balance.get(route, False):
                continue
            self.over_balance[route] = over
            if over:
                self._event(
                    now,
                    None,
                    f"live capital {fmt_usd(total)} USD ({' + '.join(parts)}) exceeds the "
                    f"USDC balance {fmt_usd(bal)} at {route}: fund the wallet or demote a "
                    "strategy (new live stages are refused meanwhile)",
                    severity="critical",
                    data={"action": "balance_exceeded", "route": route, "capital": total,
                          "balance": bal},
                )  # fmt: skip
            else:
                self._event(
                    now,
                    None,
                    f"live capital {fmt_usd(total)} USD is covered again by the USDC balance "
                    f"{fmt_usd(bal)} at {route}",
                    data={"action": "balance_covered", "route": route, "capital": total,
                          "balance": bal},
                )  # fmt: skip

    def judged_on_backtests(self, name: str) -> bool:
        """Return whether ``name``'s next move is judged on the backtester's stored results."""
        r = self.engine.runners[name]
        return (
            r.stage == Stage.BACKTEST
            and self.backtests is not None
            and self.cfg.graduation.backtest_evidence == "backtester"
        )

    def refresh_backtests(self, names: list[str] | None = None) -> None:
        """Read the latest stored backtest results of the backtest-stage strategies."""
        if self.backtests is None:
            return
        todo = [
            n for n in (names if names is not None else self.engine.runners)
            if n in self.engine.runners and self.judged_on_backtests(n)
        ]  # fmt: skip
        if not todo:
            return
        try:
            self.backtest_seen.update(self.backtests(todo))
        except Exception as exc:  # noqa: BLE001 - a read failure blocks, it never promotes
            log.warning("Cannot read the stored backtest runs: %s", exc)
            for n in todo:
                self.backtest_seen.pop(n, None)

    def evaluate(self, name: str, now: float) -> Eligibility:
        """Return whether a strategy may move to its next stage now, and what blocks it."""
        r = self.engine.runners[name]
        st = self.stats[name]
        rule = self.rule(str(r.stage))
        target = next_stage(r.stage)
        route = self.rule(str(target)).route if target is not None else ""
        on_backtests = self.judged_on_backtests(name)
        ev = self.backtest_seen.get(name) if on_backtests else None
        e = eligibility(
            str(r.stage),
            ev.figures if ev is not None else self.figures(name),
            rule.promote_if,
            days_in_stage=ev.span_days if ev is not None else st.days(now),
            min_days=rule.min_days,
            status=str(r.status),
            target_route_ok=target is None or route in self.engine.clients,
            target_route=route,
            win_rate_min_bets=self.cfg.competition.win_rate_min_bets,
        )
        if target is not None and target.live:
            why = self.balance_blocker(name, str(target))
            if why is not None:
                e = replace(e, eligible=False, blockers=(*e.blockers, why))
        if not on_backtests:
            return e
        if ev is None:
            return replace(e, eligible=False, checks=(), blockers=(no_run_blocker(name),))
        blockers = [
            f"backtest run #{ev.run_id} covers {ev.span_days:.1f} of {rule.min_days:g} days "
            "of history"
            if b.endswith(f"days in {r.stage}")
            else b
            for b in e.blockers
        ]
        if ev.params_json != params_key(json.loads(r.strategy.params.model_dump_json())):
            blockers.insert(0, stale_blocker(ev, name))
        return replace(e, eligible=not blockers, blockers=tuple(blockers))

    def check(self, now: float) -> None:
        """Evaluate every strategy; promote (auto) or ask for an approval."""
        self._sample(now)
        self.refresh_backtests()
        for name, r in self.engine.runners.items():
            if is_twin(name):
                continue  # a paper twin mirrors its strategy; it never graduates
            e = self.eligible[name] = self.evaluate(name, now)
            if not e.eligible or e.target is None:
                if name in self.pending and not e.eligible:
                    p = self.pending.pop(name)
                    self._event(
                        now,
                        name,
                        f"{name} is no longer eligible for {p.target}: {'; '.join(e.blockers)}",
                        data={"action": "pending_dropped", "eligibility": e.to_dict()},
                    )
                continue
            rule = self.rule(str(r.stage))
            if rule.auto_promote and not e.needs_approval:
                self.promote(name, "auto", "eligible on the engine clock (auto_promote)", now, e)
            elif name not in self.pending and now >= self.rejected_until.get(name, float("-inf")):
                self.pending[name] = Pending(str(e.target), now, self.figures(name).to_dict())
                self._event(
                    now,
                    name,
                    f"{name} is eligible for {e.target}; waiting for an approval "
                    f"(dashboard Graduation page or `bot.py control graduate {name}`)",
                    severity="warning",
                    data={"action": "approval_requested", "eligibility": e.to_dict()},
                )
        self._save(now)

    # ------------------------------------------------------------------ transitions
    def promote(
        self, name: str, actor: str, reason: str, now: float, e: Eligibility | None = None
    ) -> str:
        """Move a strategy to its next stage if it is eligible now; return what was done."""
        if is_twin(name):
            raise CommandError(f"{name} is a paper twin: it follows its strategy, never graduates")
        e = e if e is not None else self.evaluate(name, now)
        if not e.eligible or e.target is None:
            raise CommandError(
                f"{name} is not eligible for {e.target or 'a next stage'}: {'; '.join(e.blockers)}"
            )
        return self._transition(name, str(e.target), "promotion", actor, reason, now, e)

    def demote(self, name: str, actor: str, reason: str, now: float) -> str:
        """Move a strategy back to paper, cancel its orders; the reason is recorded."""
        r = self.engine.runners.get(name)
        if r is None:
            raise CommandError(f"unknown strategy {name!r}")
        if r.stage in (Stage.PAPER, Stage.BACKTEST):
            return f"{name} is at {r.stage}: nothing to demote"
        return self._transition(name, str(Stage.PAPER), "demotion", actor, reason, now, None)

    def _transition(
        self,
        name: str,
        to: str,
        kind: str,
        actor: str,
        reason: str,
        now: float,
        e: Eligibility | None,
    ) -> str:
        eng = self.engine
        r = eng.runners[name]
        old = str(r.stage)
        figs = self.figures(name).to_dict()
        ev = self.backtest_seen.get(name) if self.judged_on_backtests(name) else None
        if ev is not None:  # the figures that judged the move: the backtest run's
            figs = dict(ev.figures.to_dict(), backtest=ev.to_dict())
        self.pending.pop(name, None)
        self.allocated.pop(name, None)
        r.stage = Stage(to)
        # Orders working at the old stage are cancelled first: none is left on a route the
        # strategy is leaving (docs/GRADUATION.md, "Routing at a transition").
        n = eng.cancel_orders(f"stage {old} -> {to}: {reason}", strategy=name)
        self._enter(name, to, now)
        route = self.rule(to).route
        if route != eng.client_of(name).name:
            self.route_target[name] = route
        else:
            self.route_target.pop(name, None)
        self._try_route(name, now)
        eng.sink.strategy({"name": name, "stage": to, "updated_ts": now})
        checks = e.to_dict() if e is not None else None
        self._record(
            name, old, to, kind, actor, reason, now, {"figures": figs, "eligibility": checks}
        )
        cap = self.rule(to).capital_usd
        text = (
            f"{name} {'promoted' if kind == 'promotion' else 'demoted'} {old} -> {to} by {actor}: "
            f"{reason}; capital {cap:,} USD, route {route}"
            + (f"; {n} working orders cancelled" if n else "")
            + (f" (route change waits: {self.waiting(name)})" if name in self.route_target else "")
        )
        log.warning("%s.", text, extra={"strategy": name})
        self._event(
            now,
            name,
            text,
            severity="warning",  # every stage change is notified (notifications.min_severity)
            data={"action": kind, "from": old, "to": to, "actor": actor, "figures": figs},
        )
        self.transitions += 1
        self._sync_twins(name, now)
        self._save(now)
        return text

    def _sync_twins(self, name: str | None, now: float) -> None:
        """Start / stop the paper twins of strategies that entered / left a live stage."""
        for orig, line in self.twins.sync(name):
            self._event(now, orig, line, data={"action": "twin"})

    def _enter(self, name: str, stage: str, now: float) -> None:
        r = self.engine.runners[name]
        pf = r.portfolio
        r.stage = Stage(stage)
        equity = (pf.cash + pf.market_value(self.engine.mark)) / MICRO
        self.stats[name] = StageStats(
            stage, now, int(self.rule(stage).capital_usd * MICRO), equity, len(pf.closed_bets)
        )
        self.stats[name].sample(now, equity, bool(pf.positions))
        self.engine.sink.strategy({"name": name, "stage": stage, "updated_ts": now})

    def _try_route(self, name: str, now: float) -> None:
        target = self.route_target.get(name)
        if target is None:
            return
        eng = self.engine
        if target not in eng.clients:
            return  # waits; the Graduation page shows the missing client
        pf = eng.runners[name].portfolio
        if eng.open_orders(name, None) or pf.positions:
            return
        old = eng.client_of(name).name
        eng.set_route(name, target)
        del self.route_target[name]
        self._event(
            now,
            name,
            f"{name} now routes orders to {target} (was {old})",
            data={"action": "route", "from": old, "to": target},
        )
        self._save(now)

    def _record(
        self,
        name: str,
        old: str | None,
        to: str,
        kind: str,
        actor: str,
        reason: str,
        now: float,
        figures: dict[str, Any] | None,
    ) -> None:
        self.engine.sink.w.insert(
            "stage_transitions",
            {
                "ts": now,
                "wall_ts": self.wall(),
                "strategy": name,
                "from_stage": old,
                "to_stage": to,
                "kind": kind,
                "actor": actor,
                "reason": reason,
                "capital": int(self.rule(to).capital_usd * MICRO),
                "route": self.rule(to).route,
                "figures_json": json.dumps(figures, sort_keys=True) if figures else None,
            },
        )

    def _event(
        self,
        now: float,
        name: str | None,
        message: str,
        *,
        severity: str = "info",
        data: dict[str, Any] | None = None,
    ) -> None:
        self.engine.bus.event(
            now, "graduation", message, severity=severity, strategy=name, data=data
        )

    # ------------------------------------------------------------------ demotion triggers
    def on_event(self, ev: AuditEvent) -> None:
        """Bus subscriber: queue demotions of live-stage strategies (applied on the clock)."""
        g = self.cfg.graduation
        if ev.kind == "breaker_trip" and g.demote_on_breaker_trip:
            names = [ev.strategy] if ev.strategy else list(self.engine.runners)
            actor = "breaker"
        elif ev.kind == "auto_disable" and g.demote_on_auto_disable and ev.strategy:
            names, actor = [ev.strategy], "health"
        elif ev.kind == VENUE_RECONCILIATION and g.demote_on_reconciliation_failure:
            diffs = [str(x) for x in (ev.data or {}).get("differences") or []]
            for name, lines in self._blame(diffs, VENUE_ROUTE).items():
                self._demotions.append(
                    (name, "reconciliation", "reconciliation failed: " + "; ".join(lines))
                )
            return
        else:
            return
        for name in names:
            r = self.engine.runners.get(name)
            if r is not None and r.stage.live:
                self._demotions.append((name, actor, ev.message))

    def _reconcile(self, now: float) -> None:
        eng = self.engine
        live = {n for n, r in eng.runners.items() if r.stage.live}
        if not live:
            return
        diffs = eng.reconcile()
        for name, lines in self._blame(diffs).items():
            self.demote(name, "reconciliation", "reconciliation failed: " + "; ".join(lines), now)

    def _blame(self, diffs: list[str], default_client: str | None = None) -> dict[str, list[str]]:
        """Return live-stage strategy -> the reconciliation differences that concern it.

        A line naming one of the engine's orders ("order 12") blames that order's strategy; any
        other line (an unknown venue order, a balance) blames every live-stage strategy routed to
        the client the line names before its colon (or ``default_client``).
        """
        eng = self.engine
        live = {n for n, r in eng.runners.items() if r.stage.live}
        blamed: dict[str, list[str]] = {}
        for line in diffs:
            head = line.split(":", 1)[0] if ":" in line else ""
            client = head if head in eng.clients else default_client
            m = _ORDER_RE.search(line)
            o = eng.orders.get(int(m.group(1))) if m else None
            names = (
                [o.strategy]
                if o is not None
                else [n for n in live if eng.client_of(n).name == client]
            )
            for n in names:
                if n in live:
                    blamed.setdefault(n, []).append(line)
        return blamed

    # ------------------------------------------------------------------ selection
    def _schedules(self, now: float) -> None:
        cfg = self.cfg
        sel, reb = cfg.selection, cfg.rebalancing
        if sel.enabled:
            if self.next_selection is None:
                self.next_selection = next_run(now, sel.schedule, sel.at_hour_utc)
            elif now >= self.next_selection:
                self.next_selection = next_run(now, sel.schedule, sel.at_hour_utc)
                self.run_selection(now)
        if reb.enabled:
            if self.next_rebalance is None:
                self.next_rebalance = next_run(now, reb.schedule, reb.at_hour_utc)
            elif now >= self.next_rebalance:
                self.next_rebalance = next_run(now, reb.schedule, reb.at_hour_utc)
                self.run_rebalance(now)

    def _pool_table(self, now: float | None = None) -> dict[str, Figures]:
        """Return the figures of the pool's strategies: over the trailing
        ``selection.window_days`` (stored snapshots and closed bets), or all-time (the
        leaderboard's figures) when the window is off or no store is attached."""
        sel = self.cfg.selection
        rows = {row.strategy: row for row in self.engine.tracker.latest}
        names = [
            name
            for name, r in self.engine.runners.items()
            if str(r.stage) == sel.stage and r.status != "disabled" and not is_twin(name)
        ]
        if sel.window_days is not None and self.window is not None:
            end = self.engine.clock.now() if now is None else now
            return self.window(names, end - sel.window_days * 86_400.0, end, self.cfg.competition)
        out: dict[str, Figures] = {}
        for name in names:
            row = rows.get(name)
            if row is not None:
                out[name] = Figures.from_metrics(row.metrics, row.return_pct, row.score)
        return out

    def _basis(self) -> str:
        w = self.cfg.selection.window_days
        return "all-time figures" if w is None or self.window is None else f"the last {w:g} days"

    def run_selection(self, now: float) -> Allocation:
        """Make the top-N selection proposal of the pool; apply it if ``auto_apply``."""
        sel = self.cfg.selection
        alloc = select(
            self._pool_table(now),
            sel.gates,
            sel.shares_pct,
            sel.pool_usd,
            win_rate_min_bets=self.cfg.competition.win_rate_min_bets,
        )
        self._propose(alloc, sel.auto_apply, now)
        return alloc

    def run_rebalance(self, now: float) -> Allocation | None:
        """Rebalance the pool among the strategies holding a share (or every pool strategy)."""
        reb, sel = self.cfg.rebalancing, self.cfg.selection
        table = self._pool_table(now)
        if self.allocation is not None:
            held = {n for n, c in self.allocation.capital.items() if c > 0}
            table = {n: f for n, f in table.items() if n in held}
        if not table:
            return None
        alloc = rebalance(
            table,
            reb.weights,
            self.cfg.competition,
            sel.pool_usd,
            min_share_pct=reb.min_share_pct,
            max_share_pct=reb.max_share_pct,
        )
        self._propose(alloc, reb.auto_apply, now)
        return alloc

    def _propose(self, alloc: Allocation, auto: bool, now: float) -> None:
        self.proposal_id += 1
        self.proposal = alloc
        summary = ", ".join(
            f"{n} {p:g}%" for n, p in sorted(alloc.shares_pct.items(), key=lambda x: -x[1]) if p
        )
        self._event(
            now,
            None,
            f"{alloc.kind} proposal #{self.proposal_id} on {self._basis()}: "
            f"{summary or 'no strategy qualified'}",
            data={
                "action": "proposal",
                "id": self.proposal_id,
                "basis": self._basis(),
                "allocation": alloc.to_dict(),
            },
        )
        if auto:
            self.apply_allocation(self.proposal_id, "auto", now)
        else:
            self._save(now)

    def apply_allocation(self, pid: int, actor: str, now: float) -> str:
        """Apply proposal ``pid``: each strategy's capital becomes its share (no forced sale)."""
        if self.proposal is None or pid != self.proposal_id:
            raise CommandError(
                f"no open allocation proposal #{pid} (latest is #{self.proposal_id})"
            )
        alloc, self.proposal = self.proposal, None
        self.allocation = alloc
        self.allocated = dict(alloc.capital)
        text = f"{alloc.kind} #{pid} applied by {actor}: " + ", ".join(
            f"{n} {c / MICRO:,.2f} USD" for n, c in sorted(alloc.capital.items())
        )
        self._event(now, None, text, data={"action": "allocation", "allocation": alloc.to_dict()})
        self._save(now)
        return text

    # ------------------------------------------------------------------ commands
    @staticmethod
    def _name(args: dict[str, Any]) -> str:
        v = args.get("strategy")
        if not v or not str(v).strip():
            raise CommandError("missing argument 'strategy'")
        return str(v)

    def _runner_name(self, args: dict[str, Any]) -> str:
        name = self._name(args)
        if name not in self.engine.runners:
            raise CommandError(f"unknown strategy {name!r}")
        return name

    def _cmd_graduate(self, args: dict[str, Any], row: dict[str, Any]) -> str:
        name = self._runner_name(args)
        now = self.engine.clock.now()
        self.refresh_backtests([name])
        e = self.evaluate(name, now)
        word = self.cfg.graduation.approval_confirm_word
        if e.target is not None and e.target.live and args.get("confirm") != word:
            raise CommandError(f"moving {name} into live stage {e.target} needs confirm: {word!r}")
        actor = str(row.get("source") or "unknown")
        return self.promote(name, actor, str(args.get("reason") or "approved"), now, e)

    def _cmd_reject(self, args: dict[str, Any], row: dict[str, Any]) -> str:
        name = self._runner_name(args)
        now = self.engine.clock.now()
        p = self.pending.pop(name, None)
        if p is None:
            raise CommandError(f"{name} has no promotion waiting for an approval")
        days = self.rule(str(self.engine.runners[name].stage)).min_days
        self.rejected_until[name] = now + max(days, 1.0) * 86_400.0
        text = (
            f"promotion of {name} to {p.target} rejected by {row.get('source')}: "
            f"{args.get('reason') or 'no reason given'}; asked again in {max(days, 1.0):g} days"
        )
        self._event(now, name, text, data={"action": "rejected", "target": p.target})
        self._save(now)
        return text

    def _cmd_demote(self, args: dict[str, Any], row: dict[str, Any]) -> str:
        name = self._runner_name(args)
        reason = str(args.get("reason") or "demoted by hand")
        return self.demote(
            name, str(row.get("source") or "unknown"), reason, self.engine.clock.now()
        )

    def _cmd_alloc_approve(self, args: dict[str, Any], row: dict[str, Any]) -> str:
        try:
            pid = int(args.get("proposal_id") or self.proposal_id)
        except (TypeError, ValueError) as exc:
            raise CommandError("proposal_id must be a number") from exc
        return self.apply_allocation(
            pid, str(row.get("source") or "unknown"), self.engine.clock.now()
        )

    def _cmd_alloc_reject(self, args: dict[str, Any], row: dict[str, Any]) -> str:
        if self.proposal is None:
            raise CommandError("no open allocation proposal")
        now = self.engine.clock.now()
        pid, self.proposal = self.proposal_id, None
        text = f"allocation proposal #{pid} rejected by {row.get('source')}: {args.get('reason') or '-'}"
        self._event(now, None, text, data={"action": "proposal_rejected", "id": pid})
        self._save(now)
        return text

    # ------------------------------------------------------------------ persistence
    def view(self, now: float) -> dict[str, Any]:
        """Return what the dashboard's Graduation page shows."""
        out: dict[str, Any] = {"ts": now, "strategies": {}}
        twins = self.twins.view()
        for name, r in self.engine.runners.items():
            st = self.stats.get(name)
            if st is None or is_twin(name):  # a twin is shown on its strategy's row
                continue
            e = self.eligible.get(name) or self.evaluate(name, now)
            cap = self.capital_of(name)
            p = self.pending.get(name)
            out["strategies"][name] = {
                "stage": str(r.stage),
                "status": str(r.status),
                "since": st.since,
                "days_in_stage": round(st.days(now), 2),
                "capital": cap[0] if cap else None,
                "capital_basis": cap[1] if cap else None,
                "route": self.engine.client_of(name).name,
                "route_target": self.route_target.get(name),
                "pending": None if p is None else {"target": p.target, "since": p.since},
                "eligibility": e.to_dict(),
                "figures": self.figures(name).to_dict(),
                "backtest": (
                    ev.to_dict()
                    if self.judged_on_backtests(name)
                    and (ev := self.backtest_seen.get(name)) is not None
                    else None
                ),
                "twin": twins.get(f"{name}__twin"),
            }
        out["proposal"] = (
            None if self.proposal is None else {"id": self.proposal_id, **self.proposal.to_dict()}
        )
        out["allocation"] = None if self.allocation is None else self.allocation.to_dict()
        out["twins"] = self.twins.view()
        out["confirm_word"] = self.cfg.graduation.approval_confirm_word
        out["pool_stage"] = self.cfg.selection.stage
        return out

    def _save(self, now: float) -> None:
        sink = self.engine.sink
        sink.state(
            STATE_KEY,
            {
                "stats": {n: s.to_dict() for n, s in self.stats.items()},
                "pending": {
                    n: {"target": p.target, "since": p.since, "figures": p.figures}
                    for n, p in self.pending.items()
                },
                "rejected_until": self.rejected_until,
                "route_target": self.route_target,
                "allocated": self.allocated,
                "allocation": None if self.allocation is None else self.allocation.to_dict(),
                "proposal": None if self.proposal is None else self.proposal.to_dict(),
                "proposal_id": self.proposal_id,
            },
            now,
        )
        sink.state(VIEW_KEY, self.view(now), now)

    def finish(self) -> None:
        """Save the state at shutdown."""
        now = self.engine.clock.now()
        self._sample(now)
        self._save(now)

    def _restore(self, d: Any) -> None:
        if not isinstance(d, dict):
            return
        for name, v in (d.get("stats") or {}).items():
            r = self.engine.runners.get(name)
            if r is None or not isinstance(v, dict):
                continue
            bets = [b.pnl / MICRO for b in r.portfolio.closed_bets]
            self.stats[name] = StageStats.from_dict(v, bets)
            r.stage = Stage(self.stats[name].stage)
        for name, v in (d.get("pending") or {}).items():
            self.pending[name] = Pending(
                str(v["target"]), float(v["since"]), v.get("figures") or {}
            )
        self.rejected_until = {str(k): float(v) for k, v in (d.get("rejected_until") or {}).items()}
        self.route_target = {str(k): str(v) for k, v in (d.get("route_target") or {}).items()}
        self.allocated = {str(k): int(v) for k, v in (d.get("allocated") or {}).items()}
        if d.get("allocation"):
            self.allocation = Allocation.from_dict(d["allocation"])
        if d.get("proposal"):
            self.proposal = Allocation.from_dict(d["proposal"])
        self.proposal_id = int(d.get("proposal_id") or 0)
