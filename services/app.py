"""Wiring of one bot process: database, writer, feed, engine, terminal view, signals, shutdown."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from pathlib import Path

from rich.console import Console
from rich.live import Live

from database.engine import make_engine, make_session_factory, migrate
from database.writer import DbWriter
from services.clock import LiveClock, SimClock
from services.engine import Engine
from services.markets.base import Feed
from services.persistence import Sink
from services.recovery import restore
from services.strategies.base import Strategy
from utils.config import AppConfig
from utils.terminal import leaderboard_table

log = logging.getLogger("bot")


def make_feed(cfg: AppConfig, start_ts: float) -> Feed:
    """Build the configured market-data source."""
    md = cfg.market_data
    speed = None if md.speed == "max" else float(md.speed)
    if md.source == "sim":
        from services.markets.sim import SimFeed

        return SimFeed(md.sim, seed=md.seed, start_ts=start_ts, speed=speed, duration_s=md.duration_s)
    raise NotImplementedError(f"market_data.source {md.source!r} is not wired yet")


async def run_app(cfg: AppConfig, strategies: list[Strategy], *, quiet: bool, config_path: str) -> int:
    """Run the bot until the feed ends or a signal arrives; return the exit code."""
    url = cfg.db_url()
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    migrate(url)
    db = make_engine(url)
    sessions = make_session_factory(db)
    writer = DbWriter(sessions)
    writer.start()
    sink = Sink(writer)
    md = cfg.market_data
    clock: SimClock | LiveClock = SimClock(md.start_ts) if md.source in ("sim", "replay") else LiveClock()
    engine = Engine(cfg, clock, None, strategies, sink)
    rep = restore(engine, sessions)
    start_ts = md.start_ts
    if rep.last_ts is not None and isinstance(clock, SimClock):
        start_ts = max(start_ts, rep.last_ts + 1.0)
        clock.advance(start_ts)
    feed = make_feed(cfg, start_ts)
    if rep.carried_instruments:
        feed.adopt(rep.carried_instruments, rep.mids)
    engine.feed = feed
    if rep.resumed:
        sink.state("restored", _restored_summary(engine), start_ts)
    sink.state("run", {"started_wall": time.time(), "resumed": rep.resumed, "config": config_path}, start_ts)
    log.info(
        "Bot started: %d strategies, source %s, database %s.", len(strategies), md.source, url
    )

    loop = asyncio.get_running_loop()
    stop_signals = 0

    def on_signal(signame: str) -> None:
        nonlocal stop_signals
        stop_signals += 1
        log.warning("Received %s: stopping cleanly (flushing the database).", signame)
        engine.request_stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig.name)

    console = Console()
    engine_task = asyncio.create_task(engine.run(), name="engine")
    view_task = None
    if not quiet:
        view_task = asyncio.create_task(_terminal_view(engine, console, cfg), name="terminal-view")
    exit_code = 0
    try:
        await engine_task
    except Exception:
        log.exception("The engine stopped on an unexpected error; trading halted.")
        exit_code = 1
    finally:
        if view_task is not None:
            view_task.cancel()
            await asyncio.gather(view_task, return_exceptions=True)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        try:
            engine.finish()
        except Exception:
            log.exception("Final snapshot failed.")
            exit_code = 1
        await feed.close()
        sink.state("run", {"stopped_wall": time.time(), "clean": exit_code == 0}, clock.now())
        ok = await asyncio.to_thread(writer.flush, cfg.bot.shutdown_timeout_s)
        await asyncio.to_thread(writer.stop, cfg.bot.shutdown_timeout_s)
        db.dispose()
        if not ok:
            log.error("Some rows could not be written to the database; see errors above.")
            exit_code = exit_code or 1
        log.info(
            "Stopped after %d events; %d fills persisted (last fill id %d).",
            engine.events_processed, engine.fill_seq, writer.persisted_fill_id,
        )
    console.print(leaderboard_table(engine.tracker.latest, clock.now(), engine.events_processed,
                                     title="Final leaderboard"))
    return exit_code


async def _terminal_view(engine: Engine, console: Console, cfg: AppConfig) -> None:
    refresh = cfg.competition.leaderboard_refresh_s
    with Live(console=console, refresh_per_second=max(1, int(1 / refresh)), transient=True) as live:
        while True:
            live.update(leaderboard_table(engine.tracker.latest, engine.clock.now(), engine.events_processed))
            await asyncio.sleep(refresh)


def _restored_summary(engine: Engine) -> dict[str, object]:
    """Per strategy: cash, positions and open orders as rebuilt at start (for audits and tests)."""
    out: dict[str, object] = {}
    for name, r in engine.runners.items():
        pf = r.portfolio
        out[name] = {
            "cash": pf.cash,
            "positions": {iid: p.qty for iid, p in sorted(pf.positions.items())},
            "open_orders": sorted(o.order_id for o in engine.exchange.open_orders(name)),
        }
    return out
