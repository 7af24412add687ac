"""Instrument selection: which markets a strategy trades, declared in its parameters.

A strategy's ``universe:`` block picks one of four modes:

* ``all``: every instrument the strategy can trade;
* ``categories``: only instruments whose category is listed;
* ``ids``: only the listed instrument, market or neg-risk event ids;
* ``filter``: every instrument (optionally narrowed to ``categories``) whose live book passes
  liquidity, spread and price bounds.

The static part (:meth:`Universe.admits`) runs once when a market is listed, inside the
strategy's ``wants()``, so unwanted instruments never reach the strategy. The dynamic part
(:meth:`Universe.passes`) looks only at the top of a book (best prices and their sizes), so a
strategy can call it on every book update for free.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field, model_validator

from services.instruments import Instrument
from services.money import to_micro
from services.orderbook import OrderBook
from services.strategies.base import StrategyParams


class UniverseParams(StrategyParams):
    """Which instruments a strategy trades (see the module docstring)."""

    mode: Literal["all", "categories", "ids", "filter"] = Field(
        "all", description="all, categories, ids or filter (live liquidity/spread/price bounds)"
    )
    categories: list[str] = Field(
        default_factory=list,
        description="Categories traded in mode categories (optional narrowing in mode filter)",
    )
    ids: list[str] = Field(
        default_factory=list, description="Instrument, market or event ids traded in mode ids"
    )
    min_top_depth_shares: Decimal | None = Field(
        None, ge=0, description="Filter: at least this many shares at best bid + best ask"
    )
    max_top_depth_shares: Decimal | None = Field(
        None, ge=0, description="Filter: at most this many shares at best bid + best ask (thin)"
    )
    max_spread_ticks: int | None = Field(
        None, ge=1, le=1000, description="Filter: best ask minus best bid at most this, ticks"
    )
    min_mid: Decimal | None = Field(
        None, ge=0, le=1, description="Filter: mid price at least this, probability"
    )
    max_mid: Decimal | None = Field(
        None, ge=0, le=1, description="Filter: mid price at most this, probability"
    )

    @model_validator(mode="after")
    def _consistent(self) -> UniverseParams:
        bounds = (
            self.min_top_depth_shares, self.max_top_depth_shares, self.max_spread_ticks,
            self.min_mid, self.max_mid,
        )  # fmt: skip
        has_bounds = any(b is not None for b in bounds)
        if self.mode == "categories" and not self.categories:
            raise ValueError("mode categories needs a non-empty categories list")
        if self.mode == "ids" and not self.ids:
            raise ValueError("mode ids needs a non-empty ids list")
        if self.mode == "filter" and not has_bounds:
            raise ValueError(
                "mode filter needs at least one bound (min/max_top_depth_shares, "
                "max_spread_ticks, min_mid, max_mid)"
            )
        if self.mode != "filter" and has_bounds:
            raise ValueError(
                f"liquidity/spread/price bounds need mode filter (mode is {self.mode})"
            )
        if self.categories and self.mode not in ("categories", "filter"):
            raise ValueError(f"categories need mode categories or filter (mode is {self.mode})")
        if self.ids and self.mode != "ids":
            raise ValueError(f"ids need mode ids (mode is {self.mode})")
        if (
            self.min_top_depth_shares is not None
            and self.max_top_depth_shares is not None
            and self.min_top_depth_shares > self.max_top_depth_shares
        ):
            raise ValueError("min_top_depth_shares must be <= max_top_depth_shares")
        if self.min_mid is not None and self.max_mid is not None and self.min_mid > self.max_mid:
            raise ValueError("min_mid must be <= max_mid")
        return self


def all_markets() -> UniverseParams:
    """Return the default universe block (mode ``all``)."""
    return UniverseParams.model_validate({})


class Universe:
    """Evaluates :class:`UniverseParams` (precomputed in micro-units)."""

    __slots__ = (
        "mode", "_cats", "_ids", "dynamic", "_min_depth", "_max_depth", "_max_spread",
        "_min_mid", "_max_mid",
    )  # fmt: skip

    def __init__(self, params: UniverseParams) -> None:
        self.mode = params.mode
        self._cats = frozenset(params.categories)
        self._ids = frozenset(params.ids)
        self._min_depth = (
            to_micro(params.min_top_depth_shares)
            if params.min_top_depth_shares is not None
            else None
        )
        self._max_depth = (
            to_micro(params.max_top_depth_shares)
            if params.max_top_depth_shares is not None
            else None
        )
        self._max_spread = params.max_spread_ticks
        self._min_mid = to_micro(params.min_mid) if params.min_mid is not None else None
        self._max_mid = to_micro(params.max_mid) if params.max_mid is not None else None
        self.dynamic = params.mode == "filter"

    def admits(self, inst: Instrument) -> bool:
        """Return whether the instrument is in the static universe (category / ids)."""
        if self.mode == "all":
            return True
        if self.mode == "ids":
            ids = self._ids
            return (
                inst.instrument_id in ids
                or inst.market_id in ids
                or (inst.event_id is not None and inst.event_id in ids)
            )
        if self._cats:
            return inst.category in self._cats
        return True

    def passes(self, book: OrderBook | None, tick: int) -> bool:
        """Return whether a live book passes the dynamic bounds (always True outside filter).

        A book without both sides fails a filter: its spread and mid are unknown.
        """
        if not self.dynamic:
            return True
        if book is None:
            return False
        bid, ask = book.best_bid(), book.best_ask()
        if bid is None or ask is None:
            return False
        if self._max_spread is not None and ask - bid > self._max_spread * tick:
            return False
        if self._min_depth is not None or self._max_depth is not None:
            depth = book.bids[bid] + book.asks[ask]
            if self._min_depth is not None and depth < self._min_depth:
                return False
            if self._max_depth is not None and depth > self._max_depth:
                return False
        if self._min_mid is not None or self._max_mid is not None:
            mid = (bid + ask) // 2
            if self._min_mid is not None and mid < self._min_mid:
                return False
            if self._max_mid is not None and mid > self._max_mid:
                return False
        return True
