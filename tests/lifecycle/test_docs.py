"""docs/GRADUATION.md's worked example, recomputed with the bot's own code."""

from __future__ import annotations

import re

from services.lifecycle.criteria import eligibility
from services.lifecycle.stage_stats import StageStats
from tests.conftest import ROOT
from utils.config import AppConfig

T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC
CYCLE = (230, -190, 110, -100, 210, -160, 40)


def _table() -> dict[str, tuple[str, str]]:
    text = (ROOT / "docs" / "GRADUATION.md").read_text(encoding="utf-8")
    block = text.split("<!-- graduation-example -->", 1)[1].split("\n\n", 1)[0]
    out = {}
    for line in block.strip().splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        out[cells[0]] = (cells[1], cells[3])
    return out


def test_worked_example_matches_the_code() -> None:
    cfg = AppConfig()
    st = StageStats("paper", T0, 10_000_000_000, 10_000.0, 0)
    equity = 10_000.0
    bets: list[float] = []
    for d in range(31):
        if d:
            equity += CYCLE[(d - 1) % 7]
        st.sample(T0 + d * 86400 + 43200, equity, False, bets)
        bets = [12.0, -8.0] if d % 5 else [12.0, 9.0]  # closed before the next sample
    st.sample(T0 + 30 * 86400 + 86399, equity, False, bets)
    now = T0 + 31 * 86400 + 10
    st.sample(now, equity, False)
    f = st.figures(cfg.competition)
    e = eligibility(
        "paper",
        f,
        cfg.graduation.stages.paper.promote_if,
        days_in_stage=st.days(now),
        min_days=cfg.graduation.stages.paper.min_days,
        win_rate_min_bets=cfg.competition.win_rate_min_bets,
    )
    assert e.eligible and e.needs_approval
    assert f.sharpe is not None
    doc = _table()
    assert doc["days in paper"][0] == f"{st.days(now):.1f}"
    assert doc["closed bets"][0] == str(f.closed_bets)
    assert doc["return"][0] == f"{f.return_pct:.2f} %"
    assert re.sub(r"\s", "", doc["Sharpe ± SE (31 daily returns)"][0]) == (
        f"{f.sharpe.value:.2f}±{f.sharpe.stderr:.2f}"
    )
    assert f.sharpe.n == 31
    assert f.win_rate is not None and doc["win rate"][0] == f"{f.win_rate * 100:.1f} %"
    assert doc["max drawdown"][0] == f"{f.max_drawdown_pct:.2f} %"
    assert {v[1] for v in doc.values()} == {"passes"}
