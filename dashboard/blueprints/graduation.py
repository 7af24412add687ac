"""Graduation page (``/graduation``) and its JSON API: stages, eligibility, approvals, demotion,
allocation proposals; template globals for the strategy page's timeline and the leaderboard's
allocation pie and win/loss distribution (docs/GRADUATION.md).

Approving a move into a live stage needs the access token (or a logged-in session, like every
control) and the confirmation word (``graduation.approval_confirm_word``); the bot re-checks
eligibility when it applies the command.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from dashboard import validation as v
from dashboard.blueprints.controls import _submit
from dashboard.blueprints.util import body, page, require_strategy
from dashboard.context import ctx
from dashboard.data import graduation as grad

bp = Blueprint("graduation", __name__)

LIVE_STAGES = ("micro", "mini", "full")


def _data(s: Any) -> dict[str, Any]:
    view = grad.view(s)
    return {
        "view": view,
        "rows": grad.rows(view),
        "proposal": view.get("proposal"),
        "transitions": grad.transitions(s, limit=50),
        "confirm_word": ctx().cfg.graduation.approval_confirm_word,
    }


@bp.get("/graduation")
def graduation_page() -> Any:
    """What is eligible, what waits for an approval, what blocks each strategy; transitions."""
    with ctx().read() as s:
        return page("graduation.html", {"graduation": "fragments/graduation.html"}, **_data(s))


@bp.get("/api/graduation")
def api_graduation() -> Any:
    """Stages, eligibility, approvals, proposal and the latest transitions as JSON."""
    with ctx().read() as s:
        d = _data(s)
        d.pop("view")
        d["allocation"] = grad.allocation(grad.view(s))
        return jsonify(d)


@bp.get("/api/strategies/<name>/transitions")
def api_transitions(name: str) -> Any:
    """One strategy's stage transitions, newest first."""
    with ctx().read() as s:
        require_strategy(s, name)
        return jsonify({"strategy": name, "transitions": grad.transitions(s, name)})


@bp.get("/api/leaderboard/distribution")
def api_distribution() -> Any:
    """Histogram of closed-bet P&L (wins and losses) and the capital allocation."""
    with ctx().read() as s:
        return jsonify(
            {"distribution": grad.pnl_distribution(s), "allocation": grad.allocation(grad.view(s))}
        )


def _target(s: Any, name: str) -> str | None:
    row = grad.view(s).get("strategies", {}).get(name) or {}
    return (row.get("eligibility") or {}).get("target")


@bp.post("/api/strategies/<name>/graduate")
def graduate(name: str) -> Any:
    """Approve a strategy's move to its next stage (``reason``; ``confirm`` for live stages)."""
    data = body()
    reason = v.reason(data)
    word = ctx().cfg.graduation.approval_confirm_word
    with ctx().read() as s:
        require_strategy(s, name)
        target = _target(s, name)
    confirm = data.get("confirm")
    if (target is None or target in LIVE_STAGES) and confirm != word:
        raise v.bad("confirm", f"type {word} to let {name} trade real money")
    args: dict[str, Any] = {"strategy": name, "reason": reason}
    if confirm:
        args["confirm"] = confirm
    return _submit("strategy.graduate", args)


@bp.post("/api/strategies/<name>/graduation-reject")
def graduation_reject(name: str) -> Any:
    """Reject a promotion waiting for an approval (``reason`` required)."""
    data = body()
    reason = v.reason(data)
    with ctx().read() as s:
        require_strategy(s, name)
    return _submit("strategy.graduation_reject", {"strategy": name, "reason": reason})


@bp.post("/api/strategies/<name>/demote")
def demote(name: str) -> Any:
    """Move a strategy back to paper and cancel its orders (``reason``, ``confirm`` CONFIRM)."""
    data = body()
    reason = v.reason(data)
    if data.get("confirm") != "CONFIRM":
        raise v.bad("confirm", "type CONFIRM to demote")
    with ctx().read() as s:
        require_strategy(s, name)
    return _submit("strategy.demote", {"strategy": name, "reason": reason})


@bp.post("/api/allocation/<action>")
def allocation_action(action: str) -> Any:
    """Approve or reject the open allocation proposal (``proposal_id``, ``reason``)."""
    if action not in ("approve", "reject"):
        raise v.ApiError(404, f"unknown action {action!r} (approve or reject)")
    data = body()
    reason = v.reason(data)
    pid = v.integer(data, "proposal_id", lo=1, hi=2**31, required=True)
    return _submit(f"allocation.{action}", {"proposal_id": pid, "reason": reason})


@bp.app_template_global("stage_timeline")
def stage_timeline(name: str) -> list[dict[str, Any]]:
    """Return a strategy's stage transitions for its page (newest first)."""
    with ctx().read() as s:
        return grad.transitions(s, name, limit=50)


@bp.app_template_global("allocation_charts")
def allocation_charts() -> dict[str, Any]:
    """Return the leaderboard's allocation pie and closed-bet P&L distribution data."""
    with ctx().read() as s:
        return {
            "allocation": grad.allocation(grad.view(s)),
            "distribution": grad.pnl_distribution(s),
        }
