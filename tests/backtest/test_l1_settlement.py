"""On the shared L1 day, buying each market's YES at its first ask and holding to settlement
gives exactly the P&L computed by hand from the quotes and the labels (fees included)."""

from __future__ import annotations

import csv
import gzip
from decimal import ROUND_HALF_UP, Decimal

import pytest

from services.backtest.l1 import parse_ts
from services.backtest.run import parse_source, run_backtest
from services.strategies.loader import build_strategies
from tests.conftest import ROOT
from utils.config import parse_config

L1 = ROOT.parent / "shared" / "data" / "polymarket_l1"
START, END = "2026-07-10 20:25:00", "2026-07-10 20:45:00"
SHARES = Decimal(10)
RATE = Decimal("0.02")

pytestmark = pytest.mark.skipif(not L1.is_dir(), reason="shared L1 data not present")


def _by_hand() -> tuple[Decimal, int]:
    """Return (P&L in USDC, markets bought) straight from the CSV files."""
    labels = {}
    with (L1 / "labels.csv").open(newline="") as fh:
        for row in csv.DictReader(fh):
            labels[row["slug"]] = int(row["y"])
    first_ask: dict[str, Decimal] = {}
    lo, hi = parse_ts(START), parse_ts(END)
    with gzip.open(L1 / "quotes_2026-07-10.csv.gz", "rt", newline="") as fh:
        for row in csv.DictReader(fh):
            ts = parse_ts(row["ts"])
            if lo <= ts < hi and row["slug"] not in first_ask:
                bid, ask = Decimal(row["bid"]), Decimal(row["ask"])
                if 0 < bid < ask < 1:
                    first_ask[row["slug"]] = ask
    pnl = Decimal(0)
    bought = 0
    for slug, ask in first_ask.items():
        if ask > Decimal("0.99"):
            continue
        # Polymarket taker fee: shares * rate * p * (1 - p), rounded half-up to 5 decimals.
        fee = (SHARES * RATE * ask * (1 - ask)).quantize(Decimal("0.00001"), ROUND_HALF_UP)
        pnl += SHARES * labels[slug] - SHARES * ask - fee
        bought += 1
    return pnl, bought


def test_buy_yes_hold_to_settlement_matches_the_hand_computed_pnl() -> None:
    data = {
        "dashboard": {"enabled": False},
        "competition": {"starting_capital_usd": 1_000_000},
        "risk": {"enabled": False},  # every market is bought: the arithmetic is under test
        "market_data": {"validation": {"min_depth_usd": 0}},
        "strategies": [
            {
                "name": "hold_yes",
                "class": "examples/buy_and_hold.py:BuyYesAndHold",
                "params": {"shares": str(SHARES)},
            }
        ],
        "backtest": {"l1": {"fee_rate": str(RATE), "depth_shares": 100}},
    }
    cfg_file = str(ROOT / "config.example.yaml")
    cfg = parse_config(data, cfg_file)
    strategies = build_strategies(cfg, cfg_file)
    res = run_backtest(
        cfg,
        strategies,
        parse_source(f"l1:{L1}"),
        start_ts=parse_ts(START),
        end_ts=parse_ts(END),
    )
    expected, bought = _by_hand()
    assert bought > 500  # the window holds many markets
    fig = res.strategies["hold_yes"]
    assert fig["trades"] == bought
    assert len(res.settlements) == bought
    pnl_micro = fig["cash"] - 1_000_000 * 1_000_000
    assert pnl_micro == int(expected * 1_000_000)
    fees_by_hand = sum(f["fee"] for f in res.fills)
    assert fig["fees"] == fees_by_hand > 0
    assert res.source.fidelity.startswith("L1")
