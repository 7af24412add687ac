"""Trade journal (``/journal``): notes per fill or position; list, search, create, edit."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, url_for
from sqlalchemy.orm import Session

from dashboard import validation as v
from dashboard.blueprints.util import body, query, require_strategy, respond
from dashboard.context import ctx
from dashboard.data import journal
from dashboard.data.leaderboard import strategy_names
from dashboard.data.trading import fill_by_id, instrument_exists
from dashboard.security import wants_json
from dashboard.validation import ApiError

bp = Blueprint("journal", __name__)


def parse_entry(data: dict[str, Any], s: Session, *, partial: bool = False) -> dict[str, Any]:
    """Validate journal fields; with ``partial`` only the fields present are checked.

    Raises
    ------
    ApiError
        400 for a bad value, 404 for an unknown strategy, instrument or fill.
    """
    out: dict[str, Any] = {}

    def given(k: str) -> bool:
        return not partial or k in data

    if given("fill_id"):
        fid = v.integer(data, "fill_id", lo=1, hi=2**62)
        out["fill_id"] = fid
        if fid is not None:
            fill = fill_by_id(s, fid)
            if fill is None:
                raise ApiError(404, f"unknown fill {fid}", "fill_id")
            data = {
                "strategy": fill["strategy"],
                "instrument_id": fill["instrument_id"],
                **{k: val for k, val in data.items() if val not in (None, "")},
            }
            if data["strategy"] != fill["strategy"]:
                raise v.bad("strategy", f"fill {fid} belongs to {fill['strategy']}")
    if given("strategy") or "fill_id" in out:
        name = v.name(data, "strategy", required=not partial)
        if name is not None:
            out["strategy"] = require_strategy(s, name)
    if given("instrument_id"):
        iid = v.ident(data, "instrument_id", required=False)
        if iid is not None and not instrument_exists(s, iid):
            raise ApiError(404, f"unknown instrument {iid!r}", "instrument_id")
        out["instrument_id"] = iid
    for k in ("entry_reason", "exit_reason", "lessons"):
        if given(k):
            out[k] = v.text(data, k, max_len=v.TEXT_MAX) or ""
    if given("confidence"):
        out["confidence"] = v.integer(data, "confidence", lo=1, hi=10)
    if given("rating"):
        out["rating"] = v.integer(data, "rating", lo=1, hi=5)
    return out


def _list_args() -> dict[str, Any]:
    q = query()
    return {
        "q": v.text(q, "q", max_len=200),
        "strategy": v.name(q, "strategy", required=False),
        "limit": v.limit(q, default=100),
        "offset": v.offset(q),
    }


@bp.get("/journal")
def journal_page() -> Any:
    """Journal list with search, and a form for a new entry (prefilled from ``?fill=``)."""
    args = _list_args()
    q = query()
    prefill: dict[str, Any] = {}
    with ctx().read() as s:
        if args["strategy"]:
            require_strategy(s, args["strategy"])
        fid = v.integer(q, "fill", lo=1, hi=2**62)
        if fid is not None:
            fill = fill_by_id(s, fid)
            if fill is None:
                raise ApiError(404, f"unknown fill {fid}", "fill")
            prefill = {
                "fill_id": fid,
                "strategy": fill["strategy"],
                "instrument_id": fill["instrument_id"],
            }
        else:
            prefill = {
                "strategy": q.get("strategy", ""),
                "instrument_id": q.get("instrument_id", ""),
            }
        return render_template(
            "journal.html",
            entries=journal.list_entries(s, **args),
            names=strategy_names(s),
            args=args,
            prefill=prefill,
        )


@bp.post("/journal")
def journal_create_form() -> Any:
    """Create an entry from the page's form."""
    return _create(body())


@bp.get("/journal/<dbid:entry_id>")
def journal_edit_page(entry_id: int) -> Any:
    """Edit form of one entry."""
    with ctx().read() as s:
        entry = journal.get_entry(s, entry_id)
        if entry is None:
            raise ApiError(404, f"unknown journal entry {entry_id}")
        return render_template("journal_edit.html", e=entry, names=strategy_names(s))


@bp.post("/journal/<dbid:entry_id>")
def journal_edit_form(entry_id: int) -> Any:
    """Save the edit form."""
    return _update(entry_id, body())


@bp.get("/api/journal")
def api_journal() -> Any:
    """Entries, last edited first (``q``, ``strategy``, ``limit``, ``offset``)."""
    args = _list_args()
    with ctx().read() as s:
        if args["strategy"]:
            require_strategy(s, args["strategy"])
        return jsonify({"entries": journal.list_entries(s, **args)})


@bp.post("/api/journal")
def api_journal_create() -> Any:
    """Create an entry (JSON or form body)."""
    return _create(body())


@bp.get("/api/journal/<dbid:entry_id>")
def api_journal_entry(entry_id: int) -> Any:
    """One entry."""
    with ctx().read() as s:
        entry = journal.get_entry(s, entry_id)
    if entry is None:
        raise ApiError(404, f"unknown journal entry {entry_id}")
    return jsonify({"entry": entry})


@bp.route("/api/journal/<dbid:entry_id>", methods=["PATCH", "PUT"])
def api_journal_update(entry_id: int) -> Any:
    """Update the given fields of an entry."""
    return _update(entry_id, body())


def _create(data: dict[str, Any]) -> Any:
    d = ctx()
    with d.write() as s:
        values = parse_entry(data, s)
        eid = journal.create_entry(s, values, d.now())
    with d.read() as s:
        entry = journal.get_entry(s, eid)
    if not wants_json():
        flash(f"Journal entry #{eid} saved.", "ok")
        return redirect(url_for("journal.journal_page"), code=303)
    return respond({"entry": entry, "message": f"Journal entry #{eid} saved."}, 201)


def _update(entry_id: int, data: dict[str, Any]) -> Any:
    d = ctx()
    with d.write() as s:
        values = parse_entry(data, s, partial=True)
        if not journal.update_entry(s, entry_id, values, d.now()):
            raise ApiError(404, f"unknown journal entry {entry_id}")
    with d.read() as s:
        entry = journal.get_entry(s, entry_id)
    if not wants_json():
        flash(f"Journal entry #{entry_id} updated.", "ok")
        return redirect(url_for("journal.journal_page"), code=303)
    return jsonify({"entry": entry, "message": f"Journal entry #{entry_id} updated."})
