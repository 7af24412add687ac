"""Universe selection: static admission at listing, dynamic filters on live books, validation."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.orderbook import OrderBook
from services.strategies.complement_arb import ComplementArbitrage
from services.strategies.loader import build_strategies
from services.strategies.universe import Universe, UniverseParams
from tests.conftest import make_instrument
from tests.strategies.harness import Harness, binary, levels, with_params
from utils.config import parse_config
from utils.errors import ConfigError


def book(bids: list[tuple[float, float]], asks: list[tuple[float, float]]) -> OrderBook:
    b = OrderBook("Y1")
    b.apply_snapshot(levels(bids), levels(asks), 0.0)
    return b


def test_static_modes() -> None:
    pol = make_instrument("Y1", category="politics", event_id="E9")
    spo = make_instrument("Y2", market_id="M2", category="sports")
    assert Universe(UniverseParams()).admits(pol)
    cats = Universe(UniverseParams(mode="categories", categories=["sports"]))
    assert not cats.admits(pol) and cats.admits(spo)
    ids = Universe(UniverseParams(mode="ids", ids=["M2", "E9"]))
    assert ids.admits(pol) and ids.admits(spo)  # by event id and by market id
    assert not Universe(UniverseParams(mode="ids", ids=["Y7"])).admits(pol)
    assert Universe(UniverseParams(mode="ids", ids=["Y1"])).admits(pol)


def test_dynamic_filter_bounds() -> None:
    u = Universe(
        UniverseParams(mode="filter", max_spread_ticks=3, min_top_depth_shares=100, max_mid="0.9")
    )
    assert u.dynamic
    assert u.passes(book([(0.48, 60)], [(0.51, 50)]), 10_000)
    assert not u.passes(book([(0.48, 60)], [(0.52, 50)]), 10_000)  # spread 4 ticks
    assert not u.passes(book([(0.48, 40)], [(0.50, 50)]), 10_000)  # 90 shares at the top
    assert not u.passes(book([(0.92, 400)], [(0.93, 400)]), 10_000)  # mid above 0.9
    assert not u.passes(book([(0.48, 400)], []), 10_000)  # one-sided: unknown spread
    assert not u.passes(None, 10_000)
    thin = Universe(UniverseParams(mode="filter", max_top_depth_shares=100, categories=["x"]))
    assert thin.passes(book([(0.1, 50)], [(0.2, 50)]), 10_000)
    assert not thin.passes(book([(0.1, 60)], [(0.2, 50)]), 10_000)
    assert not thin.admits(make_instrument(category="politics"))
    assert Universe(UniverseParams()).passes(None, 10_000)  # no filter: always


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"mode": "categories"}, "non-empty categories"),
        ({"mode": "ids"}, "non-empty ids"),
        ({"mode": "filter"}, "at least one bound"),
        ({"max_spread_ticks": 3}, "need mode filter"),
        ({"categories": ["a"]}, "need mode categories or filter"),
        ({"mode": "filter", "min_mid": "0.8", "max_mid": "0.2"}, "min_mid must be <= max_mid"),
        ({"mode": "everything"}, "Input should be"),
    ],
)
def test_validation(params: dict[str, object], needle: str) -> None:
    with pytest.raises(ValidationError, match=needle):
        UniverseParams.model_validate(params)


def test_unwanted_instruments_never_reach_the_strategy() -> None:
    s = with_params(ComplementArbitrage, universe={"mode": "categories", "categories": ["sports"]})
    h = Harness(s)
    h.list(*binary(1, category="politics"), *binary(2, category="sports"))
    assert set(h.engine.runners["s"].subscribed) == {"Y2", "N2"}
    h.books(("Y1", [(0.40, 100)], [(0.45, 100)]), ("N1", [(0.40, 100)], [(0.45, 100)]))
    assert h.orders() == []  # a 0.90 pair, but not in the universe


def test_config_errors_name_the_nested_key(tmp_path: object) -> None:
    cfg = parse_config(
        {
            "strategies": [
                {"name": "a", "class": "Momentum", "params": {"universe": {"mode": "categories"}}}
            ]
        },
        "c.yaml",
    )
    with pytest.raises(ConfigError) as ei:
        build_strategies(cfg, "c.yaml")
    assert ei.value.key == "strategies[0].params.universe"
    assert "non-empty categories" in ei.value.message and "Momentum" in ei.value.message
    cfg = parse_config(
        {
            "strategies": [
                {
                    "name": "a",
                    "class": "ComplementArbitrage",
                    "params": {"sizing": {"kelly_fraction": 1}},
                }
            ]
        },
        "c.yaml",
    )
    with pytest.raises(ConfigError) as ei:
        build_strategies(cfg, "c.yaml")
    assert ei.value.key == "strategies[0].params.sizing.kelly_fraction"
    assert "full Kelly" in ei.value.message
