"""``SimFeed``: the embedded simulated venue behind the ``Feed`` interface."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

from services.events import MarketEvent
from services.instruments import Instrument
from services.markets.base import paced
from services.markets.sim.config import SimConfig
from services.markets.sim.market import Group, GroupFactory
from services.markets.sim.rand import RandomBlocks
from services.markets.sim.venue import SimVenue
from services.money import MICRO

log = logging.getLogger(__name__)
_INF = float("inf")


class SimFeed:
    """A deterministic simulated prediction-market venue producing normalized events.

    Binary markets and neg-risk events are listed, traded by simulated makers and takers, closed
    and resolved in event time; resolved markets are replaced so the universe keeps its size.
    Nothing touches the network or the wall clock (except ``batches()`` pacing at ``speed``).

    Parameters
    ----------
    config : SimConfig
        Simulator settings.
    seed : int
        Random seed; the same seed, config, start and adopted instruments give the same events.
    start_ts : float
        Event time of the first batch, epoch seconds.
    speed : float | None
        Market seconds per wall second for ``batches()``; None runs as fast as possible.
    duration_s : float | None
        Stop after this many seconds of market time; None runs forever.
    """

    name = "sim"

    def __init__(
        self,
        config: SimConfig,
        seed: int,
        start_ts: float,
        speed: float | None = None,
        duration_s: float | None = None,
    ) -> None:
        self._config = config
        self._start_ts = float(start_ts)
        self._speed = speed
        self._duration_s = duration_s
        self._rand = RandomBlocks(seed)
        self._factory = GroupFactory(config, self._rand, seed, start_ts)
        self._venue = SimVenue(config, self._rand, self._factory)
        self._adopted: list[Group] = []
        self._first: list[MarketEvent] | None = None
        self._iterating = False
        self._closed = False

    # ------------------------------------------------------------------ Feed interface
    def batches(self) -> AsyncIterator[list[MarketEvent]]:
        """Yield event batches paced at ``speed`` (see ``iter_batches``)."""
        return paced(self.iter_batches(), self._speed, self._start_ts)

    async def close(self) -> None:
        """Stop producing events (the iterator ends at its next batch)."""
        self._closed = True

    def adopt(self, instruments: list[Instrument], mids: dict[str, int]) -> None:
        """Re-list instruments carried over from a previous run as live markets.

        YES/NO tokens are paired by ``market_id`` (the YES token is the one whose outcome is
        "Yes", else the first seen); markets sharing an ``event_id`` form one neg-risk event.
        The true probability starts at the YES mid (or one minus the NO mid, else 0.5; an
        event's outcomes are normalised to sum to 1). Ids, ticks, fees and end times are kept;
        a market whose end time has passed closes within ``overdue_resolve_s`` of the start.
        Adopted markets count toward ``markets`` / ``neg_risk_events``.

        Parameters
        ----------
        instruments : list[Instrument]
            Instruments of both tokens of each market to keep.
        mids : dict[str, int]
            Last known mid price per instrument id, micro.

        Raises
        ------
        RuntimeError
            If the feed has already started.
        """
        if self._first is not None:
            raise RuntimeError("SimFeed.adopt() must be called before the feed starts")
        by_market: dict[str, list[Instrument]] = {}
        for inst in instruments:
            by_market.setdefault(inst.market_id, []).append(inst)
        grouped: dict[str, list[tuple[Instrument, Instrument, float | None]]] = {}
        for market_id, insts in by_market.items():
            if len(insts) != 2:
                log.warning(
                    "Simulator cannot adopt market %s: expected 2 tokens, got %d.",
                    market_id,
                    len(insts),
                )
                continue
            yes = next((i for i in insts if i.outcome.lower() == "yes"), insts[0])
            no = insts[1] if yes is insts[0] else insts[0]
            if yes.instrument_id in mids:
                p: float | None = mids[yes.instrument_id] / MICRO
            elif no.instrument_id in mids:
                p = 1.0 - mids[no.instrument_id] / MICRO
            else:
                p = None
            grouped.setdefault(yes.event_id or market_id, []).append((yes, no, p))
        for items in grouped.values():
            known = [p for _, _, p in items if p is not None]
            missing = len(items) - len(known)
            if len(items) == 1:
                fill = 0.5
            else:
                fill = max(0.01, (1.0 - sum(known)) / missing) if missing else 0.0
            probs = [min(0.999, max(0.001, fill if p is None else p)) for _, _, p in items]
            pairs = [(yes, no) for yes, no, _ in items]
            self._adopted.append(self._factory.adopt(pairs, probs, self._start_ts))

    def instruments(self) -> list[Instrument]:
        """Return the instruments of every listed, not yet resolved market (current ticks)."""
        self._ensure_started()
        out: list[Instrument] = []
        for g in self._venue.groups.values():
            out.extend(g.instruments())
        return out

    # ------------------------------------------------------------------ iteration
    def _ensure_started(self) -> None:
        if self._first is None:
            self._first = self._venue.start(self._start_ts, self._adopted)

    def iter_batches(self) -> Iterator[list[MarketEvent]]:
        """Yield event batches in event time, synchronously.

        The first batch lists the initial universe (one ``MarketListed`` per market or event,
        then a ``BookSnapshot`` per token). Each later batch holds the events of the actions
        within ``batch_window_ms`` of event time. Iteration stops after ``duration_s`` of
        market time or after ``close()``.

        Raises
        ------
        RuntimeError
            If called a second time.
        """
        if self._iterating:
            raise RuntimeError("SimFeed.iter_batches() can only be iterated once")
        self._iterating = True
        return self._run()

    def _run(self) -> Iterator[list[MarketEvent]]:
        self._ensure_started()
        assert self._first is not None
        yield self._first
        end = _INF if self._duration_s is None else self._start_ts + self._duration_s
        window = self._config.batch_window_ms / 1000.0
        yield from self._venue.run(end, window, lambda: self._closed)
