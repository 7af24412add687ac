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
from services.instruments import Side
from services.markets.sim.agents import (
    CENT,
    Maker,
    informed_budget,
    noise_size,
    price_scale,
)
from services.markets.sim.book import ASK, BID, OrderOwner
from services.markets.sim.config import SimConfig
from services.markets.sim.latent import information
from services.markets.sim.market import COARSE_TICK, FINE_TICK, Group, GroupFactory, Token
from services.markets.sim.rand import RandomBlocks
from services.money import MICRO

# action kinds, in the heap as (ts, seq, kind, obj, stamp)
_REQUOTE, _LATENT, _INFORMED, _MISPRICE, _MISPRICE_END, _CLOSE, _RESOLVE, _SNAPSHOT, _ARB = range(9)
_INF = float("inf")
_REF_RATE = 0.5**2 / 7200.0  # information per second of the default volatility
_MIN_REQUOTE_S = 0.2  # makers never requote faster than this on average, seconds
_SIDES = (Side.BUY, Side.SELL)


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

    def _push(self, ts: float, kind: int, obj: object, stamp: int = 0) -> None:
        self._seq += 1
        heappush(self.heap, (ts, self._seq, kind, obj, stamp))

    def _schedule_requote(self, ts: float, tok: Token, mk: Maker) -> None:
        """Make ``mk`` requote at ``ts`` unless it already will sooner."""
        if ts < mk.next_ts:
            mk.stamp += 1
            mk.next_ts = ts
            self._push(ts, _REQUOTE, (tok, mk), mk.stamp)

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
                self._schedule_requote(ts + r.e() * mk.requote_mean, tok, mk)
        self._push(ts + cfg.latent_step_s * r.u(), _LATENT, g)
        if self._misprice_rate > 0:
            self._push(ts + r.e() / self._misprice_rate, _MISPRICE, g)
        self._push(max(ts, g.end_ts), _CLOSE, g)
        if self._arb_rate > 0:
            self._push(ts + r.e() / (self._arb_rate * len(g.markets)), _ARB, g)
        if cfg.snapshot_interval_s > 0:
            self._push(ts + cfg.snapshot_interval_s, _SNAPSHOT, g)
        self._rebuild_activity(ts)

    @staticmethod
    def _snapshot(ts: float, tok: Token) -> BookSnapshot:
        return BookSnapshot(ts, tok.iid, tok.book.levels(BID), tok.book.levels(ASK))

    # ------------------------------------------------------------------ main loop
    def run(
        self, end: float, window: float, stopped: Callable[[], bool]
    ) -> Iterator[list[MarketEvent]]:
        """Run actions in time order up to event time ``end``, yielding batches of events.

        A batch collects the events of the actions within ``window`` seconds of its first
        action. ``stopped`` is checked after every yield.
        """
        heap = self.heap
        u = self.rand.u
        log = math.log
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
                x = u() * self._total
                cum = self._cum
                i = bisect_right(cum, x)
                if i >= len(cum):
                    i = len(cum) - 1
                tok = self._toks[i]
                y = x - cum[i - 1] if i else x
                if y < tok.r_flicker:
                    self._flicker(ts, tok)
                elif y < tok.r_flicker + tok.r_noise:
                    self._noise(ts, tok)
                else:
                    self._informed(ts, tok)
                self._next_act = ts - log(1.0 - u()) / self._total
            else:
                self.step()
        if out and not stopped():
            yield out

    def step(self) -> None:
        """Run the earliest heap action; its events are appended to ``out``."""
        ts, _, kind, obj, stamp = heappop(self.heap)
        if kind == _REQUOTE:
            tok, mk = obj  # type: ignore[misc]
            if stamp == mk.stamp and tok.market.group.alive:
                self._requote(ts, tok, mk)
        elif kind == _LATENT:
            self._latent(ts, obj)  # type: ignore[arg-type]
        elif kind == _INFORMED:
            if obj.market.group.alive:  # type: ignore[attr-defined]
                self._informed(ts, obj)  # type: ignore[arg-type]
        elif kind == _MISPRICE:
            self._misprice(ts, obj)  # type: ignore[arg-type]
        elif kind == _MISPRICE_END:
            self._misprice_end(ts, obj, stamp)  # type: ignore[arg-type]
        elif kind == _CLOSE:
            self._close(ts, obj)  # type: ignore[arg-type]
        elif kind == _RESOLVE:
            self._resolve(ts, obj)  # type: ignore[arg-type]
        elif kind == _ARB:
            self._arbitrage(ts, obj)  # type: ignore[arg-type]
        elif kind == _SNAPSHOT:
            g: Group = obj  # type: ignore[assignment]
            if g.alive:
                for tok in g.tokens():
                    self.out.append(self._snapshot(ts, tok))
                self._push(ts + self.cfg.snapshot_interval_s, _SNAPSHOT, g)

    # ------------------------------------------------------------------ makers
    def _requote(self, ts: float, tok: Token, mk: Maker) -> None:
        book = tok.book
        ladder = mk.ladder(tok.fair() + tok.bias, book.tick, self.rand)
        if ladder is not None:
            changes: list = []
            book.requote(mk, ladder[0], ladder[1], changes)
            if changes:
                self.out.append(BookDelta(ts, tok.iid, tuple(changes)))
        mk.next_ts = _INF
        wait = mk.requote_mean * tok.market.group.pace
        self._schedule_requote(ts + self.rand.e() * max(wait, _MIN_REQUOTE_S), tok, mk)

    def _flicker(self, ts: float, tok: Token) -> None:
        """One maker changes the size of one of its levels (or cancels it): a delta, no trade.

        A reduction keeps queue priority; an increase goes to the back of the queue.
        """
        r = self.rand
        u = r.u
        makers = tok.makers
        x = u() * len(makers)
        i = int(x)
        mk = makers[i]
        side = BID if x - i < 0.5 else ASK
        own = mk.own[side]
        if not own:
            return
        prices = list(own)
        p = prices[int(u() * len(prices))]
        old = own[p]
        bs = tok.book.sides[side]
        if u() < 0.12:
            size = 0
            mk.dirty = True
            self._schedule_requote(ts + r.e() * self.cfg.maker_refill_s, tok, mk)
        else:
            size = int(old * math.exp(0.35 * r.n()) / MICRO + 0.5) * MICRO
            if size < tok.inst.min_size:
                size = tok.inst.min_size
            if size == old:
                return
            if size < old:
                for entry in bs.q[p]:
                    if entry[0] is mk:
                        entry[1] = size
                        break
                own[p] = size
                total = bs.tot[p] - old + size
                bs.tot[p] = total
                self.out.append(BookDelta(ts, tok.iid, ((_SIDES[side], p, total),)))
                return
        total = tok.book.set_order(mk, side, p, size)
        self.out.append(BookDelta(ts, tok.iid, ((_SIDES[side], p, total),)))

    def _after_fill(self, ts: float, tok: Token, hit: list[OrderOwner]) -> None:
        r = self.rand
        seen: list[OrderOwner] = []
        for mk in hit:
            if mk not in seen:
                seen.append(mk)
                mk.dirty = True  # type: ignore[attr-defined]
                mk.center = -1.0  # type: ignore[attr-defined]  # a fill makes it rethink
                self._schedule_requote(ts + r.e() * self.cfg.maker_refill_s, tok, mk)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ takers
    def _noise(self, ts: float, tok: Token) -> None:
        r = self.rand
        book = tok.book
        tick = book.tick
        buy = r.u() < 0.5
        best = book.best_ask() if buy else book.best_bid()
        if best is None:
            return
        slip = int(r.u() * (self.cfg.noise_max_slippage_ticks + 1)) * tick
        limit = min(best + slip, MICRO - tick) if buy else max(best - slip, tick)
        hit: list[OrderOwner] = []
        qty = noise_size(self.cfg, r, tok.inst.min_size)
        if book.take(ts, tok.iid, buy, limit, qty, self.out, hit):
            self._after_fill(ts, tok, hit)

    def _informed(self, ts: float, tok: Token) -> None:
        book = tok.book
        tick = book.tick
        f = tok.fair()
        fee = tok.fee_rate * (f * (1.0 - f)) ** tok.inst.fees.exponent if tok.fee_rate else 0.0
        edge = max(self.cfg.informed_edge_cents * CENT * price_scale(f), tick) / MICRO + fee
        hit: list[OrderOwner] = []
        a = book.best_ask()
        if a is not None and a <= (f - edge) * MICRO:
            limit = int((f - edge) * MICRO // tick) * tick
            qty = informed_budget(self.cfg, self.rand, tok.inst.min_size)
            book.take(ts, tok.iid, True, limit, qty, self.out, hit)
        else:
            b = book.best_bid()
            if b is not None and b >= (f + edge) * MICRO:
                limit = -int(-((f + edge) * MICRO) // tick) * tick
                qty = informed_budget(self.cfg, self.rand, tok.inst.min_size)
                book.take(ts, tok.iid, False, limit, qty, self.out, hit)
        if hit:
            self._after_fill(ts, tok, hit)

    def _arbitrage(self, ts: float, g: Group) -> None:
        """A competing arbitrageur buys complete sets priced below 1 (after fees), if any."""
        if not g.alive:
            return
        r = self.rand
        self._push(ts + r.e() / (self._arb_rate * len(g.markets)), _ARB, g)
        m = g.markets[r.choice_index(len(g.markets))]
        self._buy_set(ts, [m.yes, m.no])
        if g.is_event:
            self._buy_set(ts, [m.yes for m in g.markets])

    def _buy_set(self, ts: float, toks: list[Token]) -> None:
        cost = 0.0
        size = informed_budget(self.cfg, self.rand, 0, self.cfg.arbitrage_size_median_shares)
        asks: list[int] = []
        for tok in toks:
            a = tok.book.best_ask()
            if a is None:
                return
            p = a / MICRO
            cost += a + tok.fee_rate * (p * (1.0 - p)) ** tok.inst.fees.exponent * MICRO
            size = min(size, tok.book.sides[ASK].tot[a])
            asks.append(a)
        tick = min(tok.book.tick for tok in toks)
        if MICRO - cost < self.cfg.arbitrage_edge_ticks * tick or size <= 0:
            return
        for tok, a in zip(toks, asks):
            hit: list[OrderOwner] = []
            tok.book.take(ts, tok.iid, True, a, size, self.out, hit)
            self._after_fill(ts, tok, hit)

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
            # makers requote faster when information arrives faster than the reference rate
            # (end game, volatile settings), keeping their staleness per requote about constant
            g.pace = math.sqrt(_REF_RATE * dt / max(info, _REF_RATE * dt))
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
        self._push(ts + step, _LATENT, g)

    def _react_to_jump(self, ts: float, g: Group) -> None:
        cfg, r = self.cfg, self.rand
        for tok in g.tokens():
            if cfg.informed_trades_per_min > 0:
                self._push(ts + r.e() * cfg.informed_reaction_s, _INFORMED, tok)
            for mk in tok.makers:
                self._schedule_requote(ts + r.e() * cfg.maker_lag_s, tok, mk)

    # ------------------------------------------------------------------ dislocations
    def _misprice(self, ts: float, g: Group) -> None:
        if not g.alive:
            return
        r = self.rand
        self._push(ts + r.e() / self._misprice_rate, _MISPRICE, g)
        duration = max(1.0, self.cfg.mispricing_duration_s * r.e())
        edge = r.randint(1, self.cfg.mispricing_max_edge_ticks)
        if g.is_event and r.u() < 0.5:
            self._misprice_event(ts, g, edge, duration)
            return
        m = g.markets[r.choice_index(len(g.markets))]
        tok, comp = (m.yes, m.no) if r.u() < 0.5 else (m.no, m.yes)
        a, ac = tok.book.best_ask(), comp.book.best_ask()
        if a is None or ac is None:
            return
        tick = tok.book.tick
        cap = MICRO - ac - edge * tick
        cap -= cap % tick
        if cap < tick or a <= cap:
            return
        self._dislocate(ts, tok, a - cap, duration)

    def _misprice_event(self, ts: float, g: Group, edge: int, duration: float) -> None:
        toks = [m.yes for m in g.markets]
        asks = [t.book.best_ask() for t in toks]
        if any(a is None for a in asks):
            return
        total = sum(asks)  # type: ignore[arg-type]
        need = total - (MICRO - edge * min(t.book.tick for t in toks))
        if need <= 0:
            return
        shifts: list[int] = []
        for t, a in zip(toks, asks):
            tick = t.book.tick
            share = -(-need * a // total // tick) * tick  # type: ignore[operator]
            shifts.append(max(0, min(share, a - tick)))  # type: ignore[operator]
        short = need - sum(shifts)
        for i, (t, a) in enumerate(zip(toks, asks)):
            if short <= 0:
                break
            tick = t.book.tick
            room = a - tick - shifts[i]  # type: ignore[operator]
            add = min(room, -(-short // tick) * tick)
            if add > 0:
                shifts[i] += add
                short -= add
        if short > 0:
            return
        for t, s in zip(toks, shifts):
            if s > 0:
                self._dislocate(ts, t, s, duration)

    def _dislocate(self, ts: float, tok: Token, delta: int, duration: float) -> None:
        """Move the token's whole book down by ``delta`` micro for about ``duration`` seconds."""
        changes = tok.book.shift_down(delta)
        if changes:
            self.out.append(BookDelta(ts, tok.iid, tuple(changes)))
        tok.bias -= delta / MICRO
        for mk in tok.makers:
            mk.center -= delta
        tok.episode += 1
        self._push(ts + duration, _MISPRICE_END, tok, tok.episode)

    def _misprice_end(self, ts: float, tok: Token, stamp: int) -> None:
        if stamp != tok.episode or not tok.market.group.alive:
            return
        tok.bias = 0.0
        r = self.rand
        for mk in tok.makers:
            self._schedule_requote(ts + r.e() * self.cfg.maker_lag_s, tok, mk)

    # ------------------------------------------------------------------ lifecycle
    def _close(self, ts: float, g: Group) -> None:
        if not g.alive:
            return
        g.alive = False
        self._rebuild_activity(ts)
        for m in g.markets:
            self.out.append(MarketStatus(ts, m.market_id, "closed"))
        self._push(ts + self.cfg.resolution_delay_s, _RESOLVE, g)

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

