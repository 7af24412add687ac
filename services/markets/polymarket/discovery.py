"""Market discovery from Gamma: parse markets into instruments, filter, refresh, notice closes.

Parsing and selection are pure functions (:func:`parse_gamma_market`, :func:`select_markets`);
:class:`Discovery` adds the paginated fetching and the refresh bookkeeping (new markets to list,
closed ones to retire, resolutions the socket may have missed).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from services.events import MarketResolved
from services.instruments import FeeSchedule, Instrument
from services.markets.polymarket.config import DiscoveryConfig
from services.markets.polymarket.rest import Priority, RestClient, RestClientError, RestError
from services.money import MICRO, MoneyParseError, to_micro

log = logging.getLogger(__name__)

VENUE = "polymarket"
DEFAULT_TICK = 10_000
DEFAULT_MIN_SIZE = 5 * MICRO
_DAY_S = 86_400.0


class GammaParseError(ValueError):
    """A Gamma market object lacks what is needed to trade it."""


@dataclass(frozen=True, slots=True)
class GammaMarket:
    """One Gamma market with its outcome tokens already turned into instruments."""

    gamma_id: str
    condition_id: str
    slug: str
    question: str
    active: bool
    closed: bool
    accepting_orders: bool
    neg_risk: bool
    event_id: str | None
    end_ts: float | None
    liquidity_usd: float
    volume_usd: float
    categories: tuple[str, ...]
    outcomes: tuple[str, ...]
    token_ids: tuple[str, ...]
    outcome_prices: tuple[str, ...]
    resolution_status: str
    instruments: tuple[Instrument, ...] = field(repr=False)

    def payouts(self) -> tuple[tuple[str, int], ...] | None:
        """Return settlement payouts (micro per share) if Gamma shows the market resolved.

        A closed market whose outcome prices are exactly one ``1`` and zeros is resolved; any
        other price vector counts only once ``umaResolutionStatus`` says ``resolved`` (e.g. a
        50/50 settlement). Otherwise return None (closed, settlement pending).
        """
        if not self.closed or len(self.outcome_prices) != len(self.token_ids):
            return None
        try:
            prices = [to_micro(p) for p in self.outcome_prices]
        except (MoneyParseError, ArithmeticError):
            return None
        if any(p < 0 or p > MICRO for p in prices) or sum(prices) != MICRO:
            return None
        exact = all(p in (0, MICRO) for p in prices)
        if not exact and self.resolution_status.lower() != "resolved":
            return None
        return tuple(zip(self.token_ids, prices, strict=True))


def json_list(value: Any) -> list[Any]:
    """Return a Gamma list field that may be a JSON-encoded string (``'["Yes", "No"]'``)."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise GammaParseError(f"not a JSON list: {value[:80]!r}") from exc
    if not isinstance(value, list):
        raise GammaParseError(f"not a list: {value!r}")
    return value


def parse_iso_ts(value: Any) -> float | None:
    """Return epoch seconds of an ISO-8601 date/time (``Z`` or offset; naive means UTC)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def _num(value: Any) -> float:
    try:
        return float(value) if value not in (None, "") else 0.0
    except (TypeError, ValueError):
        return 0.0


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def _categories(raw: Mapping[str, Any]) -> tuple[str, ...]:
    out: list[str] = []

    def add(v: Any) -> None:
        if isinstance(v, str) and v.strip() and v.strip().lower() not in out:
            out.append(v.strip().lower())

    def add_tags(tags: Any) -> None:
        if isinstance(tags, list):
            for t in tags:
                if isinstance(t, dict):
                    add(t.get("label"))
                    add(t.get("slug"))
                else:
                    add(t)

    add(raw.get("category"))
    add_tags(raw.get("tags"))
    events = raw.get("events")
    if isinstance(events, list):
        for ev in events:
            if isinstance(ev, dict):
                add(ev.get("category"))
                add_tags(ev.get("tags"))
    return tuple(out)


def _fees(raw: Mapping[str, Any]) -> FeeSchedule:
    if not _bool(raw.get("feesEnabled", False)):
        return FeeSchedule()
    sched = raw.get("feeSchedule")
    if not isinstance(sched, dict) or sched.get("rate") in (None, ""):
        raise GammaParseError("feesEnabled without a feeSchedule rate")
    try:
        rate = Decimal(str(sched["rate"]))
        exponent = int(sched.get("exponent", 1) or 1)
    except (InvalidOperation, TypeError, ValueError) as exc:
        raise GammaParseError(f"bad feeSchedule: {sched!r}") from exc
    if not rate.is_finite() or rate < 0 or rate >= 1 or exponent < 0:
        raise GammaParseError(f"bad feeSchedule: {sched!r}")
    return FeeSchedule(rate=rate, exponent=exponent)


def _micro_field(raw: Mapping[str, Any], key: str, default: int) -> int:
    value = raw.get(key)
    if value in (None, ""):
        return default
    try:
        return to_micro(value)
    except (MoneyParseError, ArithmeticError) as exc:
        raise GammaParseError(f"bad {key}: {value!r}") from exc


def parse_gamma_market(raw: Mapping[str, Any]) -> GammaMarket:
    """Parse one Gamma ``/markets`` object into a :class:`GammaMarket` with its instruments.

    Raises
    ------
    GammaParseError
        If the object has no condition id, no CLOB tokens, mismatched outcome lists, or bad
        tick, size or fee fields.
    """
    if not isinstance(raw, Mapping):
        raise GammaParseError("market is not an object")
    cid = raw.get("conditionId")
    if not isinstance(cid, str) or not cid:
        raise GammaParseError("missing conditionId")
    outcomes = [str(o) for o in json_list(raw.get("outcomes"))]
    tokens = [str(t) for t in json_list(raw.get("clobTokenIds"))]
    prices = [str(p) for p in json_list(raw.get("outcomePrices"))]
    if len(tokens) < 2 or len(outcomes) != len(tokens) or any(not t for t in tokens):
        raise GammaParseError(f"market {cid}: outcomes/clobTokenIds do not match")
    tick = _micro_field(raw, "orderPriceMinTickSize", DEFAULT_TICK)
    if tick <= 0 or tick >= MICRO or MICRO % tick:
        raise GammaParseError(f"market {cid}: bad tick size {tick}")
    min_size = _micro_field(raw, "orderMinSize", DEFAULT_MIN_SIZE)
    if min_size < 0:
        raise GammaParseError(f"market {cid}: bad orderMinSize")
    fees = _fees(raw)
    neg_risk = _bool(raw.get("negRisk", False))
    nr_id = raw.get("negRiskMarketID")
    event_id = str(nr_id) if neg_risk and nr_id else None
    end_ts = parse_iso_ts(raw.get("endDate") or raw.get("endDateIso"))
    cats = _categories(raw)
    question = str(raw.get("question") or "")
    insts = []
    for i, (token, outcome) in enumerate(zip(tokens, outcomes, strict=True)):
        complement = tokens[1 - i] if len(tokens) == 2 else None
        insts.append(
            Instrument(
                instrument_id=token,
                venue=VENUE,
                market_id=cid,
                outcome=outcome,
                tick=tick,
                min_size=min_size,
                fees=fees,
                end_ts=end_ts,
                complement_id=complement,
                event_id=event_id,
                question=question,
                category=cats[0] if cats else "",
            )
        )
    return GammaMarket(
        gamma_id=str(raw.get("id", "")),
        condition_id=cid,
        slug=str(raw.get("slug") or ""),
        question=question,
        active=_bool(raw.get("active", False)),
        closed=_bool(raw.get("closed", False)),
        accepting_orders=_bool(raw.get("acceptingOrders", False)),
        neg_risk=neg_risk,
        event_id=event_id,
        end_ts=end_ts,
        liquidity_usd=_num(raw.get("liquidityNum", raw.get("liquidity"))),
        volume_usd=_num(raw.get("volumeNum", raw.get("volume"))),
        categories=cats,
        outcomes=tuple(outcomes),
        token_ids=tuple(tokens),
        outcome_prices=tuple(prices),
        resolution_status=str(raw.get("umaResolutionStatus") or ""),
        instruments=tuple(insts),
    )


def _named(m: GammaMarket, names: Iterable[str]) -> bool:
    keys = {m.slug.lower(), m.condition_id.lower()}
    return any(n.lower() in keys for n in names)


def passes_filters(m: GammaMarket, cfg: DiscoveryConfig, now: float) -> bool:
    """Return whether a market passes the numeric, status and category filters."""
    if m.closed:
        return False
    if cfg.active_only and not m.active:
        return False
    if cfg.accepting_orders_only and not m.accepting_orders:
        return False
    if m.neg_risk and not cfg.neg_risk:
        return False
    if cfg.categories:
        wanted = {c.lower() for c in cfg.categories}
        if not wanted.intersection(m.categories):
            return False
    if m.liquidity_usd < cfg.min_liquidity_usd or m.volume_usd < cfg.min_volume_usd:
        return False
    if cfg.end_within_min_days is not None or cfg.end_within_max_days is not None:
        if m.end_ts is None:
            return False
        days = (m.end_ts - now) / _DAY_S
        if cfg.end_within_min_days is not None and days < cfg.end_within_min_days:
            return False
        if cfg.end_within_max_days is not None and days > cfg.end_within_max_days:
            return False
    return True


def select_markets(
    markets: Iterable[GammaMarket], cfg: DiscoveryConfig, now: float, limit: int | None = None
) -> list[GammaMarket]:
    """Choose markets: explicit includes first, then the rest by volume, up to ``limit``.

    Excluded markets never pass; included ones need only be open (not closed).
    """
    cap = cfg.max_markets if limit is None else limit
    seen: set[str] = set()
    included: list[GammaMarket] = []
    others: list[GammaMarket] = []
    for m in markets:
        if m.condition_id in seen or _named(m, cfg.exclude):
            continue
        seen.add(m.condition_id)
        if cfg.include and _named(m, cfg.include):
            if not m.closed:
                included.append(m)
        elif passes_filters(m, cfg, now):
            others.append(m)
    others.sort(key=lambda m: (-m.volume_usd, m.condition_id))
    return (included + others)[: max(cap, 0)]


@dataclass
class DiscoveryUpdate:
    """What one refresh changed."""

    listed: list[GammaMarket] = field(default_factory=list)
    closed: list[GammaMarket] = field(default_factory=list)
    resolved: list[MarketResolved] = field(default_factory=list)


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
                }
                if cfg.active_only:
                    params["active"] = True
                body = await self.rest.get_json(
                    f"{self.gamma_url}/markets", params, endpoint="gamma_markets",
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
                f"{self.gamma_url}/markets/{gamma_id}", endpoint="gamma_markets",
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
            Newly selected markets, watched markets that closed without a result yet, and
            ``MarketResolved`` events for watched markets Gamma shows settled.

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
            m for cid, m in fetched.items()
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
            log.warning("Could not read a Gamma market.", extra={"market": m.condition_id,
                                                                  "error": str(exc)})
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
