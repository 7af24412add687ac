"""``python bot.py history fetch|list|show`` (docs/BACKTESTING.md, "Historical data")."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from pathlib import Path
from typing import Any

from services.backtest.cli import EXIT_CONFIG, load, parse_time
from utils.errors import ConfigError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bot.py history", description="Fetch and inspect history.")
    p.add_argument("--config", help="config file (default: config.yaml, else config.example.yaml)")
    p.add_argument("--db", help="SQLite database file holding the catalogue (bot.db_path)")
    p.add_argument("--dir", help="history folder (backtest.history_dir)")
    # The same options are accepted after the command too (`history list --db PATH`).
    common = argparse.ArgumentParser(add_help=False)
    for flag in ("--config", "--db", "--dir"):
        common.add_argument(flag, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser(
        "fetch", parents=[common], help="fetch markets' price history and trades (incremental)"
    )
    f.add_argument("--market", action="append", default=[], help="Gamma market id (repeat)")
    f.add_argument("--closed", action="store_true", help="list closed (resolved) markets")
    f.add_argument("--limit", type=int, default=20, help="markets listed without --market")
    f.add_argument("--start", help="first day, UTC (default: backtest.history.default_days back)")
    f.add_argument("--end", help="end, UTC (default: now or the market's end)")
    f.add_argument("--no-trades", action="store_true", help="price history only")
    f.add_argument("--gamma-url", help="override market_data.polymarket.gamma_url")
    f.add_argument("--clob-url", help="override market_data.polymarket.clob_url")
    f.add_argument("--data-url", help="override backtest.history.data_api_url")
    f.add_argument("--quiet", action="store_true", help="no progress bar")
    sub.add_parser("list", parents=[common], help="the catalogue: fetched markets")
    s = sub.add_parser("show", parents=[common], help="one market: metadata, days, trades")
    s.add_argument("market", help="condition id (or a unique prefix, or the slug)")
    return p


def main(argv: list[str]) -> int:
    """Run ``bot.py history ...``; return the exit code."""
    args = _parser().parse_args(argv)
    try:
        cfg, _file = load(args.config, args.db, None)
        root = Path(args.dir or cfg.backtest.history_dir).expanduser()
        if args.cmd == "fetch":
            if not 1 <= args.limit <= 100_000:
                raise ConfigError("<command line>", "--limit", "expected 1..100000")
            start, end = parse_time(args.start, "--start"), parse_time(args.end, "--end")
    except ConfigError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.cmd == "fetch":
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
        return asyncio.run(_fetch(cfg, root, args, start, end))
    if args.cmd == "list":
        return _list(cfg, root)
    return _show(root, args.market)


async def _fetch(cfg: Any, root: Path, args: argparse.Namespace, start: float | None,
                 end: float | None) -> int:  # fmt: skip
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from services.markets.history_store import HistoryStore
    from services.markets.polymarket.history import HistoryFetcher
    from services.markets.polymarket.rest import RestClient, RestError

    venue = cfg.market_data.polymarket
    upd = {k: v for k, v in (("gamma_url", args.gamma_url), ("clob_url", args.clob_url)) if v}
    venue = venue.model_copy(update=upd)
    hcfg = cfg.backtest.history
    if args.data_url:
        hcfg = hcfg.model_copy(update={"data_api_url": args.data_url})
    store = HistoryStore(root)
    rest = RestClient(venue)
    fetcher = HistoryFetcher(rest, venue, hcfg, store)
    failed: list[str] = []
    done = 0
    try:
        try:
            raws = await fetcher.list_markets(
                args.market, closed=True if args.closed else None, limit=args.limit
            )
        except RestError as exc:
            print(
                f"Could not list markets: {exc}. Nothing was changed; try again.", file=sys.stderr
            )
            return 1
        bar = Progress(
            TextColumn("[bold]history"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("{task.description}"), disable=args.quiet,
        )  # fmt: skip
        with bar:
            task = bar.add_task("", total=len(raws))
            for raw in raws:
                name = str(raw.get("slug") or raw.get("id")) if isinstance(raw, dict) else "?"
                bar.update(task, description=name[:50])
                try:
                    rep = await fetcher.fetch_market(raw, start, end, trades=not args.no_trades)
                    done += 1
                    _catalogue(cfg, store, rep.market_id)
                except RestError as exc:
                    failed.append(f"{name}: {exc}")
                except ValueError as exc:  # GammaParseError: a market we cannot use
                    failed.append(f"{name}: skipped, {exc}")
                bar.advance(task)
    finally:
        await rest.close()
    print(f"{done} market(s) up to date in {root}; {rest.counters['requests']} requests "
          f"({rest.counters['retries']} retried).")  # fmt: skip
    if failed:
        print(f"{len(failed)} market(s) incomplete (run the same command again to resume; "
              "nothing stored was lost):", file=sys.stderr)  # fmt: skip
        for f in failed:
            print(f"  {f}", file=sys.stderr)
        return 1
    return 0


def _catalogue(cfg: Any, store: Any, market_id: str) -> None:
    """Upsert the market's catalogue row from what is on disk."""
    from database.engine import make_engine, make_session_factory, migrate
    from database.models import HistoryMarketRow

    meta = store.meta(market_id) or {}
    days = store.price_days(market_id)
    url = cfg.db_url()
    migrate(url)
    engine = make_engine(url, busy_timeout_ms=cfg.bot.db_busy_timeout_ms)
    try:
        with make_session_factory(engine).begin() as s:
            s.merge(
                HistoryMarketRow(
                    market_id=market_id,
                    gamma_id=str(meta.get("gamma_id") or ""),
                    slug=str(meta.get("slug") or ""),
                    question=str(meta.get("question") or ""),
                    folder=str(store.market_dir(market_id)),
                    end_ts=meta.get("end_ts"),
                    closed=bool(meta.get("closed")),
                    resolved=bool(meta.get("payouts")),
                    price_days=len(days),
                    first_day=days[0] if days else None,
                    last_day=days[-1] if days else None,
                    trades=int(meta.get("trades") or 0),
                    updated_wall=time.time(),
                )
            )
    finally:
        engine.dispose()


def _list(cfg: Any, root: Path) -> int:
    from rich.console import Console
    from rich.table import Table
    from sqlalchemy import select

    from database.engine import make_engine, make_session_factory, migrate
    from database.models import HistoryMarketRow

    url = cfg.db_url()
    migrate(url)
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as s:
            rows = s.scalars(select(HistoryMarketRow).order_by(HistoryMarketRow.slug)).all()
    finally:
        engine.dispose()
    t = Table(title=f"Fetched history ({len(rows)} markets)")
    for h in ("market", "slug", "days", "from", "to", "trades", "resolved"):
        t.add_column(h)
    for r in rows:
        t.add_row(r.market_id[:14] + "…", r.slug[:40], str(r.price_days), r.first_day or "-",
                  r.last_day or "-", str(r.trades), "yes" if r.resolved else "no")  # fmt: skip
    Console(width=None if sys.stdout.isatty() else 140).print(t)
    return 0


def _show(root: Path, key: str) -> int:
    import json

    from services.markets.history_store import HistoryStore

    store = HistoryStore(root)
    hits = [
        m for m in store.markets() if m.startswith(key) or (store.meta(m) or {}).get("slug") == key
    ]
    if len(hits) != 1:
        print(f"{'No' if not hits else 'More than one'} market matches {key!r} in {root}.",
              file=sys.stderr)  # fmt: skip
        return EXIT_CONFIG
    mid = hits[0]
    meta = store.meta(mid) or {}
    days = store.price_days(mid)
    points = sum(len(store.read_prices(mid, d)) for d in days)
    tdays = store.trade_days(mid)
    trades = sum(len(store.read_trades(mid, d)) for d in tdays)
    print(json.dumps({k: meta.get(k) for k in ("market_id", "slug", "question", "outcomes",
                     "token_ids", "end_ts", "closed", "payouts", "fee_rate")}, indent=1))  # fmt: skip
    print(f"price days: {len(days)} ({days[0] if days else '-'} .. {days[-1] if days else '-'}), "
          f"{points} points; complete: {len(meta.get('prices_complete') or [])}")  # fmt: skip
    print(f"trades: {trades} over {len(tdays)} day(s)")
    return 0
