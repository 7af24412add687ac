"""The performance tracker's memo of ``row_metrics`` and of ``metrics_json`` (issue 18).

A persisted snapshot (every ``snapshot_interval_s``) and every read of the leaderboard rebuild
each strategy's metrics; the tracker reuses the last result while nothing ``row_metrics`` reads
has changed. Here the memo's answer is compared with ``row_metrics`` itself after each kind of
change (one at a time, so a change the memo's key missed shows), and at every clock tick of a
simulated run whose strategies trade.
"""

from __future__ import annotations

import json
from typing import Any

from services.clock import SimClock
from services.competition import StrategyStats, row_metrics
from services.metrics import BetAccumulator, PeriodReturns
from services.money import MICRO
from services.node import build_node
from services.persistence import NullSink
from services.snapshots import PerformanceTracker
from services.strategies.loader import build_strategies
from tests.conftest import ROOT, drive_per_event
from utils.config import CompetitionConfig, load_config

T0 = 1_650_000_000.0  # a UTC hour boundary is crossed below at T0 + 3600 - T0 % 3600


def _expected(
    cfg: CompetitionConfig, st: StrategyStats, equity_m: int, fees: int
) -> tuple[dict[str, Any], float, float]:
    equity = equity_m / MICRO
    return_pct = (equity / st.starting - 1.0) * 100.0
    return row_metrics(st, cfg, return_pct=return_pct, fees_usd=fees / MICRO, equity_usd=equity)


def _same(
    tr: PerformanceTracker, name: str, st: StrategyStats, equity_m: int, fees: int
) -> tuple[dict[str, Any], float, float]:
    got = tr._row_metrics(name, st, equity_m, fees)
    want = _expected(tr.cfg, st, equity_m, fees)
    assert got == want
    text = tr._metrics_json(name, got[0])
    assert text == json.dumps(want[0], sort_keys=True)
    return got


def test_memo_follows_each_input_of_row_metrics() -> None:
    cfg = CompetitionConfig(sharpe_min_returns=2)  # ratios appear after two returns
    tr = PerformanceTracker(cfg, 10_000 * MICRO)
    st = tr.stats_for("a")
    eq = 10_000 * MICRO
    t = T0
    st.sample(t, eq / MICRO, False)
    _same(tr, "a", st, eq, 0)  # no exposure share yet (no time sampled)
    t += 1.0
    st.sample(t, eq / MICRO, False)
    first = _same(tr, "a", st, eq, 0)
    # Nothing changed: the very same result (and metrics text) comes back.
    assert _same(tr, "a", st, eq, 0) is first
    t += 1.0
    st.sample(t, eq / MICRO, False)
    assert _same(tr, "a", st, eq, 0) is first
    # Equity and fees of the sample.
    _same(tr, "a", st, eq + 7, 0)
    _same(tr, "a", st, eq + 7, 3)
    # A closed bet (only the accumulator's count changes among the key's figures).
    st.add_bets([-2.5])
    _same(tr, "a", st, eq + 7, 3)
    st.bets.add(4.0)
    _same(tr, "a", st, eq + 7, 3)
    # Hourly returns grow at an hour boundary, with the same equity.
    for _ in range(3):
        t += 3600.0
        st.sample(t, eq / MICRO, False)
        _same(tr, "a", st, eq, 3)
    # The hourly returns replaced by a list of the same length and other content (a restore).
    d = st.hourly.to_dict()
    d["returns"] = [x + 0.01 * i for i, x in enumerate(d["returns"])]
    st.hourly = PeriodReturns.from_dict(d)
    _same(tr, "a", st, eq, 3)
    # Daily returns grow at a day boundary (hourly too).
    t += 86_400.0
    st.sample(t, eq / MICRO, False)
    _same(tr, "a", st, eq, 3)
    # Daily returns alone (they grow with the hourly ones in a run; the second one switches the
    # ratios to daily returns here).
    st.daily.returns.append(0.001)
    _same(tr, "a", st, eq, 3)
    # The peak alone (the drawdown now is read from it), then the maximum drawdown alone.
    st.drawdown.update(eq / MICRO + 50.0)
    _same(tr, "a", st, eq, 3)
    st.drawdown.max_dd_pct += 1.25
    _same(tr, "a", st, eq, 3)
    # The exposure share.
    t += 10.0
    st.sample(t, eq / MICRO, True)
    t += 10.0
    st.sample(t, eq / MICRO, True)
    _same(tr, "a", st, eq, 3)
    # The starting capital (the return is computed from it).
    st.starting = 8_000.0
    _same(tr, "a", st, eq, 3)
    # A returns list replaced by one of the same length and other content (a restore).
    d = st.daily.to_dict()
    d["returns"] = [x - 0.02 for x in d["returns"]]
    st.daily = PeriodReturns.from_dict(d)
    _same(tr, "a", st, eq, 3)
    # Closed-bet sums replaced by others with as many bets.
    bets = BetAccumulator()
    for p in (9.0, 9.0):
        bets.add(p)
    assert bets.n == st.bets.n
    st.bets = bets
    _same(tr, "a", st, eq, 3)
    # Another config (the tracker's is frozen; a new one is another object).
    tr.cfg = CompetitionConfig(sharpe_min_returns=2, returns_period="hourly")
    _same(tr, "a", st, eq, 3)
    # Statistics restored from state: another object with another starting capital.
    state = st.to_dict()
    state["starting"] = 5_000.0
    tr.load_state({"a": state})
    st2 = tr.stats["a"]
    assert st2 is not st
    _same(tr, "a", st2, eq, 3)
    # A second strategy does not share the first one's memo.
    other = tr.stats_for("b")
    other.sample(T0, 1.0, False)
    _same(tr, "b", other, eq, 3)
    _same(tr, "a", st2, eq, 3)


def test_metrics_json_is_reencoded_for_another_dict() -> None:
    tr = PerformanceTracker(CompetitionConfig(), 10_000 * MICRO)
    m1 = {"b": 1, "a": 2.5}
    assert tr._metrics_json("x", m1) == json.dumps(m1, sort_keys=True)
    m2 = dict(m1, a=3.5)  # equal keys, another object: encoded again
    assert tr._metrics_json("x", m2) == json.dumps(m2, sort_keys=True)
    assert tr._metrics_json("x", m2) == '{"a": 3.5, "b": 1}'


def test_rows_of_a_trading_run_equal_row_metrics_at_every_tick() -> None:
    cfg = load_config(str(ROOT / "config.example.yaml"))
    node = build_node(
        cfg, build_strategies(cfg, "c.yaml"), NullSink(), clock=SimClock(cfg.market_data.start_ts)
    )
    eng = node.engine
    tr = eng.tracker
    seen = {"ticks": 0, "hits": 0, "bets": 0}

    def check(_now: float) -> None:
        rows = tr.latest
        for row in rows:
            st = tr.stats[row.strategy]
            equity_m, _mv, _unreal, _cash, _realized, fees = tr._extras[row.strategy]
            want, score, evidence = _expected(tr.cfg, st, equity_m, fees)
            assert row.metrics == want and row.score == score and row.evidence_pct == evidence
            assert tr._metrics_json(row.strategy, row.metrics) == json.dumps(want, sort_keys=True)
            memo = tr._metrics_memo[row.strategy]
            seen["hits"] += memo[5][0] is row.metrics and seen["ticks"] > 0
            seen["bets"] = max(seen["bets"], st.bets.n)
        seen["ticks"] += 1

    eng.clock_listeners.append(check)
    drive_per_event(eng, cfg, 120, seed=3)
    assert seen["ticks"] > 100 and seen["bets"] > 0 and eng.fill_seq > 20
    assert seen["hits"] > 0  # some strategies sat still for a second: the memo answered
