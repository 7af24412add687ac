"""``python bot.py control`` subcommands of the strategy lifecycle (docs/GRADUATION.md).

::

    python bot.py control graduation                     # stages, eligibility, approvals
    python bot.py control graduate NAME [--reason R] [--confirm GRADUATE]
    python bot.py control reject-graduation NAME --reason R
    python bot.py control demote NAME --reason R
    python bot.py control allocation approve [ID]
    python bot.py control allocation reject [ID] --reason R

Moving into a live stage needs the confirmation word (``graduation.approval_confirm_word``): typed
at the prompt when the command runs in a terminal, or given with ``--confirm``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

LIFECYCLE_COMMANDS = ("graduation", "graduate", "reject-graduation", "demote", "allocation")


def add_parsers(sub: Any) -> None:
    """Add the lifecycle subcommands to ``bot.py control``'s subparsers."""
    sub.add_parser("graduation", help="stages, eligibility, waiting approvals, allocation")
    g = sub.add_parser("graduate", help="approve a strategy's move to its next stage")
    g.add_argument("strategy")
    g.add_argument("--reason", default="approved from the command line")
    g.add_argument("--confirm", help="the confirmation word for live stages (else prompted)")
    r = sub.add_parser("reject-graduation", help="reject a promotion waiting for approval")
    r.add_argument("strategy")
    r.add_argument("--reason", required=True)
    d = sub.add_parser("demote", help="move a live strategy back to paper, cancelling its orders")
    d.add_argument("strategy")
    d.add_argument("--reason", required=True)
    a = sub.add_parser("allocation", help="approve or reject the open allocation proposal")
    a.add_argument("action", choices=("approve", "reject"))
    a.add_argument("proposal_id", nargs="?", type=int)
    a.add_argument("--reason", default="")


def command(args: argparse.Namespace, confirm_word: str) -> tuple[str, dict[str, Any]] | None:
    """Return (command name, args) of a lifecycle subcommand (None for ``graduation``)."""
    c = args.cmd
    if c == "graduate":
        confirm = args.confirm
        if confirm is None and sys.stdin.isatty():
            confirm = input(
                f"If {args.strategy} moves into a live stage it trades real money. "
                f"Type {confirm_word} to confirm: "
            ).strip()
        out: dict[str, Any] = {"strategy": args.strategy, "reason": args.reason}
        if confirm:
            out["confirm"] = confirm
        return "strategy.graduate", out
    if c == "reject-graduation":
        return "strategy.graduation_reject", {"strategy": args.strategy, "reason": args.reason}
    if c == "demote":
        return "strategy.demote", {"strategy": args.strategy, "reason": args.reason}
    if c == "allocation":
        body: dict[str, Any] = {"reason": args.reason}
        if args.proposal_id is not None:
            body["proposal_id"] = args.proposal_id
        return f"allocation.{args.action}", body
    return None


def show(sessions: sessionmaker[Session], out: Any) -> int:
    """Print every strategy's stage, days, capital, route and what blocks its next move."""
    from database import queries

    with sessions() as s:
        view = queries.get_state(s, "graduation_view")
    if not isinstance(view, dict) or not view.get("strategies"):
        out.write("No lifecycle state yet (the bot has not run with graduation).\n")
        return 0
    for name, v in sorted(view["strategies"].items()):
        e = v.get("eligibility") or {}
        cap = v.get("capital")
        route = v["route"] + (f" -> {v['route_target']} (waiting)" if v.get("route_target") else "")
        out.write(
            f"{name:<24} {v['stage']:<8} {v['days_in_stage']:>7.2f} d  "
            f"capital {'-' if cap is None else f'{cap / 1e6:,.2f}'} USD  route {route}\n"
        )
        if v.get("pending"):
            out.write(f"    WAITING FOR APPROVAL to enter {v['pending']['target']}\n")
        elif e.get("eligible"):
            out.write(f"    eligible for {e.get('target')}\n")
        for b in e.get("blockers") or []:
            out.write(f"    - {b}\n")
    p = view.get("proposal")
    if p:
        out.write(f"Allocation proposal #{p['id']} ({p['kind']}):\n")
        for n, pct in sorted(p["shares_pct"].items(), key=lambda x: -x[1]):
            out.write(f"    {n:<24} {pct:6.2f}%  {p['capital'][n] / 1e6:,.2f} USD\n")
    return 0
