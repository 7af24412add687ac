"""A strategy's isolated virtual portfolio: cash, positions, reservations, exact ledger.

Every amount is an integer in micro-units of the portfolio's currency (USDC for Polymarket, GBP
or EUR for Betfair). Positions are kept in *payout units* of their instrument (one unit pays 1 if
the outcome wins): Polymarket shares, or a Betfair bet's ``stake * odds``
(``Instrument.position_delta``). They are long-only on venues that forbid short sales
(Polymarket) and may be short where the venue allows it (a Betfair lay). The ledger identity

    cash == starting_cash - bought + sold - fees + payouts

holds after every fill and settlement (``check_ledger``); ``payouts`` is signed (a short that
settles in the money pays out), and ``fees`` includes commission charged at settlement. So does

    equity - starting_cash == realized_pnl + unrealized_pnl - fees.

A short position holds back its worst case, the payout it owes if its outcome wins
(``short_liability``); ``available_cash`` excludes it.

Win/loss is counted per *bet*: all positions a strategy holds in one market (or one neg-risk
event) form one round trip that closes when they are all back to zero (sold or settled). So an
arbitrage that buys YES and NO counts once, by its net result, not as one win and one loss.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from services.events import VOID_PAYOUT
from services.execution.orders import Fill, Order, Settlement
from services.instruments import Instrument, Side
from services.money import MICRO, fmt_money, notional, split_cost
from utils.errors import FatalError


class LedgerError(FatalError, AssertionError):
    """The ledger identity does not hold: a bug, never a normal outcome."""


@dataclass(slots=True)
class Position:
    """Payout units held in one instrument; negative ``qty`` is a short (a lay).

    ``cost_basis`` is what the open units cost (negative for a short: the proceeds received).
    """

    instrument_id: str
    qty: int = 0
    cost_basis: int = 0
    realized_pnl: int = 0
    fees: int = 0
    opened_ts: float = 0.0
    updated_ts: float = 0.0

    @property
    def avg_price(self) -> int:
        """Return the average cost per unit in micro (0 when flat)."""
        return (self.cost_basis * MICRO) // self.qty if self.qty else 0


@dataclass(slots=True)
class _Bet:
    open_instruments: int = 0
    pnl: int = 0  # realized - fees since the bet opened
    fees: int = 0
    cost: int = 0  # notional bought (and paid at settlement by a short)
    proceeds: int = 0  # notional sold plus payouts
    opened_ts: float = 0.0


@dataclass(frozen=True, slots=True)
class ClosedBet:
    """One closed bet (a market or neg-risk event whose positions all went back to zero).

    Amounts are micro-USDC; ``pnl`` is net of ``fees``; ``closed_by`` is ``sold`` or ``settled``.
    """

    group_id: str
    opened_ts: float
    closed_ts: float
    cost: int
    proceeds: int
    fees: int
    pnl: int
    closed_by: str
    order_id: int | None = None  # the fill's order that closed it (None when settled)

    @property
    def hold_s(self) -> float:
        """Return how long the bet was open, seconds."""
        return self.closed_ts - self.opened_ts


class Portfolio:
    """One strategy's money. Mutated only by the engine (fills, settlements, reservations).

    Parameters
    ----------
    strategy : str
        The owning strategy.
    starting_cash : int
        Starting cash in micro-units of ``currency``.
    currency : str
        The portfolio's currency; it trades only instruments quoted in it.
    """

    def __init__(self, strategy: str, starting_cash: int, currency: str = "USDC") -> None:
        self.strategy = strategy
        self.starting_cash = starting_cash
        self.currency = currency
        self.cash = starting_cash
        self.positions: dict[str, Position] = {}
        self.bought = 0
        self.sold = 0
        self.payouts = 0
        self.fees = 0
        self.commission = 0
        self.realized_pnl = 0
        self.reserved_cash = 0
        self.reserved_shares: dict[str, int] = {}
        # Bumped by every method that changes positions, reservations or cash: a reader may
        # keep what it derived from them while the version is unchanged (issue 18).
        self.version = 0
        self.short_liability = 0
        self.fill_count = 0
        self.wins = 0
        self.losses = 0
        self.consecutive_losses = 0
        self.streak_loss = 0  # micro-USDC lost over the current losing streak (>= 0)
        self.closed_bets: list[ClosedBet] = []
        self._bets: dict[str, _Bet] = {}
        self._group_of: dict[str, str] = {}
        self._inst_of: dict[str, Instrument] = {}
        # Orders on short-capable instruments hold cash on both sides (order ids).
        self._cash_backed: set[int] = set()
        # Active reduce-only orders on short-capable instruments: order id -> (instrument, the
        # payout units they may still give back), so that two of them cannot together flip a
        # position they were each allowed to reduce.
        self._reducing: dict[int, tuple[str, int]] = {}
        # market id -> realized P&L there, for markets whose venue charges commission on it.
        self._market_net: dict[str, int] = {}
        # Realized P&L per instrument on commission-charging (Betfair) markets, across the
        # position's lifetimes: a void runner takes all of it back, even from a closed position.
        self._realized_iid: dict[str, int] = {}

    # ------------------------------------------------------------------ queries
    @property
    def available_cash(self) -> int:
        """Return cash not held back for resting orders nor for short positions' liability."""
        return self.cash - self.reserved_cash - self.short_liability

    def qty(self, instrument_id: str) -> int:
        """Return units held (micro; negative when short)."""
        pos = self.positions.get(instrument_id)
        return pos.qty if pos else 0

    def available_qty(self, instrument_id: str) -> int:
        """Return units held and not already offered by resting sell orders."""
        return self.qty(instrument_id) - self.reserved_shares.get(instrument_id, 0)

    def min_available_qty(self, instruments: list[Instrument]) -> int:
        """Return the smallest :meth:`available_qty` of the instruments (a bundle's sellable
        sets; called on every book update of a held bundle, so without a call per leg)."""
        positions, reserved = self.positions, self.reserved_shares
        least: int | None = None
        for inst in instruments:
            iid = inst.instrument_id
            pos = positions.get(iid)
            q = (pos.qty if pos else 0) - reserved.get(iid, 0)
            if least is None or q < least:
                least = q
        if least is None:
            raise ValueError("min_available_qty() of no instruments")
        return least

    @property
    def round_trips(self) -> int:
        """Return the number of closed bets (sold out or settled)."""
        return self.wins + self.losses

    @property
    def win_rate(self) -> float | None:
        """Return wins / closed bets, or None before the first closed bet."""
        n = self.wins + self.losses
        return self.wins / n if n else None

    def market_net(self, market_id: str) -> int:
        """Return the realized net result so far on a commission-charging market (micro)."""
        return self._market_net.get(market_id, 0)

    def market_value(self, mark: Callable[[str], int | None]) -> int:
        """Return the value of all positions at ``mark(instrument_id)`` (cost basis if unknown)."""
        total = 0
        for iid, pos in self.positions.items():
            m = mark(iid)
            if m is None:
                total += pos.cost_basis
            else:
                inst = self._inst_of.get(iid)
                total += notional(pos.qty, m) if inst is None else inst.unit_value(pos.qty, m)
        return total

    def exposure_of(self, instrument_id: str, mark: int | None) -> int:
        """Return the money at risk in one position at a book ``mark`` (micro, never negative).

        A long is worth its marked value (its cost basis without a mark), which it loses if the
        outcome loses. A short loses what it owes if the outcome wins, net of what buying it
        back would cost now: ``units - value`` (without a mark: ``units - proceeds``).
        """
        pos = self.positions.get(instrument_id)
        if pos is None or pos.qty == 0:
            return 0
        inst = self._inst_of.get(instrument_id)
        if pos.qty > 0:
            if mark is None:
                return pos.cost_basis
            return notional(pos.qty, mark) if inst is None else inst.unit_value(pos.qty, mark)
        units = -pos.qty
        if mark is None or inst is None:
            return max(0, units + pos.cost_basis)
        return max(0, units - inst.unit_value(units, mark))

    def equity(self, mark: Callable[[str], int | None]) -> int:
        """Return cash plus positions marked at ``mark``."""
        return self.cash + self.market_value(mark)

    def unrealized_pnl(self, mark: Callable[[str], int | None]) -> int:
        """Return marked value minus cost basis of open positions."""
        return self.market_value(mark) - sum(p.cost_basis for p in self.positions.values())

    # ------------------------------------------------------------------ reservations
    def buy_reservation(self, order: Order, inst: Instrument) -> int:
        """Return the cash an active order must hold back: its worst cash need plus the worst fee.

        A Polymarket buy holds its notional plus the worst fee. On a short-capable instrument,
        an order that gains units holds what they cost; one that gives units (a lay) holds the
        payout it could owe minus what it receives. Netting against a held position is not
        counted (conservative), except for a reduce-only FAK/FOK order on a short-capable
        instrument (the safety layer's close): :meth:`check_order` has checked that it gives back
        at most the units held, so it needs no cash beyond its worst fee (a lay that closes a
        back only receives cash; a back that closes a lay pays less than the liability it frees).
        """
        rem = order.remaining
        if rem <= 0:
            return 0
        if inst.allows_short and order.reduce_only and not order.tif.rests:
            return inst.fees.worst_fee(rem, order.price, inst.lot)
        units, cash = inst.position_delta(order.side, rem, order.price)
        need = cash if units > 0 else -units - cash
        return need + inst.fees.worst_fee(rem, order.price, inst.lot)

    def check_order(self, order: Order, inst: Instrument) -> str | None:
        """Return why this order cannot be funded, or None (no negative cash, no naked sells)."""
        if inst.currency != self.currency:
            return (
                f"instrument {inst.instrument_id} trades in {inst.currency}, "
                f"the portfolio holds {self.currency}"
            )
        if inst.allows_short and order.reduce_only:
            units, _ = inst.position_delta(order.side, order.remaining, order.price)
            held = self.qty(order.instrument_id)
            if held == 0 or (units > 0) == (held > 0) or abs(units) > abs(held):
                return (
                    f"reduce-only order would not reduce the position: {units / MICRO:,.2f} "
                    f"units against {held / MICRO:,.2f} held"
                )
            busy = sum(
                u
                for oid, (i, u) in self._reducing.items()
                if i == order.instrument_id and oid != order.order_id
            )
            if abs(units) > abs(held) - busy:
                return (
                    f"reduce-only order would not reduce the position: {units / MICRO:,.2f} "
                    f"units against {held / MICRO:,.2f} held, of which {busy / MICRO:,.2f} "
                    "are already being closed by working orders"
                )
        if order.side is Side.BUY or inst.allows_short:
            need = self.buy_reservation(order, inst)
            if need > self.available_cash:
                if self.currency == "USDC":
                    return (
                        f"insufficient cash: order needs {need / MICRO:,.2f}, "
                        f"available {self.available_cash / MICRO:,.2f}"
                    )
                return (
                    f"insufficient cash: order needs {fmt_money(need, self.currency)}, "
                    f"available {fmt_money(self.available_cash, self.currency)}"
                )
        else:
            have = self.available_qty(order.instrument_id)
            # The unfilled part: a partly filled sell already took its fills off the position.
            if order.remaining > have:
                return (
                    f"insufficient shares: selling {order.remaining / MICRO:,.2f}, "
                    f"available {have / MICRO:,.2f}"
                )
        return None

    def reserve(self, order: Order, inst: Instrument) -> None:
        """Hold back cash (buy, or any order on a short-capable instrument) or shares (sell)."""
        self.version += 1
        self.release(order)
        if order.side is Side.BUY or inst.allows_short:
            if inst.allows_short:
                self._cash_backed.add(order.order_id)
                if order.reduce_only:
                    units, _ = inst.position_delta(order.side, order.remaining, order.price)
                    self._reducing[order.order_id] = (order.instrument_id, abs(units))
            order.reserved = self.buy_reservation(order, inst)
            self.reserved_cash += order.reserved
        else:
            order.reserved = order.remaining
            iid = order.instrument_id
            self.reserved_shares[iid] = self.reserved_shares.get(iid, 0) + order.reserved

    def release(self, order: Order) -> None:
        """Give back whatever the order held."""
        self.version += 1
        self._reducing.pop(order.order_id, None)
        if not order.reserved:
            self._cash_backed.discard(order.order_id)
            return
        if order.side is Side.BUY or order.order_id in self._cash_backed:
            self.reserved_cash -= order.reserved
            self._cash_backed.discard(order.order_id)
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
        """Apply one fill; return its realized P&L (0 when it opens). Fees are kept separately."""
        self.version += 1
        iid = fill.instrument_id
        if inst.currency != self.currency:
            raise LedgerError(
                f"{self.strategy}: fill in {inst.currency} on a {self.currency} portfolio"
            )
        units, value = inst.position_delta(fill.side, fill.size, fill.price)
        pos = self.positions.get(iid)
        if pos is None:
            pos = self.positions[iid] = Position(iid, opened_ts=fill.ts)
            self._open_bet(iid, inst, fill.ts)
        bet = self._bets[self._group_of[iid]]
        self.fees += fill.fee
        pos.fees += fill.fee
        bet.pnl -= fill.fee
        bet.fees += fill.fee
        self.fill_count += 1
        pos.updated_ts = fill.ts
        held = pos.qty
        if units < 0 and -units > held and not inst.allows_short:
            raise LedgerError(
                f"{self.strategy}: sell of {fill.size} exceeds position {held} in {iid}"
            )
        if units > 0:
            self.cash -= value + fill.fee
            self.bought += value
            bet.cost += value
        else:
            self.cash += value - fill.fee
            self.sold += value
            bet.proceeds += value
        realized = 0
        if held == 0 or (held > 0) == (units > 0):
            pos.qty += units
            pos.cost_basis += value if units > 0 else -value
        else:
            n = abs(units)
            close = min(n, abs(held))
            part = split_cost(pos.cost_basis, close, abs(held))
            v_close = value if close == n else (value * close) // n
            # Closing a long receives v_close for basis ``part``; closing a short pays v_close
            # for basis ``part`` (negative: the proceeds received when it opened).
            realized = v_close - part if held > 0 else -part - v_close
            pos.cost_basis -= part
            pos.qty += close if units > 0 else -close
            if close < n:  # the fill flips the position: the rest opens the other way
                pos.qty += (n - close) if units > 0 else -(n - close)
                pos.cost_basis += (value - v_close) if units > 0 else -(value - v_close)
            pos.realized_pnl += realized
            self.realized_pnl += realized
            bet.pnl += realized
            if inst.market_id in self._market_net:
                self._market_net[inst.market_id] += realized
                self._realized_iid[iid] = self._realized_iid.get(iid, 0) + realized
        if held < 0 or pos.qty < 0:
            self.short_liability += max(0, -pos.qty) - max(0, -held)
        if pos.qty == 0:
            self._close_position(iid, fill.ts, "sold", fill.order_id)
        return realized

    def settle(
        self, instrument_id: str, payout_per_share: int, ts: float, settlement_id: int
    ) -> Settlement | None:
        """Pay out a position at resolution (a short pays); return the settlement, or None."""
        self.version += 1
        pos = self.positions.get(instrument_id)
        void = payout_per_share == VOID_PAYOUT
        if pos is None or pos.qty == 0:
            if void and self._realized_iid.get(instrument_id):
                return self._void_closed(instrument_id, ts, settlement_id)
            self._realized_iid.pop(instrument_id, None)
            return None
        if void:
            # Void (a removed Betfair runner): every bet on it is undone, including those that
            # closed earlier positions on it or partly closed this one, so what they realized
            # is taken back too.
            earlier = self._realized_iid.pop(instrument_id, pos.realized_pnl)
            amount = pos.cost_basis - earlier
        else:
            amount = notional(pos.qty, payout_per_share)
            self._realized_iid.pop(instrument_id, None)
        realized = amount - pos.cost_basis
        self.cash += amount
        self.payouts += amount
        self.realized_pnl += realized
        pos.realized_pnl += realized
        bet = self._bets[self._group_of[instrument_id]]
        bet.pnl += realized
        if amount >= 0:
            bet.proceeds += amount
        else:
            bet.cost -= amount
        inst = self._inst_of.get(instrument_id)
        if inst is not None and inst.market_id in self._market_net:
            self._market_net[inst.market_id] += realized
        if pos.qty < 0:
            self.short_liability += pos.qty
        st = Settlement(
            settlement_id, self.strategy, instrument_id, pos.qty, payout_per_share, amount, ts
        )
        pos.qty = 0
        pos.cost_basis = 0
        pos.updated_ts = ts
        self._close_position(instrument_id, ts, "settled")
        return st

    def _void_closed(self, iid: str, ts: float, settlement_id: int) -> Settlement:
        """Void the bets of a position closed before its runner was removed (Betfair rule:
        every bet on a non-runner is void): what they realized is taken back from cash."""
        self.version += 1
        realized = self._realized_iid.pop(iid)
        self.cash -= realized
        self.payouts -= realized
        self.realized_pnl -= realized
        for market_id in list(self._market_net):
            if iid.startswith(market_id + ":"):
                self._market_net[market_id] -= realized
        return Settlement(settlement_id, self.strategy, iid, 0, VOID_PAYOUT, -realized, ts)

    def reduce_odds(self, iid: str, keep_ppm: int) -> Position | None:
        """Reduce the odds of the bets matched so far on ``iid`` to ``keep_ppm`` / 1e6 of
        themselves (another runner was removed with adjustment factor 1 - keep): the position's
        payout units shrink in that proportion, its cost stays (Betfair's reduction factor).
        Return the changed position, or None when nothing is held."""
        self.version += 1
        pos = self.positions.get(iid)
        if pos is None or pos.qty == 0:
            return None
        old = pos.qty
        # Exact integer rounding half away from zero, to the micro payout unit.
        mag = (abs(old) * keep_ppm + 500_000) // 1_000_000
        pos.qty = mag if old > 0 else -mag
        if old < 0:
            self.short_liability += old - pos.qty  # less liability: -(new) - -(old)
        return pos

    def settle_commission(
        self, inst: Instrument, ts: float, settlement_id: int
    ) -> Settlement | None:
        """Charge the venue's commission on this market's net result once it has settled.

        Call after every runner of ``inst``'s market has been settled. Returns a settlement
        record carrying only the fee (``size`` and ``amount`` 0, on ``inst``), or None when
        nothing is due (no commission model, no trades there, or a net loss).
        """
        net = self._market_net.pop(inst.market_id, None)
        if net is None:
            return None
        fee = inst.fees.commission(net)
        if fee == 0:
            return None
        self.apply_commission(fee)
        return Settlement(settlement_id, self.strategy, inst.instrument_id, 0, 0, 0, ts, fee=fee)

    def apply_commission(self, fee: int, market_id: str | None = None) -> None:
        """Take a settled market's commission from cash (also used to replay the ledger)."""
        self.version += 1
        if market_id is not None:
            self._market_net.pop(market_id, None)
        self.cash -= fee
        self.fees += fee
        self.commission += fee

    def check_ledger(self) -> None:
        """Raise LedgerError unless cash equals the replay of buys, sells, fees and payouts."""
        expect = self.starting_cash - self.bought + self.sold - self.fees + self.payouts
        if self.cash != expect:
            raise LedgerError(f"{self.strategy}: cash {self.cash} != ledger {expect}")
        if self.reserved_cash < 0 or any(v < 0 for v in self.reserved_shares.values()):
            raise LedgerError(f"{self.strategy}: negative reservation")
        short = sum(-p.qty for p in self.positions.values() if p.qty < 0)
        if self.short_liability != short:
            raise LedgerError(
                f"{self.strategy}: short liability {self.short_liability} != positions {short}"
            )

    # ------------------------------------------------------------------ bets
    def _open_bet(self, iid: str, inst: Instrument, ts: float) -> None:
        group = inst.group_id
        self._group_of[iid] = group
        self._inst_of[iid] = inst
        if inst.fees.charges_commission:
            self._market_net.setdefault(inst.market_id, 0)
        bet = self._bets.get(group)
        if bet is None:
            bet = self._bets[group] = _Bet(opened_ts=ts)
        bet.open_instruments += 1

    def _close_position(self, iid: str, ts: float, how: str, order_id: int | None = None) -> None:
        del self.positions[iid]
        self._inst_of.pop(iid, None)
        group = self._group_of.pop(iid)
        bet = self._bets[group]
        bet.open_instruments -= 1
        if bet.open_instruments == 0:
            del self._bets[group]
            self.closed_bets.append(
                ClosedBet(
                    group,
                    bet.opened_ts,
                    ts,
                    bet.cost,
                    bet.proceeds,
                    bet.fees,
                    bet.pnl,
                    how,
                    order_id,
                )
            )
            if bet.pnl > 0:
                self.wins += 1
                self.consecutive_losses = 0
                self.streak_loss = 0
            else:
                self.losses += 1
                self.consecutive_losses += 1
                self.streak_loss -= bet.pnl
