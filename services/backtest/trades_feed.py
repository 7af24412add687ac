"""Trades / price-history replay: history fetched by ``bot.py history fetch`` as events.

There is no book in this data, so the feed draws the least a fill needs and says so:

* every price point ``p`` of a token becomes a one-level book with the bid at ``p - half_spread``
  (rounded down to the tick) and the ask at ``p + half_spread`` (rounded up), each
  ``depth_shares`` deep (``backtest.trades``): what strategies see to price their orders, never
  liquidity that fills them;
* every trade becomes a ``TradePrint`` (price, size, the taker's side), and the backtest's paper
  client matches on prints only (``SimulatedClient(prints_only=True)``): a marketable order waits
  up to ``fill_window_s`` for trades printed at or through its price and pays its limit as a
  taker; a resting order fills only from prints, behind the displayed queue (docs/FILLS.md);
* a market whose ``meta.json`` holds payouts (Gamma showed it resolved) settles at its end time,
  if that falls inside the window; fees are the market's own (Gamma ``feeSchedule``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from services.events import BookSnapshot, MarketEvent, MarketListed, MarketResolved, TradePrint
from services.instruments import FeeSchedule, Instrument, Side
from services.markets.history_store import DAY_S, HistoryStore, day_start
from services.money import MICRO
from utils.backtest_config import TradesConfig
from utils.errors import ConfigError

# Order of events that share a time: listings, then books, then trades, then settlements.
_LISTED, _BOOK, _TRADE, _RESOLVED = 0, 1, 2, 3


class TradesFeed:
    """A feed over a history folder (see the module docstring)."""

    name = "trades"

    def __init__(self, store: HistoryStore, cfg: TradesConfig) -> None:
        self.store = store
        self.cfg = cfg
        self.points: list[tuple[float, int, int, MarketEvent]] = []
        self.first_ts = 0.0
        self.last_ts = 0.0
        self.counters = {"markets": 0, "price_points": 0, "trades": 0, "settled": 0}

    @classmethod
    def open(
        cls,
        root: Path,
        cfg: TradesConfig | None,
        start_ts: float | None,
        end_ts: float | None,
    ) -> TradesFeed:
        """Read every market of the folder within ``[start_ts, end_ts)``.

        Raises
        ------
        ConfigError
            If the folder holds no fetched market.
        """
        store = HistoryStore(root)
        markets = store.markets()
        if not markets:
            raise ConfigError("<command line>", "--data", f"{root} holds no fetched history")
        feed = cls(store, cfg or TradesConfig())
        seq = 0
        for mid in markets:
            seq = feed._load(mid, start_ts, end_ts, seq)
        feed.points.sort(key=lambda x: (x[0], x[1], x[2]))
        if feed.points:
            feed.first_ts, feed.last_ts = feed.points[0][0], feed.points[-1][0]
        return feed

    def _instruments(self, meta: dict[str, Any]) -> list[Instrument]:
        tokens, outcomes = meta["token_ids"], meta["outcomes"]
        fees = FeeSchedule(Decimal(meta.get("fee_rate") or "0"), int(meta.get("fee_exponent") or 1))
        out = []
        for i, (tok, outcome) in enumerate(zip(tokens, outcomes, strict=True)):
            out.append(
                Instrument(
                    instrument_id=tok,
                    venue="polymarket",
                    market_id=meta["market_id"],
                    outcome=outcome,
                    tick=int(meta.get("tick") or 10_000),
                    min_size=int(meta.get("min_size") or 5 * MICRO),
                    fees=fees,
                    end_ts=meta.get("end_ts"),
                    complement_id=tokens[1 - i] if len(tokens) == 2 else None,
                    event_id=meta.get("neg_risk_event"),
                    question=meta.get("question") or "",
                    category=meta.get("category") or "",
                )
            )
        return out

    def _load(self, mid: str, lo: float | None, hi: float | None, seq: int) -> int:
        meta = self.store.meta(mid)
        if not meta:
            return seq
        insts = {i.instrument_id: i for i in self._instruments(meta)}
        hs = int(self.cfg.half_spread * MICRO)
        depth = int(self.cfg.depth_shares * MICRO)
        events: list[tuple[float, int, int, MarketEvent]] = []

        def keep(ts: float) -> bool:
            return (lo is None or ts >= lo) and (hi is None or ts < hi)

        for day in self.store.price_days(mid):
            d0 = day_start(day)
            if (hi is not None and d0 >= hi) or (lo is not None and d0 + DAY_S <= lo):
                continue
            for tok, ts, p in self.store.read_prices(mid, day):
                inst = insts.get(tok)
                if inst is None or not keep(ts):
                    continue
                lad = inst.ladder
                bid = lad.round_down(max(inst.tick, p - hs))
                ask = lad.round_up(min(MICRO - inst.tick, p + hs))
                if bid >= ask:
                    continue
                seq += 1
                events.append(
                    (ts, _BOOK, seq, BookSnapshot(ts, tok, ((bid, depth),), ((ask, depth),)))
                )
                self.counters["price_points"] += 1
        for day in self.store.trade_days(mid):
            for ts, tok, side, price, size, _tx in self.store.read_trades(mid, day):
                if tok not in insts or not keep(ts):
                    continue
                seq += 1
                events.append((ts, _TRADE, seq, TradePrint(ts, tok, price, size, Side(side))))
                self.counters["trades"] += 1
        if not events:
            return seq
        first = min(e[0] for e in events)
        seq += 1
        self.points.append((first, _LISTED, seq, MarketListed(first, tuple(insts.values()))))
        self.points.extend(events)
        self.counters["markets"] += 1
        payouts = meta.get("payouts")
        end = meta.get("end_ts")
        if payouts and end is not None and (hi is None or end < hi):
            when = max(float(end), max(e[0] for e in events))
            seq += 1
            self.points.append(
                (
                    when,
                    _RESOLVED,
                    seq,
                    MarketResolved(when, mid, tuple((t, int(v)) for t, v in payouts)),
                )
            )
            self.counters["settled"] += 1
        return seq

    def assumptions(self) -> dict[str, Any]:
        """Return what the report must say this data assumed."""
        return {
            "books": "none in the data: one level at last price +/- half_spread",
            "half_spread": str(self.cfg.half_spread),
            "depth_shares": str(self.cfg.depth_shares),
            "fills": "only on trades printed at or through the order's price: a marketable "
            "order waits up to fill_window_s for them and pays its limit as a taker; the "
            "assumed book fills nothing",
            "fill_window_s": str(self.cfg.fill_window_s),
            "fees": "each market's own (Gamma feeSchedule)",
            "settlement": "at the market's end time from Gamma's resolution, when in the window",
            **{k: v for k, v in self.counters.items()},
        }

    def iter_batches(self) -> Iterator[list[MarketEvent]]:
        """Yield one batch per event time."""
        batch: list[MarketEvent] = []
        current: float | None = None
        for ts, _k, _s, ev in self.points:
            if current is not None and ts != current:
                yield batch
                batch = []
            current = ts
            batch.append(ev)
        if batch:
            yield batch

    async def batches(self) -> AsyncIterator[list[MarketEvent]]:
        """Yield the batches as fast as the engine takes them."""
        for b in self.iter_batches():
            yield b

    async def close(self) -> None:
        """Nothing to release."""

    def adopt(self, instruments: list[Instrument], mids: dict[str, int]) -> None:
        """Do nothing: the data knows its markets."""


__all__ = ["TradesFeed"]
