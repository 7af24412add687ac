"""Order flow that does not move the true price: maker size flickers and the takers.

* A **flicker** is one maker resizing or cancelling one of its levels: a one-level ``BookDelta``.
* A **noise taker** buys or sells a log-normal size at the touch, walking a few ticks at most.
* An **informed taker** knows the true value and takes only levels mispriced by more than its
  edge plus the taker fee (stale quotes after a jump, dislocations).
* The **arbitrageur** buys complete sets (YES + NO, or every YES of a neg-risk event) when the
  best asks cost less than 1 after fees.

Every fill emits ``TradePrint`` events then the ``BookDelta`` of the consumed levels (see
``SimBook.take``), and the makers hit schedule a refill.
"""

from __future__ import annotations

from bisect import bisect_left
from heapq import heappush
from math import exp, log
from typing import TYPE_CHECKING

from services.events import BookDelta
from services.instruments import Side
from services.markets.sim.agents import CENT, informed_budget, noise_size, price_scale
from services.markets.sim.book import ASK, BID, OrderOwner
from services.markets.sim.market import Group, Token
from services.money import MICRO

if TYPE_CHECKING:
    from services.markets.sim.venue import SimVenue

_SIDES = (Side.BUY, Side.SELL)
_CANCEL_SHARE = 0.12  # fraction of flickers that cancel the level instead of resizing it
_RESIZE_SIGMA = 0.35  # log-normal sigma of a flicker's size change
REQUOTE = 0  # the venue's heap action kind of a maker requote (SimVenue checks it is its own)


def flicker(v: SimVenue, ts: float, tok: Token) -> None:
    """Let one maker resize or cancel one of its levels (a reduction keeps queue priority).

    The book and the maker's own orders are updated here directly, as ``SimBook.set_order``
    would (issue 18: this is most of the simulator's actions); the draws and their order are
    those of the plain version (``tests/markets/test_sim_stream.py`` pins the stream).
    """
    u = v.u
    makers = tok.makers
    x = u() * len(makers)
    i = int(x)
    mk = makers[i]
    side = BID if x - i < 0.5 else ASK
    own = mk.own[side]
    if not own:
        return
    p = list(own)[int(u() * len(own))]
    old = own[p]
    bs = tok.book.sides[side]
    q = bs.q[p]
    if u() < _CANCEL_SHARE:
        mk.dirty = True
        # v.schedule_requote(ts + r.e() * refill, tok, mk), inline
        due = ts + -log(1.0 - u()) * v.cfg.maker_refill_s
        if due < mk.next_ts:
            mk.stamp += 1
            mk.next_ts = due
            v._seq += 1
            heappush(v.heap, (due, v._seq, REQUOTE, (tok, mk), mk.stamp))
        # SimBook.set_order(mk, side, p, 0), inline
        k = 0
        while q[k][0] is not mk:
            k += 1
        del q[k]
        del own[p]
        tot = bs.tot
        total = tot[p] - old
        if total:
            tot[p] = total
        else:
            del tot[p]
            del bs.q[p]
            px = bs.px
            del px[bisect_left(px, p)]
        v.out.append(BookDelta(ts, tok.iid, ((_SIDES[side], p, total),)))
        return
    size = int(old * exp(_RESIZE_SIGMA * v.rand.n()) / MICRO + 0.5) * MICRO
    if size < tok.min_size:
        size = tok.min_size
    if size == old:
        return
    k = 0
    while q[k][0] is not mk:
        k += 1
    if size < old:  # a reduction keeps queue priority
        q[k][1] = size
    else:  # an increase goes to the back of the queue
        entry = q.pop(k)
        entry[1] = size
        q.append(entry)
    own[p] = size
    tot = bs.tot
    total = tot[p] - old + size
    tot[p] = total
    v.out.append(BookDelta(ts, tok.iid, ((_SIDES[side], p, total),)))


def noise(v: SimVenue, ts: float, tok: Token) -> None:
    """Send one uninformed marketable order (FAK) of log-normal size."""
    r = v.rand
    book = tok.book
    tick = book.tick
    buy = r.u() < 0.5
    best = book.best_ask() if buy else book.best_bid()
    if best is None:
        return
    slip = int(r.u() * (v.cfg.noise_max_slippage_ticks + 1)) * tick
    limit = min(best + slip, MICRO - tick) if buy else max(best - slip, tick)
    hit: list[OrderOwner] = []
    qty = noise_size(v.cfg, r, tok.inst.min_size)
    if book.take(ts, tok.iid, buy, limit, qty, v.out, hit):
        v.after_fill(ts, tok, hit)


def informed(v: SimVenue, ts: float, tok: Token) -> None:
    """Take the levels priced beyond the true value by more than the edge plus the fee."""
    book = tok.book
    tick = book.tick
    f = tok.fair()
    fee = tok.fee_rate * (f * (1.0 - f)) ** tok.inst.fees.exponent if tok.fee_rate else 0.0
    edge = max(v.cfg.informed_edge_cents * CENT * price_scale(f), tick) / MICRO + fee
    hit: list[OrderOwner] = []
    a = book.best_ask()
    if a is not None and a <= (f - edge) * MICRO:
        limit = int((f - edge) * MICRO // tick) * tick
        qty = informed_budget(v.cfg, v.rand, tok.inst.min_size)
        book.take(ts, tok.iid, True, limit, qty, v.out, hit)
    else:
        b = book.best_bid()
        if b is not None and b >= (f + edge) * MICRO:
            limit = -int(-((f + edge) * MICRO) // tick) * tick
            qty = informed_budget(v.cfg, v.rand, tok.inst.min_size)
            book.take(ts, tok.iid, False, limit, qty, v.out, hit)
    if hit:
        v.after_fill(ts, tok, hit)


def arbitrage(v: SimVenue, ts: float, g: Group) -> None:
    """Let the competing arbitrageur buy complete sets priced below 1 in one market of ``g``."""
    m = g.markets[v.rand.choice_index(len(g.markets))]
    _buy_set(v, ts, [m.yes, m.no])
    if g.is_event:
        _buy_set(v, ts, [m.yes for m in g.markets])


def _buy_set(v: SimVenue, ts: float, toks: list[Token]) -> None:
    cost = 0.0
    size = informed_budget(v.cfg, v.rand, 0, v.cfg.arbitrage_size_median_shares)
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
    if MICRO - cost < v.cfg.arbitrage_edge_ticks * tick or size <= 0:
        return
    for tok, a in zip(toks, asks, strict=True):
        hit: list[OrderOwner] = []
        tok.book.take(ts, tok.iid, True, a, size, v.out, hit)
        v.after_fill(ts, tok, hit)
