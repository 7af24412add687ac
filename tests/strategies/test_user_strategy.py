"""User strategies from config alone: the example file runs in the competition via bot.py."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from services.strategies.loader import build_strategies
from tests.conftest import ROOT, run_bot
from utils.config import parse_config
from utils.errors import ConfigError

EXAMPLE = ROOT / "examples" / "my_strategies.py"

CONFIG = """
market_data:
  sim:
    markets: 8
    neg_risk_events: 0
strategies:
  - name: mine
    class: examples/my_strategies.py:BookImbalance
    params:
      imbalance_ratio: 2
      sizing:
        notional_usd: 30
  - name: mm
    class: MarketMaker
dashboard:
  enabled: false
"""


def test_example_strategy_runs_in_the_competition_from_config_alone(tmp_path: Path) -> None:
    (tmp_path / "examples").mkdir()
    shutil.copy(EXAMPLE, tmp_path / "examples" / "my_strategies.py")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(CONFIG, encoding="utf-8")
    db = tmp_path / "bot.db"
    proc = run_bot(
        "--config",
        str(cfg),
        "--duration",
        "900",
        "--speed",
        "max",
        "--seed",
        "5",
        "--db",
        str(db),
        "--quiet",
        "--no-dashboard",
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Final leaderboard" in proc.stdout
    con = sqlite3.connect(db)
    try:
        row = con.execute("select class_path from strategies where name='mine'").fetchone()
        fills = con.execute("select count(*) from fills where strategy='mine'").fetchone()[0]
        reasons = [
            r
            for (r,) in con.execute(
                "select reason from orders where strategy='mine' and side='BUY' limit 3"
            )
        ]
    finally:
        con.close()
    assert row is not None and row[0].endswith(":BookImbalance")
    assert fills > 0
    assert reasons and all("book imbalance" in r for r in reasons)


def test_user_strategy_params_are_validated_naming_file_class_and_key(tmp_path: Path) -> None:
    shutil.copy(EXAMPLE, tmp_path / "my_strategies.py")
    cfg = parse_config(
        {
            "strategies": [
                {
                    "name": "mine",
                    "class": "my_strategies.py:BookImbalance",
                    "params": {"imbalance_ratio": 0.5},
                }
            ]
        },
        "my.yaml",
    )
    with pytest.raises(ConfigError) as ei:
        build_strategies(cfg, str(tmp_path / "my.yaml"))
    assert ei.value.key == "strategies[0].params.imbalance_ratio"
    assert "BookImbalance" in ei.value.message and "greater than 1" in ei.value.message
    assert "my.yaml" in str(ei.value)


def test_dotted_module_path_works() -> None:
    cfg = parse_config(
        {
            "strategies": [
                {"name": "a", "class": "services.strategies.momentum:Momentum"},
                {"name": "b", "class": "services.strategies.momentum.Momentum"},
            ]
        },
        "c.yaml",
    )
    assert [type(s).__name__ for s in build_strategies(cfg, "c.yaml")] == ["Momentum"] * 2


def test_the_strategy_guide_example_test_passes() -> None:
    """The crafted-book test shown in docs/STRATEGY_GUIDE.md, verbatim."""
    from examples.my_strategies import BookImbalance
    from services.instruments import Side
    from tests.strategies.harness import Harness, binary, px, with_params

    h = Harness(with_params(BookImbalance, imbalance_ratio=3))
    h.list(*binary())  # market M1: tokens Y1 / N1
    h.book("Y1", bids=[(0.49, 900)], asks=[(0.51, 100)])
    buy = h.orders()[0]
    assert (buy.instrument_id, buy.side, buy.price) == ("Y1", Side.BUY, px(0.51))
    assert "book imbalance" in buy.reason
    h.book("Y1", bids=[(0.53, 100)], asks=[(0.55, 100)], dt=1)
    h.wait(1)  # let the 1 s timer run
    assert h.orders()[1].side is Side.SELL and h.qty("Y1") == 0
