"""Fetch Polymarket history for backtests: Gamma metadata (with resolutions), CLOB price
history and Data API trades, into a :class:`services.markets.history_store.HistoryStore`.

Endpoints (public, no key), in their documented shapes:

* Gamma ``GET /markets`` and ``GET /markets/{id}``: market objects with ``conditionId``,
  ``clobTokenIds``, ``outcomes``, ``outcomePrices`` (``["1", "0"]`` once resolved), ``closed``,
  ``umaResolutionStatus``, ``startDate``, ``endDate``
  (https://docs.polymarket.com/developers/gamma-markets-api/get-markets);
* CLOB ``GET /prices-history?market=<token id>&startTs=&endTs=&fidelity=<minutes>`` answering
  ``{"history": [{"t": <epoch s>, "p": <price>}, ...]}``
  (https://docs.polymarket.com/api-reference/markets/get-prices-history);
* Data API ``GET /trades?market=<condition id>&limit=&offset=&takerOnly=true`` answering a list,
  newest first, of ``{"asset", "conditionId", "side", "price", "size", "timestamp",
  "transactionHash", "outcome", ...}``; ``offset`` is capped by the venue
  (https://docs.polymarket.com/api-reference/core/get-trades-for-a-user-or-markets).

Every request goes through the shared :class:`~services.markets.polymarket.rest.RestClient` at
:attr:`Priority.HISTORY` (the lowest: orders and market data go first), with its retries on
429/425/5xx (``Retry-After`` honoured), on transport errors and on bodies that are not JSON
(a truncated answer). Work is incremental and resumable: a price day already complete on disk
is never asked again, trades are asked back only to the newest one stored, and ``meta.json`` is
rewritten after each day, so a crash loses at most the day in flight.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from services.markets.history_store import DAY_S, HistoryStore, day_of, day_start
from services.markets.polymarket.gamma import GammaParseError, parse_gamma_market, parse_iso_ts
from services.markets.polymarket.rest import Priority, RestClient, RestError
from services.money import MICRO, to_micro
from utils.backtest_config import HistoryConfig
from utils.polymarket_config import PolymarketConfig

log = logging.getLogger(__name__)


class MalformedHistoryError(RestError):
    """A 200 answer whose JSON does not have the documented shape (retrying may help)."""


@dataclass
class FetchReport:
    """What one market's fetch did."""

    market_id: str
    price_days_fetched: int = 0
    price_days_skipped: int = 0
    points: int = 0
    trades_added: int = 0
    errors: list[str] = field(default_factory=list)


def _history_points(body: Any) -> list[tuple[int, int]]:
    if not isinstance(body, dict) or not isinstance(body.get("history"), list):
        raise MalformedHistoryError("prices-history answer has no 'history' list")
    out = []
    for item in body["history"]:
        try:
            t, p = int(item["t"]), to_micro(str(item["p"]))
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise MalformedHistoryError(f"bad price point {item!r}") from exc
        if not 0 <= p <= MICRO:
            raise MalformedHistoryError(f"price out of range in {item!r}")
        out.append((t, p))
    return out


def _trade(item: Any) -> tuple[int, str, str, int, int, str]:
    try:
        side = str(item["side"]).upper()
        if side not in ("BUY", "SELL"):
            raise ValueError(side)
        return (
            int(item["timestamp"]),
            str(item["asset"]),
            side,
            to_micro(str(item["price"])),
            to_micro(str(item["size"])),
            str(item.get("transactionHash") or ""),
        )
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise MalformedHistoryError(f"bad trade {item!r}") from exc


class HistoryFetcher:
    """Fetch markets into a store. ``now`` gives wall time (what is complete)."""

    def __init__(
        self,
        rest: RestClient,
        venue: PolymarketConfig,
        cfg: HistoryConfig,
        store: HistoryStore,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.rest = rest
        self.venue = venue
        self.cfg = cfg
        self.store = store
        self.now = now

    async def list_markets(
        self, ids: list[str], *, closed: bool | None, limit: int
    ) -> list[dict[str, Any]]:
        """Return Gamma market objects: the given Gamma ids, else a page walk of ``/markets``."""
        gamma = self.venue.gamma_url.rstrip("/")
        if ids:
            return [
                await self.rest.get_json(
                    f"{gamma}/markets/{i}", endpoint="gamma_markets", priority=Priority.HISTORY
                )
                for i in ids
            ]
        out: list[dict[str, Any]] = []
        offset = 0
        while len(out) < limit:
            params: dict[str, Any] = {"limit": min(100, limit - len(out)), "offset": offset}
            if closed is not None:
                params["closed"] = "true" if closed else "false"
            page = await self.rest.get_json(
                f"{gamma}/markets", params, endpoint="gamma_markets", priority=Priority.HISTORY
            )
            if not isinstance(page, list):
                raise MalformedHistoryError("Gamma /markets did not answer a list")
            out.extend(page)
            if len(page) < params["limit"]:
                break
            offset += len(page)
        return out[:limit]

    async def fetch_market(
        self,
        raw: dict[str, Any],
        start_ts: float | None,
        end_ts: float | None,
        *,
        trades: bool = True,
    ) -> FetchReport:
        """Fetch one market's missing price days and new trades; update ``meta.json``.

        Raises
        ------
        RestError
            When the venue keeps failing (what was stored before the failure stays).
        GammaParseError
            If the market object cannot be parsed.
        """
        m = parse_gamma_market(raw)
        cid = m.condition_id
        report = FetchReport(cid)
        old = self.store.meta(cid) or {}
        now = self.now()
        opened = (
            parse_iso_ts(raw.get("startDate")) or (m.end_ts or now) - self.cfg.default_days * DAY_S
        )
        last = min(now, m.end_ts) if m.end_ts is not None else now
        lo = (
            max(opened, start_ts)
            if start_ts is not None
            else max(opened, last - self.cfg.default_days * DAY_S)
        )
        hi = min(last, end_ts) if end_ts is not None else last
        inst = m.instruments[0]
        meta: dict[str, Any] = {
            **old,
            "market_id": cid,
            "gamma_id": m.gamma_id,
            "slug": m.slug,
            "question": m.question,
            "category": m.categories[0] if m.categories else "",
            "outcomes": list(m.outcomes),
            "token_ids": list(m.token_ids),
            "tick": inst.tick,
            "min_size": inst.min_size,
            "fee_rate": str(inst.fees.rate),
            "fee_exponent": inst.fees.exponent,
            "neg_risk_event": m.event_id,
            "end_ts": m.end_ts,
            "closed": m.closed,
            "payouts": [list(p) for p in (m.payouts() or [])] or None,
            "fidelity_min": self.cfg.fidelity_min,
        }
        complete = set(meta.get("prices_complete") or [])
        self.store.write_meta(cid, meta)
        if hi > lo:
            day = day_of(lo)
            while day_start(day) < hi:
                d0 = day_start(day)
                if day in complete:
                    report.price_days_skipped += 1
                else:
                    rows = await self._prices(m.token_ids, d0, d0 + DAY_S)
                    self.store.write_prices(cid, day, rows)
                    report.price_days_fetched += 1
                    report.points += len(rows)
                    # A day is complete once it is over (and over for the market).
                    if d0 + DAY_S <= now:
                        complete.add(day)
                    meta["prices_complete"] = sorted(complete)
                    self.store.write_meta(cid, meta)
                day = day_of(d0 + DAY_S)
        if trades:
            report.trades_added = await self._trades(cid, meta, lo, hi)
        meta["updated_wall"] = now
        self.store.write_meta(cid, meta)
        return report

    async def _prices(
        self, tokens: tuple[str, ...], t0: int, t1: int
    ) -> list[tuple[str, int, int]]:
        clob = self.venue.clob_url.rstrip("/")
        rows: list[tuple[str, int, int]] = []
        for token in tokens:
            body = await self.rest.get_json(
                f"{clob}/prices-history",
                {"market": token, "startTs": t0, "endTs": t1, "fidelity": self.cfg.fidelity_min},
                endpoint="clob_prices_history",
                priority=Priority.HISTORY,
            )
            rows.extend((token, t, p) for t, p in _history_points(body) if t0 <= t < t1)
        return rows

    async def _trades(self, cid: str, meta: dict[str, Any], lo: float, hi: float) -> int:
        """Page back from the newest trade to the newest one already stored."""
        url = self.cfg.data_api_url.rstrip("/") + "/trades"
        since = int(meta.get("trades_until") or 0)
        got: list[tuple[int, str, str, int, int, str]] = []
        offset = 0
        while offset <= self.cfg.max_trade_offset:
            page = await self.rest.get_json(
                url,
                {"market": cid, "limit": self.cfg.trades_page, "offset": offset,
                 "takerOnly": "true"},
                endpoint="data_trades",
                priority=Priority.HISTORY,
            )  # fmt: skip
            if not isinstance(page, list):
                raise MalformedHistoryError("Data API /trades did not answer a list")
            rows = [_trade(x) for x in page]
            got.extend(r for r in rows if r[0] >= since and lo <= r[0] < hi)
            oldest = min((r[0] for r in rows), default=None)
            if len(page) < self.cfg.trades_page or (oldest is not None and oldest < max(since, lo)):
                break
            offset += len(page)
        added = self.store.merge_trades(cid, got)
        if got:
            meta["trades_until"] = max(since, max(r[0] for r in got))
        meta["trades"] = int(meta.get("trades") or 0) + added
        return added


__all__ = ["FetchReport", "GammaParseError", "HistoryFetcher", "MalformedHistoryError"]
