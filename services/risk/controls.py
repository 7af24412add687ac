"""The controls of the pre-trade risk chain, and :func:`build_chain` that orders them.

Every control is small and pure: ``check(intent, view)`` returns ``None`` or a
:class:`~services.risk.chain.Rejection` naming the value and the limit, e.g.
``order notional 1,250.00 exceeds max_order_usd 1,000.00``. Limits come from a
:class:`LimitsBook`, which the config hot reload swaps atomically.

Boundaries: a *size* limit allows the limit itself (an order of exactly ``max_order_usd`` passes);
a *loss* limit (daily loss, drawdown) stops entries once the loss reaches it. Reducing intents
(sells of shares held, exits) skip the size, exposure, zone and loss limits: they lower risk.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from services.instruments import Side
from services.intents import Intent
from services.ladder import Quote
from services.money import MICRO, fmt_usd
from services.risk.chain import Rejection, RiskChain, RiskControl, RiskView, TradingStatusControl
from services.risk.data_guard import DataGuard, DataGuardControl
from services.risk.limits import (
    LimitsBook,
    adds_exposure,
    buy_exposure,
    equity_of,
    order_notional,
    position_value,
    reference_price,
    strategy_exposure,
    zone_of,
)
from services.risk.sanity import (
    ExpiryControl,
    FundsControl,
    PostOnlyControl,
    PriceControl,
    SelfCrossControl,
    SizeControl,
    fmt_price,
)
from services.risk.store_guard import AlwaysWritable, StoreGuardControl, StoreState
from utils.safety_config import RiskConfig

if TYPE_CHECKING:
    from services.risk.breakers import BreakerBoard
    from services.risk.kill_switch import KillSwitch


# ------------------------------------------------------------------------------------- controls
class TradingStateControl:
    """The kill switch: ACTIVE passes all, REDUCING only reducing intents, HALTED nothing."""

    name = "trading_state"

    def __init__(self, kill: KillSwitch) -> None:
        self.kill = kill

    def check(self, intent: Intent, view: RiskView) -> Rejection | None:
        """Refuse what the trading state forbids."""
        state = self.kill.state.value
        if state == "ACTIVE" or (state == "REDUCING" and intent.reduce_only):
            return None
        why = f" (kill switch: {self.kill.reason})" if self.kill.reason else ""
        allowed = "only reducing orders" if state == "REDUCING" else "only cancels"
        return Rejection(
            self.name,
            f"trading state is {state}{why}: {allowed}",
            state,
            "ACTIVE",
        )


class BreakerGateControl:
    """The system-failure breaker: OPEN refuses entries, HALF_OPEN lets one small probe through."""

    name = "breaker"

    def __init__(self, board: BreakerBoard) -> None:
        self.board = board

    def check(self, intent: Intent, view: RiskView) -> Rejection | None:
        """Refuse entries while the system breaker is not CLOSED (probes excepted)."""
        if intent.reduce_only:
            return None
        return self.board.gate(view.now, order_notional(intent, view))


class ZoneControl:
    """Directional strategies may be barred from price zones (market makers and arbs are not)."""

    name = "zone"

    def __init__(self, limits: LimitsBook) -> None:
        self.limits = limits

    def check(self, intent: Intent, view: RiskView) -> Rejection | None:
        """Refuse a directional entry in a blocked zone."""
        zones = self.limits.cfg.zones
        if (
            intent.reduce_only
            or view.strategy_kind != "directional"
            or not zones.directional_blocked
        ):
            return None
        price = reference_price(intent, view)
        if view.instrument.quote is Quote.ODDS:
            price = MICRO * MICRO // price  # zones are probabilities: odds 4.0 -> 0.25
        zone = zone_of(price, zones)
        if zone not in zones.directional_blocked:
            return None
        return Rejection(
            self.name,
            f"price {fmt_price(price)} is in zone {zone}, barred for directional strategies "
            f"(risk.zones.directional_blocked)",
            zone,
            ",".join(zones.directional_blocked),
        )


class OrderSizeControl:
    """``max_order_usd``: the notional of one order."""

    name = "max_order"

    def __init__(self, limits: LimitsBook) -> None:
        self.limits = limits

    def check(self, intent: Intent, view: RiskView) -> Rejection | None:
        """Refuse an entry whose notional exceeds the limit."""
        lim = self.limits.for_strategy(view.strategy).max_order
        if lim is None or intent.reduce_only:
            return None
        value = order_notional(intent, view)
        if value <= lim:
            return None
        return Rejection(
            self.name,
            f"order notional {fmt_usd(value)} exceeds max_order_usd {fmt_usd(lim)}",
            fmt_usd(value),
            fmt_usd(lim),
        )


class PositionLimitControl:
    """``max_position_usd``: position at mark + resting buys + this order, per instrument."""

    name = "max_position"

    def __init__(self, limits: LimitsBook) -> None:
        self.limits = limits

    def check(self, intent: Intent, view: RiskView) -> Rejection | None:
        """Refuse a buy that would take the instrument's notional over the limit."""
        lim = self.limits.for_strategy(view.strategy).max_position
        if lim is None or not adds_exposure(intent, view):
            return None
        iid = intent.instrument_id
        value = position_value(view, iid) + buy_exposure(view, iid) + order_notional(intent, view)
        if value <= lim:
            return None
        return Rejection(
            self.name,
            f"position notional {fmt_usd(value)} in {iid} would exceed max_position_usd "
            f"{fmt_usd(lim)}",
            fmt_usd(value),
            fmt_usd(lim),
        )


class ExposureControl:
    """``max_exposure_usd``: all positions at mark + resting buys + this order."""

    name = "max_exposure"

    def __init__(self, limits: LimitsBook) -> None:
        self.limits = limits

    def check(self, intent: Intent, view: RiskView) -> Rejection | None:
        """Refuse a buy that would take the strategy's exposure over the limit."""
        lim = self.limits.for_strategy(view.strategy).max_exposure
        if lim is None or not adds_exposure(intent, view):
            return None
        value = strategy_exposure(view) + order_notional(intent, view)
        if value <= lim:
            return None
        return Rejection(
            self.name,
            f"exposure {fmt_usd(value)} would exceed max_exposure_usd {fmt_usd(lim)}",
            fmt_usd(value),
            fmt_usd(lim),
        )


class GlobalExposureControl:
    """``global_max_exposure_usd``: every strategy's positions at mark + reserved buy cash."""

    name = "global_exposure"

    def __init__(self, limits: LimitsBook) -> None:
        self.limits = limits

    def check(self, intent: Intent, view: RiskView) -> Rejection | None:
        """Refuse a buy that would take the total over the global cap."""
        lim = self.limits.global_max_exposure
        env = view.env
        if lim is None or env is None or not adds_exposure(intent, view):
            return None
        total = order_notional(intent, view)
        for pf in env.portfolios():
            total += pf.reserved_cash
            for iid in pf.positions:
                total += pf.exposure_of(iid, env.mark(iid))
        if total <= lim:
            return None
        return Rejection(
            self.name,
            f"total exposure {fmt_usd(total)} of all strategies would exceed "
            f"global_max_exposure_usd {fmt_usd(lim)}",
            fmt_usd(total),
            fmt_usd(lim),
        )


class OpenPositionsControl:
    """``max_open_positions``: instruments held or bid for."""

    name = "max_open_positions"

    def __init__(self, limits: LimitsBook) -> None:
        self.limits = limits

    def check(self, intent: Intent, view: RiskView) -> Rejection | None:
        """Refuse a buy on a new instrument once the count is at the limit."""
        lim = self.limits.for_strategy(view.strategy).max_open_positions
        if lim is None or not adds_exposure(intent, view):
            return None
        held = set(view.portfolio.positions)
        if view.env is not None:
            held |= {
                o.instrument_id
                for o in view.env.open_orders(view.strategy, None)
                if o.side is Side.BUY
            }
        if intent.instrument_id in held or len(held) < lim:
            return None
        return Rejection(
            self.name,
            f"{len(held)} open positions reached max_open_positions {lim}",
            str(len(held)),
            str(lim),
        )


class DailyLossControl:
    """``max_daily_loss_usd``: equity lost since the start of the risk day stops entries."""

    name = "max_daily_loss"

    def __init__(self, limits: LimitsBook) -> None:
        self.limits = limits

    def check(self, intent: Intent, view: RiskView) -> Rejection | None:
        """Refuse entries once the day's loss has reached the limit."""
        lim = self.limits.for_strategy(view.strategy).max_daily_loss
        if lim is None or intent.reduce_only or view.env is None:
            return None
        start = view.env.day_start_equity(view.strategy)
        if start is None:
            return None
        loss = start - equity_of(view)
        if loss < lim:
            return None
        return Rejection(
            self.name,
            f"daily loss {fmt_usd(loss)} reached max_daily_loss_usd {fmt_usd(lim)}",
            fmt_usd(loss),
            fmt_usd(lim),
        )


class DrawdownControl:
    """``max_drawdown_pct``: drawdown from the strategy's peak equity stops entries."""

    name = "max_drawdown"

    def __init__(self, limits: LimitsBook) -> None:
        self.limits = limits

    def check(self, intent: Intent, view: RiskView) -> Rejection | None:
        """Refuse entries once the drawdown has reached the limit."""
        lim = self.limits.for_strategy(view.strategy).max_drawdown_pct
        if lim is None or intent.reduce_only or view.env is None:
            return None
        peak = view.env.peak_equity(view.strategy)
        if not peak or peak <= 0:
            return None
        equity = equity_of(view)
        peak = max(peak, equity)
        # Compare in integers: dd% >= lim  <=>  (peak - equity) * 100 >= lim * peak.
        if (peak - equity) * 100 * MICRO < round(lim * MICRO) * peak:
            return None
        dd = (peak - equity) / peak * 100.0
        return Rejection(
            self.name,
            f"drawdown {dd:.2f}% reached max_drawdown_pct {lim:.2f}%",
            f"{dd:.2f}%",
            f"{lim:.2f}%",
        )


class RateLimitControl:
    """``max_orders_per_s``: orders per strategy in any 1-second window of event time.

    Put it last: it counts the intents that passed every other control. Market exits
    (reduce-only orders without a price: stop-loss, flatten, close commands) are not limited.
    """

    name = "rate_limit"
    window_s = 1.0

    def __init__(self, limits: LimitsBook) -> None:
        self.limits = limits
        self._sent: dict[str, deque[float]] = {}

    def check(self, intent: Intent, view: RiskView) -> Rejection | None:
        """Refuse the order that would exceed the rate; otherwise count it.

        Closing orders are not counted: market sells, and on short-capable instruments the
        reduce-only FAK/FOK back or lay at the best opposite price that closes a position.
        """
        lim = self.limits.for_strategy(view.strategy).max_orders_per_s
        if lim is None or (intent.reduce_only and intent.price is None):
            return None
        if intent.reduce_only and view.instrument.allows_short and not intent.tif.rests:
            return None
        q = self._sent.get(view.strategy)
        if q is None:
            q = self._sent[view.strategy] = deque()
        horizon = view.now - self.window_s
        while q and q[0] <= horizon:
            q.popleft()
        if len(q) >= lim:
            return Rejection(
                self.name,
                f"{len(q)} orders in the last second reached max_orders_per_s {lim}",
                str(len(q)),
                str(lim),
            )
        q.append(view.now)
        return None


class LimitsSwitch:
    """Skips the wrapped limit controls while ``risk.enabled`` is false."""

    def __init__(self, control: RiskControl, limits: LimitsBook) -> None:
        self.control = control
        self.limits = limits
        self.name = control.name

    def check(self, intent: Intent, view: RiskView) -> Rejection | None:
        """Delegate unless the limits are switched off."""
        if not self.limits.cfg.enabled:
            return None
        return self.control.check(intent, view)


def build_chain(
    limits: LimitsBook,
    kill: KillSwitch,
    board: BreakerBoard,
    guard: DataGuard,
    store: StoreState | None = None,
) -> RiskChain:
    """Return the whole pre-trade chain, declared once for every node (docs/SAFETY.md):
    trading state, status, data guard, store guard, breaker gate, sanity, limits, rate."""
    sanity: list[RiskControl] = [
        PriceControl(),
        SizeControl(),
        PostOnlyControl(),
        ExpiryControl(),
        SelfCrossControl(),
        FundsControl(),
    ]
    limit_controls: list[RiskControl] = [
        ZoneControl(limits),
        OrderSizeControl(limits),
        PositionLimitControl(limits),
        ExposureControl(limits),
        GlobalExposureControl(limits),
        OpenPositionsControl(limits),
        DailyLossControl(limits),
        DrawdownControl(limits),
        RateLimitControl(limits),
    ]
    controls: list[RiskControl] = [
        TradingStateControl(kill),
        TradingStatusControl(),
        DataGuardControl(guard),
        StoreGuardControl(store if store is not None else AlwaysWritable()),
        BreakerGateControl(board),
        *sanity,
        *(LimitsSwitch(c, limits) for c in limit_controls),
    ]
    return RiskChain(controls)


def kelly_rejection(strategy: str, params: object, cfg: RiskConfig) -> Rejection | None:
    """Return why a strategy's Kelly sizing is refused, or None.

    Looks for :class:`~services.strategies.sizing.SizingParams` among the strategy's parameter
    fields; a ``kelly`` mode with ``kelly_fraction`` above ``risk.max_kelly_fraction`` is refused
    (half Kelly by default; quarter if configured; full only with ``allow_full_kelly``).
    """
    # Duck-typed (risk does not import strategies): any parameter block with a ``mode`` of
    # ``"kelly"`` and a ``kelly_fraction`` is a Kelly sizing block.
    fields = getattr(type(params), "model_fields", {})
    for name in fields:
        sp: Any = getattr(params, name, None)
        if (
            getattr(sp, "mode", None) == "kelly"
            and hasattr(sp, "kelly_fraction")
            and sp.kelly_fraction > cfg.max_kelly_fraction
        ):
            return Rejection(
                "kelly",
                f"{strategy}: {name}.kelly_fraction {sp.kelly_fraction} exceeds "
                f"risk.max_kelly_fraction {cfg.max_kelly_fraction}",
                str(sp.kelly_fraction),
                str(cfg.max_kelly_fraction),
            )
    return None


def cap_kelly_fraction(requested: float, cfg: RiskConfig) -> float:
    """Return ``requested`` capped at ``risk.max_kelly_fraction`` (for strategies that size live)."""
    return min(requested, float(cfg.max_kelly_fraction))
