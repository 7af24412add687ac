"""Wiring of one bot process: database, writer, feed, engine, terminal view, signals, shutdown."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.live import Live
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from database.control_inbox import inbox_for
from database.engine import make_engine, make_session_factory, migrate
from database.models import TABLES
from database.preflight import check_url, sqlite_path
from database.queries import get_state
from database.writer import DbWriter, StoreUnavailableError
from services.clock import LiveClock, SimClock
from services.config_watch import ConfigWatcher
from services.control import ControlLoop
from services.engine import Engine
from services.feeds import make_feed, watch_data
from services.lifecycle.backtest_evidence import BacktestSource
from services.lifecycle.manager import LifecycleManager
from services.lifecycle.twins import add_graduation_twins, stored_stages
from services.lifecycle.window import WindowSource
from services.ops.runtime import start_ops
from services.perf.heap import frozen_start
from services.persistence import Sink
from services.recovery import restore_node, restored_summary
from services.risk.store_guard import EXIT_STORE, StoreGuard
from services.strategies.base import Strategy
from services.terminal import Progress, leaderboard_table
from utils.config import AppConfig
from utils.errors import StoreError
from utils.redact import redact_secrets, redact_url

log = logging.getLogger("bot")


async def run_app(
    cfg: AppConfig, strategies: list[Strategy], *, quiet: bool, config_path: str
) -> int:
    """Run the bot until the feed ends or a signal arrives; return the exit code.

    Raises
    ------
    StoreError
        If the database cannot be used (not a database, corrupt, unwritable, locked, or a spool
        left by an earlier run cannot be written): nothing has started.
    """
    live = None
    if cfg.live.enabled:  # live Polymarket: keys and venue first, or nothing starts (exit 2)
        from services.markets.polymarket.live.runtime import add_twins, open_live

        live = await open_live(cfg, config_path)
        cfg, strategies = add_twins(cfg, strategies, config_path)
    betfair_live = None
    if cfg.market_data.betfair.live.enabled:  # live Betfair: login first, or nothing starts
        from services.markets.betfair.live_runtime import open_betfair_live

        betfair_live = await open_betfair_live(cfg, config_path)
    runtimes = [r for r in (live, betfair_live) if r is not None]
    url = cfg.db_url()
    db_file = sqlite_path(url)
    if db_file is not None and not db_file.is_dir():
        db_file.parent.mkdir(parents=True, exist_ok=True)
    # Another process's lock may be held for a moment (the dashboard, the CLI): wait three
    # busy timeouts before refusing to start.
    check_url(url, lock_wait_s=3 * cfg.bot.db_busy_timeout_ms / 1000)
    try:
        migrate(url)
    except SQLAlchemyError as exc:
        detail = exc.args[0] if exc.args else exc
        raise StoreError(
            f"cannot prepare the database {redact_url(url)}: {redact_secrets(str(detail))}"
        ) from exc
    db = make_engine(url, busy_timeout_ms=cfg.bot.db_busy_timeout_ms)
    sessions = make_session_factory(db)
    spool = _spool_path(cfg, db_file)
    writer = DbWriter(
        sessions,
        spool_path=spool,
        rejected_path=spool.with_name(spool.name.removesuffix(".spool") + ".rejected"),
        memory_rows=cfg.bot.writer_memory_rows,
        max_retries=1,  # a lock held through two busy timeouts is an outage: fail closed
    )
    try:
        writer.start()
    except StoreUnavailableError as exc:
        db.dispose()
        raise StoreError(
            f"{exc}. Make the database writable (free disk space, stop the process holding its "
            "lock, fix its permissions) and start again; the spool is kept until then."
        ) from exc
    sink = Sink(writer)
    if live is not None:  # standby paper twins of graduation candidates (docs/GRADUATION.md)
        cfg, strategies = add_graduation_twins(
            cfg, strategies, config_path, lambda: stored_stages(sessions)
        )
    md = cfg.market_data
    origin = md.start_ts
    if md.source == "replay":
        from services.markets.replay import first_timestamp

        first = first_timestamp(md.replay_paths)
        origin = first if first is not None else origin  # the recording's own time
    elif md.source == "betfair_replay":  # event time starts with the first recorded message
        from services.markets.betfair.replay import first_timestamp as betfair_first

        origin = betfair_first(md.betfair.replay_paths)
    clock: SimClock | LiveClock = (
        SimClock(origin) if md.source in ("sim", "replay", "betfair_replay") else LiveClock()
    )
    node, rep = restore_node(
        cfg,
        strategies,
        sink,
        sessions,
        clock=clock,
        extra_clients={k: v for r in runtimes for k, v in r.factories().items()} or None,
        routes={k: v for r in runtimes for k, v in r.routes().items()} or None,
    )
    engine, bus, data_guard = node.engine, node.bus, node.data_guard
    assert node.safety is not None
    safety = node.safety
    start_ts = origin
    if rep.last_ts is not None and isinstance(clock, SimClock):
        start_ts = max(start_ts, rep.last_ts + 1.0)
        clock.advance(start_ts)
    bundle = make_feed(cfg, start_ts, engine.books, clock, engine.instruments)
    data_guard.validator = bundle.validator  # the source's data gate, whatever the source
    feed = bundle.feed
    if rep.carried_instruments:
        feed.adopt(rep.carried_instruments, rep.mids)
    engine.feed = feed
    store_guard = StoreGuard(
        writer, sink, clock.now, cfg.bot.store_outage_max_s, str(writer.spool_path), bus=bus
    )
    if rep.resumed:
        sink.state("restored", restored_summary(engine), start_ts)
    sink.state(
        "run",
        {"started_wall": time.time(), "resumed": rep.resumed, "config": config_path},
        start_ts,
    )
    log.info(
        "Bot started: %d strategies, source %s, database %s.",
        len(strategies),
        md.source,
        redact_url(url),
    )

    loop = asyncio.get_running_loop()
    stop_signals = 0
    shutting_down = False

    def on_signal(signame: str) -> None:
        # The handler stays installed until the final flush is done: a second SIGINT/SIGTERM must
        # not abandon rows that are only in memory (SIGKILL still can; see docs/RELIABILITY.md).
        nonlocal stop_signals
        stop_signals += 1
        if stop_signals > 1 or shutting_down:
            log.warning(
                "Received %s again: already stopping; the final database flush finishes first "
                "(%d row(s) to write).",
                signame,
                writer.backlog(),
            )
            return
        log.warning("Received %s: stopping cleanly (flushing the database).", signame)
        engine.request_stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig.name)

    def on_kill_signal() -> None:
        log.critical("Received SIGUSR1: activating the kill switch.")
        safety.activate_kill_switch("SIGUSR1 received", "signal", created_wall=time.time())

    loop.add_signal_handler(signal.SIGUSR1, on_kill_signal)
    first_fill_id = engine.fill_seq
    with sessions() as session:  # strategies stored before this start keep their stage
        known = set(session.execute(select(TABLES["strategies"].c.name)).scalars())
    engine.start()
    safety.startup()
    lifecycle = LifecycleManager(engine, safety)
    lifecycle.backtests = BacktestSource(sessions)  # the backtest stage reads backtest_runs
    lifecycle.window = WindowSource(sessions)  # selection ranks on a trailing window
    with sessions() as session:
        lifecycle.attach(lambda key: get_state(session, key), known)
    control = ControlLoop(safety, sessions, writer.call, inbox=inbox_for(url))
    for name, handler in lifecycle.handlers().items():
        control.register(name, handler)
    control.apply_pending_now()  # commands queued while the bot was down apply before trading
    for r in runtimes:  # live Polymarket reconciles with the venue before the feed runs
        await r.start(node, sink, lifecycle)
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

    store_stop: list[str] = []

    def on_store_give_up(message: str) -> None:
        store_stop.append(message)
        engine.request_stop()

    safety_tasks = [
        asyncio.create_task(control.run(), name="control"),
        asyncio.create_task(watcher.run(), name="config-watch"),
        asyncio.create_task(store_guard.run(on_store_give_up), name="store-guard"),
    ]
    for t in safety_tasks:
        t.add_done_callback(on_safety_task_done)
    side_tasks = _start_side_tasks(cfg, engine, sink, writer, sessions, config_path)
    side_tasks.append(
        asyncio.create_task(
            watch_data(bundle, data_guard, sink, bus, cfg, clock), name="feed-health"
        )
    )
    ops = start_ops(cfg, engine, bus, safety, writer)  # notifications, metrics, retention
    side_tasks.extend(ops.tasks)

    # Off a terminal (logs, pipes) rich would squeeze the table into 80 columns.
    console = Console(width=None if sys.stdout.isatty() else 140)
    # Everything start-up built lives until exit: out of the collector's full scans (issue 18).
    frozen = frozen_start()
    log.debug("Froze %d start-up objects out of the garbage collector's scans.", frozen)
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
        shutting_down = True
        if view_task is not None:
            view_task.cancel()
            await asyncio.gather(view_task, return_exceptions=True)
        for t in safety_tasks:
            t.cancel()
        await asyncio.gather(*safety_tasks, return_exceptions=True)
        for t in side_tasks:
            t.cancel()
        await asyncio.gather(*side_tasks, return_exceptions=True)
        ops.close()
        try:
            engine.finish()
            safety.finish()
            lifecycle.finish()
            # The risk page's figures as the run ends: the side task samples them once a wall
            # second, so its last row could miss the final bets (and differ between two runs
            # of the same events).
            sink.state("strategy_risk", _strategy_risk(engine), clock.now())
        except Exception:
            log.exception("Final snapshot failed.")
            exit_code = 1
        await feed.close()
        for r in runtimes:
            await r.stop()
        if bundle.recorder is not None:
            await bundle.recorder.aclose()
        if store_stop:
            exit_code = EXIT_STORE
        exit_code = await _final_flush(cfg, writer, sink, clock.now, exit_code)
        # Everything is written; a late signal must not turn a clean exit into a traceback or a
        # kill in the last moments of teardown.
        ignore_signals(loop, (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1))
        db.dispose()
        st = writer.stats
        log.info(
            "Stopped after %d events and %d fills (engine fill id %d): %d row(s) committed this "
            "run (%d fills, %d settlements, "
            "%d order updates; last committed fill id %d); %d row(s) spooled during outages, "
            "%d left in the spool, %d unsaved, %d rejected.",
            engine.events_processed,
            engine.fill_seq - first_fill_id,
            engine.fill_seq,
            st.rows_written,
            st.committed_fills,
            st.committed_settlements,
            st.committed_orders,
            writer.persisted_fill_id,
            st.spooled_total,
            st.spooled_rows,
            st.unsaved_rows,
            st.dropped_rows,
        )
        if store_stop:
            left = (
                f"{st.spooled_rows} row(s) wait in the spool {writer.spool_path} for the next start"
                if st.spooled_rows
                else "every row was committed before the exit"
            )
            if st.unsaved_rows:
                left += f"; {st.unsaved_rows} row(s) could not be saved anywhere"
            print(f"Database error: {store_stop[0]} ({left}.)", file=sys.stderr)
    console.print(
        leaderboard_table(
            engine.tracker.latest,
            clock.now(),
            engine.events_processed,
            title="Final leaderboard",
            money=_money(cfg),
        )
    )
    return exit_code


def _spool_path(cfg: AppConfig, db_file: Path | None) -> Path:
    """Return where the writer spools rows the store could not take (``bot.spool_path``)."""
    if cfg.bot.spool_path:
        return Path(cfg.bot.spool_path).expanduser()
    if db_file is not None:
        return db_file.with_name(db_file.name + ".spool")
    return Path("data/bot.spool")


def ignore_signals(loop: asyncio.AbstractEventLoop, signals: tuple[signal.Signals, ...]) -> None:
    """Ignore ``signals`` from now on, without a moment in which their default action applies.

    ``loop.remove_signal_handler`` restores the default handler (``KeyboardInterrupt`` for
    SIGINT, termination for SIGTERM and SIGUSR1): an impatient operator's Ctrl-C between it and
    ``SIG_IGN`` raised a traceback after the final flush. So the signals are ignored first, then
    the loop forgets its handlers without restoring anything (its table is private to asyncio:
    another loop implementation gets ``remove_signal_handler`` and then ``SIG_IGN``).
    """
    table = getattr(loop, "_signal_handlers", None)
    for sig in signals:
        signal.signal(sig, signal.SIG_IGN)
    if not isinstance(table, dict):
        for sig in signals:
            loop.remove_signal_handler(sig)
            signal.signal(sig, signal.SIG_IGN)
        return
    for sig in signals:
        table.pop(sig, None)
    if not table:
        try:
            signal.set_wakeup_fd(-1)
        except (ValueError, OSError):  # not the main thread: asyncio logs and goes on too
            log.info("Could not reset the signal wake-up descriptor.")


async def _final_flush(
    cfg: AppConfig, writer: DbWriter, sink: Sink, now: Callable[[], float], exit_code: int
) -> int:
    """Commit everything, then record the run as clean only if everything was committed.

    During an outage the rows go to the spool at the stop. If the spool cannot be written either
    (a full disk), the bot does not exit while rows exist only in its memory: it says so every
    two seconds until the database or the spool takes them (SIGKILL abandons them).
    """
    timeout = cfg.bot.shutdown_timeout_s
    if not writer.healthy:
        timeout = min(timeout, 2.0)  # the store is failing: do not hang; rows go to the spool
    ok = await asyncio.to_thread(writer.flush, timeout)
    clean = ok and exit_code == 0
    sink.state("run", {"stopped_wall": time.time(), "clean": clean}, now())
    ok = await asyncio.to_thread(writer.flush, timeout) and ok
    while not writer.healthy and writer.spool_failing and writer.backlog() > 0:
        log.critical(
            "%d row(s) exist only in memory: the database (%s) and the spool %s cannot be "
            "written. The bot stopped trading and waits to save them before it exits: free disk "
            "space or fix permissions. SIGKILL would lose them.",
            writer.backlog(),
            writer.last_store_error,
            writer.spool_path,
        )
        ok = await asyncio.to_thread(writer.flush, 2.0) and ok
    await asyncio.to_thread(writer.stop, cfg.bot.shutdown_timeout_s)
    if not ok:
        st = writer.stats
        log.error(
            "Not every row reached the database: %d in the spool %s (written at the next start), "
            "%d unsaved, %d rejected; the run is not recorded as clean.",
            st.spooled_rows,
            writer.spool_path,
            st.unsaved_rows,
            st.dropped_rows,
        )
        exit_code = exit_code or 1
    return exit_code


def _money(cfg: AppConfig) -> str:
    """The leaderboard's money unit: the strategies' currency symbol (GBP on Betfair: £)."""
    from services.terminal import money_label

    return money_label({e.currency for e in cfg.strategies if e.enabled})


async def _terminal_view(engine: Engine, console: Console, cfg: AppConfig) -> None:
    refresh = cfg.competition.leaderboard_refresh_s
    progress = Progress(engine.clock.now(), cfg.market_data.duration_s, time.monotonic)
    with Live(console=console, refresh_per_second=max(1, int(1 / refresh)), transient=True) as live:
        while True:
            now = engine.clock.now()
            live.update(
                leaderboard_table(
                    engine.tracker.latest,
                    now,
                    engine.events_processed,
                    progress=progress.text(now),
                    money=_money(cfg),
                )
            )
            await asyncio.sleep(refresh)


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
        engine,
        sessions,
        writer,
        interval_s=d.alerts_interval_s,
        reload_s=d.alerts_reload_s,
        bus=engine.bus,
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
