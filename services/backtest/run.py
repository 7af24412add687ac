"""Run a backtest: the bot's own node (``services.node.build_node``) driven by history.

A backtest is the node the bot runs (strategies, the whole risk chain, exits, breakers, the paper
client and its matcher) on a simulated clock that follows event time, fed by one of three kinds
of history, each with its fidelity named in every report:

* ``L2``: the bot's recordings (``market_data.record``), replayed exactly as ``source: replay``;
* ``L1``: top-of-book quotes with settlement labels (:mod:`services.backtest.l1`);
* ``trades``: price history and trades fetched by ``bot.py history fetch``
  (:mod:`services.backtest.trades_feed`): no book, conservative fills.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.backtest.memory import MemoryWriter
from services.clock import SimClock
from services.events import BookDelta, BookSnapshot, MarketEvent, TradePrint
from services.feed import Feed
from services.feeds import attach_data_gate, log_validation_failures, make_feed
from services.instruments import Instrument
from services.money import MICRO
from services.node import Node, build_node
from services.orderbook import BookStore
from services.persistence import Sink
from services.strategies.base import Strategy
from utils.backtest_config import LabelThresholds
from utils.config import AppConfig
from utils.errors import ConfigError

FIDELITY = {
    "L2": "L2: the bot's own recordings (exact books, every message replayed)",
    "L1": "L1: top-of-book quotes with settlement labels (depth at the touch assumed)",
    "trades": "trades / price history: no book; fills only where trades print through the "
    "order's price (conservative)",
}

Progress = Callable[[int, float], None]
"""Called with (events processed, event time) while a backtest runs."""


@dataclass(frozen=True)
class DataSource:
    """What to replay: its kind (``L2``, ``L1``, ``trades``) and path."""

    kind: str
    path: Path

    @property
    def fidelity(self) -> str:
        """Return the fidelity sentence of this kind of history."""
        return FIDELITY[self.kind]


def parse_source(spec: str) -> DataSource:
    """Return the source of ``--data``: ``l2:PATH``, ``l1:PATH``, ``trades:PATH`` or a bare
    path (a folder with ``labels.csv`` is L1, one with ``catalogue.json`` or Parquet files is
    trades history, anything else is an L2 recording).

    Raises
    ------
    ConfigError
        If the path does not exist or the prefix is unknown.
    """
    kind, sep, rest = spec.partition(":")
    if sep and kind.lower() in ("l1", "l2", "replay", "trades", "history"):
        path = Path(rest).expanduser()
        k = {"l1": "L1", "l2": "L2", "replay": "L2", "trades": "trades", "history": "trades"}
        out = DataSource(k[kind.lower()], path)
    else:
        path = Path(spec).expanduser()
        if (path / "labels.csv").is_file():
            out = DataSource("L1", path)
        elif path.is_dir() and (
            (path / "catalogue.json").is_file() or any(path.rglob("*.parquet"))
        ):
            out = DataSource("trades", path)
        else:
            out = DataSource("L2", path)
    if not out.path.exists():
        raise ConfigError("<command line>", "--data", f"{out.path} does not exist")
    return out


@dataclass
class BacktestResult:
    """Everything a report shows, as plain values (money in micro-units unless named _usd)."""

    source: DataSource
    start_ts: float | None
    end_ts: float | None
    first_event_ts: float | None
    last_event_ts: float | None
    events: int
    wall_s: float
    strategies: dict[str, dict[str, Any]]
    fills: list[dict[str, Any]]
    orders: dict[int, dict[str, Any]]
    settlements: list[dict[str, Any]]
    equity: dict[str, list[dict[str, Any]]]
    event_counts: dict[str, int]
    instruments: dict[str, dict[str, str]] = field(default_factory=dict)
    hourly_returns: dict[str, list[float]] = field(default_factory=dict)
    assumptions: dict[str, Any] = field(default_factory=dict)

    @property
    def events_per_s(self) -> float:
        """Return events processed per wall second."""
        return self.events / self.wall_s if self.wall_s > 0 else 0.0


def recommendation(m: dict[str, Any], t: LabelThresholds) -> str:
    """Return EXCELLENT / GOOD / MARGINAL / FAILED for one strategy's figures.

    ``m`` holds ``return_pct``, ``sharpe`` (None while too few returns), ``max_drawdown_pct`` and
    ``trades``. Without a Sharpe a strategy can be at most MARGINAL: no evidence, no grade.
    """
    ret = float(m.get("return_pct") or 0.0)
    dd = float(m.get("max_drawdown_pct") or 0.0)
    sharpe = m.get("sharpe")
    if int(m.get("trades") or 0) < t.min_trades or ret < 0:
        return "FAILED"
    if sharpe is not None:
        if (
            sharpe >= t.excellent_sharpe
            and ret >= t.excellent_return_pct
            and dd <= t.excellent_max_drawdown_pct
        ):
            return "EXCELLENT"
        if sharpe >= t.good_sharpe and ret >= t.good_return_pct and dd <= t.good_max_drawdown_pct:
            return "GOOD"
    return "MARGINAL"


class _Window:
    """Pass through the batches of a feed whose time is within ``[start, end)``.

    Before ``start`` the books are still kept current (applied straight to the node's book
    store, unseen by strategies and the matcher), so a recording's deltas after the window
    opens land on the right book; listings, tick changes, status changes and resolutions pass
    through as they happen.
    """

    def __init__(
        self, inner: Feed, start: float | None, end: float | None, books: BookStore
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.start, self.end = start, end
        self.books = books

    async def batches(self) -> AsyncIterator[list[MarketEvent]]:
        start, end = self.start, self.end
        async for batch in self.inner.batches():
            ts = batch[0].ts
            if end is not None and ts >= end:
                return
            if start is not None and ts < start:
                kept = [e for e in batch if self._warm(e)]
                if kept:
                    yield kept
                continue
            yield batch

    def _warm(self, ev: MarketEvent) -> bool:
        """Apply a pre-window book event to the store; return whether the engine needs it."""
        if isinstance(ev, BookSnapshot):
            self.books.apply_snapshot(ev)
            return False
        if isinstance(ev, BookDelta):
            book = self.books.get(ev.instrument_id)
            for side, price, size in ev.changes:
                book.set_level(side, price, size)
            book.ts = ev.ts
            return False
        return not isinstance(ev, TradePrint)

    async def close(self) -> None:
        await self.inner.close()

    def adopt(self, instruments: list[Instrument], mids: dict[str, int]) -> None:
        self.inner.adopt(instruments, mids)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _make_source_feed(
    cfg: AppConfig,
    source: DataSource,
    node: Node,
    start_ts: float | None,
    end_ts: float | None,
) -> tuple[Feed, dict[str, Any], float]:
    """Return the feed (with its data gate wired to the node), the assumptions and the start."""
    engine = node.engine
    if source.kind == "L2":
        md = cfg.market_data.model_copy(
            update={
                "source": "replay",
                "replay_paths": [str(source.path)],
                "speed": "max",
                # A backtest never records (a config made for a live session may say so).
                "record": False,
                "recorder": cfg.market_data.recorder.model_copy(update={"record": False}),
            }
        )
        run_cfg = cfg.model_copy(update={"market_data": md})
        bundle = make_feed(run_cfg, md.start_ts, engine.books, engine.clock, engine.instruments)
        node.data_guard.validator = bundle.validator
        feed: Feed = bundle.feed
        assumptions: dict[str, Any] = {
            "books": "exact, as recorded",
            "fees": "as recorded per market",
            "latency_ms": cfg.execution.latency_ms,
        }
        return feed, assumptions, md.start_ts
    if source.kind == "L1":
        from services.backtest.l1 import L1DataError, L1Feed, load_l1

        try:
            data = load_l1(source.path, start_ts, end_ts)
        except L1DataError as exc:
            raise ConfigError("<command line>", "--data", str(exc)) from exc
        if not data.quotes:
            raise ConfigError("<command line>", "--data", f"{source.path}: no quote in window")
        l1 = cfg.backtest.l1
        lf = L1Feed(data, l1, end_ts)
        feed, validator = attach_data_gate(
            lf, cfg.market_data.validation, engine.books, instruments=engine.instruments
        )
        node.data_guard.validator = validator
        assumptions = {
            "depth_at_touch_shares": str(l1.depth_shares),
            "fee_rate": str(l1.fee_rate),
            "tick": str(l1.tick),
            "no_token": "mirrors YES (NO bid = 1 - YES ask, NO ask = 1 - YES bid)",
            "settlement": "at the end of the window from labels.csv"
            if l1.settle_at_end
            else "none (positions marked to the last mid)",
            "quotes_skipped": data.skipped,
            "latency_ms": cfg.execution.latency_ms,
        }
        return feed, assumptions, data.quotes[0].ts
    from services.backtest.trades_feed import TradesFeed

    tf = TradesFeed.open(source.path, cfg.backtest.trades, start_ts, end_ts)
    feed, validator = attach_data_gate(
        tf, cfg.market_data.validation, engine.books, instruments=engine.instruments
    )
    node.data_guard.validator = validator
    return feed, tf.assumptions(), tf.first_ts


def run_backtest(
    cfg: AppConfig,
    strategies: list[Strategy],
    source: DataSource,
    *,
    start_ts: float | None = None,
    end_ts: float | None = None,
    progress: Progress | None = None,
) -> BacktestResult:
    """Run the strategies on the source through the bot's node and return the result.

    Parameters
    ----------
    cfg : AppConfig
        The configuration (risk, breakers, exits, capital, latency, ``backtest:`` assumptions).
    strategies : list[Strategy]
        Fresh strategy instances (they keep state).
    source : DataSource
        The history to replay.
    start_ts, end_ts : float | None
        Event-time window, epoch seconds (``end`` excluded); None: the whole source.
    progress : Progress | None
        Called about every 0.25 wall seconds with (events, event time).
    """
    writer = MemoryWriter()
    sink = Sink(writer)
    clock = SimClock(cfg.market_data.start_ts)
    extra, routes = None, None
    if source.kind == "trades":
        # No real book: every strategy trades on a paper client that fills only on prints.
        from services.execution.sim_client import SimulatedClient

        window = cfg.backtest.trades.fill_window_s

        def prints_only(books: Any, instruments: Any, c: AppConfig) -> SimulatedClient:
            return SimulatedClient(
                books,
                instruments,
                latency_s=c.execution.latency_ms / 1000.0,
                prints_only=True,
                print_window_s=window,
            )

        extra = {"trades": prints_only}
        routes = {s.name: "trades" for s in strategies}
    node = build_node(cfg, strategies, sink, clock=clock, extra_clients=extra, routes=routes)
    feed, assumptions, first_ts = _make_source_feed(cfg, source, node, start_ts, end_ts)
    if source.kind != "L2":
        clock.advance(first_ts)
    if source.kind == "L2" and (start_ts is not None or end_ts is not None):
        feed = _Window(feed, start_ts, end_ts, node.engine.books)
    node.engine.feed = feed
    t0 = time.perf_counter()
    asyncio.run(_drive(node, feed, progress))
    wall = time.perf_counter() - t0
    engine = node.engine
    if node.data_guard.validator is not None:
        log_validation_failures(node.data_guard.validator, node.bus)
    latest = {row.strategy: row for row in engine.tracker.latest}
    out: dict[str, dict[str, Any]] = {}
    for name, r in engine.runners.items():
        pf = r.portfolio
        row = latest.get(name)
        metrics = dict(row.metrics) if row is not None else {}
        figures = {
            "starting_capital_usd": pf.starting_cash / MICRO,
            "equity_usd": row.equity if row else pf.cash / MICRO,
            "return_pct": row.return_pct if row else 0.0,
            "realized_pnl": pf.realized_pnl,
            "fees": pf.fees,
            "cash": pf.cash,
            "equity": pf.cash + pf.market_value(engine.mark),
            "pnl": pf.cash + pf.market_value(engine.mark) - pf.starting_cash,
            "params": json.loads(r.strategy.params.model_dump_json()),
            "trades": pf.fill_count,
            "round_trips": pf.round_trips,
            "sharpe": row.sharpe if row else None,
            "max_drawdown_pct": row.max_drawdown_pct if row else 0.0,
            "score": row.score if row else 0.0,
            "status": str(r.status),
            "errors": r.errors,
            "metrics": metrics,
        }
        figures["label"] = recommendation(figures, cfg.backtest.labels)
        out[name] = figures
    return BacktestResult(
        source=source,
        start_ts=start_ts,
        end_ts=end_ts,
        first_event_ts=first_ts if engine.events_processed else None,
        last_event_ts=clock.now() if engine.events_processed else None,
        events=engine.events_processed,
        wall_s=wall,
        strategies=out,
        fills=writer.fills,
        orders=writer.orders,
        settlements=writer.settlements,
        equity={n: writer.equity_series(n) for n in engine.runners},
        event_counts=dict(writer.event_counts),
        instruments={
            iid: {"market_id": i.market_id, "outcome": i.outcome, "question": i.question}
            for iid, i in engine.instruments.items()
        },
        assumptions=assumptions,
        hourly_returns={n: list(st.hourly.returns) for n, st in engine.tracker.stats.items()},
    )


async def _drive(node: Node, feed: Feed, progress: Progress | None) -> None:
    """Start the node as the bot does, run the feed to its end, finish."""
    engine = node.engine
    engine.start()
    if node.safety is not None:
        node.safety.startup()
    task = None
    if progress is not None:
        task = asyncio.create_task(_report(node, progress), name="backtest-progress")
    try:
        await engine.run()
    finally:
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        engine.finish()
        if node.safety is not None:
            node.safety.finish()
        await feed.close()
    if progress is not None:
        progress(engine.events_processed, engine.clock.now())


async def _report(node: Node, progress: Progress) -> None:
    engine = node.engine
    while True:
        await asyncio.sleep(0.25)
        progress(engine.events_processed, engine.clock.now())


def source_span(
    source: DataSource, start_ts: float | None, end_ts: float | None
) -> tuple[float, float]:
    """Return (first, last) event time of the source within the window.

    Raises
    ------
    ConfigError
        If the window holds no data.
    """
    first: float | None = None
    last: float | None = None
    if source.kind == "L1":
        from services.backtest.l1 import L1DataError, load_l1

        try:
            data = load_l1(source.path, start_ts, end_ts)
        except L1DataError as exc:
            raise ConfigError("<command line>", "--data", str(exc)) from exc
        if data.quotes:
            first, last = data.quotes[0].ts, data.quotes[-1].ts
    elif source.kind == "L2":
        from services.markets.replay import ReplayFeed, ReplayFileError

        try:
            feed = ReplayFeed([source.path])
        except ReplayFileError as exc:
            raise ConfigError("<command line>", "--data", str(exc)) from exc
        for rec in feed.records():
            t = float(rec["t"])
            if (start_ts is not None and t < start_ts) or (end_ts is not None and t >= end_ts):
                continue
            first = t if first is None else first
            last = t
    else:
        from services.backtest.trades_feed import TradesFeed

        tf = TradesFeed.open(source.path, None, start_ts, end_ts)
        if tf.points:
            first, last = tf.first_ts, tf.last_ts
    if first is None or last is None:
        raise ConfigError("<command line>", "--data", f"{source.path}: no data in the window")
    return first, last
