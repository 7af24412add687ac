"""Injected dislocations: one token's makers quote off fair for a few seconds.

A dislocation moves a token's whole book down (all makers together, so it stays uncrossed) far
enough that its best ask plus the complement's best ask is below 1 by 1..``max_edge`` ticks, or,
for a neg-risk event, that the YES best asks sum below 1. The token's makers keep quoting with
that bias until the episode ends, then requote with their usual lag. Informed takers and the
arbitrageur may consume it earlier, as competitors would.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.events import BookDelta
from services.markets.sim.market import Group, Token
from services.money import MICRO

if TYPE_CHECKING:
    from services.markets.sim.venue import SimVenue


def start(v: SimVenue, ts: float, g: Group) -> None:
    """Try to start one dislocation in group ``g`` (skipped if books are too thin or extreme)."""
    r = v.rand
    duration = max(1.0, v.cfg.mispricing_duration_s * r.e())
    edge = r.randint(1, v.cfg.mispricing_max_edge_ticks)
    if g.is_event and r.u() < 0.5:
        _start_event(v, ts, g, edge, duration)
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
    _dislocate(v, ts, tok, a - cap, duration)


def _start_event(v: SimVenue, ts: float, g: Group, edge: int, duration: float) -> None:
    toks = [m.yes for m in g.markets]
    asks: list[int] = []
    for t in toks:
        a = t.book.best_ask()
        if a is None:
            return
        asks.append(a)
    total = sum(asks)
    need = total - (MICRO - edge * min(t.book.tick for t in toks))
    if need <= 0:
        return
    # share the move in proportion to price, keeping every ask at least one tick
    shifts: list[int] = []
    for t, a in zip(toks, asks, strict=True):
        tick = t.book.tick
        share = -(-need * a // total // tick) * tick
        shifts.append(max(0, min(share, a - tick)))
    short = need - sum(shifts)
    for i, (t, a) in enumerate(zip(toks, asks, strict=True)):
        if short <= 0:
            break
        tick = t.book.tick
        add = min(a - tick - shifts[i], -(-short // tick) * tick)
        if add > 0:
            shifts[i] += add
            short -= add
    if short > 0:
        return
    for t, s in zip(toks, shifts, strict=True):
        if s > 0:
            _dislocate(v, ts, t, s, duration)


def _dislocate(v: SimVenue, ts: float, tok: Token, delta: int, duration: float) -> None:
    """Move the token's whole book down by ``delta`` micro for about ``duration`` seconds."""
    changes = tok.book.shift_down(delta)
    if changes:
        v.out.append(BookDelta(ts, tok.iid, tuple(changes)))
    tok.bias -= delta / MICRO
    for mk in tok.makers:
        mk.center -= delta
    tok.episode += 1
    v.schedule_episode_end(ts + duration, tok)


def end(v: SimVenue, ts: float, tok: Token, stamp: int) -> None:
    """End episode ``stamp`` of ``tok`` (ignored if a newer one started): makers requote."""
    if stamp != tok.episode or not tok.market.group.alive:
        return
    tok.bias = 0.0
    r = v.rand
    for mk in tok.makers:
        v.schedule_requote(ts + r.e() * v.cfg.maker_lag_s, tok, mk)
