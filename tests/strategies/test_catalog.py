"""The catalog (`bot.py --list-strategies`) and the registry of built-ins."""

from __future__ import annotations

import io

from services.strategies.catalog import SHARED_BLOCKS, catalog, print_catalog
from services.strategies.loader import BUILTINS
from tests.conftest import run_bot

KINDS = {"market_making", "arbitrage", "directional"}


def test_every_builtin_is_documented() -> None:
    infos = {i.name: i for i in catalog()}
    assert list(infos) == list(BUILTINS)
    assert len(infos) >= 7
    for info in infos.values():
        assert info.kind in KINDS
        assert info.description and len(info.description) < 100
        keys = [p.key for p in info.params]
        assert len(keys) == len(set(keys))
        if not info.name.startswith("Betfair"):  # odds strategies size stakes their own way
            assert "sizing.mode" in keys and "universe.mode" in keys
        for p in info.params:
            assert p.description, f"{info.name}.{p.key} has no description"
            assert p.type and p.default
    mm = {p.key: p for p in infos["MarketMaker"].params}
    assert (mm["half_spread_ticks"].type, mm["half_spread_ticks"].default) == ("int", "2")
    assert mm["sizing.shares"].default == "25"  # the class's own default, not the generic one
    assert infos["FavoriteLongshot"].params[0].key  # parameters come in model order
    fl = {p.key: p for p in infos["FavoriteLongshot"].params}
    assert fl["sizing.mode"].default == "kelly"
    assert fl["sizing.mode"].type == "one of fixed_shares|fixed_notional|kelly"
    assert fl["universe.max_mid"].type == "decimal or null"


def test_print_catalog_lists_classes_parameters_and_shared_blocks() -> None:
    buf = io.StringIO()
    print_catalog(buf)
    text = buf.getvalue()
    for name in BUILTINS:
        assert f"\n{name}  [" in text
    assert "half_spread_ticks     int, default 2: Quote distance from the mid, ticks" in text
    assert "sizing: mode=fixed_shares shares=25" in text
    for block in SHARED_BLOCKS:
        assert f"    {block}.mode" in text


def test_bot_list_strategies() -> None:
    proc = run_bot("--list-strategies", timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "NegRiskArbitrage  [arbitrage]" in proc.stdout
    assert "kelly_fraction" in proc.stdout and "max 0.5" in proc.stdout
