"""The simulated venue: a discrete-event scheduler that turns agent actions into market events.

Timed actions (a maker requote, a latent step, an informed visit, a dislocation, a close or a
resolution) sit in one heap keyed by event time. The frequent per-token actions (size flickers,
noise and informed takers) form one merged Poisson process over all live tokens, drawn without
the heap: the next arrival time comes from the total rate and the token from the cumulative
rates, which is equivalent to one independent Poisson process per token and much cheaper.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Iterator
from heapq import heappop, heappush

from services.events import (
    BookDelta,
    BookSnapshot,
    MarketEvent,
    MarketListed,
    MarketResolved,
    MarketStatus,
    TickSizeChange,
)
from services.markets.sim import dislocations, flow
from services.markets.sim.agents import Maker
from services.markets.sim.book import ASK, BID, OrderOwner
from services.markets.sim.config import SimConfig
from services.markets.sim.latent import information
from services.markets.sim.market import COARSE_TICK, FINE_TICK, Group, GroupFactory, Token
from services.markets.sim.rand import RandomBlocks
from services.money import MICRO

# action kinds, in the heap as (ts, seq, kind, obj, stamp)
_REQUOTE, _LATENT, _INFORMED, _MISPRICE, _MISPRICE_END, _CLOSE, _RESOLVE, _SNAPSHOT, _ARB = range(9)
_INF = float("inf")
assert flow.REQUOTE == _REQUOTE
_REF_RATE = 0.5**2 / 7200.0  # information per second of the default volatility
_MIN_REQUOTE_S = 0.2  # makers never requote faster than this on average, seconds


class SimVenue:
    """State and behaviour of the whole simulated venue.

    Parameters
    ----------
    cfg : SimConfig
        Simulator settings.
    rand : RandomBlocks
        The single random source (shared with the factory, so runs are reproducible).
    factory : GroupFactory
        Creates new groups.
    """

    def __init__(self, cfg: SimConfig, rand: RandomBlocks, factory: GroupFactory) -> None:
        self.cfg = cfg
        self.rand = rand
        self.u = rand.u  # a uniform draw (bound C method)
        self.factory = factory
        self.heap: list[tuple[float, int, int, object, int]] = []
        self.groups: dict[str, Group] = {}
        self.out: list[MarketEvent] = []
        self._seq = 0
        self._base_rate = cfg.volatility_logodds_per_sqrt_hour**2 / 7200.0
        self._jump_rate = cfg.jumps_per_hour / 3600.0
        self._misprice_rate = cfg.mispricing_rate_per_hour / 3600.0
        self._arb_rate = cfg.arbitrage_visits_per_min / 60.0
        self._toks: list[Token] = []  # live tokens with activity, and their cumulative rates
        self._cum: list[float] = []
        self._total = 0.0
        self._next_act = _INF  # event time of the next per-token action

    # ------------------------------------------------------------------ setup
    def start(self, ts: float, adopted: list[Group]) -> list[MarketEvent]:
        """Build the initial universe (after adopted groups) and return the first batch."""
        groups = list(adopted)
        n_bin = sum(1 for g in groups if not g.is_event)
        n_ev = sum(1 for g in groups if g.is_event)
        for _ in range(max(0, self.cfg.markets - n_bin)):
            groups.append(self.factory.new_binary(ts, initial=True))
        for _ in range(max(0, self.cfg.neg_risk_events - n_ev)):
            groups.append(self.factory.new_event(ts, initial=True))
        listed: list[MarketEvent] = []
        snaps: list[MarketEvent] = []
        for g in groups:
            self._list(g, ts, listed, snaps)
        return listed + snaps

    def _rebuild_activity(self, ts: float) -> None:
        """Recompute the merged token process after listings or closes (memoryless, so the next
        arrival is simply redrawn from the new total rate)."""
        toks: list[Token] = []
        cum: list[float] = []
        total = 0.0
        for g in self.groups.values():
            if g.alive:
                for tok in g.tokens():
                    if tok.rate > 0:
                        total += tok.rate
                        toks.append(tok)
                        cum.append(total)
        self._toks, self._cum, self._total = toks, cum, total
        self._next_act = ts + self.rand.e() / total if total > 0 else _INF

    def live_counts(self) -> tuple[int, int]:
        """Return (binary markets, neg-risk events) currently listed and not resolved."""
        n_ev = sum(1 for g in self.groups.values() if g.is_event)
        return len(self.groups) - n_ev, n_ev

    def push(self, ts: float, kind: int, obj: object, stamp: int = 0) -> None:
        """Schedule action ``kind`` on ``obj`` at event time ``ts``."""
        self._seq += 1
        heappush(self.heap, (ts, self._seq, kind, obj, stamp))

    def schedule_requote(self, ts: float, tok: Token, mk: Maker) -> None:
        """Make ``mk`` requote at ``ts`` unless it already will sooner."""
        if ts < mk.next_ts:
            mk.stamp += 1
            mk.next_ts = ts
            self.push(ts, _REQUOTE, (tok, mk), mk.stamp)

    def schedule_episode_end(self, ts: float, tok: Token) -> None:
        """End the token's current dislocation episode at ``ts``."""
        self.push(ts, _MISPRICE_END, tok, tok.episode)

    def after_fill(self, ts: float, tok: Token, hit: list[OrderOwner]) -> None:
        """Make every maker that was filled rethink its quotes and refill after a short delay."""
        r = self.rand
        seen: list[Maker] = []
        for owner in hit:
            mk: Maker = owner  # type: ignore[assignment]
            if mk not in seen:
                seen.append(mk)
                mk.dirty = True
                mk.center = -1.0
                self.schedule_requote(ts + r.e() * self.cfg.maker_refill_s, tok, mk)

    def _list(
        self, g: Group, ts: float, listed: list[MarketEvent], snaps: list[MarketEvent]
    ) -> None:
        cfg, r = self.cfg, self.rand
        self.groups[g.gid] = g
        g.last_ts = ts
        listed.append(MarketListed(ts, tuple(g.instruments())))
        for tok in g.tokens():
            snaps.append(self._snapshot(ts, tok))
            for mk in tok.makers:
                mk.next_ts = float("inf")
                self.schedule_requote(ts + r.e() * mk.requote_mean, tok, mk)
        self.push(ts + cfg.latent_step_s * r.u(), _LATENT, g)
        if self._misprice_rate > 0:
            self.push(ts + r.e() / self._misprice_rate_for(g, ts), _MISPRICE, g)
        self.push(max(ts, g.end_ts), _CLOSE, g)
        if self._arb_rate > 0:
            self.push(ts + r.e() / (self._arb_rate * len(g.markets)), _ARB, g)
        if cfg.snapshot_interval_s > 0:
            self.push(ts + cfg.snapshot_interval_s, _SNAPSHOT, g)
        self._rebuild_activity(ts)

    def _misprice_rate_for(self, g: Group, ts: float) -> float:
        # End-game books are thin and makers lag the news: dislocations come more often there.
        if g.end_ts - ts <= self.cfg.endgame_window_s:
            return self._misprice_rate * self.cfg.endgame_mispricing_multiplier
        return self._misprice_rate

    @staticmethod
    def _snapshot(ts: float, tok: Token) -> BookSnapshot:
        return BookSnapshot(ts, tok.iid, tok.book.levels(BID), tok.book.levels(ASK))

    # ------------------------------------------------------------------ main loop
    def run(
        self, end: float, window: float, stopped: Callable[[], bool]
    ) -> Iterator[list[MarketEvent]]:
        """Run actions in time order up to event time ``end``, yielding batches of events.

        A batch collects the events of the actions within ``window`` seconds of its first
        action. ``stopped`` is checked after every yield. The two most frequent actions (a
        token action, a maker requote) are dispatched here without going through ``step``.
        """
        heap = self.heap
        u = self.u
        log = math.log
        flicker = flow.flicker
        requote = self._requote
        step = self.step
        out: list[MarketEvent] = []
        self.out = out
        window_end = 0.0
        while True:
            na = self._next_act
            if heap and heap[0][0] < na:
                ts = heap[0][0]
                token_action = False
            else:
                ts = na
                token_action = True
            if ts > end or ts == _INF:
                break
            if out:
                if ts >= window_end:
                    yield out
                    if stopped():
                        return
                    out = []
                    self.out = out
                    window_end = ts + window
            else:
                window_end = ts + window
            if token_action:
                total = self._total
                x = u() * total
                cum = self._cum
                i = bisect_right(cum, x)
                if i >= len(cum):
                    i = len(cum) - 1
                tok = self._toks[i]
                y = x - cum[i - 1] if i else x
                if y < tok.r_flicker:
                    flicker(self, ts, tok)
                elif y < tok.r_flicker + tok.r_noise:
                    flow.noise(self, ts, tok)
                else:
                    flow.informed(self, ts, tok)
                self._next_act = ts - log(1.0 - u()) / self._total
            elif heap[0][2] == _REQUOTE:
                ts, _, _, obj, stamp = heappop(heap)
                pair: tuple[Token, Maker] = obj  # type: ignore[assignment]
                mk = pair[1]
                if stamp == mk.stamp and pair[0].market.group.alive:
                    requote(ts, pair[0], mk)
            else:
                step()
        if out and not stopped():
            yield out

    def step(self) -> None:
        """Run the earliest heap action; its events are appended to ``out``."""
        ts, _, kind, obj, stamp = heappop(self.heap)
        if kind == _REQUOTE:
            pair: tuple[Token, Maker] = obj  # type: ignore[assignment]
            if stamp == pair[1].stamp and pair[0].market.group.alive:
                self._requote(ts, pair[0], pair[1])
        elif kind == _LATENT:
            self._latent(ts, obj)  # type: ignore[arg-type]
        elif kind == _INFORMED:
            if obj.market.group.alive:  # type: ignore[attr-defined]
                flow.informed(self, ts, obj)  # type: ignore[arg-type]
        elif kind == _MISPRICE:
            g: Group = obj  # type: ignore[assignment]
            if g.alive:
                self.push(ts + self.rand.e() / self._misprice_rate_for(g, ts), _MISPRICE, g)
                dislocations.start(self, ts, g)
        elif kind == _MISPRICE_END:
            dislocations.end(self, ts, obj, stamp)  # type: ignore[arg-type]
        elif kind == _CLOSE:
            self._close(ts, obj)  # type: ignore[arg-type]
        elif kind == _RESOLVE:
            self._resolve(ts, obj)  # type: ignore[arg-type]
        elif kind == _ARB:
            g = obj  # type: ignore[assignment]
            if g.alive:
                self.push(ts + self.rand.e() / (self._arb_rate * len(g.markets)), _ARB, g)
                flow.arbitrage(self, ts, g)
        elif kind == _SNAPSHOT:
            g = obj  # type: ignore[assignment]
            if g.alive:
                for tok in g.tokens():
                    self.out.append(self._snapshot(ts, tok))
                self.push(ts + self.cfg.snapshot_interval_s, _SNAPSHOT, g)

    # ------------------------------------------------------------------ makers
    def _requote(self, ts: float, tok: Token, mk: Maker) -> None:
        book = tok.book
        pace = tok.market.group.pace
        widen = 1.0 if pace >= 1.0 else 1.0 / pace  # makers widen in fast (end-game) markets
        ladder = mk.ladder(tok.fair() + tok.bias, book.tick, self.rand, widen)
        if ladder is not None:
            changes: list = []
            book.requote(mk, ladder[0], ladder[1], changes)
            if changes:
                self.out.append(BookDelta(ts, tok.iid, tuple(changes)))
        wait = mk.requote_mean * pace
        # self.schedule_requote(ts + e() * max(wait, _MIN_REQUOTE_S), tok, mk) with next_ts
        # reset to infinity first (so it always schedules), inline
        due = ts + -math.log(1.0 - self.u()) * (wait if wait > _MIN_REQUOTE_S else _MIN_REQUOTE_S)
        mk.stamp += 1
        mk.next_ts = due
        self._seq += 1
        heappush(self.heap, (due, self._seq, _REQUOTE, (tok, mk), mk.stamp))

    # ------------------------------------------------------------------ true price
    def _latent(self, ts: float, g: Group) -> None:
        if not g.alive:
            return
        cfg, r = self.cfg, self.rand
        dt = ts - g.last_ts
        g.last_ts = ts
        remaining = g.end_ts - ts
        info = information(
            dt, remaining, self._base_rate, cfg.endgame_window_s, cfg.endgame_information,
            cfg.endgame_tau_s,
        )  # fmt: skip
        g.latent.inform(info, r)
        if dt > 0:
            # when information arrives faster than the reference rate (end game, volatile
            # settings) makers requote more often (interval ~ rate^-1/3) and, as that does not
            # fully keep up (staleness ~ rate^1/3), quote wider by the same factor
            g.pace = (_REF_RATE * dt / max(info, _REF_RATE * dt)) ** (1.0 / 3.0)
        if self._jump_rate > 0 and r.u() < 1.0 - math.exp(-self._jump_rate * dt):
            g.latent.inform(cfg.jump_information * r.e(), r)
            self._react_to_jump(ts, g)
        g.refresh_prices()
        low, high = cfg.tick_change_low * MICRO, cfg.tick_change_high * MICRO
        for m in g.markets:
            if m.tick == COARSE_TICK:
                mid = m.yes.book.mid()
                if mid is not None and (mid < low or mid > high):
                    m.set_tick(FINE_TICK, r)
                    self.out.append(TickSizeChange(ts, m.yes.iid, FINE_TICK))
                    self.out.append(TickSizeChange(ts, m.no.iid, FINE_TICK))
        step = min(cfg.latent_step_s, max(0.1, remaining / 20.0))
        self.push(ts + step, _LATENT, g)

    def _react_to_jump(self, ts: float, g: Group) -> None:
        cfg, r = self.cfg, self.rand
        for tok in g.tokens():
            if cfg.informed_trades_per_min > 0:
                self.push(ts + r.e() * cfg.informed_reaction_s, _INFORMED, tok)
            for mk in tok.makers:
                self.schedule_requote(ts + r.e() * cfg.maker_lag_s, tok, mk)

    # ------------------------------------------------------------------ lifecycle
    def _close(self, ts: float, g: Group) -> None:
        if not g.alive:
            return
        g.alive = False
        self._rebuild_activity(ts)
        for m in g.markets:
            self.out.append(MarketStatus(ts, m.market_id, "closed"))
        self.push(ts + self.cfg.resolution_delay_s, _RESOLVE, g)

    def _resolve(self, ts: float, g: Group) -> None:
        winner = g.latent.winner
        for m in g.markets:
            pays = MICRO if m.index == winner else 0
            self.out.append(
                MarketResolved(ts, m.market_id, ((m.yes.iid, pays), (m.no.iid, MICRO - pays)))
            )
        del self.groups[g.gid]
        n_bin, n_ev = self.live_counts()
        new: Group | None = None
        if g.is_event and n_ev < self.cfg.neg_risk_events:
            new = self.factory.new_event(ts, initial=False)
        elif not g.is_event and n_bin < self.cfg.markets:
            new = self.factory.new_binary(ts, initial=False)
        if new is not None:
            snaps: list[MarketEvent] = []
            self._list(new, ts, self.out, snaps)
            self.out.extend(snaps)
