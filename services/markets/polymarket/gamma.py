"""Gamma market objects: parsing into instruments, filters and selection (pure functions).

Gamma encodes ``outcomes``, ``outcomePrices`` and ``clobTokenIds`` as JSON strings inside its
JSON; :func:`parse_gamma_market` decodes them and turns each outcome token into an
:class:`~services.instruments.Instrument`. :func:`select_markets` applies the discovery filters.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from services.instruments import FeeSchedule, Instrument
from services.markets.polymarket.config import DiscoveryConfig
from services.money import MICRO, MoneyParseError, to_micro
from utils.errors import VenueError

VENUE = "polymarket"
DEFAULT_TICK = 10_000
DEFAULT_MIN_SIZE = 5 * MICRO
_DAY_S = 86_400.0


class GammaParseError(VenueError, ValueError):
    """A Gamma market object lacks what is needed to trade it."""

    temporary = False


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
    slugs: tuple[str, ...] = ()
    """The market's slug and its events' slugs and tickers (lower case)."""

    def matches_category(self, names: Iterable[str]) -> bool:
        """Return whether any name is one of the tags, or a whole-word part of a slug.

        Real Gamma ``/markets`` objects carry no ``category``; their tags arrive with
        ``include_tag=true`` and their events' slugs name the topic (``nba-champion-2026-27``).
        A name matches a tag label or slug exactly, or a run of whole words of a slug
        (``nba`` and ``fed-rates`` match, ``nb`` does not), case-insensitively.
        """
        for raw in names:
            name = raw.strip().lower()
            if not name:
                continue
            if name in self.categories:
                return True
            words = "-" + "-".join(name.split()) + "-"
            if any(words in f"-{slug}-" for slug in self.slugs):
                return True
        return False

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
        dt = dt.replace(tzinfo=UTC)
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
    """Return the tag labels and slugs of a market and of its events (lower case).

    Gamma puts a market's tags on the market itself when asked with ``include_tag=true``;
    ``/events`` objects carry theirs. A ``category`` field, where an old object still has one,
    counts too.
    """
    out: list[str] = []

    def add(v: Any) -> None:
        if isinstance(v, str) and v.strip() and v.strip().lower() not in out:
            out.append(v.strip().lower())

    def add_tags(tags: Any) -> None:
        if isinstance(tags, list):
            for t in tags:
                if isinstance(t, dict):
                    add(t.get("slug"))
                    add(t.get("label"))
                else:
                    add(t)

    add_tags(raw.get("tags"))
    events = raw.get("events")
    if isinstance(events, list):
        for ev in events:
            if isinstance(ev, dict):
                add_tags(ev.get("tags"))
                add(ev.get("category"))
    add(raw.get("category"))
    return tuple(out)


def _slugs(raw: Mapping[str, Any]) -> tuple[str, ...]:
    values: list[Any] = [raw.get("slug")]
    events = raw.get("events")
    if isinstance(events, list):
        for ev in events:
            if isinstance(ev, dict):
                values += [ev.get("slug"), ev.get("ticker")]
    out: list[str] = []
    for v in values:
        if isinstance(v, str) and v.strip() and v.strip().lower() not in out:
            out.append(v.strip().lower())
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
    if value is None or value == "":
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
        slugs=_slugs(raw),
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
    if cfg.categories and not m.matches_category(cfg.categories):
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
