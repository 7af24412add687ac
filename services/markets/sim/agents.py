"""Simulated participants: quoting market makers and the size draws of takers."""

from __future__ import annotations

import math

from services.markets.sim.config import SimConfig
from services.markets.sim.rand import RandomBlocks
from services.money import MICRO

SHARE = 1_000_000
"""One share in micro-shares."""

HYSTERESIS = 0.5
"""A maker moves its ladder only when its fair value moved this fraction of its half-spread."""

CENT = 10_000
"""0.01 in micro (one cent per share)."""


def price_scale(p: float) -> float:
    """Return how price-sensitive a token is at probability ``p``, 1 at 0.5, >= 0.1.

    Spreads, maker errors and edges are quoted in cents at 0.5 and scaled by
    ``sqrt(4 p (1 - p))``: books near 0 or 1 are tighter in price, as on real venues.
    """
    x = 4.0 * p * (1.0 - p)
    return 0.1 if x <= 0.01 else math.sqrt(x)


class Maker:
    """A market maker on one token: a ladder of bids and asks around its view of fair value.

    Its view is the true probability plus a persistent AR(1) error; it refreshes the view only
    when it requotes, so between requotes (and right after a jump) its quotes are stale.

    Attributes
    ----------
    own : tuple[dict[int, int], dict[int, int]]
        Resting orders, price (micro) -> size (micro-shares), bids then asks.
    half_spread : float
        Distance from fair value to the first level at p = 0.5, cents (scaled by
        ``price_scale``; never below half a tick).
    gap : int
        Distance between consecutive levels, ticks.
    sizes : tuple[list[int], list[int]]
        Target size of each level (micro-shares), bids then asks, best level first.
    requote_mean : float
        Mean interval between requotes, seconds.
    """

    __slots__ = (
        "own",
        "half_spread",
        "gap",
        "sizes",
        "err",
        "err_sd",
        "requote_mean",
        "stamp",
        "next_ts",
        "deep",
        "center",
        "dirty",
    )

    def __init__(
        self,
        half_spread: float,
        gap: int,
        sizes: tuple[list[int], list[int]],
        err_sd: float,
        requote_mean: float,
        deep: bool,
    ) -> None:
        self.own: tuple[dict[int, int], dict[int, int]] = ({}, {})
        self.half_spread = half_spread
        self.gap = gap
        self.sizes = sizes
        self.err = 0.0
        self.err_sd = err_sd
        self.requote_mean = requote_mean
        self.stamp = 0
        self.next_ts = float("inf")
        self.deep = deep
        self.center = -1.0  # fair value (micro) of the ladder in place; -1 = none yet
        self.dirty = True  # some order was filled or cancelled since the last requote

    def retick(self, ratio: int, rand: RandomBlocks) -> None:
        """Adapt to a finer tick (``ratio`` = old tick / new tick), keeping deep levels far out."""
        if self.deep:
            self.gap *= ratio
        else:
            self.gap *= rand.randint(1, 3)
        self.dirty = True

    def ladder(
        self, fair: float, tick: int, rand: RandomBlocks, widen: float = 1.0
    ) -> tuple[dict[int, int], dict[int, int]] | None:
        """Return the bid and ask ladders (price micro -> size micro-shares) around ``fair``.

        ``fair`` is a probability; the maker's own error (``err_sd``, micro at p = 0.5) is
        refreshed here. Like a real maker it keeps its prices while its view moved less than
        ``HYSTERESIS`` of its half-spread: then it returns None if its orders are intact, or the
        old ladder (refilled) if some were taken. Prices are clamped into ``[tick, 1 - tick]``
        so bids stay below asks. ``widen`` (>= 1) multiplies the half-spread in fast markets.
        """
        scale = price_scale(fair)
        self.err = 0.7 * self.err + 0.714 * self.err_sd * rand.n()
        f = fair * MICRO + self.err * scale
        lo = tick
        hi = MICRO - tick
        if f < lo:
            f = float(lo)
        elif f > hi:
            f = float(hi)
        h = self.half_spread * CENT * scale * widen
        if h < 0.5 * tick:
            h = 0.5 * tick
        if abs(f - self.center) < HYSTERESIS * h:
            if not self.dirty:
                return None
            f = self.center
        self.center = f
        self.dirty = False
        bid0 = int((f - h) // tick) * tick
        ask0 = -int((-(f + h)) // tick) * tick
        step = self.gap * tick
        bids: dict[int, int] = {}
        asks: dict[int, int] = {}
        bsz, asz = self.sizes
        for k, s in enumerate(bsz):
            p = bid0 - k * step
            if p < lo:
                p = lo
            bids[p] = bids.get(p, 0) + s
        for k, s in enumerate(asz):
            p = ask0 + k * step
            if p > hi:
                p = hi
            asks[p] = asks.get(p, 0) + s
        return bids, asks


def round_shares(size: float, min_size: int) -> int:
    """Round a size in shares to whole shares (micro-shares), at least ``min_size`` micro."""
    s = int(size + 0.5) * SHARE
    return s if s >= min_size else min_size


def make_makers(
    cfg: SimConfig,
    rand: RandomBlocks,
    tick: int,
    depth: float,
    min_size: int,
) -> list[Maker]:
    """Create the makers of one token.

    Parameters
    ----------
    depth : float
        The group's depth factor (1 = typical; thin markets < 1 get smaller sizes and wider
        spreads).
    """
    makers: list[Maker] = []
    spread_factor = min(4.0, max(0.6, depth**-0.5))
    for _ in range(cfg.makers_per_token):
        levels = rand.randint(cfg.maker_levels_min, cfg.maker_levels_max)
        top = cfg.top_size_median_shares * depth * rand.lognormal(1.0, 0.5)
        sizes = (
            [
                round_shares(top * (1.0 + 0.7 * k) * rand.lognormal(1.0, 0.4), min_size)
                for k in range(levels)
            ],
            [
                round_shares(top * (1.0 + 0.7 * k) * rand.lognormal(1.0, 0.4), min_size)
                for k in range(levels)
            ],
        )
        gap = 1 if rand.u() < 0.7 else 2
        if tick < 10_000:
            gap *= rand.randint(1, 3)
        makers.append(
            Maker(
                half_spread=cfg.half_spread_cents * spread_factor * (0.6 + rand.u()),
                gap=gap,
                sizes=sizes,
                err_sd=cfg.maker_noise_cents * CENT,
                requote_mean=cfg.maker_requote_s * (0.5 + rand.u()),
                deep=False,
            )
        )
    if cfg.deep_maker:
        levels = rand.randint(2, 3)
        big = 10.0 * cfg.top_size_median_shares * depth
        sizes = (
            [round_shares(big * rand.lognormal(1.0, 0.7), min_size) for _ in range(levels)],
            [round_shares(big * rand.lognormal(1.0, 0.7), min_size) for _ in range(levels)],
        )
        half = 3.0 + 12.0 * rand.u()
        gap = max(1, int((0.02 + 0.04 * rand.u()) * MICRO / tick))
        makers.append(
            Maker(
                half_spread=half,
                gap=gap,
                sizes=sizes,
                err_sd=cfg.maker_noise_cents * CENT,
                requote_mean=4.0 * cfg.maker_requote_s * (0.5 + rand.u()),
                deep=True,
            )
        )
    return makers


def noise_size(cfg: SimConfig, rand: RandomBlocks, min_size: int) -> int:
    """Draw an uninformed taker's order size, micro-shares (whole shares, >= min size)."""
    s = rand.lognormal(cfg.noise_trade_median_shares, cfg.noise_trade_size_sigma)
    return round_shares(min(s, 50_000.0), min_size)


def informed_budget(
    cfg: SimConfig, rand: RandomBlocks, min_size: int, median: float | None = None
) -> int:
    """Draw an informed taker's (or arbitrageur's) size budget for one visit, micro-shares."""
    s = rand.lognormal(cfg.informed_size_median_shares if median is None else median, 1.0)
    return round_shares(min(s, 200_000.0), min_size)
