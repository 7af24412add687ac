"""Benchmark the dashboard on a busy database and print p50/p99 latencies.

Run from the repository root::

    python benchmarks/bench_dashboard.py                 # 10 strategies, 30 days, 200 requests
    python benchmarks/bench_dashboard.py --requests 500 --strategies 20

What it does
------------
1. Builds a temporary SQLite database as the bot leaves it after 30 days with the default
   retention: per strategy one hourly snapshot row per hour for 30 days and one fine row every
   10 s for the last 72 h (``competition.fine_retention_h``); plus orders, fills, positions,
   instruments, market tops, events and ``bot_state``.
2. Starts ``start_dashboard.py`` on it (the real gevent server) on a free loopback port.
3. Sends ``--requests`` sequential GET requests to each page / API endpoint and prints the p50
   and p99 latency (client side, through HTTP on 127.0.0.1).
4. Connects a Socket.IO client (websocket), writes a new snapshot row ``--updates`` times at
   random moments and prints the time from the row's commit to the ``update`` event that
   carries it (the browser's fragment re-fetch adds one leaderboard request on top).

Targets (issue #5): p99 < 100 ms, updates < 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert  # noqa: E402

from database.engine import db_url_from_path, make_engine, make_session_factory, migrate  # noqa: E402
from database.models import TABLES  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
M = 1_000_000
T_END = 1_769_817_600.0  # 2026-01-31 00:00 UTC (event time of the newest snapshot)
TOKEN = "bench-token-0123456789abcdef"

ENDPOINTS = [
    "/",
    "/?fragment=leaderboard",
    "/strategy/s00",
    "/compare?s=s00&s=s01&s=s02",
    "/positions",
    "/risk",
    "/api/leaderboard",
    "/api/summary",
    "/api/performance?hours=24",
    "/api/performance?hours=720",
    "/api/strategies/s00/performance?hours=72",
    "/api/positions",
    "/api/orders",
    "/api/fills",
    "/api/events",
    "/api/risk",
    "/api/health",
]


def build(path: Path, n_strategies: int, days: int, orders_per_strategy: int) -> dict[str, int]:
    """Create and fill the database; return row counts."""
    url = db_url_from_path(path)
    migrate(url)
    eng = make_engine(url)
    sessions = make_session_factory(eng)
    rnd = random.Random(7)
    names = [f"s{i:02d}" for i in range(n_strategies)]
    counts: dict[str, int] = {}
    with sessions.begin() as s:
        s.execute(
            insert(TABLES["strategies"]),
            [
                {
                    "name": n,
                    "class_path": "x:Y",
                    "params_json": "{}",
                    "kind": "market_making",
                    "stage": "paper",
                    "status": "active",
                    "starting_capital": 10_000 * M,
                    "created_ts": T_END - days * 86400,
                    "updated_ts": T_END - days * 86400,
                }
                for n in names
            ],
        )
        iids = [f"tok{i:03d}" for i in range(200)]
        s.execute(
            insert(TABLES["instruments"]),
            [
                {
                    "instrument_id": i,
                    "venue": "sim",
                    "market_id": f"m{k // 2}",
                    "outcome": "Yes",
                    "question": f"Will event {k // 2} happen?",
                    "tick": 10_000,
                    "min_size": 5 * M,
                    "listed_ts": T_END - 3600,
                }
                for k, i in enumerate(iids)
            ],
        )
        s.execute(
            insert(TABLES["market_tops"]),
            [
                {
                    "instrument_id": i,
                    "best_bid": 490_000,
                    "best_ask": 510_000,
                    "mid": 500_000,
                    "updated_ts": T_END,
                }
                for i in iids
            ],
        )
    snaps = 0
    fine_from = T_END - 72 * 3600
    for k, n in enumerate(names):
        rows = []
        eq = 10_000.0
        ts = T_END - days * 86400
        while ts <= T_END:
            eq *= 1 + rnd.gauss(0.00001 * (k - n_strategies / 2), 0.0005)
            rows.append(_snap(n, ts, eq, "hourly"))
            ts += 3600
        ts = fine_from
        while ts <= T_END:
            eq *= 1 + rnd.gauss(0.0, 0.00005)
            rows.append(_snap(n, ts, eq, "fine"))
            ts += 10
        with sessions.begin() as s:
            s.execute(insert(TABLES["performance_snapshots"]), rows)
        snaps += len(rows)
    counts["performance_snapshots"] = snaps
    oid = fid = 0
    orders, fills, positions, events = [], [], [], []
    for n in names:
        for _ in range(orders_per_strategy):
            oid += 1
            filled = rnd.random() < 0.4
            ts = T_END - rnd.random() * 72 * 3600
            iid = rnd.choice(iids)
            orders.append(
                {
                    "id": oid,
                    "strategy": n,
                    "instrument_id": iid,
                    "side": rnd.choice(("BUY", "SELL")),
                    "order_type": "limit",
                    "tif": "GTC",
                    "price": 500_000,
                    "size": 10 * M,
                    "filled": 10 * M if filled else 0,
                    "fees": 0,
                    "status": "filled"
                    if filled
                    else rnd.choice(("cancelled", "cancelled", "open")),
                    "reason": "quote one tick inside the spread",
                    "liquidity": "maker",
                    "created_ts": ts,
                    "updated_ts": ts,
                }
            )
            if filled:
                fid += 1
                fills.append(
                    {
                        "id": fid,
                        "order_id": oid,
                        "strategy": n,
                        "instrument_id": iid,
                        "side": "BUY",
                        "price": 500_000,
                        "size": 10 * M,
                        "fee": 0,
                        "liquidity": "maker",
                        "ts": ts,
                    }
                )
        for iid in rnd.sample(iids, 20):
            positions.append(
                {
                    "strategy": n,
                    "instrument_id": iid,
                    "qty": 50 * M,
                    "cost_basis": 24 * M,
                    "opened_ts": T_END - 3600,
                    "updated_ts": T_END,
                }
            )
        for _ in range(500):
            events.append(
                {
                    "ts": T_END - rnd.random() * 86400,
                    "kind": "risk_rejection",
                    "severity": "warning",
                    "strategy": n,
                    "message": "limit hit",
                }
            )
    with sessions.begin() as s:
        s.execute(insert(TABLES["orders"]), orders)
        s.execute(insert(TABLES["fills"]), fills)
        s.execute(insert(TABLES["positions"]), positions)
        s.execute(insert(TABLES["events"]), events)
        state = {
            "engine": {"event_ts": T_END, "events_processed": 10**8, "live_instruments": 200},
            "kill_switch": {"state": "ACTIVE", "active": False},
            "heartbeat": {"wall_ts": time.time(), "pid": os.getpid()},
            # Written by the bot whenever it changes (services/app.py).
            "strategy_risk": {
                n: {
                    "consecutive_losses": 1,
                    "wins": 10,
                    "losses": 5,
                    "max_drawdown_pct": 2.5,
                    "errors": 0,
                }
                for n in names
            },
        }
        s.execute(
            insert(TABLES["bot_state"]),
            [
                {"key": k, "value_json": json.dumps(v), "updated_ts": T_END}
                for k, v in state.items()
            ],
        )
    counts.update(
        orders=len(orders), fills=len(fills), positions=len(positions), events=len(events)
    )
    eng.dispose()
    return counts


def _snap(name: str, ts: float, eq: float, gran: str) -> dict[str, Any]:
    e = int(eq * M)
    return {
        "strategy": name,
        "ts": ts,
        "granularity": gran,
        "equity": e,
        "cash": e,
        "realized_pnl": e - 10_000 * M,
        "unrealized_pnl": 0,
        "fees": 0,
        "exposure": 0,
        "equity_liquidation": e,
        "return_pct": (eq / 10_000 - 1) * 100,
        "drawdown_pct": 0.5,
        "sharpe": 1.0,
        "win_rate": 0.5,
        "trades": 100,
        "round_trips": 40,
        "score": 50.0 + (eq - 10_000) / 100,
        "rank": 0,
        "status": "MARGINAL",
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(db: Path, port: int, workdir: Path) -> subprocess.Popen[bytes]:
    cfg = workdir / "config.yaml"
    cfg.write_text(f"dashboard:\n  port: {port}\n  token_file: {workdir / 'token'}\n")
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "start_dashboard.py"),
            "--config",
            str(cfg),
            "--db",
            str(db),
            "--log-level",
            "WARNING",
        ],
        env={**os.environ, "DASHBOARD_TOKEN": TOKEN},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the dashboard did not start")


def pct(values: list[float], q: float) -> float:
    """Return the q-quantile (0..1) of ``values`` (nearest rank)."""
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def bench_http(port: int, n: int) -> list[tuple[str, float, float, int]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    out = []
    for path in ENDPOINTS:
        times = []
        size = 0
        for i in range(n + 5):
            t0 = time.perf_counter()
            conn.request("GET", path)
            resp = conn.getresponse()
            body = resp.read()
            dt = time.perf_counter() - t0
            if resp.status != 200:
                raise SystemExit(f"{path}: HTTP {resp.status}: {body[:200]!r}")
            if i >= 5:  # warm-up: template compilation, first cache fill
                times.append(dt * 1000)
            size = len(body)
        out.append((path, pct(times, 0.5), pct(times, 0.99), size))
    return out


async def bench_updates(db: Path, port: int, n: int) -> list[float]:
    import socketio

    url = db_url_from_path(db)
    eng = make_engine(url)
    sessions = make_session_factory(eng)
    client = socketio.AsyncClient()
    got: asyncio.Queue[float] = asyncio.Queue()

    @client.on("update")
    async def on_update(payload: dict[str, Any]) -> None:
        if "leaderboard" in payload.get("topics", []):
            await got.put(time.perf_counter())

    await client.connect(f"http://127.0.0.1:{port}", transports=["websocket"])
    await asyncio.sleep(2.5)  # let the first full update pass
    while not got.empty():
        got.get_nowait()
    rnd = random.Random(3)
    lat = []
    ts = T_END
    for _ in range(n):
        await asyncio.sleep(rnd.uniform(0.2, 1.3))
        ts += 10
        with sessions.begin() as s:
            s.execute(insert(TABLES["performance_snapshots"]), [_snap("s00", ts, 10_500.0, "fine")])
        t0 = time.perf_counter()
        t1 = await asyncio.wait_for(got.get(), 10)
        lat.append((t1 - t0) * 1000)
    await client.disconnect()
    eng.dispose()
    return lat


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--strategies", type=int, default=10)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--orders", type=int, default=5000, help="orders per strategy")
    p.add_argument("--requests", type=int, default=200, help="requests per endpoint")
    p.add_argument("--updates", type=int, default=20, help="snapshot writes to time")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        db = work / "bot.db"
        t0 = time.perf_counter()
        counts = build(db, args.strategies, args.days, args.orders)
        size_mb = db.stat().st_size / 1e6
        print(f"database: {counts} ({size_mb:.0f} MB, built in {time.perf_counter() - t0:.1f} s)")
        port = _free_port()
        proc = start_server(db, port, work)
        try:
            print(f"\n{'endpoint':45s} {'p50 ms':>8s} {'p99 ms':>8s} {'bytes':>9s}")
            worst = 0.0
            for path, p50, p99, size in bench_http(port, args.requests):
                worst = max(worst, p99)
                print(f"{path:45s} {p50:8.1f} {p99:8.1f} {size:9d}")
            lat = asyncio.run(bench_updates(db, port, args.updates))
            print(
                f"\nsnapshot write -> socket 'update' received ({len(lat)} samples): "
                f"p50 {statistics.median(lat):.0f} ms, p99 {pct(lat, 0.99):.0f} ms, "
                f"max {max(lat):.0f} ms"
            )
            print(f"worst p99 over all endpoints: {worst:.1f} ms (target < 100 ms)")
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
