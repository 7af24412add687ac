"""Benchmark the database writer on a temporary SQLite file (WAL) and on PostgreSQL; print rows/s.

Run from the repository root::

    python benchmarks/bench_db.py            # 100k operations per scenario, SQLite
    python benchmarks/bench_db.py --ops 20000
    # also PostgreSQL: an admin URL on which the benchmark may create and drop databases
    python benchmarks/bench_db.py --pg-url postgresql+psycopg://bot:PASSWORD@127.0.0.1:5432/postgres

Scenarios
---------
fills-only
    Plain inserts into ``fills`` (after their orders exist).
engine-mix
    What the engine emits while trading: per order one order upsert, three fills, an order
    update, a position upsert; plus a snapshot every 50 operations and an event every 100.

Each scenario is measured twice: *end to end* (the producer submits while the writer commits;
time from the first submission until ``flush()`` returns) and *drain* (everything queued before
the writer starts; the writer's own throughput).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, make_url  # noqa: E402

from database.engine import (  # noqa: E402
    db_url_from_path,
    make_engine,
    make_session_factory,
    migrate,
)
from database.writer import DbWriter  # noqa: E402

Submit = Callable[[DbWriter, int], int]


def _strategy(w: DbWriter) -> None:
    w.upsert(
        "strategies",
        {
            "name": "bench",
            "class_path": "bench.Strategy",
            "kind": "market_making",
            "starting_capital": 10_000_000_000,
            "created_ts": 0.0,
            "updated_ts": 0.0,
        },
    )


def _order(oid: int, ts: float, status: str = "open", filled: int = 0) -> dict[str, object]:
    return {
        "id": oid,
        "strategy": "bench",
        "instrument_id": f"tok-{oid % 40}",
        "side": "BUY" if oid % 2 else "SELL",
        "order_type": "limit",
        "tif": "GTC",
        "post_only": True,
        "price": 530_000,
        "size": 30_000_000,
        "filled": filled,
        "fees": 0,
        "status": status,
        "reason": "bench quote",
        "created_ts": ts,
        "updated_ts": ts,
    }


def _fill(fid: int, oid: int, ts: float) -> dict[str, object]:
    return {
        "id": fid,
        "order_id": oid,
        "strategy": "bench",
        "instrument_id": f"tok-{oid % 40}",
        "side": "BUY",
        "price": 530_000,
        "size": 10_000_000,
        "fee": 0,
        "liquidity": "maker",
        "ts": ts,
    }


def submit_fills_only(w: DbWriter, n: int) -> int:
    """Submit ``n`` fill inserts (orders created first); return operations submitted."""
    _strategy(w)
    orders = max(1, n // 100)
    for oid in range(1, orders + 1):
        w.upsert("orders", _order(oid, float(oid)))
    for fid in range(1, n + 1):
        w.insert("fills", _fill(fid, 1 + fid % orders, float(fid)))
    return n + orders + 1


def submit_engine_mix(w: DbWriter, n: int) -> int:
    """Submit about ``n`` operations shaped like the engine's output; return the count."""
    _strategy(w)
    ops = 1
    oid = fid = 0
    while ops < n:
        oid += 1
        ts = float(oid)
        w.upsert("orders", _order(oid, ts))
        for _ in range(3):
            fid += 1
            w.insert("fills", _fill(fid, oid, ts))
        w.upsert("orders", _order(oid, ts, status="filled", filled=30_000_000))
        w.upsert(
            "positions",
            {
                "strategy": "bench",
                "instrument_id": f"tok-{oid % 40}",
                "qty": oid * 1_000_000,
                "cost_basis": oid * 530_000,
                "opened_ts": 0.0,
                "updated_ts": ts,
            },
        )
        ops += 6
        if oid % 8 == 0:
            w.insert(
                "performance_snapshots",
                {
                    "strategy": "bench",
                    "ts": ts,
                    "equity": 10_000_000_000,
                    "cash": 9_000_000_000,
                    "realized_pnl": 0,
                    "unrealized_pnl": 0,
                    "fees": 0,
                    "exposure": 1_000_000_000,
                    "equity_liquidation": 9_990_000_000,
                    "return_pct": 0.0,
                    "drawdown_pct": 0.0,
                    "status": "active",
                },
            )
            ops += 1
        if oid % 16 == 0:
            w.insert(
                "events",
                {
                    "ts": ts,
                    "kind": "risk_rejection",
                    "severity": "warning",
                    "strategy": "bench",
                    "message": "Order rejected: exposure above the limit.",
                    "value": "1200.00",
                    "limit_value": "1000.00",
                },
            )
            ops += 1
    return ops


@contextlib.contextmanager
def _fresh_db(pg_admin_url: str | None) -> Iterator[str]:
    if pg_admin_url is None:
        with tempfile.TemporaryDirectory(prefix="bench_db_") as tmp:
            yield db_url_from_path(Path(tmp) / "bench.db")
        return
    name = f"bench_db_{os.getpid()}"
    admin = create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(pg_admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def run(
    name: str, submit: Submit, n: int, *, drain: bool, pg_admin_url: str | None = None
) -> float:
    """Run one scenario on a fresh database; print and return operations per second."""
    with _fresh_db(pg_admin_url) as url:
        migrate(url)
        engine = make_engine(url)
        writer = DbWriter(make_session_factory(engine))
        try:
            if drain:
                count = submit(writer, n)
                t0 = time.perf_counter()
                writer.start()
            else:
                writer.start()
                t0 = time.perf_counter()
                count = submit(writer, n)
            ok = writer.flush(timeout=600.0)
            elapsed = time.perf_counter() - t0
            stats = writer.stats
        finally:
            writer.stop()
            engine.dispose()
    rate = count / elapsed
    mode = "drain" if drain else "end-to-end"
    backend = "postgresql" if pg_admin_url else "sqlite"
    print(
        f"{backend:<10} {name:<11} {mode:<10} {count:>8} ops in {elapsed:6.2f} s = {rate:>9,.0f} rows/s "
        f"(batches={stats.batches}, max batch={stats.max_batch_size}, "
        f"max batch latency={stats.max_batch_latency_s:.2f} s, ok={ok})"
    )
    return rate


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the scenarios and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=100_000, help="operations per scenario")
    parser.add_argument(
        "--pg-url",
        help="also run on PostgreSQL: admin URL of a server where databases may be created",
    )
    args = parser.parse_args(argv)
    backends: list[str | None] = [None] + ([args.pg_url] if args.pg_url else [])
    print(f"Database writer benchmark, {args.ops} operations per scenario")
    for pg in backends:
        for name, submit in (("fills-only", submit_fills_only), ("engine-mix", submit_engine_mix)):
            run(name, submit, args.ops, drain=False, pg_admin_url=pg)
            run(name, submit, args.ops, drain=True, pg_admin_url=pg)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
