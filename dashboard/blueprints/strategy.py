"""Strategy detail page (``/strategy/<name>``) and its JSON API."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from dashboard import validation as v
from dashboard.blueprints.leaderboard import WINDOWS, cached_board, cached_history
from dashboard.blueprints.util import page, query, require_strategy
from dashboard.context import ctx
from dashboard.data import bets, trading
from dashboard.data import risk as risk_data
from dashboard.data.common import load_state
from dashboard.data.fidelity import fidelity
from dashboard.data.prices import price_chart, traded_markets
from dashboard.data.strategy import strategies_brief, strategy_detail
from dashboard.validation import ApiError

bp = Blueprint("strategy", __name__)

FILLS_SHOWN = 25
ORDERS_SHOWN = 50
EVENTS_SHOWN = 25
MARKETS_SHOWN = 100


def _detail(name: str) -> dict[str, Any]:
    d = ctx()
    with d.read() as s:
        board = {r["strategy"]: r for r in cached_board(s)}
        detail = strategy_detail(s, name, board.get(name), load_state(s))
        if detail is None:
            raise ApiError(404, f"unknown strategy {name!r}", "strategy")
        edges = d.cfg.risk.zones.boundaries
        return {
            "strategy": detail,
            "positions": trading.positions(s, edges, strategy=name),
            "orders": trading.open_orders(s, name, ORDERS_SHOWN),
            "orders_total": trading.count_orders(
                s, trading.OrderFilter(strategy=name, status="open")
            ),
            "fills": trading.fills(s, strategy=name, limit=FILLS_SHOWN),
            "closed_bets": bets.closed_bets(s, name, limit=FILLS_SHOWN),
            "bets_strategy": name,
            "events": risk_data.events(s, strategy=name, limit=EVENTS_SHOWN),
            "fidelity": fidelity(s, name),
            "markets": traded_markets(s, name, MARKETS_SHOWN),
        }


@bp.get("/strategy/<name>")
def detail_page(name: str) -> Any:
    """Strategy page: metrics, charts, positions, resting orders, fills, fill fidelity, events,
    controls."""
    data = _detail(name)
    return page(
        "strategy.html",
        {
            "metrics": "fragments/strategy_metrics.html",
            "positions": "fragments/positions.html",
            "orders": "fragments/orders.html",
            "fills": "fragments/fills.html",
            "fidelity": "fragments/fidelity.html",
            "closed_bets": "fragments/closed_bets.html",
            "events": "fragments/events.html",
        },
        windows=WINDOWS,
        show_strategy=False,
        **data,
    )


@bp.get("/api/strategies")
def api_strategies() -> Any:
    """Every strategy with kind, stage and status."""
    with ctx().read() as s:
        return jsonify({"strategies": strategies_brief(s)})


@bp.get("/api/strategies/<name>")
def api_strategy(name: str) -> Any:
    """One strategy's detail, positions, resting orders, recent fills and events."""
    return jsonify(_detail(name))


@bp.get("/api/strategies/<name>/performance")
def api_strategy_performance(name: str) -> Any:
    """One strategy's equity, return and drawdown curves over the last ``hours``."""
    hours = v.hours(query())
    with ctx().read() as s:
        require_strategy(s, name)
        return jsonify(cached_history(s, [name], hours))


@bp.get("/api/strategies/<name>/markets")
def api_strategy_markets(name: str) -> Any:
    """The instruments a strategy has fills in, most recently traded first."""
    with ctx().read() as s:
        require_strategy(s, name)
        return jsonify({"markets": traded_markets(s, name, MARKETS_SHOWN)})


@bp.get("/api/strategies/<name>/prices")
def api_strategy_prices(name: str) -> Any:
    """One market's price over the last ``hours`` with the strategy's fills in it.

    ``instrument`` picks the market (default: the one the strategy traded most recently).
    """
    q = query()
    hours = v.hours(q)
    iid = v.ident(q, "instrument", required=False)
    d = ctx()
    with d.read() as s:
        require_strategy(s, name)
        if iid is None:
            markets = traded_markets(s, name, 1)
            if not markets:
                return jsonify({"instrument_id": None, "price": None, "fills": []})
            iid = markets[0]["instrument_id"]
        elif not trading.market_labels(s, [iid]):
            raise ApiError(404, f"unknown instrument {iid!r}", "instrument")
        return jsonify(
            price_chart(s, name, iid, hours, max_points=d.cfg.dashboard.max_chart_points)
        )
