"""Market discovery from Gamma: fetch pages, keep the watched set, notice closes and results.

Parsing and selection live in :mod:`services.markets.polymarket.gamma`; :class:`Discovery` adds
the paginated fetching and the refresh bookkeeping (new markets to list, closed ones to retire,
resolutions the socket may have missed).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from services.events import MarketResolved, MarketStatus
from services.markets.polymarket.config import DiscoveryConfig
from services.markets.polymarket.gamma import (
    GammaMarket,
    GammaParseError,
    parse_gamma_market,
    select_markets,
)
from services.markets.polymarket.rest import Priority, RestClient, RestClientError, RestError

log = logging.getLogger(__name__)

__all__ = ["Discovery", "DiscoveryUpdate", "GammaMarket"]


@dataclass
class DiscoveryUpdate:
    """What one refresh changed."""

    listed: list[GammaMarket] = field(default_factory=list)
    closed: list[GammaMarket] = field(default_factory=list)
    resolved: list[MarketResolved] = field(default_factory=list)
    # Watched markets that stopped ("not_accepting") or resumed ("open") accepting orders.
    status: list[MarketStatus] = field(default_factory=list)


class Discovery:
    """Fetches Gamma markets, keeps the watched set, and reports changes per refresh.

    Parameters
    ----------
    config : DiscoveryConfig
        Filters and paging.
    rest : RestClient
        Shared REST client.
    gamma_url : str
        Gamma base URL.
    """

    def __init__(self, config: DiscoveryConfig, rest: RestClient, gamma_url: str) -> None:
        self.config = config
        self.rest = rest
        self.gamma_url = gamma_url.rstrip("/")
        self.watched: dict[str, GammaMarket] = {}
        self.pending: dict[str, GammaMarket] = {}
        self.finished: set[str] = set()
        self.counters = {"refreshes": 0, "refresh_errors": 0, "parse_errors": 0, "pages": 0}

    async def fetch_markets(self) -> list[GammaMarket]:
        """Fetch open markets page by page (``limit``/``offset``) and parse them."""
        cfg = self.config
        tag_ids: tuple[int | None, ...] = cfg.tag_ids or (None,)
        out: list[GammaMarket] = []
        for tag in tag_ids:
            for page in range(cfg.max_pages):
                params: dict[str, Any] = {
                    "closed": False,
                    "limit": cfg.page_size,
                    "offset": page * cfg.page_size,
                    "order": cfg.order_by,
                    "ascending": False,
                    "tag_id": tag,
                    # Real market objects carry no category: ask for their tags.
                    "include_tag": True,
                }
                if cfg.active_only:
                    params["active"] = True
                body = await self.rest.get_json(
                    f"{self.gamma_url}/markets",
                    params,
                    endpoint="gamma_markets",
                    priority=Priority.DATA,
                )
                self.counters["pages"] += 1
                rows = body if isinstance(body, list) else (body or {}).get("data", [])
                if not isinstance(rows, list):
                    break
                out.extend(self._parse_rows(rows))
                if len(rows) < cfg.page_size:
                    break
        return out

    async def fetch_market(self, gamma_id: str) -> GammaMarket | None:
        """Fetch one market by Gamma id (None if unknown or unparseable)."""
        try:
            body = await self.rest.get_json(
                f"{self.gamma_url}/markets/{gamma_id}",
                endpoint="gamma_markets",
                priority=Priority.DATA,
            )
        except RestClientError:
            return None
        parsed = self._parse_rows([body] if isinstance(body, dict) else [])
        return parsed[0] if parsed else None

    def _parse_rows(self, rows: list[Any]) -> list[GammaMarket]:
        out = []
        for raw in rows:
            try:
                out.append(parse_gamma_market(raw))
            except GammaParseError as exc:
                self.counters["parse_errors"] += 1
                log.debug("Skipping a Gamma market that does not parse.", extra={"error": str(exc)})
        return out

    def mark_resolved(self, market_id: str) -> None:
        """Forget a market settled through the socket, so Gamma does not settle it again."""
        self.watched.pop(market_id, None)
        self.pending.pop(market_id, None)
        self.finished.add(market_id)

    async def refresh(self, now: float) -> DiscoveryUpdate:
        """Run one discovery round.

        Returns
        -------
        DiscoveryUpdate
            Newly selected markets, watched markets that closed without a result yet,
            ``MarketResolved`` events for watched markets Gamma shows settled, and
            ``MarketStatus`` events for watched markets whose ``acceptingOrders`` flipped
            (``"not_accepting"`` / ``"open"``).

        Raises
        ------
        RestError
            If Gamma could not be read (the watched set is unchanged).
        """
        self.counters["refreshes"] += 1
        fetched = {m.condition_id: m for m in await self.fetch_markets()}
        update = DiscoveryUpdate()
        pending_before = list(self.pending.items())
        # Watched markets that closed or vanished from the open listing: ask for their detail.
        for cid, m in list(self.watched.items()):
            cur = fetched.get(cid)
            if cur is None or cur.closed:
                detail = await self._detail(m)
                cur = detail if detail is not None else cur
            if cur is None or not cur.closed:
                if cur is not None:
                    if cur.accepting_orders != m.accepting_orders:
                        # acceptingOrders: false stops new orders now, long before Gamma
                        # reports the market closed.
                        status = "open" if cur.accepting_orders else "not_accepting"
                        update.status.append(MarketStatus(ts=now, market_id=cid, status=status))
                    self.watched[cid] = cur
                continue
            del self.watched[cid]
            self._settle_or_wait(cur, now, update)
        for cid, m in pending_before:
            detail = await self._detail(m)
            if detail is not None and detail.payouts() is not None:
                del self.pending[cid]
                self._settle_or_wait(detail, now, update)
        room = self.config.max_markets - len(self.watched)
        candidates = (
            m
            for cid, m in fetched.items()
            if cid not in self.watched and cid not in self.pending and cid not in self.finished
        )
        for m in select_markets(candidates, self.config, now, limit=room):
            self.watched[m.condition_id] = m
            update.listed.append(m)
        return update

    async def _detail(self, m: GammaMarket) -> GammaMarket | None:
        if not m.gamma_id:
            return None
        try:
            return await self.fetch_market(m.gamma_id)
        except RestError as exc:
            log.warning(
                "Could not read a Gamma market.",
                extra={"market": m.condition_id, "error": str(exc)},
            )
            return None

    def _settle_or_wait(self, m: GammaMarket, now: float, update: DiscoveryUpdate) -> None:
        payouts = m.payouts()
        if payouts is None:
            if m.condition_id not in self.pending:
                update.closed.append(m)
            self.pending[m.condition_id] = m
            return
        self.finished.add(m.condition_id)
        update.resolved.append(MarketResolved(ts=now, market_id=m.condition_id, payouts=payouts))
