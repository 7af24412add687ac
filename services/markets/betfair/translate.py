"""Translate Betfair Exchange Stream API market messages (``op: "mcm"``) into market events.

One instrument per runner (selection id, and handicap when it is not 0) on Betfair's odds ladder
(:data:`services.ladder.BETFAIR_ODDS`), in the account's currency. Betfair's "available to back"
(``atb``) is the bid side of the odds book and "available to lay" (``atl``) the ask side
(``docs/ARCHITECTURE.md``, "Instruments and money"); sizes are backers' stakes.

* ``marketDefinition``: new runners become a ``MarketListed`` (names from the catalogue or the
  definition), a status or bet-delay change a ``MarketStatus`` (OPEN -> open, SUSPENDED ->
  suspended, INACTIVE -> not_accepting, CLOSED -> closed; ``bet_delay_s`` = ``betDelay``, which
  the paper client adds to the placement latency of new orders); in-play, bet delay, number of winners, base rate,
  runner status and adjustment factors are kept in :class:`MarketInfo`. The CLOSED definition
  settles the market: WINNER and PLACED pay 1 per payout unit, LOSER 0, REMOVED is void
  (:data:`services.events.VOID_PAYOUT`: every matched bet on the runner is returned).
* ``img: true`` replaces the market's books (``BookSnapshot`` per runner) and traded ladders.
* ``atb`` / ``atl`` deltas (``[price, size]``, size 0 removes) become one ``BookDelta`` per runner.
* ``trd`` is the cumulative traded volume per price. Each increase becomes a ``TradePrint`` of
  half the increase: Betfair counts both the backer's and the layer's side of a match (the same
  convention flumine's simulation uses; see ``docs/BETFAIR.md``).

Reference: Betfair Exchange Stream API, "MarketChangeMessage" / "RunnerChange"
(``../shared/reference/betfair.md`` summarises the fields).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from services.events import (
    VOID_PAYOUT,
    BookDelta,
    BookSnapshot,
    MarketEvent,
    MarketListed,
    MarketResolved,
    MarketStatus,
    RunnerRemoved,
    TradePrint,
)
from services.fees import NetWinningsCommission
from services.instruments import Instrument, Side
from services.ladder import BETFAIR_ODDS
from services.money import MICRO

log = logging.getLogger(__name__)

_BID = Side.BUY  # available to back
_ASK = Side.SELL  # available to lay

STATUS = {
    "OPEN": "open",
    "SUSPENDED": "suspended",
    "INACTIVE": "not_accepting",
    "CLOSED": "closed",
}
"""Betfair market status -> ``MarketStatus.status``."""

WIN_MINIMUM_ADJUSTMENT_FACTOR = 2.5
"""Adjustment factors (percent) under this do not reduce WIN markets' odds (Betfair's rules)."""

PAYOUT = {"WINNER": MICRO, "PLACED": MICRO, "LOSER": 0, "REMOVED": VOID_PAYOUT}
"""Betfair runner status in the CLOSED definition -> payout per unit (micro)."""

EVENT_TYPES = {
    "1": "soccer",
    "2": "tennis",
    "4": "cricket",
    "7": "horse racing",
    "4339": "greyhound racing",
    "7522": "basketball",
    "6423": "american football",
    "7524": "ice hockey",
}
"""Betfair event type ids -> category (strategies filter on it)."""


def instrument_id(market_id: str, selection_id: int, handicap: float = 0.0) -> str:
    """Return the instrument id of a runner: ``<market>:<selection>`` (``:<handicap>`` if not 0)."""
    if handicap:
        return f"{market_id}:{selection_id}:{handicap:g}"
    return f"{market_id}:{selection_id}"


def parse_time(s: str | None) -> float | None:
    """Return epoch seconds of a Betfair time string (``2022-04-19T18:26:00.000Z``), or None."""
    if not s:
        return None
    from datetime import datetime

    try:
        return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass
class MarketInfo:
    """What the translator knows of one market (its definition and traded ladders)."""

    market_id: str
    status: str = ""
    in_play: bool = False
    bet_delay_s: float = 0.0
    version: int = 0
    base_rate: Decimal = Decimal("0.05")
    number_of_winners: int = 1
    market_type: str = ""
    market_time: float | None = None
    supported: bool = True
    settled: bool = False
    iid_of: dict[Any, str] = field(default_factory=dict)
    """``selection`` (or ``(selection, handicap)``) -> instrument id."""
    runner_status: dict[str, str] = field(default_factory=dict)
    adjustment_factor: dict[str, float] = field(default_factory=dict)
    bsp: dict[str, float] = field(default_factory=dict)
    traded: dict[str, dict[int, int]] = field(default_factory=dict)
    """Cumulative traded volume per price (micro), per instrument (both sides, as reported)."""
    total_matched: dict[str, int] = field(default_factory=dict)
    """Runner ``tv`` as last reported (micro)."""


class BetfairTranslator:
    """Turn ``mcm`` messages into normalized events, keeping each market's definition.

    Parameters
    ----------
    currency : str
        The account's currency (Betfair streams do not carry it): instruments trade in it.
    min_stake : int
        Minimum stake in micro-units of ``currency`` (Betfair: 1 GBP / 1 EUR, 2 USD ...).
    names : dict[str, dict[int, str]] | None
        Runner names by market and selection id (from market catalogues), if known.
    titles : dict[str, str] | None
        Market titles by market id (from catalogues); else the definition's event and name.
    """

    def __init__(
        self,
        *,
        currency: str = "GBP",
        min_stake: int = MICRO,
        names: dict[str, dict[int, str]] | None = None,
        titles: dict[str, str] | None = None,
    ) -> None:
        self.currency = currency
        self.min_stake = min_stake
        self.names = names or {}
        self.titles = titles or {}
        self.markets: dict[str, MarketInfo] = {}
        self.messages = 0
        self.level_updates = 0
        self._px: dict[float, int] = {}

    # ------------------------------------------------------------------ entry points
    def translate(self, msg: dict[str, Any]) -> list[MarketEvent]:
        """Return the events of one stream message (empty for heartbeats and other ops)."""
        if msg.get("op") != "mcm":
            return []
        self.messages += 1
        mcs = msg.get("mc")
        if not mcs:
            return []
        ts = msg["pt"] / 1000.0
        out: list[MarketEvent] = []
        for mc in mcs:
            self._market_change(mc, ts, out)
        return out

    # ------------------------------------------------------------------ internals
    def _price(self, p: float) -> int:
        px = self._px.get(p)
        if px is None:
            px = self._px[p] = int(round(p * MICRO))
        return px

    def _market_change(self, mc: dict[str, Any], ts: float, out: list[MarketEvent]) -> None:
        market_id = mc["id"]
        m = self.markets.get(market_id)
        md = mc.get("marketDefinition")
        if md is not None:
            m = self._definition(market_id, m, md, ts, out)
        if m is None:
            return  # deltas before any definition: the stream always sends one first
        if not m.supported:
            return
        rcs = mc.get("rc")
        if mc.get("img"):
            self._image(m, rcs or (), ts, out)
        elif rcs:
            for rc in rcs:
                self._runner_change(m, rc, ts, out)
        if md is not None and md.get("status") == "CLOSED":
            self._settle(m, md, ts, out)

    def _iid(self, m: MarketInfo, rc: dict[str, Any], ts: float, out: list[MarketEvent]) -> str:
        hc = rc.get("hc")
        key: Any = (rc["id"], hc) if hc else rc["id"]
        iid = m.iid_of.get(key)
        if iid is None:  # a runner the definition has not named yet
            inst = self._instrument(m, rc["id"], hc or 0.0, None)
            iid = m.iid_of[key] = inst.instrument_id
            m.runner_status[iid] = "ACTIVE"
            out.append(MarketListed(ts, (inst,)))
        return iid

    def _runner_change(
        self, m: MarketInfo, rc: dict[str, Any], ts: float, out: list[MarketEvent]
    ) -> None:
        # The hot path of a replay: one call per runner per message.
        iid = self._iid(m, rc, ts, out)
        px = self._px
        price = self._price
        atb = rc.get("atb")
        atl = rc.get("atl")
        if atb or atl:
            changes = [(_BID, px.get(p) or price(p), int(s * MICRO + 0.5)) for p, s in atb or ()]
            if atl:
                changes += [(_ASK, px.get(p) or price(p), int(s * MICRO + 0.5)) for p, s in atl]
            self.level_updates += len(changes)
            out.append(BookDelta(ts, iid, tuple(changes)))
        trd = rc.get("trd")
        if trd:
            self.level_updates += len(trd)
            traded = m.traded.get(iid)
            if traded is None:
                traded = m.traded[iid] = {}
            for p, s in trd:
                pm = px.get(p) or price(p)
                size = int(s * MICRO + 0.5)
                prev = traded.get(pm, 0)
                traded[pm] = size
                if size > prev:
                    out.append(TradePrint(ts, iid, pm, (size - prev) // 2, None))
        tv = rc.get("tv")
        if tv is not None:
            m.total_matched[iid] = int(tv * MICRO + 0.5)

    def _image(self, m: MarketInfo, rcs: Any, ts: float, out: list[MarketEvent]) -> None:
        seen: set[str] = set()
        price = self._price
        for rc in rcs:
            iid = self._iid(m, rc, ts, out)
            seen.add(iid)
            bids = tuple((price(p), int(s * MICRO + 0.5)) for p, s in rc.get("atb") or ())
            asks = tuple((price(p), int(s * MICRO + 0.5)) for p, s in rc.get("atl") or ())
            self.level_updates += len(bids) + len(asks) + len(rc.get("trd") or ())
            out.append(BookSnapshot(ts, iid, bids, asks))
            m.traded[iid] = {price(p): int(s * MICRO + 0.5) for p, s in rc.get("trd") or ()}
            tv = rc.get("tv")
            if tv is not None:
                m.total_matched[iid] = int(tv * MICRO + 0.5)
        for iid in m.iid_of.values():
            if iid not in seen:  # an image replaces the whole market: absent runners are empty
                out.append(BookSnapshot(ts, iid, (), ()))
                m.traded[iid] = {}

    def _definition(
        self,
        market_id: str,
        m: MarketInfo | None,
        md: dict[str, Any],
        ts: float,
        out: list[MarketEvent],
    ) -> MarketInfo:
        if m is None:
            m = self.markets[market_id] = MarketInfo(market_id)
            ladder = (md.get("priceLadderDefinition") or {}).get("type", "CLASSIC")
            if ladder != "CLASSIC" or md.get("bettingType", "ODDS") != "ODDS":
                m.supported = False
                log.warning(
                    "Betfair market %s has betting type %s on a %s ladder; only ODDS markets on "
                    "the CLASSIC ladder are supported, so it is skipped.",
                    market_id,
                    md.get("bettingType"),
                    ladder,
                )
        m.in_play = bool(md.get("inPlay", False))
        delay_before = m.bet_delay_s
        m.bet_delay_s = float(md.get("betDelay") or 0)
        m.version = int(md.get("version") or m.version)
        if md.get("marketBaseRate") is not None:
            m.base_rate = Decimal(str(md["marketBaseRate"])) / 100
        m.number_of_winners = int(md.get("numberOfWinners") or m.number_of_winners)
        m.market_type = md.get("marketType") or m.market_type
        m.market_time = parse_time(md.get("marketTime")) or m.market_time
        if not m.supported:
            m.status = md.get("status") or m.status
            return m
        new: list[Instrument] = []
        removed: list[str] = []
        for r in md.get("runners") or ():
            hc = r.get("hc")
            key: Any = (r["id"], hc) if hc else r["id"]
            iid = m.iid_of.get(key)
            if iid is None:
                inst = self._instrument(m, r["id"], hc or 0.0, r.get("name"), md)
                iid = m.iid_of[key] = inst.instrument_id
                new.append(inst)
            before = m.runner_status.get(iid)
            m.runner_status[iid] = r.get("status", "ACTIVE")
            if r.get("adjustmentFactor") is not None:
                m.adjustment_factor[iid] = float(r["adjustmentFactor"])
            if (
                before is not None
                and before != "REMOVED"
                and m.runner_status[iid] == "REMOVED"
                and md.get("status") != "CLOSED"
            ):
                removed.append(iid)
            if r.get("bsp") is not None:
                m.bsp[iid] = float(r["bsp"])
        if new:
            out.append(MarketListed(ts, tuple(new)))
        status = md.get("status") or m.status
        delay_changed = m.bet_delay_s != delay_before
        if status != m.status or delay_changed:
            first = not m.status
            m.status = status
            mapped = STATUS.get(status)
            if mapped is None:
                log.warning("Betfair market %s reported unknown status %r.", market_id, status)
            elif not (first and mapped == "open" and not m.bet_delay_s):
                out.append(MarketStatus(ts, market_id, mapped, bet_delay_s=m.bet_delay_s))
        for iid in removed:
            out.append(self._removal(m, iid, ts))
        return m

    def _removal(self, m: MarketInfo, iid: str, ts: float) -> RunnerRemoved:
        """A runner removed from an open market: its bets are void, and the odds of the bets
        already matched on the other runners are reduced by its adjustment factor.

        Betfair's rule: a non-runner's adjustment factor (its estimated chance, percent) reduces
        the odds of bets matched before the removal on every remaining runner, ``odds * (1 -
        factor / 100)``; factors under 2.5 % are not applied in WIN markets. flumine's simulation
        does the same (``flumine/markets/middleware.py``: ``SimulatedMiddleware.
        _process_runner_removal``, ``WIN_MINIMUM_ADJUSTMENT_FACTOR = 2.5``, and ``0`` for place
        markets). Here the reduction is applied to the payout units held, exactly to the micro
        unit; Betfair rounds each bet's reduced odds to 2 decimals (and at least 1.01), which
        is not reproduced per bet.
        """
        af = m.adjustment_factor.get(iid, 0.0)
        minimum = WIN_MINIMUM_ADJUSTMENT_FACTOR if m.market_type == "WIN" else 0.0
        keep = MICRO - int(round(af * 10_000)) if af and af >= minimum else MICRO
        others = tuple(
            other
            for other in m.iid_of.values()
            if other != iid and m.runner_status.get(other) != "REMOVED"
        )
        log.info("Betfair runner %s removed (adjustment factor %.2f %%).", iid, af)
        return RunnerRemoved(ts, m.market_id, iid, af, max(0, keep), others)

    def _instrument(
        self,
        m: MarketInfo,
        selection_id: int,
        handicap: float,
        name: str | None,
        md: dict[str, Any] | None = None,
    ) -> Instrument:
        md = md or {}
        names = self.names.get(m.market_id, {})
        title = self.titles.get(m.market_id) or " ".join(
            x for x in (md.get("eventName"), md.get("name")) if x
        )
        kind = m.market_type or "market"
        winners = f", {m.number_of_winners} winners" if m.number_of_winners > 1 else ""
        question = f"{title or m.market_id} - {kind}{winners}"
        return Instrument(
            instrument_id=instrument_id(m.market_id, selection_id, handicap),
            venue="betfair",
            market_id=m.market_id,
            outcome=names.get(selection_id) or name or str(selection_id),
            tick=BETFAIR_ODDS.min_increment,
            min_size=self.min_stake,
            fees=NetWinningsCommission(m.base_rate),
            end_ts=m.market_time,
            question=question,
            category=EVENT_TYPES.get(str(md.get("eventTypeId")), "betfair"),
            ladder=BETFAIR_ODDS,
            lot=MICRO // 100,
            currency=self.currency,
            allows_short=True,
        )

    def _settle(self, m: MarketInfo, md: dict[str, Any], ts: float, out: list[MarketEvent]) -> None:
        if m.settled:
            return
        payouts: list[tuple[str, int]] = []
        for r in md.get("runners") or ():
            hc = r.get("hc")
            iid = m.iid_of.get((r["id"], hc) if hc else r["id"])
            if iid is None:
                continue
            status = r.get("status", "ACTIVE")
            pay = PAYOUT.get(status)
            if pay is None:
                log.warning(
                    "Betfair market %s closed with runner %s still %s; it is not settled (no "
                    "settlement in this definition).",
                    m.market_id,
                    iid,
                    status,
                )
                return
            payouts.append((iid, pay))
        m.settled = True
        out.append(MarketResolved(ts, m.market_id, tuple(payouts)))
