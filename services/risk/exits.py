"""Exit manager: stop-loss, take-profit, trailing stop, maximum hold and exit-before-end.

Rules come from ``exits.rules``, overridden per strategy (``exits.per_strategy.NAME``) and per
position (:meth:`ExitManager.set_override`); a key left out keeps the broader value. Every rule
fires when its threshold is *reached* (a stop-loss of 10 % fires at exactly 10 % below entry).

Prices compared are the position's average entry price and the instrument's mark (mid), both as
the value of one payout unit. On a probability ladder that is the price itself. On an odds
ladder the entry (``Position.avg_price``, cost per payout unit) is already an implied probability
(a back of ``S`` at odds ``O`` costs ``S`` for ``S * O`` units: ``1 / O`` a unit), so the mid in
odds is turned into one too (``1 / mid``) before comparing: a back at 3.0 (entry 0.3333) with a
stop-loss of 10 % fires when the mid odds reach 3.3334 or longer (0.3 a unit).

A short (a lay, on short-capable instruments) mirrors every rule: it loses when the unit value
rises, so its stop-loss fires at ``stop_loss_pct`` *above* entry, its take-profit below, and its
trailing stop tracks the lowest unit value seen. Percentages are of the entry unit value.

The decision is pure (:meth:`ExitManager.decide`); the safety layer executes it through the normal
execution path: cancel the strategy's resting orders on the instrument, then a reduce-only FAK
order that closes the position (a market sell on Polymarket; on odds a lay closes a back and a
back closes a lay, see :func:`services.risk.actions.close_plan`), which the risk chain lets
through even in REDUCING.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.instruments import Instrument
from services.ladder import Quote
from services.money import MICRO
from services.portfolio import Position
from utils.safety_config import ExitConfig, ExitRules


@dataclass(frozen=True, slots=True)
class ExitDecision:
    """Close ``strategy``'s position in ``instrument_id`` because ``rule`` fired."""

    strategy: str
    instrument_id: str
    rule: str
    message: str
    value: str
    limit: str


def _pr(price: int) -> str:
    return f"{price / MICRO:.4f}".rstrip("0").rstrip(".")


def _odds(implied: int) -> str:
    """Format an implied probability (micro) as decimal odds."""
    return f"{MICRO / implied:.2f}" if implied > 0 else "?"


class ExitManager:
    """Tracks high-water marks and applies exit rules to positions."""

    skip_idle = True
    """Let the safety layer skip :meth:`decide` for positions no rule applies to (the tests
    compare runs with False)."""

    def __init__(self, cfg: ExitConfig) -> None:
        self.cfg = cfg
        self.overrides: dict[tuple[str, str], ExitRules] = {}
        self.high: dict[tuple[str, str], int] = {}
        self.last_try: dict[tuple[str, str], float] = {}
        self.next_check = float("-inf")

    def due(self, now: float) -> bool:
        """Return whether a check is due (and schedule the next one)."""
        if not self.cfg.enabled or now < self.next_check:
            return False
        self.next_check = now + self.cfg.check_interval_s
        return True

    def set_override(self, strategy: str, instrument_id: str, rules: ExitRules | None) -> None:
        """Set (or clear with None) one position's rules; only its explicitly set keys apply."""
        key = (strategy, instrument_id)
        if rules is None:
            self.overrides.pop(key, None)
        else:
            self.overrides[key] = rules

    def rules_for(self, strategy: str, instrument_id: str) -> ExitRules:
        """Return the effective rules of one position."""
        return self.cfg.rules.merged(self.cfg.per_strategy.get(strategy)).merged(
            self.overrides.get((strategy, instrument_id))
        )

    def idle_for(self, strategy: str) -> bool:
        """Return whether no rule is set for ``strategy`` (the defaults merged with its
        ``per_strategy`` entry; every rule null): :meth:`decide` then returns None for each of
        its positions without a per-position override, and changes nothing (issue 18: the
        safety layer skips it every clock second; ``skip_idle`` False calls it anyway)."""
        r = self.cfg.rules.merged(self.cfg.per_strategy.get(strategy))
        return all(getattr(r, k) is None for k in type(r).model_fields)

    def forget(self, strategy: str, instrument_id: str) -> None:
        """Drop per-position memory once the position is closed."""
        key = (strategy, instrument_id)
        self.high.pop(key, None)
        self.last_try.pop(key, None)
        self.overrides.pop(key, None)

    def decide(
        self,
        now: float,
        strategy: str,
        pos: Position,
        inst: Instrument | None,
        mark: int | None,
    ) -> ExitDecision | None:
        """Return the first exit rule that fires for one position, or None.

        Order: exit-before-end, max hold, stop-loss, trailing stop, take-profit. A position whose
        exit was tried less than ``exits.retry_s`` ago is left alone.
        """
        key = (strategy, pos.instrument_id)
        r = self.rules_for(strategy, pos.instrument_id)
        entry = pos.avg_price
        if mark is not None and inst is not None and inst.quote is Quote.ODDS:
            mark = MICRO * MICRO // mark if mark > 0 else None  # odds -> implied probability
        if mark is not None and r.trailing_stop_pct is not None:
            best = max if pos.qty > 0 else min
            self.high[key] = best(self.high.get(key, entry), mark)
        last = self.last_try.get(key)
        if last is not None and now - last < self.cfg.retry_s:
            return None
        d = self._first(now, strategy, pos, inst, mark, r, entry)
        if d is not None:
            self.last_try[key] = now
        return d

    def _first(
        self,
        now: float,
        strategy: str,
        pos: Position,
        inst: Instrument | None,
        mark: int | None,
        r: ExitRules,
        entry: int,
    ) -> ExitDecision | None:
        iid = pos.instrument_id
        if r.exit_before_end_min is not None and inst is not None and inst.end_ts is not None:
            left_s = inst.end_ts - now
            if left_s <= r.exit_before_end_min * 60.0:
                return ExitDecision(
                    strategy,
                    iid,
                    "exit_before_end",
                    f"market ends in {left_s / 60:.1f} min, within exit_before_end_min "
                    f"{r.exit_before_end_min:g}",
                    f"{left_s / 60:.1f} min",
                    f"{r.exit_before_end_min:g} min",
                )
        if r.max_hold_min is not None:
            held_s = now - pos.opened_ts
            if held_s >= r.max_hold_min * 60.0:
                return ExitDecision(
                    strategy,
                    iid,
                    "max_hold",
                    f"held {held_s / 60:.1f} min, reached max_hold_min {r.max_hold_min:g}",
                    f"{held_s / 60:.1f} min",
                    f"{r.max_hold_min:g} min",
                )
        if mark is None or entry <= 0:
            return None
        if r.stop_loss_pct is None and r.trailing_stop_pct is None and r.take_profit_pct is None:
            return None  # no price rule: nothing below can fire (this runs every clock second)
        # d: +1 for a long (loses when the unit value falls), -1 for a short (when it rises).
        d = 1 if pos.qty > 0 else -1
        worse, better = ("below", "above") if d > 0 else ("above", "below")
        odds = inst is not None and inst.quote is Quote.ODDS
        mid = f"mid {_pr(mark)}" if not odds else f"mid odds {_odds(mark)} (implied {_pr(mark)})"
        what = "entry" if not odds else f"entry {_odds(entry)} (implied"
        close = "" if not odds else ")"
        if r.stop_loss_pct is not None and d * (entry - mark) * 100 >= r.stop_loss_pct * entry:
            loss = d * (entry - mark) / entry * 100
            return ExitDecision(
                strategy,
                iid,
                "stop_loss",
                f"{mid} is {loss:.2f}% {worse} {what} {_pr(entry)}{close}, reached "
                f"stop_loss_pct {r.stop_loss_pct:g}%",
                f"{loss:.2f}%",
                f"{r.stop_loss_pct:g}%",
            )
        hi = self.high.get((strategy, iid), entry)
        if (
            r.trailing_stop_pct is not None
            and hi > 0
            and d * (hi - mark) * 100 >= r.trailing_stop_pct * hi
        ):
            drop = d * (hi - mark) / hi * 100
            edge = "high" if d > 0 else "low"
            return ExitDecision(
                strategy,
                iid,
                "trailing_stop",
                f"{mid} is {drop:.2f}% {worse} its {edge} {_pr(hi)}, reached "
                f"trailing_stop_pct {r.trailing_stop_pct:g}%",
                f"{drop:.2f}%",
                f"{r.trailing_stop_pct:g}%",
            )
        if r.take_profit_pct is not None and d * (mark - entry) * 100 >= r.take_profit_pct * entry:
            gain = d * (mark - entry) / entry * 100
            return ExitDecision(
                strategy,
                iid,
                "take_profit",
                f"{mid} is {gain:.2f}% {better} {what} {_pr(entry)}{close}, reached "
                f"take_profit_pct {r.take_profit_pct:g}%",
                f"{gain:.2f}%",
                f"{r.take_profit_pct:g}%",
            )
        return None

    def to_dict(self) -> dict[str, Any]:
        """Return the ``bot_state["exits"]`` record (per-position overrides and highs)."""
        return {
            "overrides": [
                {"strategy": s, "instrument_id": i, "rules": r.model_dump(exclude_unset=True)}
                for (s, i), r in sorted(self.overrides.items())
            ],
            "high": [[s, i, v] for (s, i), v in sorted(self.high.items())],
        }

    def load(self, d: dict[str, Any] | None) -> None:
        """Restore from :meth:`to_dict` output."""
        if not isinstance(d, dict):
            return
        for o in d.get("overrides") or []:
            self.overrides[(o["strategy"], o["instrument_id"])] = ExitRules.model_validate(
                o.get("rules") or {}
            )
        for s, i, v in d.get("high") or []:
            self.high[(s, i)] = int(v)
