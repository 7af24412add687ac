"""Shared fixtures: instruments, books, processes."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from services.instruments import FeeSchedule, Instrument

ROOT = Path(__file__).resolve().parent.parent

pytest_plugins = ["tests.pg"]  # the PostgreSQL server fixture of the dual-backend tests


def make_instrument(
    iid: str = "Y1",
    *,
    market_id: str = "M1",
    outcome: str = "Yes",
    complement_id: str | None = "N1",
    tick: int = 10_000,
    min_size: int = 5_000_000,
    fee_rate: str = "0",
    end_ts: float | None = None,
    event_id: str | None = None,
    category: str = "politics",
) -> Instrument:
    """Build a test instrument (defaults: 0.01 tick, 5-share minimum, fee-free)."""
    return Instrument(
        instrument_id=iid,
        venue="test",
        market_id=market_id,
        outcome=outcome,
        tick=tick,
        min_size=min_size,
        fees=FeeSchedule(Decimal(fee_rate), 1),
        end_ts=end_ts,
        complement_id=complement_id,
        event_id=event_id,
        category=category,
    )


def run_bot(
    *args: str, timeout: float = 240, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python bot.py`` as a user would and return the finished process."""
    e = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, str(ROOT / "bot.py"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=e,
        cwd=str(cwd or ROOT),
    )


@pytest.fixture
def tmp_db(tmp_path: Path) -> Path:
    """A path for a fresh SQLite database file."""
    return tmp_path / "bot.db"


def query(db: Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    """Run one read query on a (possibly busy) SQLite file and return all rows."""
    con = sqlite3.connect(db, timeout=10)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def wait_for(cond: Callable[[], Any], timeout: float, what: str, poll_s: float = 0.1) -> Any:
    """Poll ``cond`` until it returns something truthy (a locked or missing table counts as
    not yet); fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            v = cond()
        except sqlite3.OperationalError:
            v = None
        if v:
            return v
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def drive_per_event(eng: Any, cfg: Any, seconds: float, seed: int) -> None:
    """Start ``eng``, feed it ``seconds`` of the simulator event by event (``handle``) with its
    clock work after each batch, and finish it (what the clock-work tests observe)."""
    from services.markets.sim import SimFeed

    md = cfg.market_data
    eng.start()
    for batch in SimFeed(
        md.sim, seed=seed, start_ts=md.start_ts, duration_s=seconds
    ).iter_batches():
        for ev in batch:
            eng.handle(ev)
        eng.on_clock()
    eng.finish()
