"""``market_data.betfair.live``: refused with the key at fault (exit 2) when it cannot work."""

from __future__ import annotations

from typing import Any

import pytest

from services.markets.betfair.live_runtime import LIVE_ROUTE, BetfairLiveRuntime, check_config
from utils.config import parse_config
from utils.errors import ConfigError

STREAM = {"username": "u", "password": "p", "app_key": "k", "certs_dir": "/c"}


def cfg(source: str = "betfair", **live: Any) -> Any:
    return parse_config(
        {
            "market_data": {"source": source, "betfair": {"stream": STREAM, "live": live}},
            "strategies": [
                {"name": "v", "class": "BetfairValueBacker", "currency": "GBP"},
                {"name": "off", "class": "BetfairValueBacker", "currency": "GBP", "enabled": False},
            ],
        },
        "c.yaml",
    )


@pytest.mark.parametrize(
    ("source", "live", "key"),
    [
        ("sim", {"enabled": True, "strategies": ["v"]}, "market_data.betfair.live.enabled"),
        ("betfair", {"enabled": True}, "market_data.betfair.live.strategies"),
        (
            "betfair",
            {"enabled": True, "strategies": ["off"]},
            "market_data.betfair.live.strategies[0]",
        ),
    ],
)
def test_unusable_live_sections_are_config_errors(
    source: str, live: dict[str, Any], key: str
) -> None:
    with pytest.raises(ConfigError) as exc:
        check_config(cfg(source, **live), "c.yaml")
    assert key in str(exc.value)


def test_off_by_default_and_routes_only_the_named_strategies() -> None:
    assert cfg().market_data.betfair.live.enabled is False
    check_config(cfg(), "c.yaml")  # disabled: nothing to check
    rt = BetfairLiveRuntime(cfg(enabled=True, strategies=["v"]), api=None)
    assert rt.routes() == {"v": LIVE_ROUTE} and list(rt.factories()) == [LIVE_ROUTE]
    with pytest.raises(ConfigError, match="market_data.betfair.live.app_key: unknown key"):
        parse_config({"market_data": {"betfair": {"live": {"app_key": "x"}}}}, "c.yaml")
