"""What people, signals and the breakers can do to trading: the kill switch, strategy status
changes, closing positions and breaker resets. Mixed into :class:`services.risk.safety.SafetyLayer`.

Every action is recorded as an event (``kill_switch``, ``control``, ``breaker_reset``) and its
state persisted; a refused request raises :class:`CommandError` with the reason shown to the user.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from services.bus import EventBus
from services.execution.orders import Order, OrderStatus, TimeInForce
from services.instruments import Instrument, Side
from services.intents import Intent
from services.ladder import Quote
from services.money import MICRO, floor_lot
from services.monitors.health import HealthMonitor
from services.orderbook import OrderBook
from services.persistence import Sink
from services.risk import breakers as bk
from services.risk.breakers import BreakerBoard, BreakerState
from services.risk.kill_switch import KillSwitch, TradingState
from services.risk.metrics import RiskMetrics, StrategyMeasure
from utils.errors import BotError

if TYPE_CHECKING:
    from services.engine import Engine
    from utils.config import AppConfig

log = logging.getLogger("bot.safety")


@dataclass
class CloseWatch:
    """A closing order whose outcome someone is waiting for."""

    order: Order
    qty: int
    deadline: float
    on_done: Callable[[Order, str], None]
    unit: str = "shares"


def _verb(side: Side, unit: str) -> tuple[str, str]:
    """Return (past, infinitive) of a closing order: sold/sell, bought/buy, backed, laid."""
    if unit == "shares":
        return ("sold", "sell") if side is Side.SELL else ("bought", "buy")
    return ("backed", "back") if side is Side.SELL else ("laid", "lay")


def close_outcome(order: Order, qty: int, unit: str = "shares") -> str:
    """Describe what a finished (or timed-out) closing order really did.

    ``unit`` is ``"shares"`` on a probability ladder, else the stake currency (odds: a closing
    SELL is a back, a BUY a lay).
    """
    if order.status is OrderStatus.REJECTED:
        return f"order {order.order_id} rejected: {order.reject_reason}"
    avg = f" at {order.avg_price / 1e6:.4f}" if order.avg_price else ""
    did, _ = _verb(order.side, unit)
    return (
        f"order {order.order_id} {did} {order.filled / 1e6:,.2f} of "
        f"{qty / 1e6:,.2f} {unit}{avg} ({order.status.value})"
    )


@dataclass(frozen=True, slots=True)
class ClosePlan:
    """The order that closes (or reduces) a position: side, size, limit (None: market)."""

    side: Side
    size: int
    price: int | None
    unit: str


def close_plan(
    pos_qty: int, available: int, inst: Instrument, book: OrderBook | None
) -> ClosePlan | str:
    """Return the order that closes a position, or why none can be sent now.

    Long-only instruments (Polymarket): a market SELL of the units held and not already offered
    (``available``), rounded down to the lot. Short-capable instruments: the side whose fill
    moves the position towards zero (on odds a long, a back, is closed by a lay, the BUY side; a
    short, a lay, by a back, the SELL side), as a limit at the best opposite price now, sized so
    that its payout units do not exceed the position: on odds ``stake = units / odds`` rounded
    down to the lot. A lay fills at or below its limit, so it never gives more units than that;
    a back fills at or above it, so if the odds lengthen between sending and filling it can
    over-close by ``stake * (fill - limit)`` (a small long is left).
    """
    if not inst.allows_short:
        return ClosePlan(Side.SELL, floor_lot(available), None, "shares")
    unit = "shares" if inst.quote is Quote.PROBABILITY else inst.currency
    units_sell, _ = inst.position_delta(Side.SELL, inst.lot, inst.ladder.min_price)
    # The side that gives units when long, gains them when short.
    side = Side.SELL if (units_sell < 0) == (pos_qty > 0) else Side.BUY
    price = None if book is None else book.best(side.opposite)
    if price is None:
        what = "lay" if side is Side.BUY else "back"
        if inst.quote is Quote.PROBABILITY:
            what = side.value.lower()
        return f"no price to {what} at: the book's other side is empty"
    held = abs(pos_qty)
    if inst.quote is Quote.PROBABILITY:
        size = inst.floor_lot(held)
    else:
        size = inst.floor_lot(held * MICRO // price)
    return ClosePlan(side, size, price, unit)


class CommandError(BotError, ValueError):
    """A person's request cannot be applied; the message is shown as the command's result."""


def when(ts: float | None) -> str:
    """Format an event time for messages."""
    if ts is None:
        return "?"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class SafetyActions:
    """Kill switch, strategy status, closing and breaker actions (needs the attributes below)."""

    engine: Engine
    cfg: AppConfig
    sink: Sink
    wall: Callable[[], float]
    kill: KillSwitch
    board: BreakerBoard
    health: HealthMonitor
    metrics: RiskMetrics
    flatten_next: float
    bus: EventBus
    closing: dict[int, CloseWatch]

    def _save(self, key: str, value: Any, now: float) -> None:
        self.sink.state(key, value, now)

    def _persist_all(self, now: float) -> None:  # pragma: no cover - SafetyLayer overrides
        raise NotImplementedError

    def _cancel_orders(
        self,
        now: float,
        reason: str,
        *,
        strategy: str | None = None,
        side: Side | None = None,
        instrument_id: str | None = None,
    ) -> int:
        return self.engine.cancel_orders(
            reason, strategy=strategy, side=side, instrument_id=instrument_id
        )

    # ------------------------------------------------------------------ waiting for outcomes
    def _await(
        self,
        order: Order,
        qty: int,
        on_done: Callable[[Order, str], None],
        unit: str = "shares",
    ) -> str:
        """Return ``order``'s outcome if it is known now, else watch it for ``on_done``.

        A paper order is usually done when ``submit`` returns: its outcome is returned and
        ``on_done`` is not called. A live order's fills arrive later: the watch ends when the
        order finishes, or at ``execution.close_timeout_s``, when the rest is cancelled; then
        ``on_done(order, outcome)`` reports what was really sold.
        """
        if not order.active:
            return close_outcome(order, qty, unit)
        deadline = self.engine.clock.now() + self.cfg.execution.close_timeout_s
        self.closing[order.order_id] = CloseWatch(order, qty, deadline, on_done, unit)
        _, do = _verb(order.side, unit)
        return (
            f"order {order.order_id} sent to {do} {qty / 1e6:,.2f} {unit}; "
            "the outcome follows when the venue reports it"
        )

    def on_order(self, order: Order) -> None:
        """Engine order listener: finish the watch of a closing order that is done."""
        if order.active or order.order_id not in self.closing:
            return
        w = self.closing.pop(order.order_id)
        w.on_done(order, close_outcome(order, w.qty, w.unit))

    def _expire_closes(self, now: float) -> None:
        for oid, w in list(self.closing.items()):
            if now < w.deadline or oid not in self.closing:
                continue
            del self.closing[oid]
            o = w.order
            note = f"; timed out after {self.cfg.execution.close_timeout_s:g} s"
            if o.active:
                self.engine.cancel(o.strategy, o.order_id, "close timed out")
                # A paper cancel is done at once; a venue confirms it later (or not at all).
                note += ", rest cancelled" if not o.active else ", cancel of the rest requested"
            w.on_done(o, close_outcome(o, w.qty, w.unit) + note)

    def _closing_keys(self) -> set[tuple[str, str]]:
        return {(w.order.strategy, w.order.instrument_id) for w in self.closing.values()}

    def _plan(self, strategy: str, instrument_id: str) -> ClosePlan | str:
        eng = self.engine
        pf = eng.runners[strategy].portfolio
        inst = eng.instruments[instrument_id]
        return close_plan(
            pf.qty(instrument_id),
            pf.available_qty(instrument_id),
            inst,
            eng.books.find(instrument_id),
        )

    def closeable(self, strategy: str, instrument_id: str) -> bool:
        """Return whether a position can be closed now (live market, at least the minimum size).

        On a short-capable instrument whose book has no opposite price at the moment, the
        position counts as closeable: the flatten retries until a price appears or it times out.
        """
        eng = self.engine
        pos = eng.runners[strategy].portfolio.positions.get(instrument_id)
        inst = eng.instruments.get(instrument_id)
        if pos is None or pos.qty == 0 or inst is None or instrument_id not in eng.live:
            return False
        if not inst.allows_short:
            return floor_lot(pos.qty) >= inst.min_size
        plan = self._plan(strategy, instrument_id)
        return isinstance(plan, str) or plan.size >= inst.min_size

    def _close(
        self,
        strategy: str,
        instrument_id: str,
        reason: str,
        now: float,
        on_done: Callable[[Order, str], None] | None = None,
    ) -> tuple[Order | None, str]:
        """Cancel the strategy's orders on the instrument and close the position (:func:`close_plan`).

        Returns the order and what is known now; ``on_done(order, text)`` gets the real outcome
        (at once for a paper order, when the venue reports it for a live one). A refusal before
        any order existed is only returned.
        """
        eng = self.engine
        pf = eng.runners[strategy].portfolio
        pos = pf.positions.get(instrument_id)
        if pos is None or pos.qty == 0:
            return None, "no position"
        self._cancel_orders(
            now, f"closing position: {reason}", strategy=strategy, instrument_id=instrument_id
        )
        inst = eng.instruments.get(instrument_id)
        if inst is None or instrument_id not in eng.live:
            return None, "the market is not live; the position settles at resolution"
        plan = self._plan(strategy, instrument_id)
        if isinstance(plan, str):
            return None, plan
        qty = plan.size
        if qty < inst.min_size:
            return None, (
                f"{qty / 1e6:,.2f} {plan.unit} are below the market minimum "
                f"{inst.min_size / 1e6:,.2f}; the position settles at resolution"
            )
        order = eng.submit(
            Intent(
                strategy,
                instrument_id,
                plan.side,
                qty,
                plan.price,
                TimeInForce.FAK,
                False,
                reason[:200],
                reduce_only=True,
            )
        )
        if order is None:
            return None, "refused by the risk chain (see the risk_rejection event)"
        return order, self._await(order, qty, on_done or self._report_late, plan.unit)

    def _flatten_targets(self) -> list[tuple[str, str]]:
        held = [(n, i) for n, r in self.engine.runners.items() for i in r.portfolio.positions]
        if self.kill.flatten_targets is None:
            return held
        wanted = set(self.kill.flatten_targets)
        return [k for k in held if k in wanted]

    def _flatten_step(self, now: float, send: bool = True) -> list[int]:
        """Close what the kill switch must close (``send``); REDUCING -> HALTED when nothing is
        left or at the deadline."""
        ks = self.kill
        in_flight = self._closing_keys()
        todo = [k for k in self._flatten_targets() if self.closeable(*k) and k not in in_flight]
        deadline = ks.reducing_deadline_ts
        if (not todo and not in_flight) or (deadline is not None and now >= deadline):
            left = self._flatten_targets()
            ks.halt()
            why = "nothing left to close" if not todo else "flatten_timeout_s reached"
            msg = f"Kill switch REDUCING -> HALTED: {why}"
            if left:
                msg += f"; {len(left)} positions stay open until resolution"
            log.warning("%s.", msg)
            self.bus.event(
                now,
                "kill_switch",
                msg + ".",
                severity="warning",
                value="HALTED",
                data={"state": "HALTED", "left": [list(k) for k in left]},
            )
            self._save("kill_switch", ks.to_dict(), now)
            return []
        if not send:
            return []
        ids = []
        for strategy, iid in todo:
            order, _ = self._close(
                strategy, iid, f"kill switch flatten: {ks.reason}", now, self._report_late
            )
            if order is not None:
                ids.append(order.order_id)
        self.flatten_next = now + self.cfg.kill_switch_options.flatten_retry_s
        return ids

    def _report_late(self, order: Order, text: str) -> None:
        """Record the outcome of a closing order that finished after its caller reported."""
        now = self.engine.clock.now()
        self.bus.event(
            now,
            "close_outcome",
            f"{order.strategy} closing order for {order.instrument_id}: {text}.",
            severity="info" if order.filled else "warning",
            strategy=order.strategy,
            instrument_id=order.instrument_id,
            value=str(order.filled),
            limit=str(order.size),
            data={"order_id": order.order_id, "status": order.status.value},
        )

    def _halt_everything(self, now: float, reason: str) -> tuple[int, int]:
        eng = self.engine
        cancelled = len(eng.all_open_orders())
        disabled = 0
        for name, r in eng.runners.items():
            if r.status != "disabled":
                eng.set_status(name, "disabled", reason)
                disabled += 1
        self._cancel_orders(now, reason)
        return disabled, cancelled

    # ================================================================== actions (commands)
    def _runner(self, name: str) -> Any:
        r = self.engine.runners.get(name)
        if r is None:
            raise CommandError(
                f"unknown strategy {name!r}; strategies are {', '.join(self.engine.runners)}"
            )
        return r

    def activate_kill_switch(
        self,
        reason: str,
        source: str,
        flatten: bool | None = None,
        created_wall: float | None = None,
    ) -> str:
        """Stop all trading: disable every strategy, cancel every resting order, maybe flatten.

        ``created_wall`` (wall time the request was made) gives the measured latency, recorded
        on the ``kill_switch`` event (``data.latency_ms``) and in ``bot_state``.
        """
        eng = self.engine
        now = eng.clock.now()
        opts = self.cfg.kill_switch_options
        flat = opts.flatten_on_kill if flatten is None else bool(flatten)
        ks = self.kill
        if not ks.activate(now, reason, source, flat, opts.flatten_timeout_s):
            return (
                f"the kill switch is already active ({ks.state.value} since "
                f"{when(ks.since_ts)}: {ks.reason})"
            )
        last_order_id = eng.order_seq
        disabled, cancelled = self._halt_everything(now, f"kill switch: {ks.reason}")
        latency_ms = None
        if created_wall is not None:
            latency_ms = round((self.wall() - created_wall) * 1000.0, 3)
        ks.latency_ms = latency_ms
        flatten_ids = self._flatten_step(now) if ks.state is TradingState.REDUCING else []
        msg = (
            f"Kill switch activated by {source}: {ks.reason}. {disabled} strategies disabled, "
            f"{cancelled} resting orders cancelled"
            + (f", closing positions ({len(flatten_ids)} orders)" if flat else "")
            + "."
        )
        if latency_ms is not None:
            msg += f" Latency {latency_ms:.1f} ms."
        log.critical("%s", msg)
        self.bus.event(
            now,
            "kill_switch",
            msg,
            severity="critical",
            value=ks.state.value,
            data={
                "state": ks.state.value,
                "source": source,
                "flatten": flat,
                "latency_ms": latency_ms,
                "cancelled": cancelled,
                "strategies_disabled": disabled,
                "last_order_id": last_order_id,
                "flatten_orders": flatten_ids,
            },
        )
        self._save("kill_switch", ks.to_dict(), now)
        return msg

    def deactivate_kill_switch(
        self, reason: str, confirm: str | None, enable_all: bool = False, source: str = "cli"
    ) -> str:
        """Return to ACTIVE (needs ``confirm="CONFIRM"`` and a reason); strategies stay disabled
        unless ``enable_all``."""
        now = self.engine.clock.now()
        self.kill.deactivate(now, reason, confirm)
        pd = self.board.breakers.get(bk.PORTFOLIO_DRAWDOWN)
        if pd is not None and pd.state is not BreakerState.CLOSED:
            self.board.reset(bk.PORTFOLIO_DRAWDOWN, None, now, f"kill switch deactivated: {reason}")
            self.metrics.rebase_peak_total(self._total_equity())
        enabled = []
        if enable_all:
            for name, r in self.engine.runners.items():
                if r.status != "active":
                    self._set_active(
                        name, f"enabled with the kill switch deactivation: {reason}", now
                    )
                    enabled.append(name)
        msg = f"Kill switch deactivated by {source}: {reason.strip()}."
        if enable_all:
            msg += f" {len(enabled)} strategies enabled."
        else:
            msg += " Strategies stay disabled until each is enabled."
        if self.cfg.kill_switch:
            msg += (
                " Warning: config.yaml still says kill_switch: true, so the next start "
                "activates it again."
            )
        log.warning("%s", msg)
        self.bus.event(
            now,
            "kill_switch",
            msg,
            severity="warning",
            value="ACTIVE",
            data={"state": "ACTIVE", "source": source, "enabled": enabled},
        )
        self._persist_all(now)
        return msg

    def _total_equity(self) -> int:
        eng = self.engine
        return sum(r.portfolio.equity(eng.mark) for r in eng.runners.values())

    def _set_active(self, name: str, reason: str, now: float) -> None:
        r = self.engine.runners[name]
        self.engine.set_status(name, "active", reason)
        pf = r.portfolio
        equity = pf.equity(self.engine.mark)
        self.metrics.rebase_strategy(name, equity)
        m = StrategyMeasure(
            name, "active", equity, equity, equity, pf.wins, pf.losses, pf.consecutive_losses
        )
        self.health.rebase(m, now)
        self.board.strategy_reset(
            name, pf.consecutive_losses, now, f"resumed by a person: {reason}"
        )

    def _person(self, now: float, message: str, strategy: str | None = None) -> str:
        log.warning("%s", message)
        self.bus.event(now, "control", message, severity="warning", strategy=strategy)
        return message

    def set_strategy(self, action: str, name: str, reason: str, source: str) -> str:
        """Apply ``pause``, ``resume``, ``enable`` or ``disable`` to a strategy."""
        r = self._runner(name)
        reason = (reason or "").strip() or f"{action} by {source}"
        now = self.engine.clock.now()
        if action == "pause":
            if r.status != "active":
                raise CommandError(f"{name} is {r.status}, not active")
            self.engine.set_status(name, "paused", f"paused by {source}: {reason}")
            n = self._cancel_orders(now, f"strategy paused: {reason}", strategy=name, side=Side.BUY)
            out = self._person(
                now,
                f"{name} paused by {source}: {reason} ({n} resting buys "
                "cancelled; exits keep running).",
                name,
            )
        elif action in ("resume", "enable"):
            if self.kill.active:
                raise CommandError("the kill switch is active: deactivate it first")
            if r.status == "active":
                raise CommandError(f"{name} is already active")
            if action == "resume" and r.status == "disabled":
                raise CommandError(f"{name} is disabled: enable it instead of resuming")
            self._refuse_if_breaker_open(name, action)
            self._set_active(name, f"{action}d by {source}: {reason}", now)
            out = self._person(now, f"{name} {action}d by {source}: {reason}.", name)
        elif action == "disable":
            if r.status == "disabled":
                raise CommandError(f"{name} is already disabled")
            self.engine.set_status(name, "disabled", f"disabled by {source}: {reason}")
            out = self._person(
                now, f"{name} disabled by {source}: {reason} (resting orders cancelled).", name
            )
        else:
            raise CommandError(f"unknown strategy action {action!r}")
        self._persist_all(now)
        return out

    def close_position(self, strategy: str, instrument_id: str, reason: str, source: str) -> str:
        """Close one position (a market sell; on odds the opposite bet, see :func:`close_plan`);
        works while paused, disabled or with the switch active."""
        r = self._runner(strategy)
        if instrument_id not in r.portfolio.positions:
            raise CommandError(f"{strategy} holds no position in {instrument_id}")
        now = self.engine.clock.now()
        if self.kill.state is TradingState.HALTED:
            self.kill.start_reducing(
                now, self.cfg.kill_switch_options.flatten_timeout_s, [(strategy, instrument_id)]
            )
            self._save("kill_switch", self.kill.to_dict(), now)
        _, result = self._close(
            strategy, instrument_id, f"closed by {source}: {reason}", now, self._report_late
        )
        return self._person(
            now,
            f"{strategy} position {instrument_id} closed by {source}: {reason}: {result}.",
            strategy,
        )

    def flatten_all(self, reason: str, source: str) -> str:
        """Close every position (the kill switch, if active, goes REDUCING meanwhile)."""
        now = self.engine.clock.now()
        if self.kill.active:
            self.kill.start_reducing(now, self.cfg.kill_switch_options.flatten_timeout_s, None)
            self.kill.flatten = True
            self._save("kill_switch", self.kill.to_dict(), now)
            ids = self._flatten_step(now)
        else:
            ids = []
            for name, iid in self._flatten_targets():
                if self.closeable(name, iid):
                    order, _ = self._close(name, iid, f"flatten by {source}: {reason}", now)
                    if order is not None:
                        ids.append(order.order_id)
        return self._person(now, f"Flatten by {source}: {reason}: {len(ids)} closing orders sent.")

    def _refuse_if_breaker_open(self, name: str, action: str) -> None:
        """Refuse to resume/enable ``name`` while a breaker that stops it is OPEN (a breaker that
        a person could bypass strategy by strategy would be silently disarmed)."""
        keys = (
            f"{bk.CONSECUTIVE_LOSSES}:{name}",
            f"{bk.STRATEGY_DRAWDOWN}:{name}",
            bk.DAILY_LOSS,
            bk.PORTFOLIO_DRAWDOWN,
        )
        for key in keys:
            b = self.board.breakers.get(key)
            if b is None or b.state is not bk.BreakerState.OPEN:
                continue
            if b.strategy is None and self.board.mode(b.name, self.stage_of(name)) != "enforce":
                continue  # this strategy's stage only observes that breaker
            cli = f"python bot.py control breaker-reset {b.name}" + (
                f" --strategy {b.strategy}" if b.strategy else ""
            )
            raise CommandError(
                f"cannot {action} {name}: breaker {b.key} is OPEN since {when(b.since_ts)} "
                f"({b.reason}); reset the breaker first (Risk page, or {cli} --reason ...)"
            )

    def stage_of(self, name: str) -> str:  # pragma: no cover - SafetyLayer overrides
        """Return a strategy's lifecycle stage."""
        return "paper"

    def reset_breaker(self, name: str, strategy: str | None, reason: str, source: str) -> str:
        """Close a breaker by hand and undo its effect (resume what it paused, rebase)."""
        if strategy is not None:
            self._runner(strategy)
        now = self.engine.clock.now()
        try:
            b = self.board.reset(name, strategy, now, f"{source}: {reason}")
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        resumed = []
        if name == bk.DAILY_LOSS:
            self.metrics.rebase_day_total(self._total_equity())
        if name == bk.PORTFOLIO_DRAWDOWN:
            self.metrics.rebase_peak_total(self._total_equity())
        for rn, r in self.engine.runners.items():
            if strategy is not None and rn != strategy:
                continue
            paused_by_it = r.status == "paused" and (r.status_reason or "").startswith(
                f"breaker {name}"
            )
            if paused_by_it and not self.kill.active:
                self._set_active(rn, f"breaker {name} reset by {source}: {reason}", now)
                resumed.append(rn)
        self.bus.event(
            now,
            "breaker_reset",
            f"Breaker {b.key} reset by {source}: {reason}"
            + (f"; resumed {', '.join(resumed)}" if resumed else ""),
            strategy=strategy,
            data={"breaker": b.to_dict(), "resumed": resumed},
        )
        self._persist_all(now)
        return f"breaker {b.key} is CLOSED" + (f"; resumed {', '.join(resumed)}" if resumed else "")
