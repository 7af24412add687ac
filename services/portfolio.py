"""A strategy's isolated virtual portfolio: cash, positions, reservations, exact ledger.

Every amount is an integer in micro-units. The ledger identity

    cash == starting_cash - bought + sold - fees + payouts

holds after every fill and settlement (``check_ledger``), and so does

    equity - starting_cash == realized_pnl + unrealized_pnl - fees.

Win/loss is counted per *bet*: all positions a strategy holds in one market (or one neg-risk
event) form one round trip that closes when they are all back to zero (sold or settled). So an
arbitrage that buys YES and NO counts once, by its net result, not as one win and one loss.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from services.execution.orders import Fill, Order, Settlement
from services.instruments import Instrument, Side
from services.money import FEE_QUANTUM, LOT, MICRO, notional, split_cost, taker_fee
from utils.errors import FatalError


class LedgerError(FatalError, AssertionError):
    """The ledger identity does not hold: a bug, never a normal outcome."""


@dataclass(slots=True)
class Position:
    """Shares held in one instrument (long only: prediction-market shares are bought or sold)."""

    instrument_id: str
    qty: int = 0
    cost_basis: int = 0
    realized_pnl: int = 0
    fees: int = 0
    opened_ts: float = 0.0
    updated_ts: float = 0.0

    @property
    def avg_price(self) -> int:
        """Return the average cost per share in micro (0 when flat)."""
        return (self.cost_basis * MICRO) // self.qty if self.qty else 0


@dataclass(slots=True)
class _Bet:
    open_instruments: int = 0
    pnl: int = 0  # realized - fees since the bet opened


class Portfolio:
    """One strategy's money. Mutated only by the engine (fills, settlements, reservations)."""

    def __init__(self, strategy: str, starting_cash: int) -> None:
        self.strategy = strategy
        self.starting_cash = starting_cash
        self.cash = starting_cash
        self.positions: dict[str, Position] = {}
        self.bought = 0
        self.sold = 0
        self.payouts = 0
        self.fees = 0
        self.realized_pnl = 0
        self.reserved_cash = 0
        self.reserved_shares: dict[str, int] = {}
        self.fill_count = 0
        self.wins = 0
        self.losses = 0
        self.consecutive_losses = 0
        self._bets: dict[str, _Bet] = {}
        self._group_of: dict[str, str] = {}

    # ------------------------------------------------------------------ queries
    @property
    def available_cash(self) -> int:
        """Return cash not held back for resting buy orders."""
        return self.cash - self.reserved_cash

    def qty(self, instrument_id: str) -> int:
        """Return shares held (micro-shares)."""
        pos = self.positions.get(instrument_id)
        return pos.qty if pos else 0

    def available_qty(self, instrument_id: str) -> int:
        """Return shares held and not already offered by resting sell orders."""
        return self.qty(instrument_id) - self.reserved_shares.get(instrument_id, 0)

    @property
    def round_trips(self) -> int:
        """Return the number of closed bets (sold out or settled)."""
        return self.wins + self.losses

    @property
    def win_rate(self) -> float | None:
        """Return wins / closed bets, or None before the first closed bet."""
        n = self.wins + self.losses
        return self.wins / n if n else None

    def market_value(self, mark: Callable[[str], int | None]) -> int:
        """Return the value of all positions at ``mark(instrument_id)`` (cost basis if unknown)."""
        total = 0
        for iid, pos in self.positions.items():
            m = mark(iid)
            total += notional(pos.qty, m) if m is not None else pos.cost_basis
        return total

    def equity(self, mark: Callable[[str], int | None]) -> int:
        """Return cash plus positions marked at ``mark``."""
        return self.cash + self.market_value(mark)

    def unrealized_pnl(self, mark: Callable[[str], int | None]) -> int:
        """Return marked value minus cost basis of open positions."""
        return self.market_value(mark) - sum(p.cost_basis for p in self.positions.values())

    # ------------------------------------------------------------------ reservations
    def buy_reservation(self, order: Order, inst: Instrument) -> int:
        """Return the cash an active buy order must hold back: notional plus the worst fee."""
        rem = order.remaining
        if rem <= 0:
            return 0
        worst_fee_price = min(order.price, MICRO // 2)  # p(1-p) peaks at 0.5
        fee = taker_fee(rem, worst_fee_price, inst.fees.rate, inst.fees.exponent)
        if fee:
            # Fees are rounded per fill and every fill is at least one lot, so per-fill rounding
            # can add at most half a fee quantum per lot on top of the whole-order figure.
            fee += (FEE_QUANTUM // 2) * (rem // LOT)
        return notional(rem, order.price) + fee

    def check_order(self, order: Order, inst: Instrument) -> str | None:
        """Return why this order cannot be funded, or None (no negative cash, no naked sells)."""
        if order.side is Side.BUY:
            need = self.buy_reservation(order, inst)
            if need > self.available_cash:
                return (
                    f"insufficient cash: order needs {need / MICRO:,.2f}, "
                    f"available {self.available_cash / MICRO:,.2f}"
                )
        else:
            have = self.available_qty(order.instrument_id)
            if order.size > have:
                return (
                    f"insufficient shares: selling {order.size / MICRO:,.2f}, "
                    f"available {have / MICRO:,.2f}"
                )
        return None

    def reserve(self, order: Order, inst: Instrument) -> None:
        """Hold back cash (buy) or shares (sell) for the order's unfilled part."""
        self.release(order)
        if order.side is Side.BUY:
            order.reserved = self.buy_reservation(order, inst)
            self.reserved_cash += order.reserved
        else:
            order.reserved = order.remaining
            iid = order.instrument_id
            self.reserved_shares[iid] = self.reserved_shares.get(iid, 0) + order.reserved

    def release(self, order: Order) -> None:
        """Give back whatever the order held."""
        if not order.reserved:
            return
        if order.side is Side.BUY:
            self.reserved_cash -= order.reserved
        else:
            iid = order.instrument_id
            left = self.reserved_shares.get(iid, 0) - order.reserved
            if left:
                self.reserved_shares[iid] = left
            else:
                self.reserved_shares.pop(iid, None)
        order.reserved = 0

    # ------------------------------------------------------------------ ledger
    def apply_fill(self, fill: Fill, inst: Instrument) -> int:
        """Apply one fill; return its realized P&L (0 for buys). Fees are kept separately."""
        iid = fill.instrument_id
        value = notional(fill.size, fill.price)
        pos = self.positions.get(iid)
        if pos is None:
            pos = self.positions[iid] = Position(iid, opened_ts=fill.ts)
            self._open_bet(iid, inst)
        bet = self._bets[self._group_of[iid]]
        self.fees += fill.fee
        pos.fees += fill.fee
        bet.pnl -= fill.fee
        self.fill_count += 1
        pos.updated_ts = fill.ts
        realized = 0
        if fill.side is Side.BUY:
            self.cash -= value + fill.fee
            self.bought += value
            pos.qty += fill.size
            pos.cost_basis += value
        else:
            if fill.size > pos.qty:
                raise LedgerError(
                    f"{self.strategy}: sell of {fill.size} exceeds position {pos.qty} in {iid}"
                )
            part = split_cost(pos.cost_basis, fill.size, pos.qty)
            realized = value - part
            self.cash += value - fill.fee
            self.sold += value
            pos.qty -= fill.size
            pos.cost_basis -= part
            pos.realized_pnl += realized
            self.realized_pnl += realized
            bet.pnl += realized
            if pos.qty == 0:
                self._close_position(iid)
        return realized

    def settle(
        self, instrument_id: str, payout_per_share: int, ts: float, settlement_id: int
    ) -> Settlement | None:
        """Pay out a position at resolution; return the settlement, or None if flat."""
        pos = self.positions.get(instrument_id)
        if pos is None or pos.qty == 0:
            return None
        amount = notional(pos.qty, payout_per_share)
        realized = amount - pos.cost_basis
        self.cash += amount
        self.payouts += amount
        self.realized_pnl += realized
        pos.realized_pnl += realized
        self._bets[self._group_of[instrument_id]].pnl += realized
        st = Settlement(
            settlement_id, self.strategy, instrument_id, pos.qty, payout_per_share, amount, ts
        )
        pos.qty = 0
        pos.cost_basis = 0
        pos.updated_ts = ts
        self._close_position(instrument_id)
        return st

    def check_ledger(self) -> None:
        """Raise LedgerError unless cash equals the replay of buys, sells, fees and payouts."""
        expect = self.starting_cash - self.bought + self.sold - self.fees + self.payouts
        if self.cash != expect:
            raise LedgerError(f"{self.strategy}: cash {self.cash} != ledger {expect}")
        if self.reserved_cash < 0 or any(v < 0 for v in self.reserved_shares.values()):
            raise LedgerError(f"{self.strategy}: negative reservation")

    # ------------------------------------------------------------------ bets
    def _open_bet(self, iid: str, inst: Instrument) -> None:
        group = inst.group_id
        self._group_of[iid] = group
        bet = self._bets.get(group)
        if bet is None:
            bet = self._bets[group] = _Bet()
        bet.open_instruments += 1

    def _close_position(self, iid: str) -> None:
        del self.positions[iid]
        group = self._group_of.pop(iid)
        bet = self._bets[group]
        bet.open_instruments -= 1
        if bet.open_instruments == 0:
            del self._bets[group]
            if bet.pnl > 0:
                self.wins += 1
                self.consecutive_losses = 0
            else:
                self.losses += 1
                self.consecutive_losses += 1
