"""Circuit breakers: CLOSED / OPEN / HALF_OPEN state machines with timestamps and reasons.

=====================  ==========================  =========================================
breaker                trips when (defaults)        effect, and how it closes again
=====================  ==========================  =========================================
consecutive_losses     5 losing bets in a row       pause the strategy; auto-resume after 24 h
                       (15 market making, 3
                       arbitrage) while the
                       strategy is down >= 1 %
daily_loss             portfolio down 5 % today     pause every strategy; a person resets it,
                                                    or the next risk day re-arms it
strategy_drawdown      strategy 25 % below peak     pause the strategy; a person resets it
portfolio_drawdown     portfolio 40 % below peak    kill switch; reset or kill-switch deactivate
system_failures        10 errors in 5 minutes       refuse entries 30 min, then HALF_OPEN: one
                                                    probe order; no error for 60 s -> CLOSED
=====================  ==========================  =========================================

Thresholds are "reached" limits: a count or percentage equal to the threshold trips. Every breaker
is ``enforce`` or ``observe`` per lifecycle stage (``breakers.modes``): an observing breaker does
not act; it reports an ``observe`` action once each time its condition starts to hold (the
safety layer records and counts it) and stays CLOSED. A portfolio-wide breaker enforces if any
strategy that is not disabled is at a stage where it enforces.

The board is pure: it takes measures and time and returns :class:`BreakerAction` values; the
safety layer applies them (statuses, kill switch, events) and persists
:meth:`BreakerBoard.to_dict`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from services.money import fmt_usd, to_micro
from services.risk.chain import Rejection
from services.risk.metrics import StrategyMeasure, at_least_pct, pct
from utils.safety_config import BreakerConfig

CONSECUTIVE_LOSSES = "consecutive_losses"
DAILY_LOSS = "daily_loss"
STRATEGY_DRAWDOWN = "strategy_drawdown"
PORTFOLIO_DRAWDOWN = "portfolio_drawdown"
SYSTEM_FAILURES = "system_failures"
BREAKER_NAMES = (
    CONSECUTIVE_LOSSES,
    DAILY_LOSS,
    STRATEGY_DRAWDOWN,
    PORTFOLIO_DRAWDOWN,
    SYSTEM_FAILURES,
)
PER_STRATEGY = (CONSECUTIVE_LOSSES, STRATEGY_DRAWDOWN)


class BreakerState(StrEnum):
    """Breaker states."""

    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"


@dataclass
class Breaker:
    """One breaker (per strategy for the strategy breakers). Times are event time."""

    name: str
    strategy: str | None = None
    state: BreakerState = BreakerState.CLOSED
    since_ts: float | None = None
    reason: str | None = None
    until_ts: float | None = None  # automatic transition (auto-resume, cooldown end)
    value: str | None = None
    limit: str | None = None
    trips: int = 0
    observed: bool = False  # observe mode: the condition holds (reported once until it clears)

    @property
    def key(self) -> str:
        """Return ``name`` or ``name:strategy``."""
        return f"{self.name}:{self.strategy}" if self.strategy else self.name

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable record."""
        return {
            "name": self.name,
            "strategy": self.strategy,
            "state": self.state.value,
            "since_ts": self.since_ts,
            "reason": self.reason,
            "until_ts": self.until_ts,
            "value": self.value,
            "limit": self.limit,
            "trips": self.trips,
            "observed": self.observed,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Breaker:
        """Rebuild from :meth:`to_dict` output."""
        return cls(
            name=d["name"],
            strategy=d.get("strategy"),
            state=BreakerState(d.get("state", "CLOSED")),
            since_ts=d.get("since_ts"),
            reason=d.get("reason"),
            until_ts=d.get("until_ts"),
            value=d.get("value"),
            limit=d.get("limit"),
            trips=int(d.get("trips") or 0),
            observed=bool(d.get("observed")),
        )


@dataclass(frozen=True, slots=True)
class BreakerAction:
    """What the safety layer must do after a breaker changed state.

    ``effect`` is one of ``pause_strategy`` (auto-resumes), ``halt_strategy`` (until a person
    resumes), ``halt_all``, ``kill_switch``, ``block_entries`` (system breaker), ``resume_strategy``,
    ``resume_all``, ``half_open`` or ``close``.
    """

    kind: str  # "trip" | "reset" | "observe"
    breaker: Breaker
    effect: str
    message: str


class BreakerBoard:
    """All breakers, their bases (loss streak counted since the last trip) and the error window."""

    def __init__(self, cfg: BreakerConfig) -> None:
        self.cfg = cfg
        self.breakers: dict[str, Breaker] = {}
        self.streak_base: dict[str, int] = {}
        self.failures: deque[float] = deque()
        self.probe_ts: float | None = None
        # Mode of the portfolio-wide breakers, from the stages of the strategies last measured.
        self.global_modes: dict[str, str] = {}
        self._modes_key: tuple[Any, ...] | None = None

    # ------------------------------------------------------------------ access
    def get(self, name: str, strategy: str | None = None) -> Breaker:
        """Return (creating, CLOSED) a breaker."""
        per = strategy if name in PER_STRATEGY else None
        found = self.breakers.get(f"{name}:{per}" if per else name)
        if found is not None:
            return found
        b = Breaker(name, per)
        return self.breakers.setdefault(b.key, b)

    def not_closed(self) -> list[Breaker]:
        """Return the breakers that are OPEN or HALF_OPEN."""
        return [b for b in self.breakers.values() if b.state is not BreakerState.CLOSED]

    # ------------------------------------------------------------------ transitions
    def _trip(
        self, b: Breaker, now: float, reason: str, value: str, limit: str, until: float | None
    ) -> None:
        b.state = BreakerState.OPEN
        b.since_ts = now
        b.reason = reason
        b.value = value
        b.limit = limit
        b.until_ts = until
        b.trips += 1

    def _close(self, b: Breaker, now: float, reason: str) -> None:
        b.state = BreakerState.CLOSED
        b.since_ts = now
        b.reason = reason
        b.until_ts = None
        b.observed = False

    def _observe(
        self, b: Breaker, reason: str, value: str, limit: str, effect: str
    ) -> BreakerAction:
        b.observed = True
        msg = f"observe mode: {reason}"
        return BreakerAction(
            "observe",
            Breaker(b.name, b.strategy, b.state, None, msg, None, value, limit),
            effect,
            msg,
        )

    def _set_global_modes(self, measures: list[StrategyMeasure]) -> None:
        # The same statuses and stages under the same config give the same modes: recomputed
        # only when one of them changed (this runs every clock second).
        key = (self.cfg.modes, tuple((m.status, m.stage) for m in measures))
        if key == self._modes_key:
            return
        self._modes_key = key
        live = [m for m in measures if m.status != "disabled"] or measures
        modes = self.cfg.modes
        for name in (DAILY_LOSS, PORTFOLIO_DRAWDOWN, SYSTEM_FAILURES):
            rule = getattr(modes, name)
            enforce = not live or any(rule.mode(m.stage) == "enforce" for m in live)
            self.global_modes[name] = "enforce" if enforce else "observe"

    def mode(self, name: str, stage: str | None = None) -> str:
        """Return ``enforce`` or ``observe`` for a breaker (at ``stage`` for per-strategy ones)."""
        if stage is not None:
            return getattr(self.cfg.modes, name).mode(stage)
        return self.global_modes.get(name, "enforce")

    def new_day(self, now: float, day: str | None) -> list[BreakerAction]:
        """Re-arm the daily-loss breaker at the start of a risk day."""
        b = self.breakers.get(DAILY_LOSS)
        if b is None:
            return []
        if b.state is not BreakerState.CLOSED:
            self._close(b, now, f"new risk day {day}: re-armed")
            return [BreakerAction("reset", b, "resume_all", b.reason or "")]
        b.observed = False
        return []

    def evaluate(
        self,
        now: float,
        measures: list[StrategyMeasure],
        total_equity: int,
        total_day_start: int | None,
        total_peak: int | None,
    ) -> list[BreakerAction]:
        """Check every breaker against the measures; return what changed."""
        cfg = self.cfg
        out: list[BreakerAction] = []
        self._set_global_modes(measures)
        for m in measures:
            out.extend(self._strategy_breakers(now, m))
        if cfg.daily_loss_pct is not None and total_day_start:
            b = self.get(DAILY_LOSS)
            loss = total_day_start - total_equity
            hit = at_least_pct(loss, total_day_start, cfg.daily_loss_pct)
            if b.state is BreakerState.CLOSED and hit:
                v = f"{pct(loss, total_day_start):.2f}%"
                lim = f"{cfg.daily_loss_pct:.2f}%"
                reason = (
                    f"portfolio daily loss {v} ({fmt_usd(loss)}) reached "
                    f"breakers.daily_loss_pct {lim}"
                )
                if self.mode(DAILY_LOSS) == "observe":
                    if not b.observed:
                        out.append(self._observe(b, reason, v, lim, "halt_all"))
                else:
                    self._trip(b, now, reason, v, lim, None)
                    out.append(BreakerAction("trip", b, "halt_all", b.reason or ""))
            elif not hit:
                b.observed = False
        if cfg.portfolio_drawdown_pct is not None and total_peak:
            b = self.get(PORTFOLIO_DRAWDOWN)
            dd = total_peak - total_equity
            hit = at_least_pct(dd, total_peak, cfg.portfolio_drawdown_pct)
            if b.state is BreakerState.CLOSED and hit:
                v = f"{pct(dd, total_peak):.2f}%"
                lim = f"{cfg.portfolio_drawdown_pct:.2f}%"
                reason = f"portfolio drawdown {v} reached breakers.portfolio_drawdown_pct {lim}"
                if self.mode(PORTFOLIO_DRAWDOWN) == "observe":
                    if not b.observed:
                        out.append(self._observe(b, reason, v, lim, "kill_switch"))
                else:
                    self._trip(b, now, reason, v, lim, None)
                    out.append(BreakerAction("trip", b, "kill_switch", b.reason or ""))
            elif not hit:
                b.observed = False
        out.extend(self._system_timers(now))
        return out

    def _strategy_breakers(self, now: float, m: StrategyMeasure) -> list[BreakerAction]:
        cfg = self.cfg
        out: list[BreakerAction] = []
        # Loss streak counted since the last trip (a win resets the portfolio's streak to 0).
        base = self.streak_base.get(m.name, 0)
        if m.consecutive_losses < base:
            base = self.streak_base[m.name] = 0
        streak = m.consecutive_losses - base
        b = self.breakers.get(f"{CONSECUTIVE_LOSSES}:{m.name}")
        if b is not None and b.state is BreakerState.OPEN and b.until_ts is not None:
            if now >= b.until_ts:
                self._close(b, now, f"auto-resume after {cfg.consecutive_losses_pause_h:g} h")
                self.streak_base[m.name] = m.consecutive_losses  # a fresh start after the pause
                out.append(BreakerAction("reset", b, "resume_strategy", b.reason or ""))
        else:
            limit = cfg.streak_limit(m.kind)
            # The loss test only when the streak counts (it runs every clock second).
            if (
                limit is not None
                and m.status == "active"
                and streak >= limit
                and (
                    cfg.consecutive_losses_min_loss_pct is None
                    or (
                        m.starting > 0
                        and at_least_pct(
                            m.total_loss, m.starting, cfg.consecutive_losses_min_loss_pct
                        )
                    )
                )
            ):
                b = self.get(CONSECUTIVE_LOSSES, m.name)
                down = f"{pct(m.total_loss, m.starting):.2f}%" if m.starting > 0 else "?"
                reason = (
                    f"{streak} consecutive losses reached the {m.kind} loss-streak limit "
                    f"{limit} (breakers.consecutive_losses) with the strategy down {down}"
                )
                self.streak_base[m.name] = m.consecutive_losses
                if self.mode(CONSECUTIVE_LOSSES, m.stage) == "observe":
                    out.append(self._observe(b, reason, str(streak), str(limit), "pause_strategy"))
                    b.observed = False  # the streak restarts from here: report the next one
                else:
                    until = now + cfg.consecutive_losses_pause_h * 3600.0
                    self._trip(
                        b,
                        now,
                        f"{reason}; paused for {cfg.consecutive_losses_pause_h:g} h",
                        str(streak),
                        str(limit),
                        until,
                    )
                    out.append(BreakerAction("trip", b, "pause_strategy", b.reason or ""))
        if cfg.strategy_drawdown_pct is not None and m.status == "active" and m.peak > 0:
            b = self.get(STRATEGY_DRAWDOWN, m.name)
            hit = at_least_pct(m.drawdown, m.peak, cfg.strategy_drawdown_pct)
            if b.state is BreakerState.CLOSED and hit:
                v = f"{pct(m.drawdown, m.peak):.2f}%"
                lim = f"{cfg.strategy_drawdown_pct:.2f}%"
                reason = f"drawdown {v} reached breakers.strategy_drawdown_pct {lim}"
                if self.mode(STRATEGY_DRAWDOWN, m.stage) == "observe":
                    if not b.observed:
                        out.append(self._observe(b, reason, v, lim, "halt_strategy"))
                else:
                    self._trip(
                        b,
                        now,
                        f"{reason}; halted until a person resets the breaker",
                        v,
                        lim,
                        None,
                    )
                    out.append(BreakerAction("trip", b, "halt_strategy", b.reason or ""))
            elif not hit:
                b.observed = False
        return out

    def _system_timers(self, now: float) -> list[BreakerAction]:
        b = self.breakers.get(SYSTEM_FAILURES)
        if b is None:
            return []
        if b.state is BreakerState.OPEN and b.until_ts is not None and now >= b.until_ts:
            b.state = BreakerState.HALF_OPEN
            b.since_ts = now
            b.until_ts = None
            b.reason = "cooldown over: one probe order may go through"
            self.probe_ts = None
            return [BreakerAction("reset", b, "half_open", b.reason)]
        if (
            b.state is BreakerState.HALF_OPEN
            and self.probe_ts is not None
            and now - self.probe_ts >= self.cfg.probe_window_s
        ):
            self._close(b, now, f"probe order passed {self.cfg.probe_window_s:g} s without errors")
            self.probe_ts = None
            return [BreakerAction("reset", b, "close", b.reason or "")]
        return []

    def record_failure(self, now: float, what: str) -> list[BreakerAction]:
        """Count a strategy or execution error; trip (or re-open) the system breaker."""
        cfg = self.cfg
        self.failures.append(now)
        horizon = now - cfg.failure_window_s
        while self.failures and self.failures[0] <= horizon:
            self.failures.popleft()
        if cfg.failure_threshold is None:
            return []
        b = self.get(SYSTEM_FAILURES)
        until = now + cfg.cooldown_s
        if b.state is BreakerState.HALF_OPEN:
            self._trip(
                b,
                now,
                f"error during the probe ({what}); cooling down again {cfg.cooldown_s:g} s",
                "1",
                "0",
                until,
            )
            self.probe_ts = None
            return [BreakerAction("trip", b, "block_entries", b.reason or "")]
        n = len(self.failures)
        if n < cfg.failure_threshold:
            b.observed = False
        if b.state is BreakerState.CLOSED and n >= cfg.failure_threshold:
            if self.mode(SYSTEM_FAILURES) == "observe":
                if b.observed:
                    return []
                return [
                    self._observe(
                        b,
                        f"{n} errors in {cfg.failure_window_s:g} s reached "
                        f"breakers.failure_threshold {cfg.failure_threshold} (last: {what})",
                        str(n),
                        str(cfg.failure_threshold),
                        "block_entries",
                    )
                ]
            self._trip(
                b,
                now,
                f"{n} errors in {cfg.failure_window_s:g} s reached breakers.failure_threshold "
                f"{cfg.failure_threshold} (last: {what}); entries refused for {cfg.cooldown_s:g} s",
                str(n),
                str(cfg.failure_threshold),
                until,
            )
            return [BreakerAction("trip", b, "block_entries", b.reason or "")]
        return []

    def gate(self, now: float, order_notional: int) -> Rejection | None:
        """Judge an entry against the system breaker (called by the risk chain)."""
        b = self.breakers.get(SYSTEM_FAILURES)
        if b is None or b.state is BreakerState.CLOSED:
            return None
        if b.state is BreakerState.OPEN:
            return Rejection(
                "breaker", f"breaker system_failures is OPEN: {b.reason}", "OPEN", "CLOSED"
            )
        if self.probe_ts is not None:
            return Rejection(
                "breaker",
                "breaker system_failures is HALF_OPEN: waiting for the probe's result",
                "HALF_OPEN",
                "CLOSED",
            )
        cap = to_micro(self.cfg.probe_max_usd)
        if order_notional > cap:
            return Rejection(
                "breaker",
                f"probe order notional {fmt_usd(order_notional)} exceeds breakers.probe_max_usd "
                f"{fmt_usd(cap)} (breaker system_failures is HALF_OPEN)",
                fmt_usd(order_notional),
                fmt_usd(cap),
            )
        self.probe_ts = now
        return None

    def reset(self, name: str, strategy: str | None, now: float, reason: str) -> Breaker:
        """Close a breaker by hand; raise KeyError/ValueError on a bad name."""
        if name not in BREAKER_NAMES:
            raise ValueError(f"unknown breaker {name!r}; breakers are {', '.join(BREAKER_NAMES)}")
        if name in PER_STRATEGY and not strategy:
            raise ValueError(f"breaker {name} is per strategy: name the strategy")
        b = self.get(name, strategy)
        self._close(b, now, f"reset by a person: {reason}")
        if name == SYSTEM_FAILURES:
            self.failures.clear()
            self.probe_ts = None
        return b

    def strategy_reset(self, strategy: str, consecutive_losses: int, now: float, why: str) -> None:
        """A person resumed/enabled ``strategy``: close its breakers and rebase its loss streak."""
        self.streak_base[strategy] = consecutive_losses
        for name in PER_STRATEGY:
            b = self.breakers.get(f"{name}:{strategy}")
            if b is not None and b.state is not BreakerState.CLOSED:
                self._close(b, now, why)

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        """Return the ``bot_state["breakers"]`` record."""
        return {
            "breakers": {k: b.to_dict() for k, b in sorted(self.breakers.items())},
            "streak_base": dict(self.streak_base),
            "failures": list(self.failures),
            "probe_ts": self.probe_ts,
        }

    def load(self, d: dict[str, Any] | None) -> None:
        """Restore from :meth:`to_dict` output."""
        if not isinstance(d, dict):
            return
        self.breakers = {k: Breaker.from_dict(v) for k, v in (d.get("breakers") or {}).items()}
        self.streak_base = {str(k): int(v) for k, v in (d.get("streak_base") or {}).items()}
        self.failures = deque(float(x) for x in d.get("failures") or [])
        self.probe_ts = d.get("probe_ts")
