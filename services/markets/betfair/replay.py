"""Replay Betfair historical stream files (PRO or BASIC; plain, gzip or bzip2) as a feed.

Many files (one market each, as Betfair's historical data and flumine's recordings are laid
out, or several markets per file) are merged by publish time ``pt``, message by message, so the
markets play out in the order they happened. Each message becomes one batch of events.
"""

from __future__ import annotations

import heapq
import json
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

from services.events import MarketEvent
from services.instruments import Instrument
from services.markets.base import paced
from services.markets.betfair.files import PathLike, catalogue_for, iter_lines, stream_files
from services.markets.betfair.translate import BetfairTranslator
from services.money import MICRO

log = logging.getLogger(__name__)

try:  # orjson parses stream lines about twice as fast as the standard library
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - depends on the environment
    _loads = json.loads


def read_catalogues(files: Sequence[Path]) -> tuple[dict[str, dict[int, str]], dict[str, str]]:
    """Return runner names and market titles from ``<file>.catalogue.json`` files beside streams.

    The catalogue is Betfair's ``listMarketCatalogue`` result for the market (``marketId``,
    ``marketName``, ``event.name``, ``runners[{selectionId, runnerName}]``); absent or
    unreadable catalogues are skipped (runner names then come from the definition or the id).
    """
    names: dict[str, dict[int, str]] = {}
    titles: dict[str, str] = {}
    for f in files:
        cat = catalogue_for(f)
        if cat is None:
            continue
        try:
            data = json.loads(cat.read_text())
        except (OSError, ValueError) as exc:
            log.warning("Cannot read the market catalogue %s (%s); runner ids are shown.", cat, exc)
            continue
        for c in data if isinstance(data, list) else [data]:
            mid = str(c.get("marketId", ""))
            if not mid:
                continue
            names[mid] = {
                int(r["selectionId"]): str(r.get("runnerName") or r["selectionId"])
                for r in c.get("runners") or ()
            }
            event = (c.get("event") or {}).get("name") or c.get("eventName") or ""
            titles[mid] = " ".join(x for x in (event, c.get("marketName") or "") if x)
    return names, titles


def _messages(path: Path, index: int) -> Iterator[tuple[int, int, int, dict[str, Any]]]:
    loads = _loads
    for n, line in enumerate(iter_lines(path)):
        try:
            msg = loads(line)
        except ValueError:
            log.warning("Skipped a line of %s that is not JSON (line %d).", path, n + 1)
            continue
        yield msg.get("pt", 0), index, n, msg


class BetfairReplayFeed:
    """A feed that plays Betfair stream files back in publish-time order.

    Parameters
    ----------
    paths : PathLike | Sequence[PathLike]
        Stream files or directories of them.
    speed : float | None
        Market seconds per wall second; None: as fast as possible.
    currency : str
        The account currency the instruments trade in.
    min_stake : int
        Minimum stake, micro-units of ``currency``.

    Raises
    ------
    StreamFileError
        If a path is missing or not a Betfair stream file.
    """

    name = "betfair_replay"

    def __init__(
        self,
        paths: PathLike | Sequence[PathLike],
        *,
        speed: float | None = None,
        currency: str = "GBP",
        min_stake: int = MICRO,
    ) -> None:
        self.files = stream_files(paths)
        self.speed = speed
        names, titles = read_catalogues(self.files)
        self.translator = BetfairTranslator(
            currency=currency, min_stake=min_stake, names=names, titles=titles
        )

    def messages(self) -> Iterator[dict[str, Any]]:
        """Yield every message of every file, merged by publish time (file order breaks ties)."""
        streams = [_messages(f, i) for i, f in enumerate(self.files)]
        if len(streams) == 1:
            for item in streams[0]:
                yield item[3]
            return
        for item in heapq.merge(*streams, key=lambda x: (x[0], x[1], x[2])):
            yield item[3]

    def event_batches(self) -> Iterator[list[MarketEvent]]:
        """Yield the events of each message (synchronously; the benchmark uses this)."""
        translate = self.translator.translate
        for msg in self.messages():
            batch = translate(msg)
            if batch:
                yield batch

    async def batches(self) -> AsyncIterator[list[MarketEvent]]:
        """Yield event batches, paced by ``speed`` from the first message's time."""
        it = self.event_batches()
        first = next(it, None)
        if first is None:
            return

        def chain() -> Iterator[list[MarketEvent]]:
            yield first
            yield from it

        async for batch in paced(chain(), self.speed, first[0].ts):
            yield batch

    async def close(self) -> None:
        """Nothing to release: files are closed as they end."""

    def adopt(self, instruments: list[Instrument], mids: dict[str, int]) -> None:
        """Ignore carried instruments: the files list their markets again."""


def first_timestamp(paths: PathLike | Sequence[PathLike]) -> float:
    """Return the earliest publish time of the files' first messages, epoch seconds (0 if none).

    The replay's event clock starts there (recordings may be years old).
    """
    first: list[float] = []
    for f in stream_files([Path(p).expanduser() for p in _as_list(paths)]):
        for line in iter_lines(f):
            msg = _loads(line)
            if isinstance(msg, dict) and "pt" in msg:
                first.append(msg["pt"] / 1000.0)
                break
    return min(first) if first else 0.0


def check_replay_paths(paths: Sequence[PathLike], file: str) -> None:
    """Refuse ``market_data.betfair.replay_paths`` that are not Betfair stream files.

    Raises
    ------
    ConfigError
        Naming the config file, the key and why (the bot exits with code 2).
    """
    from services.markets.betfair.files import StreamFileError
    from utils.errors import ConfigError

    for i, p in enumerate(paths):
        try:
            stream_files(Path(p).expanduser())
        except StreamFileError as exc:
            raise ConfigError(file, f"market_data.betfair.replay_paths[{i}]", str(exc)) from exc


def _as_list(paths: PathLike | Sequence[PathLike]) -> list[PathLike]:
    return [paths] if isinstance(paths, (str, Path)) else list(paths)
