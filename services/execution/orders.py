"""Orders, fills and settlements: the execution records shared by paper and live clients."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from services.events import VOID_PAYOUT
from services.instruments import Side


class TimeInForce(StrEnum):
    """GTC rests until cancelled; GTD rests until cancelled or its ``expire_ts`` (engine-clock
    seconds); FOK fills completely or not at all; FAK fills what it can."""

    GTC = "GTC"
    GTD = "GTD"
    FOK = "FOK"
    FAK = "FAK"

    @property
    def rests(self) -> bool:
        """Return whether the unfilled rest of such an order rests on the book (GTC, GTD)."""
        return self is TimeInForce.GTC or self is TimeInForce.GTD


class OrderStatus(StrEnum):
    """Lifecycle of an order."""

    PENDING = "pending"  # accepted, travelling to the venue (latency)
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


ACTIVE_STATUSES = frozenset({OrderStatus.PENDING, OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED})


@dataclass(slots=True)
class Order:
    """One order. Prices micro-USDC per share, sizes micro-shares, times event-time seconds."""

    order_id: int
    strategy: str
    instrument_id: str
    side: Side
    price: int
    size: int
    tif: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    order_type: str = "limit"  # "market" when the strategy gave no price
    reason: str = ""
    created_ts: float = 0.0
    updated_ts: float = 0.0
    filled: int = 0
    filled_notional: int = 0
    fees: int = 0
    status: OrderStatus = OrderStatus.PENDING
    reject_reason: str | None = None
    maker_fills: int = 0
    taker_fills: int = 0
    queue_ahead: int = 0
    reserved: int = 0  # cash (buys) or shares (sells) held back for this order by the portfolio
    reduce_only: bool = False
    extra: dict[str, object] = field(default_factory=dict)
    # The id the engine gives the venue to find the order again (unique per database), and the
    # venue's own id once it accepted the order.
    client_order_id: str = ""
    venue_order_id: str | None = None
    route: str | None = None  # the execution client the order went to
    expire_ts: float | None = None  # GTD only: engine-clock seconds at which the venue expires it

    @property
    def remaining(self) -> int:
        """Return the unfilled quantity in micro-shares."""
        return self.size - self.filled

    @property
    def active(self) -> bool:
        """Return whether the order can still fill or be cancelled."""
        return self.status in ACTIVE_STATUSES

    @property
    def avg_price(self) -> int | None:
        """Return the volume-weighted fill price in micro, or None before any fill."""
        if self.filled == 0:
            return None
        return (self.filled_notional * 1_000_000) // self.filled

    @property
    def liquidity(self) -> str | None:
        """Return ``maker``, ``taker`` or ``mixed`` once filled."""
        if self.maker_fills and self.taker_fills:
            return "mixed"
        if self.maker_fills:
            return "maker"
        if self.taker_fills:
            return "taker"
        return None


REVERSAL = "reversal"
"""``Fill.fill_reason`` of a fill that undoes an earlier one (a live trade MATCHED, then FAILED)."""


@dataclass(frozen=True, slots=True)
class Fill:
    """An execution of (part of) an order at one price level."""

    fill_id: int
    order_id: int
    strategy: str
    instrument_id: str
    side: Side
    price: int
    size: int
    fee: int
    liquidity: str  # "maker" | "taker"
    ts: float
    venue_fill_id: str = ""  # the venue's trade id (paper: "sim-N")
    # The evidence behind a paper fill: "taker" (walked the displayed book), "maker_print" (a
    # venue trade print reached it), "maker_cross" (the opposite side crossed it); "" if unknown.
    fill_reason: str = ""
    # Where a live fill's fee came from: "trade" (the venue trade's ``fee_rate_bps``), "model"
    # (the instrument's fee model: the trade carried no rate), "" for paper fills (always model).
    fee_source: str = ""

    @property
    def is_reversal(self) -> bool:
        """Return whether this fill undoes an earlier one (strategies get ``on_fill_reversed``)."""
        return self.fill_reason == REVERSAL


@dataclass(frozen=True, slots=True)
class Settlement:
    """A position paid out at market resolution (1 or 0 per unit, in micro).

    ``fee`` is commission charged on the market's net winnings (Betfair); a record that only
    charges commission has ``size`` and ``amount`` 0. ``size`` and ``amount`` are negative for
    a short position.
    """

    settlement_id: int
    strategy: str
    instrument_id: str
    size: int
    payout_per_share: int
    amount: int
    ts: float
    fee: int = 0
    reduction_ppm: int | None = None
    """Set on a row that records no payment but a Betfair odds reduction: the bets matched on
    the instrument so far had their odds multiplied by ``reduction_ppm`` / 1e6 (a runner was
    removed; see ``Portfolio.reduce_odds``). ``size`` and ``amount`` are 0."""

    @property
    def void(self) -> bool:
        """True when the bets were void (a removed Betfair runner): stakes returned, no payout."""
        return self.payout_per_share == VOID_PAYOUT
