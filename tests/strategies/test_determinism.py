"""The same seed replays the same competition, whatever the process's string-hash seed."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT

SCRIPT = """
import hashlib, yaml
from services.clock import SimClock
from services.node import build_node
from services.markets.sim import SimFeed
from services.persistence import NullSink
from services.strategies.loader import BUILTINS, build_strategies
from utils.config import parse_config

entries = [{"name": n.lower(), "class": n} for n in BUILTINS]
entries.append({"name": "mm_small", "class": "MarketMaker", "params": {"max_markets": 2}})
cfg = parse_config({"strategies": entries,
                    "market_data": {"sim": {"markets": 6, "neg_risk_events": 1}}}, "c.yaml")
class Rec(NullSink):
    def __init__(self):
        super().__init__()
        self.orders = {}

    def order(self, o):
        self.orders[o.order_id] = o


sink = Rec()
engine = build_node(cfg, build_strategies(cfg, "c.yaml"), sink,
                    clock=SimClock(cfg.market_data.start_ts), safety=False).engine
engine.start()
for batch in SimFeed(cfg.market_data.sim, seed=3, start_ts=cfg.market_data.start_ts,
                     duration_s=900).iter_batches():
    engine.process_batch(batch)
h = hashlib.sha256()
for o in sorted(sink.orders.values(), key=lambda o: o.order_id):
    h.update(f"{o.order_id}{o.strategy}{o.instrument_id}{o.side}{o.price}{o.size}{o.filled}"
             f"{o.status}{o.reason}".encode())
print(len(sink.orders), h.hexdigest())
"""


def run(hash_seed: str) -> str:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        cwd=str(ROOT),
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip()


def test_runs_replay_identically_across_hash_seeds() -> None:
    a, b = run("1"), run("2")
    assert int(a.split()[0]) > 50  # the strategies did trade
    assert a == b
