"""The optimizer: same seed, same trials and results on 1 or 2 local processes and on a Dask
LocalCluster; walk-forward windows; parameter parsing; the CLI's report and database rows."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from services.backtest.optimize import (
    InlinePool,
    ProcessPool,
    optimize,
    parse_param,
    walk_forward,
)
from services.backtest.run import parse_source, source_span
from tests.backtest.l1_slice import L1, write_slice
from tests.conftest import ROOT, run_bot
from utils.errors import ConfigError

pytestmark = pytest.mark.skipif(not L1.is_dir(), reason="shared L1 data not present")

CONFIG = {
    "dashboard": {"enabled": False},
    "competition": {"starting_capital_usd": 10_000},
    "market_data": {"validation": {"min_depth_usd": 0}},
    "strategies": [
        {"name": "hold", "class": "examples/buy_and_hold.py:BuyYesAndHold"},
    ],
    "backtest": {"l1": {"fee_rate": "0.02"}},
}
SPACE = ["max_price=0.1:0.9", "shares=5:25:5"]


@pytest.fixture(scope="module")
def l1_slice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_slice(tmp_path_factory.mktemp("l1") / "slice")


def _study(l1_slice: Path, pool: Any) -> dict[str, Any]:
    source = f"l1:{l1_slice}"
    first, last = source_span(parse_source(source), None, None)
    windows = walk_forward(first, last, 2, "rolling", 1.0)
    base = {
        "data": CONFIG,
        "file": str(ROOT / "config.example.yaml"),
        "strategy": "hold",
        "source": source,
        "objective": "pnl_usd",
    }
    try:
        return optimize(
            pool, base, [parse_param(s) for s in SPACE], windows,
            method="tpe", trials=6, seed=3, batch=3,
        )  # fmt: skip
    finally:
        pool.close()


def _key(doc: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (t["window"], tuple(sorted(t["params"].items())), t["objective"], t["pnl"], t["trades"])
        for t in doc["trials"]
    ]


@pytest.fixture(scope="module")
def inline(l1_slice: Path) -> dict[str, Any]:
    return _study(l1_slice, InlinePool())


def test_study_shape_walk_forward_and_guard(inline: dict[str, Any]) -> None:
    assert len(inline["trials"]) == 12  # 6 trials in each of 2 windows
    assert len({t["params"]["max_price"] for t in inline["trials"]}) > 3
    w1, w2 = inline["windows"]
    assert w1["test"][0] == w1["train"][1] and w2["train"][0] == w1["test"][0]  # rolling
    for w in inline["windows"]:
        best = max(t["objective"] for t in inline["trials"] if t["window"] == w["window"])
        assert w["in_sample"]["objective"] == best
        assert w["out_of_sample"]["params"] == w["best_params"]
        assert "dsr" in w["deflated_sharpe"]
    assert set(inline["sensitivity"]) == {"max_price", "shares"}
    assert sum(r["trials"] for r in inline["sensitivity"]["shares"]) == 12
    # A continuous float is shown in five bins, not one row per sampled value.
    bins = inline["sensitivity"]["max_price"]
    assert len(bins) <= 5 and all(".." in str(r["value"]) for r in bins)


def test_same_seed_same_results_on_two_processes(l1_slice: Path, inline: dict[str, Any]) -> None:
    assert _key(_study(l1_slice, ProcessPool(2))) == _key(inline)


def test_same_seed_same_results_on_a_dask_local_cluster(
    l1_slice: Path, inline: dict[str, Any]
) -> None:
    distributed = pytest.importorskip("distributed")
    from services.backtest.optimize import DaskPool

    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        doc = _study(l1_slice, DaskPool(cluster.scheduler_address))
    assert _key(doc) == _key(inline)


def test_walk_forward_windows() -> None:
    w = walk_forward(0.0, 99.0, 3, "rolling", 2.0)  # span 100: test 20, train 40
    assert [(x.train_start, x.train_end, x.test_end) for x in w] == [
        (0.0, 40.0, 60.0),
        (20.0, 60.0, 80.0),
        (40.0, 80.0, 100.0),
    ]
    a = walk_forward(0.0, 99.0, 3, "anchored", 2.0)
    assert [x.train_start for x in a] == [0.0, 0.0, 0.0]
    assert walk_forward(0.0, 99.0, 3, "none", 2.0)[0].test_end is None


@pytest.mark.parametrize(
    ("spec", "grid"),
    [
        ("spread_ticks=1:5", [1, 2, 3, 4, 5]),
        ("x=0.1:0.3:0.1", [0.1, 0.2, 0.3]),
        ("x=0:1", [0, 1]),
        ("mode=fast,slow,3", ["fast", "slow", 3]),
        ("sizing.notional_usd=10:30:10", [10, 20, 30]),
    ],
)
def test_param_grid(spec: str, grid: list[Any]) -> None:
    assert parse_param(spec).grid() == grid


@pytest.mark.parametrize("spec", ["x", "x=", "x=5:1", "x=1:2:0", "x=a:b", "=1:2", "x=1:2:3:4"])
def test_bad_param_is_a_config_error(spec: str) -> None:
    with pytest.raises(ConfigError):
        parse_param(spec)


def test_optimize_cli_writes_reports_and_rows(l1_slice: Path, tmp_path: Path) -> None:
    import yaml

    cfg = tmp_path / "opt.yaml"
    doc = json.loads(json.dumps(CONFIG))
    doc["strategies"][0]["class"] = str(ROOT / "examples" / "buy_and_hold.py") + ":BuyYesAndHold"
    cfg.write_text(yaml.safe_dump(doc), encoding="utf-8")
    db, reports = tmp_path / "o.db", tmp_path / "rep"
    p = run_bot(
        "optimize", "--config", str(cfg), "--data", f"l1:{l1_slice}", "--strategy", "hold",
        "--param", "max_price=0.2:0.8:0.3", "--param", "shares=5,10", "--method", "grid",
        "--windows", "1", "--train-ratio", "2", "--workers", "1", "--db", str(db),
        "--report-dir", str(reports), "--quiet",
    )  # fmt: skip
    assert p.returncode == 0, p.stderr[-2000:]
    out = json.loads((reports / "optimize-1.json").read_text(encoding="utf-8"))
    assert len(out["trials"]) == 6  # the whole 3 x 2 grid
    assert out["windows"][0]["out_of_sample"] is not None
    html = (reports / "optimize-1.html").read_text(encoding="utf-8")
    assert "deflated Sharpe" in html and "Sensitivity" in html and "out of sample" in html
    rows = (
        sqlite3.connect(db)
        .execute("select segment, window, params_json from backtest_results order by id")
        .fetchall()
    )
    assert [r[:2] for r in rows] == [("in_sample", 1), ("out_of_sample", 1)]
    assert json.loads(rows[0][2]) == out["windows"][0]["best_params"]
    bad = run_bot("optimize", "--config", str(cfg), "--data", f"l1:{l1_slice}",
                  "--strategy", "nope", "--param", "x=1:2", "--no-db")  # fmt: skip
    assert bad.returncode == 2 and "unknown strategy" in bad.stderr


PROBE = '''
import os
from pathlib import Path

from services.strategies.base import Strategy, StrategyParams


class ProbeParams(StrategyParams):
    x: int = 1


class EnvProbe(Strategy):
    """Records, in the process that runs the trial, the compiled-core mode it was given."""

    Params = ProbeParams
    kind = "directional"

    def __init__(self, name, params):
        super().__init__(name, params)
        mode = os.environ.get("BOT_COMPILED_CORE", "<unset>")
        Path(os.environ["PROBE_DIR"], str(os.getpid())).write_text(mode)

    def on_book(self, ctx, book):
        pass
'''


def test_optimize_follows_bot_compiled_core_in_its_workers(l1_slice: Path, tmp_path: Path) -> None:
    """``bot.py optimize`` installs the compiled core from ``bot.compiled_core`` as ``bot.py``
    does, and its spawned local workers get the same mode (they install it from the
    environment); ``require`` without a build stops it with exit 2 naming the key."""
    import yaml

    (tmp_path / "probe.py").write_text(PROBE, encoding="utf-8")
    probes = tmp_path / "probes"
    probes.mkdir()
    doc = json.loads(json.dumps(CONFIG))
    doc["strategies"][0]["class"] = str(tmp_path / "probe.py") + ":EnvProbe"
    doc["bot"] = {"compiled_core": "off"}
    cfg = tmp_path / "opt.yaml"
    cfg.write_text(yaml.safe_dump(doc), encoding="utf-8")
    env = {"BOT_COMPILED_CORE": "", "PROBE_DIR": str(probes)}

    def optimize(config: Path) -> Any:
        return run_bot(
            "optimize", "--config", str(config), "--data", f"l1:{l1_slice}", "--strategy",
            "hold", "--param", "x=1:4", "--method", "grid", "--windows", "1", "--workers", "2",
            "--no-db", "--report-dir", str(tmp_path / "rep"), env=env,
        )  # fmt: skip

    p = optimize(cfg)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "Compiled core: off (turned off by bot.compiled_core" in p.stdout, p.stdout
    modes = {f.name: f.read_text() for f in probes.iterdir()}
    assert len(modes) >= 2, modes  # the parent (which builds the strategy once) and workers
    assert set(modes.values()) == {"off"}, modes
    doc["bot"] = {"compiled_core": "require"}
    cfg.write_text(yaml.safe_dump(doc), encoding="utf-8")
    env["BOT_COMPILED_CORE_DIR"] = str(tmp_path / "no-build")
    p = optimize(cfg)
    assert p.returncode == 2 and "bot.compiled_core: 'require'" in p.stderr, p.stderr
