"""``python bot.py live report [--csv FILE]``: the paper-vs-live fidelity report from the database."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    """Print (or write as CSV) the fidelity report; return the exit code."""
    p = argparse.ArgumentParser(prog="bot.py live", description="Live trading reports.")
    p.add_argument("--config", help="config file (default: config.yaml, else the example)")
    p.add_argument("--db", help="SQLite database file (bot.db_path)")
    sub = p.add_subparsers(dest="action", required=True)
    r = sub.add_parser("report", help="paper-vs-live fidelity per live strategy")
    r.add_argument("--csv", help="write CSV to this file ('-' for stdout)")
    args = p.parse_args(argv)
    import bot
    from database.engine import make_engine, make_session_factory
    from services.markets.polymarket.live.fidelity import COLUMNS, fidelity_report, to_csv
    from utils.config import load_config

    try:
        cfg = load_config(bot.find_config(args.config)[0])
    except Exception as exc:  # noqa: BLE001 - config problems are usage errors here
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 2
    url = "sqlite:///" + str(Path(args.db).resolve()) if args.db else cfg.db_url()
    from sqlalchemy.exc import SQLAlchemyError

    db = make_engine(url)
    try:
        with make_session_factory(db)() as session:
            rows = fidelity_report(session)
    except SQLAlchemyError as exc:
        print(
            f"Database error: cannot read {url}: {exc.args[0] if exc.args else exc}",
            file=sys.stderr,
        )
        return 2
    finally:
        db.dispose()
    if args.csv:
        text = to_csv(rows)
        if args.csv == "-":
            sys.stdout.write(text)
        else:
            Path(args.csv).write_text(text, encoding="utf-8")
            print(f"Wrote {len(rows)} row(s) to {args.csv}.")
        return 0
    if not rows:
        print("No live orders in this database.")
        return 0
    for row in rows:
        print(f"{row['strategy']}:")
        for k in COLUMNS[1:]:
            print(f"  {k:24s} {row[k]}")
    return 0
