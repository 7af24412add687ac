"""Standby paper twins of graduation candidates: which strategies get one, and the keeper that
starts a twin when its strategy enters a live stage and stops it when it leaves."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.enums import Stage
from services.lifecycle import twins
from services.markets.polymarket.live import fidelity, runtime
from services.risk.actions import CommandError
from tests.lifecycle.test_walk import Walk, config
from tests.risk.conftest import make_config

PROBER = str(Path(__file__).with_name("grad_prober.py")) + ":GradProber"


def test_names_agree_with_the_live_runtime() -> None:
    assert twins.TWIN_SUFFIX == runtime.TWIN_SUFFIX == fidelity.TWIN_SUFFIX
    assert twins.LIVE_ROUTE == runtime.LIVE_ROUTE == fidelity.LIVE_ROUTE
    assert twins.is_twin(runtime.twin_name("a")) and twins.original_of("a__twin") == "a"


def _cfg(live: bool = True, route: str = "polymarket_live") -> object:
    entry = lambda n: {"name": n, "class": PROBER, "params": {"token": "T"}}  # noqa: E731
    return make_config(
        {
            "strategies": [entry("new"), entry("old_bt"), entry("old_micro"), entry("pinned")],
            "graduation": {
                "initial_stage": "paper",
                "stages": {s: {"route": route} for s in ("micro", "mini", "full")},
            },
            "live": {"enabled": live, "strategies": ["pinned"]},
        }
    )


def test_candidates_are_strategies_an_approval_can_move_live() -> None:
    cfg = _cfg()
    stored = {"old_bt": "backtest", "old_micro": "micro"}
    cfg2, strategies = twins.add_graduation_twins(cfg, [], "", lambda: stored)  # type: ignore[arg-type]
    # new: starts at paper (initial_stage); old_bt: stored at backtest (no twin this run);
    # old_micro: live; pinned: the live runtime's own twin
    assert [s.name for s in strategies] == ["new__twin", "old_micro__twin"]
    assert [e.name for e in cfg2.strategies][-2:] == ["new__twin", "old_micro__twin"]
    for off in (_cfg(live=False), _cfg(route="paper")):
        assert twins.add_graduation_twins(off, [], "", lambda: stored)[1] == []  # type: ignore[arg-type]


def test_keeper_starts_and_stops_the_twin_with_the_live_stage() -> None:
    w = Walk(config(), names=("s1", "s1__twin"))
    keeper = twins.TwinKeeper(w.engine, ())
    assert keeper.twins == {"s1__twin": "s1"}
    eng = w.engine
    # the manager's attach already put the twin on standby (s1 starts at backtest)
    assert keeper.sync() == []
    assert eng.runners["s1__twin"].status == "disabled"
    assert eng.runners["s1__twin"].status_reason == twins.standby_reason("s1")
    eng.runners["s1"].stage = Stage.MICRO
    assert keeper.sync("s1") == [("s1", "paper twin s1__twin started: s1 is live (micro)")]
    assert eng.runners["s1__twin"].status == "active"
    assert keeper.sync() == []  # nothing changes twice
    eng.runners["s1"].stage = Stage.PAPER
    assert keeper.sync() == [("s1", "paper twin s1__twin stopped: s1 is at paper")]
    assert eng.runners["s1__twin"].status == "disabled"
    # the twin never graduates itself: the manager skips it
    w.mgr.check(eng.clock.now())
    assert "s1__twin" not in w.mgr.eligible and "s1__twin" not in w.mgr.pending
    view = w.mgr.view(eng.clock.now())
    assert "s1__twin" not in view["strategies"]  # shown on its strategy's row
    assert view["strategies"]["s1"]["twin"] == {"strategy": "s1", "status": "disabled"}
    with pytest.raises(CommandError, match="paper twin"):
        w.mgr.promote("s1__twin", "cli", "no", eng.clock.now())


def test_live_may_be_enabled_for_graduation_alone() -> None:
    """live.enabled with no live.strategies is valid when a graduation stage routes live: the
    live client is there for strategies an approval moves into a live stage."""
    from utils.errors import ConfigError

    base = {"strategies": [{"name": "a", "class": PROBER, "params": {"token": "T"}}]}
    runtime.check_live_config(make_config({**base, "live": {"enabled": True}}), "c.yaml")
    paper = {s: {"route": "paper"} for s in ("micro", "mini", "full")}
    cfg = make_config({**base, "live": {"enabled": True}, "graduation": {"stages": paper}})
    with pytest.raises(ConfigError, match="no graduation stage routes to polymarket_live"):
        runtime.check_live_config(cfg, "c.yaml")


async def test_venue_token_reconciliation_covers_graduated_strategies() -> None:
    """A strategy routed to the live client by graduation holds venue tokens: the live
    reconciliation compares them with the venue (a difference demotes it)."""
    from types import SimpleNamespace as Ns

    cfg = make_config(
        {
            "strategies": [{"name": "pinned", "class": PROBER, "params": {"token": "T"}}],
            "live": {"enabled": True, "strategies": ["pinned"], "dry_run": False},
        }
    )
    client = Ns(balance=10**9, allowance=10**12)
    paper = Ns(name="paper")
    runners = {
        "pinned": Ns(portfolio=Ns(cash=0, positions={})),
        "grad": Ns(portfolio=Ns(cash=0, positions={"TOK": Ns(qty=5_000_000)})),
        "other": Ns(portfolio=Ns(cash=0, positions={"TOK2": Ns(qty=1_000_000)})),  # paper
    }
    routes = {"pinned": client, "grad": client, "other": paper}

    async def token_balance(iid: str) -> int:
        return {"TOK": 4_000_000}.get(iid, 0)

    rt = runtime.LiveRuntime.__new__(runtime.LiveRuntime)
    rt.cfg, rt.client = cfg, client  # type: ignore[assignment]
    rt.engine = Ns(runners=runners, client_of=lambda n: routes[n])
    rt.venue = Ns(token_balance=token_balance)  # type: ignore[assignment]
    diffs = await rt._balances()
    assert diffs == ["token TOK...: the venue holds 4.00 shares, the ledger 5.00"]


def test_a_strategy_without_a_standby_twin_gets_one_when_it_goes_live() -> None:
    """A strategy that reached paper during the run had no standby twin at start: entering a
    live stage creates its twin in the running engine (the live runtime's create_twin)."""
    w = Walk(config(), names=("s1",))
    eng = w.engine
    keeper = twins.TwinKeeper(eng, (), create=lambda n: runtime.create_twin(eng, n))
    assert keeper.twins == {} and keeper.sync() == []  # s1 is not live: nothing to create
    eng.runners["s1"].stage = Stage.MICRO
    assert keeper.sync("s1") == [("s1", "paper twin s1__twin created: s1 is live (micro)")]
    t = eng.runners["s1__twin"]
    assert t.status == "active" and eng.client_of("s1__twin").name == "paper"
    assert t.portfolio.starting_cash == eng.runners["s1"].portfolio.starting_cash
    assert "Y1" in t.subscribed
    assert keeper.sync() == []  # created once
    eng.runners["s1"].stage = Stage.PAPER
    assert keeper.sync() == [("s1", "paper twin s1__twin stopped: s1 is at paper")]
    assert eng.runners["s1__twin"].status == "disabled"
    # without a maker (live trading off, or no stage routed live) nothing is created
    w2 = Walk(config(), names=("s1",))
    w2.engine.runners["s1"].stage = Stage.MICRO
    assert twins.TwinKeeper(w2.engine, ()).sync() == []
    assert "s1__twin" not in w2.engine.runners
