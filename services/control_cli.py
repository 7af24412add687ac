"""``python bot.py control ...``: the emergency controls from a shell (when the dashboard is down).

Each action writes a row to ``control_commands`` (the same interface the dashboard uses), then
waits for the running bot to apply it and prints the result. If the bot is not running, the
command stays queued and is applied when the bot next starts.

Exit codes: 0 applied (or status printed), 1 refused by the bot, 2 usage/config/database error,
3 queued without an answer yet (bot not running, or no answer within ``--wait`` seconds).

Examples::

    python bot.py control status
    python bot.py control kill-switch activate --reason "feed looks wrong"
    python bot.py control kill-switch deactivate --reason "checked" --confirm CONFIRM
    python bot.py control pause mm_tight --reason "too many fills"
    python bot.py control close-position mm_tight sim-7-t1-Y --reason "manual exit"
    python bot.py control commands
    python bot.py control graduation
    python bot.py control graduate mm_tight --reason "30 days of paper passed"
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.lifecycle.cli import LIFECYCLE_COMMANDS
from services.lifecycle.cli import command as lifecycle_command
from services.lifecycle.cli import show as show_graduation
from utils.redact import redact_secrets, redact_url

EXIT_OK, EXIT_REFUSED, EXIT_ERROR, EXIT_QUEUED = 0, 1, 2, 3
STALE_HEARTBEAT_S = 5.0  # a heartbeat older than this means the bot is not running


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bot.py control",
        description="Send control commands to the bot through its database, or show its state.",
    )
    p.add_argument("--config", help="config file (default: config.yaml, else config.example.yaml)")
    p.add_argument("--db", help="SQLite database file (overrides the config's database)")
    p.add_argument("--wait", type=float, help="seconds to wait for the bot's answer (default 5)")
    # The same options are accepted after the command too (`control status --db PATH`).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    common.add_argument("--db", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    common.add_argument("--wait", type=float, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    _add = sub.add_parser

    def add_parser(name: str, **kw: Any) -> argparse.ArgumentParser:
        return _add(name, parents=[common], **kw)

    sub.add_parser = add_parser  # type: ignore[method-assign]
    sub.add_parser("status", help="trading state, breakers, strategies, pending commands")
    ks = sub.add_parser("kill-switch", help="activate or deactivate the kill switch")
    ks_sub = ks.add_subparsers(dest="action", required=True, metavar="ACTION")
    _ks_add = ks_sub.add_parser

    def ks_add_parser(name: str, **kw: Any) -> argparse.ArgumentParser:
        return _ks_add(name, parents=[common], **kw)

    ks_sub.add_parser = ks_add_parser  # type: ignore[method-assign]
    a = ks_sub.add_parser("activate", help="halt all trading and cancel every resting order")
    a.add_argument("--reason", required=True)
    a.add_argument("--flatten", action="store_true", help="also close every position at market")
    d = ks_sub.add_parser("deactivate", help="allow trading again (strategies stay disabled)")
    d.add_argument("--reason", required=True)
    d.add_argument("--confirm", required=True, help="type CONFIRM to confirm")
    d.add_argument("--enable-all", action="store_true", help="also re-enable every strategy")
    for action, text in (
        ("pause", "stop new entries (positions kept, exits keep running)"),
        ("resume", "resume a paused strategy"),
        ("enable", "enable a disabled (or paused) strategy"),
        ("disable", "stop a strategy and cancel its resting orders"),
    ):
        sp = sub.add_parser(action, help=text)
        sp.add_argument("strategy")
        sp.add_argument("--reason", required=True)
    for action, text in (
        ("pause-all", "PAUSE ALL: stop new entries of every active strategy"),
        ("resume-all", "RESUME ALL: resume every paused strategy no OPEN breaker holds"),
    ):
        sp = sub.add_parser(action, help=text)
        sp.add_argument("--reason", required=True)
    cp = sub.add_parser("close-position", help="sell one position at market")
    cp.add_argument("strategy")
    cp.add_argument("instrument_id")
    cp.add_argument("--reason", default="closed from the command line")
    fl = sub.add_parser("flatten", help="sell every position at market")
    fl.add_argument("--reason", required=True)
    br = sub.add_parser("breaker-reset", help="close a circuit breaker by hand")
    br.add_argument("breaker")
    br.add_argument("--strategy", help="for the per-strategy breakers")
    br.add_argument("--reason", required=True)
    cl = sub.add_parser("commands", help="list recent control commands and their results")
    cl.add_argument("--limit", type=int, default=20)
    from services.lifecycle.cli import add_parsers

    add_parsers(sub)  # graduation, graduate, reject-graduation, demote, allocation
    sub.add_parser(
        "fidelity",
        help="per strategy: taker fills, maker fills by trade print and by crossing, "
        "orders refused by the data gate (docs/FILLS.md)",
    )
    return p


def _command(args: argparse.Namespace) -> tuple[str, dict[str, Any]] | None:
    """Return (command name, args) for an action, or None for read-only subcommands."""
    c = args.cmd
    if c == "kill-switch" and args.action == "activate":
        return "kill_switch.activate", {"reason": args.reason, "flatten": bool(args.flatten)}
    if c == "kill-switch":
        return "kill_switch.deactivate", {
            "reason": args.reason,
            "confirm": args.confirm,
            "enable_all": bool(args.enable_all),
        }
    if c in ("pause", "resume", "enable", "disable"):
        return f"strategy.{c}", {"strategy": args.strategy, "reason": args.reason}
    if c in ("pause-all", "resume-all"):
        return f"strategies.{c.replace('-', '_')}", {"reason": args.reason}
    if c == "close-position":
        return "position.close", {
            "strategy": args.strategy,
            "instrument_id": args.instrument_id,
            "reason": args.reason,
        }
    if c == "flatten":
        return "positions.flatten", {"reason": args.reason}
    if c == "breaker-reset":
        out: dict[str, Any] = {"breaker": args.breaker, "reason": args.reason}
        if args.strategy:
            out["strategy"] = args.strategy
        return "breaker.reset", out
    return None


def _db_url(args: argparse.Namespace) -> tuple[str, float, str]:
    """Return the database URL, the default wait and the approval word (``--db`` or config)."""
    from utils.config import load_config
    from utils.errors import ConfigError

    wait = 5.0
    word = "GRADUATE"
    path: Path | None = Path(args.config) if args.config else None
    if path is None:
        root = Path(__file__).resolve().parent.parent
        for candidate in (Path("config.yaml"), root / "config.yaml", root / "config.example.yaml"):
            if candidate.is_file():
                path = candidate
                break
    cfg = load_config(path) if path is not None and (args.db is None or args.config) else None
    if cfg is not None:
        wait = cfg.control.cli_wait_s
        word = cfg.graduation.approval_confirm_word
    if args.db:
        return "sqlite:///" + str(Path(args.db).expanduser().resolve()), wait, word
    if cfg is None:
        raise ConfigError("<command line>", "--db", "no config file found; pass --db PATH")
    return cfg.db_url(), wait, word


def _fmt_ts(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(float(ts), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _heartbeat_age(s: Session, now: float) -> float | None:
    from database import queries

    hb = queries.get_state(s, "heartbeat")
    run = queries.get_state(s, "run") or {}
    if not isinstance(hb, dict) or hb.get("wall_ts") is None:
        return None
    if isinstance(run, dict) and run.get("stopped_wall") is not None:
        return None
    return max(0.0, now - float(hb["wall_ts"]))


def _status(sessions: sessionmaker[Session], out: Any) -> int:
    from database import queries
    from database.models import TABLES

    now = time.time()
    with sessions() as s:
        age = _heartbeat_age(s, now)
        ks = queries.get_state(s, "kill_switch") or {}
        brk = (queries.get_state(s, "breakers") or {}).get("breakers", {})
        t = TABLES["strategies"]
        strategies = [dict(r) for r in s.execute(select(t).order_by(t.c.name)).mappings()]
        pending = queries.pending_commands(s)
    running = age is not None and age <= STALE_HEARTBEAT_S
    out.write(
        f"Bot: {'running' if running else 'NOT running'}"
        + (f" (heartbeat {age:.1f} s ago)" if age is not None else "")
        + "\n"
    )
    state = ks.get("state", "ACTIVE") if isinstance(ks, dict) else "ACTIVE"
    out.write(f"Trading state: {state}")
    if state != "ACTIVE":
        out.write(
            f" since {_fmt_ts(ks.get('since_ts'))} (event time), source {ks.get('source')}: "
            f"{ks.get('reason')}"
        )
        if ks.get("latency_ms") is not None:
            out.write(f"; applied in {ks['latency_ms']:.1f} ms")
    out.write("\n")
    open_b = [b for b in brk.values() if b.get("state") != "CLOSED"]
    out.write("Breakers: all CLOSED\n" if not open_b else "Breakers not CLOSED:\n")
    for b in open_b:
        who = f":{b['strategy']}" if b.get("strategy") else ""
        until = f", until {_fmt_ts(b['until_ts'])}" if b.get("until_ts") else ""
        out.write(
            f"  {b['name']}{who} {b['state']} since {_fmt_ts(b.get('since_ts'))}{until}: "
            f"{b.get('reason')}\n"
        )
    out.write("Strategies:\n")
    for r in strategies:
        reason = (
            f" since {_fmt_ts(r['status_since'])}: {r['status_reason']}"
            if (r["status"] != "active" and r.get("status_reason"))
            else ""
        )
        out.write(f"  {r['name']:<24} {r.get('stage') or 'paper':<8} {r['status']:<9}{reason}\n")
    if pending:
        out.write(
            f"Pending commands: {len(pending)} (oldest #{pending[0]['id']} "
            f"{pending[0]['command']})\n"
        )
    return EXIT_OK


def _list(sessions: sessionmaker[Session], limit: int, out: Any) -> int:
    from database import queries

    with sessions() as s:
        rows = queries.recent_commands(s, limit)
    for r in rows:
        out.write(
            f"#{r['id']:<5} {_fmt_ts(r['created_ts'])}  {r['command']:<22} {r['status']:<8} "
            f"{r['source']:<9} {r['args_json']}\n"
        )
        if r.get("result"):
            out.write(f"       -> {r['result']}\n")
    if not rows:
        out.write("No control commands yet.\n")
    return EXIT_OK


def send(
    sessions: sessionmaker[Session],
    name: str,
    cargs: dict[str, Any],
    wait_s: float,
    out: Any,
    *,
    source: str = "cli",
    asked_ts: float | None = None,
) -> int:
    """Queue a command, wait for the bot's answer and print it; return the exit code.

    ``asked_ts`` (wall time the operator ran the command) becomes the command's created time,
    from which the bot measures the kill switch's latency.
    """
    from database.models import TABLES

    now = time.time()
    from database.commands import submit_retrying

    cid = submit_retrying(sessions, name, cargs, source=source, asked_ts=asked_ts or now)
    with sessions() as s:
        age = _heartbeat_age(s, now)
    if age is None or age > STALE_HEARTBEAT_S:
        out.write(
            f"The bot is not running; command #{cid} {name} is queued and will be applied "
            "when the bot starts.\n"
        )
        return EXIT_QUEUED
    t = TABLES["control_commands"]
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        with sessions() as s:
            row = s.execute(select(t.c.status, t.c.result).where(t.c.id == cid)).first()
        if row is not None and row.status != "pending":
            if row.status == "applied":
                out.write(f"Applied #{cid} {name}: {row.result}\n")
                return EXIT_OK
            out.write(f"Refused #{cid} {name}: {row.result}\n")
            return EXIT_REFUSED
        time.sleep(0.05)
    out.write(f"No answer within {wait_s:g} s; command #{cid} {name} stays queued.\n")
    return EXIT_QUEUED


def _fidelity(sessions: sessionmaker[Session], out: Any) -> int:
    """Print the fidelity report (fills by evidence, data-gate refusals) per strategy."""
    from database.queries import data_gate_refusals, fill_evidence
    from services.execution.fidelity import fidelity_report

    with sessions() as s:
        report = fidelity_report(fill_evidence(s), data_gate_refusals(s))
    head = ("strategy", "taker", "maker:print", "maker:cross", "unknown", "cross %", "gate refused")
    out.write("{:<20} {:>12} {:>12} {:>12} {:>9} {:>8} {:>13}\n".format(*head))
    for r in report.values():
        pct = "-" if r.cross_share_pct is None else f"{r.cross_share_pct:.1f}"
        out.write(
            f"{r.strategy:<20} {r.taker_fills:>12} {r.maker_print_fills:>12} "
            f"{r.maker_cross_fills:>12} {r.unknown_fills:>9} {pct:>8} {r.data_gate_refusals:>13}\n"
        )
    if not report:
        out.write("No fills and no data-gate refusals yet.\n")
    return EXIT_OK


def main(argv: list[str]) -> int:
    """Run ``bot.py control``; return the exit code."""
    asked = time.time()  # when the operator asked: the kill switch's latency starts here
    args = _parser().parse_args(argv)
    from database.engine import make_engine, make_session_factory, migrate
    from utils.errors import ConfigError

    try:
        url, wait, confirm_word = _db_url(args)
    except ConfigError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        print("Pass --db PATH to use a database file directly.", file=sys.stderr)
        return EXIT_ERROR
    from sqlalchemy.exc import SQLAlchemyError

    from database.preflight import check_file, sqlite_path
    from utils.errors import StoreError

    db_file = sqlite_path(url)
    try:
        if db_file is not None:
            # Only cheap checks: the kill switch must not wait for a scan of a large database.
            check_file(db_file)
            db_file.parent.mkdir(parents=True, exist_ok=True)
        migrate(url)  # a command queued before the first start creates the database
    except (StoreError, SQLAlchemyError, OSError) as exc:
        return _store_failure(url, exc)
    db = make_engine(url)
    try:
        sessions = make_session_factory(db)
        out = sys.stdout
        if args.cmd == "status":
            return _status(sessions, out)
        if args.cmd == "commands":
            return _list(sessions, args.limit, out)
        if args.cmd == "fidelity":
            return _fidelity(sessions, out)
        if args.cmd in LIFECYCLE_COMMANDS:
            if args.cmd == "graduation":
                return show_graduation(sessions, out)
            cmd = lifecycle_command(args, confirm_word)
        else:
            cmd = _command(args)
        assert cmd is not None
        wait_s = args.wait if args.wait is not None else wait
        return send(sessions, cmd[0], cmd[1], wait_s, out, asked_ts=asked)
    except SQLAlchemyError as exc:
        return _store_failure(url, exc)
    finally:
        db.dispose()


def _store_failure(url: str, exc: BaseException) -> int:
    orig = getattr(exc, "orig", None)
    detail = str(orig) if orig is not None else str(exc).split("\n", 1)[0]
    if "not a database" in detail or "malformed" in detail:
        detail = f"the file is corrupt or not a SQLite database ({detail})"
    print(f"Database error: {redact_url(url)}: {redact_secrets(str(detail))}", file=sys.stderr)
    print("No command was sent. Check --db (or bot.db_path).", file=sys.stderr)
    return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
