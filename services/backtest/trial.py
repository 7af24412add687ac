"""One optimizer trial: a backtest of one strategy with given parameters, in any process.

:func:`evaluate` takes and returns plain values only (picklable), so it runs the same in this
process, in a local worker process or on a Dask worker on another machine (which needs this
repository and its requirements installed, and the data at the same path).
"""

from __future__ import annotations

import logging
from typing import Any

OBJECTIVES = (
    "pnl_usd",
    "return_pct",
    "sharpe",
    "sortino",
    "calmar",
    "score",
    "profit_factor",
    "expectancy_usd",
    "win_rate",
)
"""Objectives ``bot.py optimize --objective`` accepts (all maximised)."""

MISSING = -1e9
"""Objective of a trial whose metric is undefined (a Sharpe with too few returns, no fill):
ranked below every trial that has one."""


def nest(params: dict[str, Any]) -> dict[str, Any]:
    """Return ``{"a.b": 1}`` as ``{"a": {"b": 1}}`` (dotted names reach nested parameters)."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        node = out
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return out


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def objective_value(fig: dict[str, Any], objective: str) -> float:
    """Return the objective of a trial's figures (:data:`MISSING` when undefined)."""
    if objective == "pnl_usd":
        return fig["pnl"] / 1e6
    v = fig.get(objective)
    if v is None:
        v = (fig.get("metrics") or {}).get(objective)
    return float(v) if v is not None else MISSING


def quiet_worker() -> None:
    """Initializer of worker processes: their log lines are not the report (errors only).

    Never called in the optimizer's own process, whose logging belongs to the caller.
    """
    logging.getLogger("services").setLevel(logging.ERROR)


def evaluate(task: dict[str, Any]) -> dict[str, Any]:
    """Run one trial and return its figures, objective and hourly returns.

    ``task`` holds ``data`` (the raw config document), ``file`` (its path, for strategy files
    named relative to it), ``strategy``, ``params`` (dotted names allowed), ``source``
    (``--data``), ``start``, ``end`` and ``objective``.
    """
    from services.backtest.run import parse_source, run_backtest
    from services.strategies.loader import build_strategies
    from utils.config import parse_config

    data = dict(task["data"])
    entries = []
    for e in data.get("strategies") or []:
        if e.get("name") == task["strategy"]:
            params = _merge(dict(e.get("params") or {}), nest(task["params"]))
            entries.append({**e, "enabled": True, "params": params})
    data["strategies"] = entries
    cfg = parse_config(data, task["file"])
    strategies = build_strategies(cfg, task["file"])
    res = run_backtest(
        cfg,
        strategies,
        parse_source(task["source"]),
        start_ts=task["start"],
        end_ts=task["end"],
    )
    fig = dict(res.strategies[task["strategy"]])
    m = fig.get("metrics") or {}
    out = {
        k: fig[k]
        for k in ("pnl", "return_pct", "sharpe", "max_drawdown_pct", "trades", "fees", "score",
                  "label")
    }  # fmt: skip
    for k in ("sortino", "calmar", "profit_factor", "expectancy_usd", "win_rate"):
        out[k] = m.get(k)
    out["metrics"] = m
    out["params"] = task["params"]
    out["objective"] = objective_value(fig, task["objective"])
    out["returns"] = list(res.hourly_returns.get(task["strategy"], []))
    out["events"] = res.events
    return out
