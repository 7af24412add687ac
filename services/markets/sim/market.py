"""Simulated markets: tokens, binary markets, groups (a binary market or a neg-risk event).

``GroupFactory`` lists new groups (ids, questions, ticks, fees, makers, hidden winner) and rebuilds
groups from instruments carried over from a previous run.
"""

from __future__ import annotations

import dataclasses
import math
from decimal import Decimal

from services.instruments import FeeSchedule, Instrument
from services.markets.sim.agents import Maker, make_makers
from services.markets.sim.book import SimBook
from services.markets.sim.config import SimConfig
from services.markets.sim.latent import Latent
from services.markets.sim.rand import RandomBlocks

COARSE_TICK = 10_000
FINE_TICK = 1_000
CATEGORIES = ("politics", "sports", "crypto", "economics")
_NAMES = (
    "Avery", "Blake", "Casey", "Devon", "Emery", "Finley", "Harper", "Jordan", "Kendall", "Logan",
    "Morgan", "Parker", "Quinn", "Reese", "Rowan", "Sawyer", "Taylor", "Wren",
)  # fmt: skip
_TEAMS = (
    "Comets", "Falcons", "Giants", "Harbors", "Lions", "Mariners", "Owls", "Pilots", "Rangers",
    "Rockets", "Storm", "Titans", "Vipers", "Wolves",
)  # fmt: skip


class Token:
    """Simulation state of one outcome token: instrument, book, makers, activity rates."""

    __slots__ = (
        "inst",
        "iid",
        "book",
        "makers",
        "market",
        "is_yes",
        "bias",
        "episode",
        "rate",
        "r_flicker",
        "r_noise",
        "fee_rate",
        "min_size",
    )

    def __init__(self, inst: Instrument, market: SimMarket, is_yes: bool) -> None:
        self.inst = inst
        self.iid = inst.instrument_id
        self.book = SimBook(inst.tick)
        self.makers: list[Maker] = []
        self.market = market
        self.is_yes = is_yes
        self.bias = 0.0  # probability offset of the makers' fair value during a dislocation
        self.episode = 0
        self.rate = 0.0
        self.r_flicker = 0.0
        self.r_noise = 0.0
        self.fee_rate = float(inst.fees.rate)
        self.min_size = inst.min_size  # never changes (a tick change keeps it)

    def fair(self) -> float:
        """Return the true value of this token (probability)."""
        p = self.market.p
        return p if self.is_yes else 1.0 - p


class SimMarket:
    """A binary market: YES and NO tokens, priced by outcome ``index`` of its group's latent."""

    __slots__ = ("market_id", "yes", "no", "group", "index", "p")

    def __init__(self, yes: Instrument, no: Instrument, group: Group, index: int) -> None:
        self.market_id = yes.market_id
        self.group = group
        self.index = index
        self.p = group.latent.p[index]
        self.yes = Token(yes, self, True)
        self.no = Token(no, self, False)

    @property
    def tick(self) -> int:
        """Return the market's current tick (micro)."""
        return self.yes.book.tick

    def set_tick(self, tick: int, rand: RandomBlocks) -> None:
        """Switch both tokens to a finer tick (instruments, books and makers)."""
        for tok in (self.yes, self.no):
            ratio = tok.book.tick // tick
            tok.book.tick = tick
            tok.inst = dataclasses.replace(tok.inst, tick=tick)
            for mk in tok.makers:
                mk.retick(ratio, rand)


class Group:
    """A binary market (one ``SimMarket``) or a neg-risk event (one per outcome)."""

    __slots__ = (
        "gid",
        "is_event",
        "latent",
        "end_ts",
        "markets",
        "alive",
        "activity",
        "depth",
        "last_ts",
        "pace",
    )

    def __init__(self, gid: str, is_event: bool, latent: Latent, end_ts: float) -> None:
        self.gid = gid
        self.is_event = is_event
        self.latent = latent
        self.end_ts = end_ts
        self.markets: list[SimMarket] = []
        self.alive = True
        self.activity = 1.0
        self.depth = 1.0
        self.last_ts = 0.0
        self.pace = 1.0  # makers' requote interval multiplier (< 1 when information is fast)

    def tokens(self) -> list[Token]:
        """Return all tokens, YES then NO per market."""
        out: list[Token] = []
        for m in self.markets:
            out.append(m.yes)
            out.append(m.no)
        return out

    def instruments(self) -> list[Instrument]:
        """Return the current instruments of all tokens."""
        return [t.inst for t in self.tokens()]

    def refresh_prices(self) -> None:
        """Copy the latent probabilities to the markets."""
        p = self.latent.p
        for m in self.markets:
            m.p = p[m.index]


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


class GroupFactory:
    """Create groups with unique ids, readable questions and their makers.

    Ids are ``sim-{seed}-{run}-{n}`` (market), with ``-Y`` / ``-N`` for the tokens and
    ``sim-{seed}-{run}-e{k}`` for events, where ``run`` is the start time in base 36: unique
    across restarts, identical for a re-run with the same seed and start.
    """

    def __init__(self, cfg: SimConfig, rand: RandomBlocks, seed: int, start_ts: float) -> None:
        self.cfg = cfg
        self.rand = rand
        self.prefix = f"sim-{seed}-{_base36(max(0, int(start_ts)))}"
        self.min_size = int(round(cfg.min_size_shares * 100)) * 10_000
        self._ending_soon_left = cfg.initial_ending_soon
        self.used: set[str] = set()
        self._n = 0
        self._k = 0

    # ------------------------------------------------------------------ naming
    def _next_market(self) -> tuple[int, str]:
        while True:
            self._n += 1
            mid = f"{self.prefix}-{self._n}"
            if mid not in self.used:
                self.used.add(mid)
                return self._n, mid

    def _next_event(self) -> tuple[int, str]:
        while True:
            self._k += 1
            eid = f"{self.prefix}-e{self._k}"
            if eid not in self.used:
                self.used.add(eid)
                return self._k, eid

    def _question(self, n: int, category: str) -> str:
        r = self.rand
        if category == "politics":
            return f"Will {_NAMES[r.choice_index(len(_NAMES))]} win the SIM-{n} vote?"
        if category == "sports":
            a = r.choice_index(len(_TEAMS))
            b = (a + 1 + r.choice_index(len(_TEAMS) - 1)) % len(_TEAMS)
            return f"Will the {_TEAMS[a]} beat the {_TEAMS[b]} in SIM-{n}?"
        if category == "crypto":
            return f"Will SIM-{n} close above {10 * r.randint(2, 20)}?"
        return f"Will the SIM-{n} index print above {0.1 * r.randint(5, 60):.1f}%?"

    def _fees(self) -> FeeSchedule:
        cfg, r = self.cfg, self.rand
        if r.u() >= cfg.fee_enabled_share:
            return FeeSchedule()
        rate = cfg.fee_rate_min + (cfg.fee_rate_max - cfg.fee_rate_min) * r.u()
        return FeeSchedule(rate=Decimal(f"{rate:.3f}"), exponent=cfg.fee_exponent)

    def _tick(self, p: float, fine_share: bool) -> int:
        cfg = self.cfg
        if fine_share or p < cfg.tick_change_low or p > cfg.tick_change_high:
            return FINE_TICK
        return COARSE_TICK

    # ------------------------------------------------------------------ building
    def _finish(self, group: Group) -> None:
        r, cfg = self.rand, self.cfg
        sd = cfg.activity_dispersion
        group.activity = math.exp(sd * r.n() - 0.5 * sd * sd)
        group.depth = math.exp(cfg.liquidity_dispersion * r.n())
        act = cfg.activity * group.activity
        for m in group.markets:
            for tok in (m.yes, m.no):
                tok.r_flicker = act * cfg.flicker_per_s
                tok.r_noise = act * cfg.noise_trades_per_min / 60.0
                tok.rate = tok.r_flicker + tok.r_noise + act * cfg.informed_trades_per_min / 60.0
                tok.makers = make_makers(cfg, r, tok.book.tick, group.depth, self.min_size)
                scratch: list = []
                fair = tok.fair()
                for mk in tok.makers:
                    ladder = mk.ladder(fair, tok.book.tick, r)
                    if ladder is not None:
                        tok.book.requote(mk, ladder[0], ladder[1], scratch)

    def new_binary(self, ts: float, initial: bool) -> Group:
        """List a new binary market ending after a random lifetime."""
        cfg, r = self.cfg, self.rand
        n, mid = self._next_market()
        p0 = 1.0 / (1.0 + math.exp(-cfg.initial_logodds_sd * r.n()))
        p0 = min(0.995, max(0.005, p0))
        group = Group(mid, False, Latent([p0, 1.0 - p0], r), self._end(ts, initial))
        category = CATEGORIES[r.choice_index(len(CATEGORIES))]
        tick = self._tick(p0, r.u() < cfg.fine_tick_share)
        yes, no = self._pair(mid, self._question(n, category), category, tick, self._fees(),
                             group.end_ts, None)  # fmt: skip
        group.markets.append(SimMarket(yes, no, group, 0))
        self._finish(group)
        return group

    def new_event(self, ts: float, initial: bool) -> Group:
        """List a new neg-risk event: ``outcomes_per_event`` binary markets, one winner."""
        cfg, r = self.cfg, self.rand
        k, eid = self._next_event()
        logits = [cfg.initial_logodds_sd * 0.7 * r.n() for _ in range(cfg.outcomes_per_event)]
        top = max(logits)
        prior = [math.exp(x - top) for x in logits]
        group = Group(eid, True, Latent(prior, r), self._end(ts, initial))
        category = CATEGORIES[r.choice_index(len(CATEGORIES))]
        fees = self._fees()
        fine = r.u() < cfg.fine_tick_share
        names = list(_NAMES)
        for i in range(cfg.outcomes_per_event):
            n, mid = self._next_market()
            name = names.pop(r.choice_index(len(names)))
            tick = self._tick(group.latent.p[i], fine)
            question = f"Will {name} win SIM-E{k}?"
            yes, no = self._pair(mid, question, category, tick, fees, group.end_ts, eid)
            group.markets.append(SimMarket(yes, no, group, i))
        self._finish(group)
        return group

    def _end(self, ts: float, initial: bool) -> float:
        cfg, r = self.cfg, self.rand
        life = cfg.lifetime_min_s + (cfg.lifetime_max_s - cfg.lifetime_min_s) * r.u()
        if initial and self._ending_soon_left > 0:
            # A snapshot of a real venue always holds markets about to end; a few of them make a
            # short run see resolutions and settlements.
            self._ending_soon_left -= 1
            return ts + cfg.initial_ending_soon_s * (0.5 + 0.5 * r.u())
        if initial:  # the initial universe is caught mid-life, so resolutions are spread out
            life *= 0.1 + 0.9 * r.u()
        return ts + life

    def _pair(
        self,
        mid: str,
        question: str,
        category: str,
        tick: int,
        fees: FeeSchedule,
        end_ts: float,
        event_id: str | None,
    ) -> tuple[Instrument, Instrument]:
        yid, nid = f"{mid}-Y", f"{mid}-N"
        yes = Instrument(
            instrument_id=yid,
            venue="sim",
            market_id=mid,
            outcome="Yes",
            tick=tick,
            min_size=self.min_size,
            fees=fees,
            end_ts=end_ts,
            complement_id=nid,
            event_id=event_id,
            question=question,
            category=category,
        )
        no = dataclasses.replace(yes, instrument_id=nid, outcome="No", complement_id=yid)
        return yes, no

    def adopt(
        self, pairs: list[tuple[Instrument, Instrument]], probs: list[float], ts: float
    ) -> Group:
        """Rebuild a group from carried-over (YES, NO) instrument pairs and their probabilities.

        One pair is a binary market; several pairs sharing an ``event_id`` form a neg-risk event.
        A group whose end time has passed ends within ``overdue_resolve_s`` of ``ts``.
        """
        cfg, r = self.cfg, self.rand
        for yes, no in pairs:
            self.used.update((yes.market_id, yes.instrument_id, no.instrument_id))
        end = pairs[0][0].end_ts
        if end is None or end <= ts + 1.0:
            end = ts + cfg.overdue_resolve_s * (0.2 + 0.8 * r.u())
        if len(pairs) == 1:
            p = min(0.995, max(0.005, probs[0]))
            group = Group(pairs[0][0].market_id, False, Latent([p, 1.0 - p], r), end)
        else:
            eid = pairs[0][0].event_id or pairs[0][0].market_id
            self.used.add(eid)
            group = Group(eid, True, Latent([max(x, 1e-4) for x in probs], r), end)
        for i, (yes, no) in enumerate(pairs):
            group.markets.append(SimMarket(yes, no, group, i))
        self._finish(group)
        return group
