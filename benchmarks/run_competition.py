"""Run a multi-hour simulated competition with ``bot.py`` and print its summary table.

The run goes through the real ``python bot.py`` (simulator, engine, risk chain, SQLite) at
``--speed max`` on a fixed seed; the table is then read back from the run's database:
trades, round trips, win rate, return, annualised Sharpe, max drawdown (from the persisted
equity curve) and fees per strategy. ``--all`` enables every strategy of the config (the
disabled ones too) so the whole library competes.

Usage::

    python benchmarks/run_competition.py --hours 4 --seed 7 --all [--no-breakers]
        [--config config.yaml] [--markdown table.md]
    python benchmarks/run_competition.py --summarise run.db   # the table of a finished run
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def make_config(src: Path, enable_all: bool, dest: Path, no_breakers: bool = False) -> None:
    """Copy the config with absolute strategy file paths (optionally all enabled, no breakers)."""
    data = yaml.safe_load(src.read_text(encoding="utf-8")) or {}
    if no_breakers:
        for section in ("breakers", "health"):
            data[section] = {**(data.get(section) or {}), "enabled": False}
    for entry in data.get("strategies") or []:
        cls = str(entry.get("class", ""))
        if ".py:" in cls and not Path(cls.split(":")[0]).is_absolute():
            entry["class"] = (
                str((src.parent / cls.split(":")[0]).resolve()) + ":" + cls.split(":")[1]
            )
        if enable_all:
            entry["enabled"] = True
    data.setdefault("dashboard", {})["enabled"] = False
    # At --speed max the database writer can trail the engine; give the final flush time.
    data["bot"] = {**(data.get("bot") or {}), "shutdown_timeout_s": 300}
    dest.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def summary(db: Path) -> list[dict[str, object]]:
    """Read the final row of every strategy (with its ``metrics_json``) from the run's database."""
    con = sqlite3.connect(db)
    try:
        kinds = dict(con.execute("select name, kind from strategies"))
        classes = dict(con.execute("select name, class_path from strategies"))
        observed: dict[str, int] = {}
        row = con.execute("select value_json from bot_state where key='observed'").fetchone()
        for key, n in (json.loads(row[0]) if row else {}).items():
            name = str(key).rsplit(":", 1)[-1]
            observed[name] = observed.get(name, 0) + int(n)
        rows = []
        for name in kinds:
            last = con.execute(
                "select trades, round_trips, win_rate, return_pct, sharpe, fees, equity, status, "
                "max_drawdown_pct, metrics_json from performance_snapshots "
                "where strategy=? and granularity='fine' order by ts desc, id desc limit 1",
                (name,),
            ).fetchone()
            trades, trips, win, ret, sharpe, fees, equity, status, mdd, raw = last
            m = json.loads(raw) if raw else {}
            stop = con.execute(
                "select message from events where strategy=? and kind in "
                "('auto_pause', 'auto_disable') order by ts limit 1",
                (name,),
            ).fetchone()
            rows.append(
                {
                    "strategy": name, "class": str(classes[name]).rsplit(":", 1)[-1],
                    "kind": kinds[name], "trades": trades, "round_trips": trips,
                    "win_rate": win, "return_pct": ret, "sharpe": sharpe,
                    "sharpe_se": m.get("sharpe_se"), "n_returns": m.get("n_returns"),
                    "period": m.get("returns_period"), "sortino": m.get("sortino"),
                    "profit_factor": m.get("profit_factor"),
                    "expectancy": m.get("expectancy_usd"),
                    "max_dd_pct": mdd if mdd is not None else 0.0,
                    "fees": fees / 1e6, "equity": equity / 1e6, "status": status,
                    "observed": observed.get(name, 0),
                    "stopped": stop[0] if stop else None,
                }
            )  # fmt: skip
        return sorted(rows, key=lambda r: -float(r["return_pct"]))  # type: ignore[arg-type]
    finally:
        con.close()


def _num(v: object, spec: str) -> str:
    return "–" if v is None else format(float(v), spec)  # type: ignore[arg-type]


def table(rows: list[dict[str, object]]) -> str:
    """Format the summary as a Markdown table."""
    head = (
        "| Strategy | Kind | Trades | Closed bets | Win rate | Profit factor | Expectancy USD "
        "| Return % | Sharpe ± SE (returns) | Sortino | Max DD % | Fees USD | Observed | "
        "Final status |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n"
    )
    lines = []
    for r in rows:
        win = "–" if r["win_rate"] is None else f"{float(r['win_rate']) * 100:.0f}%"  # type: ignore[arg-type]
        if r["sharpe"] is None:
            sharpe = f"– ({r['n_returns'] or 0} {r['period'] or ''})"
        else:
            sharpe = (
                f"{float(r['sharpe']):.1f} ± {_num(r['sharpe_se'], '.1f')} "  # type: ignore[arg-type]
                f"({r['n_returns']} {r['period']})"
            )
        lines.append(
            f"| {r['strategy']} | {r['kind']} | {r['trades']} | {r['round_trips']} | {win} | "
            f"{_num(r['profit_factor'], '.2f')} | {_num(r['expectancy'], '+.2f')} | "
            f"{float(r['return_pct']):+.2f} | {sharpe} | {_num(r['sortino'], '.1f')} | "  # type: ignore[arg-type]
            f"{float(r['max_dd_pct']):.2f} | {float(r['fees']):.2f} | {r['observed']} | "  # type: ignore[arg-type]
            f"{r['status']} |"
        )
    return head + "\n".join(lines) + "\n"


def main() -> int:
    """Run the competition and print (optionally write) the summary table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "config.example.yaml"))
    ap.add_argument("--hours", type=float, default=4.0, help="simulated hours")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--all", action="store_true", help="enable every configured strategy")
    ap.add_argument(
        "--no-breakers",
        action="store_true",
        help="turn off circuit breakers and the health monitor (risk limits stay on)",
    )
    ap.add_argument("--markdown", help="also write the table to this file")
    ap.add_argument("--summarise", metavar="DB", help="only print the table of an existing run")
    args = ap.parse_args()
    if args.summarise:
        print(table(summary(Path(args.summarise))))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "config.yaml"
        make_config(Path(args.config).resolve(), args.all, cfg, args.no_breakers)
        db = Path(tmp) / "competition.db"
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, str(ROOT / "bot.py"), "--config", str(cfg), "--speed", "max",
             "--duration", str(args.hours * 3600), "--seed", str(args.seed), "--db", str(db),
             "--quiet", "--no-dashboard"],
            capture_output=True, text=True, cwd=str(ROOT),
        )  # fmt: skip
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            print(proc.stderr[-4000:], file=sys.stderr)
            return proc.returncode
        rows = summary(db)
    text = table(rows)
    stops = [f"- {r['strategy']}: {r['stopped']}" for r in rows if r["stopped"]]
    if stops:
        text += (
            "\nStopped by the safety layer (first pause or disable):\n\n" + "\n".join(stops) + "\n"
        )
    safety = "breakers and health monitor off" if args.no_breakers else "safety layer as configured"
    print(f"{args.hours:g} simulated hours, seed {args.seed}, {safety}, {wall:.0f} s wall time\n")
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
