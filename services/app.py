"""Wiring of one bot process: database, writer, feed, engine, terminal view, signals, shutdown."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.live import Live
from sqlalchemy.orm import Session, sessionmaker

from database.engine import make_engine, make_session_factory, migrate
from database.writer import DbWriter
from services.clock import LiveClock, SimClock
from services.config_watch import ConfigWatcher
from services.control import ControlLoop
from services.engine import Engine
from services.feeds import make_feed, watch_data
from services.persistence import Sink
from services.recovery import restore_node
from services.strategies.base import Strategy
from services.terminal import leaderboard_table
from utils.config import AppConfig

log = logging.getLogger("bot")


async def run_app(
    cfg: AppConfig, strategies: list[Strategy], *, quiet: bool, config_path: str
) -> int:
    """Run the bot until the feed ends or a signal arrives; return the exit code."""
    url = cfg.db_url()
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    migrate(url)
    db = make_engine(url)
    sessions = make_session_factory(db)
    writer = DbWriter(sessions)
    writer.start()
    sink = Sink(writer)
    md = cfg.market_data
    clock: SimClock | LiveClock = (
        SimClock(md.start_ts) if md.source in ("sim", "replay") else LiveClock()
    )
    node, rep = restore_node(cfg, strategies, sink, sessions, clock=clock)
    engine, bus, data_guard = node.engine, node.bus, node.data_guard
    assert node.safety is not None
    safety = node.safety
    start_ts = md.start_ts
    if rep.last_ts is not None and isinstance(clock, SimClock):
        start_ts = max(start_ts, rep.last_ts + 1.0)
        clock.advance(start_ts)
    bundle = make_feed(cfg, start_ts, engine.books, clock, engine.instruments)
    data_guard.validator = bundle.validator  # the source's data gate, whatever the source
    feed = bundle.feed
    if rep.carried_instruments:
        feed.adopt(rep.carried_instruments, rep.mids)
    engine.feed = feed
    if rep.resumed:
        sink.state("restored", _restored_summary(engine), start_ts)
    sink.state(
        "run",
        {"started_wall": time.time(), "resumed": rep.resumed, "config": config_path},
        start_ts,
    )
    log.info("Bot started: %d strategies, source %s, database %s.", len(strategies), md.source, url)

    loop = asyncio.get_running_loop()
    stop_signals = 0

    def on_signal(signame: str) -> None:
        nonlocal stop_signals
        stop_signals += 1
        log.warning("Received %s: stopping cleanly (flushing the database).", signame)
        engine.request_stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig.name)

    def on_kill_signal() -> None:
        log.critical("Received SIGUSR1: activating the kill switch.")
        safety.activate_kill_switch("SIGUSR1 received", "signal", created_wall=time.time())

    loop.add_signal_handler(signal.SIGUSR1, on_kill_signal)
    engine.start()
    safety.startup()
    control = ControlLoop(safety, sessions, writer.call)
    control.apply_pending_now()  # commands queued while the bot was down apply before trading
    watcher = ConfigWatcher(config_path, safety)
    watcher.baseline()

    def on_safety_task_done(task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        log.critical(
            "Task %s stopped on an error; halting trading.",
            task.get_name(),
            exc_info=task.exception(),
        )
        safety.activate_kill_switch(f"task {task.get_name()} failed", "bot")

    safety_tasks = [
        asyncio.create_task(control.run(), name="control"),
        asyncio.create_task(watcher.run(), name="config-watch"),
    ]
    for t in safety_tasks:
        t.add_done_callback(on_safety_task_done)
    side_tasks = _start_side_tasks(cfg, engine, sink, writer, sessions, config_path)
    side_tasks.append(
        asyncio.create_task(
            watch_data(bundle, data_guard, sink, bus, cfg, clock), name="feed-health"
        )
    )

    # Off a terminal (logs, pipes) rich would squeeze the table into 80 columns.
    console = Console(width=None if sys.stdout.isatty() else 140)
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
        for t in safety_tasks:
            t.cancel()
        await asyncio.gather(*safety_tasks, return_exceptions=True)
        for t in side_tasks:
            t.cancel()
        await asyncio.gather(*side_tasks, return_exceptions=True)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1):
            loop.remove_signal_handler(sig)
        try:
            engine.finish()
            safety.finish()
        except Exception:
            log.exception("Final snapshot failed.")
            exit_code = 1
        await feed.close()
        if bundle.recorder is not None:
            await bundle.recorder.aclose()
        sink.state("run", {"stopped_wall": time.time(), "clean": exit_code == 0}, clock.now())
        ok = await asyncio.to_thread(writer.flush, cfg.bot.shutdown_timeout_s)
        await asyncio.to_thread(writer.stop, cfg.bot.shutdown_timeout_s)
        db.dispose()
        if not ok:
            log.error("Some rows could not be written to the database; see errors above.")
            exit_code = exit_code or 1
        log.info(
            "Stopped after %d events; %d fills persisted (last fill id %d).",
            engine.events_processed,
            engine.fill_seq,
            writer.persisted_fill_id,
        )
    console.print(
        leaderboard_table(
            engine.tracker.latest, clock.now(), engine.events_processed, title="Final leaderboard"
        )
    )
    return exit_code


async def _terminal_view(engine: Engine, console: Console, cfg: AppConfig) -> None:
    refresh = cfg.competition.leaderboard_refresh_s
    with Live(console=console, refresh_per_second=max(1, int(1 / refresh)), transient=True) as live:
        while True:
            live.update(
                leaderboard_table(
                    engine.tracker.latest, engine.clock.now(), engine.events_processed
                )
            )
            await asyncio.sleep(refresh)


def _restored_summary(engine: Engine) -> dict[str, object]:
    """Per strategy: cash, positions and open orders as rebuilt at start (for audits and tests)."""
    out: dict[str, object] = {}
    for name, r in engine.runners.items():
        pf = r.portfolio
        out[name] = {
            "cash": pf.cash,
            "positions": {iid: p.qty for iid, p in sorted(pf.positions.items())},
            "open_orders": sorted(o.order_id for o in engine.open_orders(name, None)),
        }
    return out


# ---------------------------------------------------------------------------------------------
# Side tasks: per-strategy risk figures, alerts, dashboard child process (docs/DASHBOARD.md).
# The heartbeat the dashboard uses for "bot running" is written by the control loop.

STRATEGY_RISK_INTERVAL_S = 1.0
"""Wall seconds between checks of ``bot_state["strategy_risk"]`` (written only on change)."""


def _start_side_tasks(
    cfg: AppConfig,
    engine: Engine,
    sink: Sink,
    writer: DbWriter,
    sessions: sessionmaker[Session],
    config_path: str,
) -> list[asyncio.Task[None]]:
    """Start the named strategy-risk and alert tasks, and the dashboard supervisor if enabled."""
    from services.dashboard_process import DashboardSupervisor
    from services.monitors.alerts import AlertMonitor

    d = cfg.dashboard
    monitor = AlertMonitor(
        engine, sessions, writer, interval_s=d.alerts_interval_s, reload_s=d.alerts_reload_s
    )
    tasks = [
        asyncio.create_task(_strategy_risk_task(engine, sink), name="strategy-risk"),
        asyncio.create_task(monitor.run(), name="alerts"),
    ]
    if d.enabled:
        supervisor = DashboardSupervisor(cfg, config_path)
        tasks.append(asyncio.create_task(supervisor.run(), name="dashboard"))
    return tasks


async def _strategy_risk_task(engine: Engine, sink: Sink) -> None:
    """Write ``strategy_risk`` (consecutive losses, wins, losses, max drawdown %, errors per
    strategy) whenever it changes, for the dashboard's risk page."""
    last: dict[str, object] | None = None
    while True:
        risk = _strategy_risk(engine)
        if risk != last:
            sink.state("strategy_risk", risk, engine.clock.now())
            last = risk
        await asyncio.sleep(STRATEGY_RISK_INTERVAL_S)


def _strategy_risk(engine: Engine) -> dict[str, object]:
    latest = {row.strategy: row for row in engine.tracker.latest}
    out: dict[str, object] = {}
    for name, r in engine.runners.items():
        pf = r.portfolio
        row = latest.get(name)
        out[name] = {
            "consecutive_losses": pf.consecutive_losses,
            "wins": pf.wins,
            "losses": pf.losses,
            "max_drawdown_pct": round(row.max_drawdown_pct, 2) if row is not None else 0.0,
            "errors": r.errors,
        }
    return out
